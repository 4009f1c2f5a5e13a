"""tests/typing/api.py, typed user code over the public API, passes ``mypy --strict``; and the
check can fail: misuse of the same API is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is in the 'typing' dependency group")

ROOT = Path(__file__).resolve().parents[2]


def _mypy(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), *args],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=300,
    )  # fmt: skip


def test_typed_usage_file_passes_mypy_strict(tmp_path: Path) -> None:
    result = _mypy("tests/typing/api.py", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_misuse_of_the_api_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import moby_assemble as ma\n"
        "s = ma.System(platform='linux/amd64').with_service('web')\n"
        "n: int = ma.Container('web', 'nginx').name\n"
        "ma.Assembler(cache=1)\n"
    )
    result = _mypy(str(bad), cache=tmp_path / "cache")
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["2", "3", "4"], result.stdout
