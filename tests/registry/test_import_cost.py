"""Importing the package does not import the registry client's HTTP stack.

httpx imports its own command-line dependencies (click, rich, pygments) whenever they are
installed, about 20 MiB of a process. ``moby_assemble`` and ``moby_assemble.registry``
import names on first use (PEP 562), so only code that talks to a registry pays for it.
Each case runs in a fresh interpreter, where ``sys.modules`` starts empty.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import moby_assemble
import moby_assemble.registry

HEAVY = ("httpx", "httpcore", "click", "rich", "pygments")


def _modules_after(code: str) -> set[str]:
    """The top-level modules imported by ``code`` in a new interpreter."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


@pytest.mark.parametrize(
    "code",
    [
        "import moby_assemble",
        "import moby_assemble.layers, moby_assemble.store",
        "import moby_assemble as ma; ma.System, ma.Lock, ma.Platform, ma.ImageReference",
        "from moby_assemble.registry import ImageReference, BlobFinished, RetryPolicy",
    ],
    ids=["package", "layers+store", "model+reference", "registry-values"],
)
def test_these_imports_leave_httpx_and_its_cli_dependencies_out(code: str) -> None:
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_registry_client_brings_httpx_in() -> None:
    assert "httpx" in _modules_after("from moby_assemble.registry import RegistryClient")


def test_a_bare_package_import_still_reaches_subpackages_as_attributes() -> None:
    loaded = _modules_after("import moby_assemble as ma; assert ma.layers.flatten_layers")
    assert "zstandard" in loaded


@pytest.mark.parametrize("module", [moby_assemble, moby_assemble.registry])
def test_lazy_names_resolve_to_the_objects_their_modules_define(module: object) -> None:
    lazy: dict[str, str] = module._LAZY  # type: ignore[attr-defined]
    for name, where in lazy.items():
        defining = __import__(f"{module.__name__}{where}", fromlist=[name])  # type: ignore[attr-defined]
        assert getattr(module, name) is getattr(defining, name), name
    assert set(module.__all__) <= set(dir(module))  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", [moby_assemble, moby_assemble.registry])
def test_an_unknown_name_is_an_attribute_error_naming_it(module: object) -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # type: ignore[attr-defined]  # noqa: B018
