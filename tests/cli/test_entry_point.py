"""The installed ``moby-assemble`` executable and ``python -m moby_assemble``, as real
processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from moby_assemble import __version__
from moby_assemble.store import Store

from .conftest import PushedImage

EXECUTABLE = Path(sys.executable).with_name("moby-assemble")


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_the_executable_pulls_and_lists_the_cache(
    single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    # Not a terminal: "auto" progress must fall back to plain lines.
    pulled = _run(EXECUTABLE, "pull", "--cache", cache, single_image.reference)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout == f"{single_image.reference}@{single_image.digest}\n"
    assert f"blob {single_image.layer_digests[0][:19]} done" in pulled.stderr
    assert "\x1b[" not in pulled.stderr  # no terminal control codes in a log
    listed = _run(EXECUTABLE, "cache", "ls", "--json", "--cache", cache)
    assert single_image.reference in {row["name"] for row in json.loads(listed.stdout)}
    assert Store(cache / "store").resolve(single_image.reference).digest == single_image.digest


def test_the_executable_exits_with_the_error_class_code(tmp_path: Path) -> None:
    result = _run(EXECUTABLE, "--log-format", "json", "inspect", "UPPER/case:ref")
    assert result.returncode == 3
    record = json.loads(result.stderr)
    assert record["error"] == "ImageReferenceError"
    assert result.stdout == ""


def test_python_dash_m_runs_the_same_cli() -> None:
    result = _run(sys.executable, "-m", "moby_assemble", "--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_without_click_main_names_the_extra_and_exits_2() -> None:
    code = (
        "import sys; sys.modules['click'] = None\n"
        "from moby_assemble.cli import main\n"
        "main(['--help'])\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "moby-assemble: the command line needs the 'click' package: "
        "pip install 'moby-assemble[cli]'"
    )
    assert result.stdout == ""
