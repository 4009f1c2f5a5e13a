"""Third-party plug-ins: a package installed with pip adds an output format and a component
through entry points, and a format can also be registered in-process.

The sample package (tests/plugins/sample_plugin) is packed as a wheel and installed with
``pip install --no-deps --target``; a fresh interpreter with that directory on its path uses
it, so ``importlib.metadata`` finds its entry points exactly as it would in a venv.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from moby_assemble.registry import ImageReference, RegistryClient, push_from_store
from moby_assemble.store import Store
from moby_assemble.testing import Image, Layer, LocalRegistry

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def build_wheel(project: Path, out: Path) -> Path:
    """A wheel of the sample plug-in, made from its pyproject.toml without a build backend
    (the test environment has none that can build wheels offline): the package files, plus
    METADATA, WHEEL, entry_points.txt and RECORD as the wheel format (PEP 427) wants them."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    name, version = meta["name"].replace("-", "_"), meta["version"]
    info = f"{name}-{version}.dist-info"
    files: dict[str, bytes] = {
        path.relative_to(project / "src").as_posix(): path.read_bytes()
        for path in sorted((project / "src").rglob("*.py"))
    }
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {version}\n"
        f"Summary: {meta['description']}\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests/plugins\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for group, eps in meta["entry-points"].items()
    ).encode()
    record = [
        f"{path},sha256="
        + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        + f",{len(data)}"
        for path, data in files.items()
    ]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = out / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample plug-in, installed by pip into its own directory."""
    work = tmp_path_factory.mktemp("plugin")
    wheel = build_wheel(HERE / "sample_plugin", work)
    target = work / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (target / "moby_sample_plugin" / "__init__.py").is_file()
    return target


@pytest.fixture(scope="module")
def shell_image(registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    layout = tmp_path_factory.mktemp("shell-image")
    layer = Layer().dir("bin").file("bin/sh", b"#!fake shell\n", mode=0o755)
    Image([layer]).build().write_oci_layout(layout, "latest")
    store = Store(layout)
    ref = ImageReference.parse(f"{registry.host}/plugins/shell:1")
    with RegistryClient() as client:
        push_from_store(client, store, store.resolve("latest"), ref)
    return str(ref)


def _run(image: str, workdir: Path, path: Path | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (path, ROOT) if p is not None)
    result = subprocess.run(
        [sys.executable, str(HERE / "use_plugin.py"), image, str(workdir)],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_an_installed_plugin_adds_an_output_format_and_a_component(
    plugin_path: Path, shell_image: str, tmp_path: Path
) -> None:
    report = _run(shell_image, tmp_path, plugin_path)
    assert "manifest-json" in report["formats"]
    assert "hello" in report["components"]
    # The component from the plug-in was assembled with its settings.
    assert report["args"] == ["/bin/sh", "-c", "echo hi"]
    assert report["role"] == "service"
    # The plug-in's format wrote its file, with the option only it understands.
    (path,) = report["written"]["manifest-json"]
    text = Path(path).read_text()
    assert text.startswith("{\n  ")
    assert json.loads(text) == {
        "cmdline": None,
        "containers": [
            {
                "directory": "containers/services/hello",
                "name": "hello",
                "readonly": False,
                "stage": "services",
            }
        ],
        "platform": "linux/amd64",
    }
    # And the same class registered in-process under another name wrote the same document.
    (inline,) = report["written"]["manifest-inline"]
    assert Path(inline) == tmp_path / "inline" / "system.json"
    assert Path(inline).read_text() == text


def test_without_the_plugin_neither_is_there(shell_image: str, tmp_path: Path) -> None:
    report = _run(shell_image, tmp_path, None)
    assert "manifest-json" not in report["formats"]
    assert "hello" not in report["components"]
