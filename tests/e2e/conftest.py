"""Fixtures for the end-to-end tests: the example files as modules, and one run of the main
job (``examples/main.py``: build the catalog, assemble, boot twice) shared by the session.

The run is shared across xdist workers too: the first worker to ask runs it under a file
lock in the session's common temporary directory, the others wait and read its results, so
a test session boots the example twice however the tests are distributed.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from tests.pkg.conftest import debs_dir

__all__ = ["EXAMPLES", "MainJob", "debs_dir", "example_main", "example_system", "main_job"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: How long the whole main job may take (catalog build, assembly, two boots).
MAIN_JOB_TIMEOUT = 1200


def load_example(name: str) -> ModuleType:
    """``examples/<name>.py`` as a module (the folder is scripts, not a package)."""
    module_name = f"moby_assemble_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def example_system() -> ModuleType:
    """examples/system.py."""
    return load_example("system")


@pytest.fixture(scope="session")
def example_main() -> ModuleType:
    """examples/main.py."""
    return load_example("main")


@attrs.frozen
class MainJob:
    """What one run of ``examples/main.py`` left behind.

    Attributes:
        returncode: its exit status.
        stdout: everything it printed (status lines and the streamed console).
        stderr: its error output.
        out: its ``--out`` directory (outputs, lock, disk image, console logs).
        cache: its ``--cache`` directory (the assembler's store).
        seconds: how long it ran.
    """

    returncode: int
    stdout: str
    stderr: str
    out: Path
    cache: Path
    seconds: float

    def console(self, boot: int) -> str:
        """The saved serial console of boot number ``boot``."""
        path = self.out / f"console-{boot}.log"
        assert path.is_file(), f"no {path.name}; main job output:\n{self.tail()}"
        return path.read_text()

    def tail(self, chars: int = 6000) -> str:
        return (self.stdout + "\n--- stderr ---\n" + self.stderr)[-chars:]


def _unavailable() -> str | None:
    for tool in ("qemu-system-x86_64", "docker-registry"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash .ci/setup)"
    return None


def _run_main_job(root: Path, debs: Path) -> None:
    out, cache = root / "out", root / "cache"
    argv = [
        sys.executable, str(EXAMPLES / "main.py"), "--out", str(out), "--cache", str(cache),
        "--debs", str(debs), "--formats", "kernel+initrd,tar", "--boots", "2",
    ]  # fmt: skip
    started = time.monotonic()
    with (root / "stdout").open("wb") as stdout, (root / "stderr").open("wb") as stderr:
        try:
            status = subprocess.run(
                argv, cwd=root, stdout=stdout, stderr=stderr, timeout=MAIN_JOB_TIMEOUT
            ).returncode
        except subprocess.TimeoutExpired:
            status = -1
    result = {"returncode": status, "seconds": time.monotonic() - started}
    (root / "result.json").write_text(json.dumps(result))


@pytest.fixture(scope="session")
def main_job(tmp_path_factory: pytest.TempPathFactory, debs_dir: Path) -> MainJob:
    """``examples/main.py --boots 2`` run once per test session (see the module docstring)."""
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    base = tmp_path_factory.getbasetemp()
    # xdist workers share their parent directory, which is new for each session.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "e2e-main-job"
    root.mkdir(exist_ok=True)
    with (shared / "e2e-main-job.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "result.json").is_file():
            _run_main_job(root, debs_dir)
    result = json.loads((root / "result.json").read_text())
    return MainJob(
        returncode=result["returncode"],
        stdout=(root / "stdout").read_text(errors="replace"),
        stderr=(root / "stderr").read_text(errors="replace"),
        out=root / "out",
        cache=root / "cache",
        seconds=result["seconds"],
    )
