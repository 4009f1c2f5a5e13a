"""The documentation builds with Sphinx, warnings as errors (what ``nox -s docs`` runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

for _module in ("sphinx", "myst_parser", "furo"):
    pytest.importorskip(_module, reason="the docs dependency group is not installed")


def test_sphinx_build_has_no_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = tmp_path / "html"
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert (html / f"{page.stem}.html").is_file(), page.name
    api = (html / "api.html").read_text(encoding="utf-8")
    # autodoc really ran: public objects have their anchors
    for name in ("moby_assemble.System", "moby_assemble.assemble.Assembler", "moby_assemble.Lock"):
        assert f'id="{name}"' in api, name
