"""moby_assemble.disk: the public names are sorted, importable and documented."""

from __future__ import annotations

import moby_assemble.disk as disk


def _isort_style(name: str) -> tuple[bool, int, str]:
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return (name.startswith("__"), kind, name)


def test_all_is_sorted_and_every_name_exists_and_has_a_docstring() -> None:
    exported = list(disk.__all__)
    assert exported == sorted(exported, key=_isort_style)
    for name in exported:
        value = getattr(disk, name)
        if callable(value):
            assert value.__doc__, name


def test_every_public_name_of_the_package_is_exported() -> None:
    public = {n for n in vars(disk) if not n.startswith("_")} - {"annotations"}
    assert public == set(disk.__all__)
