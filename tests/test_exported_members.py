"""The public surface: `__all__` is sorted, complete and importable."""

from __future__ import annotations

import importlib

import pytest

import moby_assemble


def _isort_style(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return (kind, name)


PUBLIC_MODULES = [
    "moby_assemble",
    "moby_assemble.assemble",
    "moby_assemble.disk",
    "moby_assemble.layers",
    "moby_assemble.outputs",
    "moby_assemble.progress",
    "moby_assemble.registry",
    "moby_assemble.runtime_spec",
    "moby_assemble.sbom",
    "moby_assemble.store",
    "moby_assemble.testing",
    "moby_assemble.trust",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_every_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_style)
    for member in exported:
        assert hasattr(module, member), f"{name}.{member} is in __all__ but missing"


def test_every_public_name_of_the_package_is_exported() -> None:
    public = {
        n
        for n, v in vars(moby_assemble).items()
        if not n.startswith("_") and not getattr(v, "__name__", "").startswith("moby_assemble.")
    }
    public -= {"annotations"}
    assert public <= set(moby_assemble.__all__), public - set(moby_assemble.__all__)


def test_errors_share_one_root() -> None:
    for name in moby_assemble.__all__:
        obj = getattr(moby_assemble, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, moby_assemble.MobyAssembleError), name
