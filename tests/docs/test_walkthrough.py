"""docs/walkthrough.md runs: its ``python`` blocks, in order, in one namespace, against a real
registry on 127.0.0.1 (the page starts its own with moby_assemble.testing.LocalRegistry)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "walkthrough.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of every fenced ``python`` block, in page order."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def test_the_block_extractor_finds_fenced_python_only() -> None:
    text = "intro\n```python\na = 1\n```\n```text\nnot code\n```\n```python\nb = a\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "b = a\n")]


def test_walkthrough_runs_top_to_bottom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The page makes its work directory with tempfile; keep it under pytest's tmp_path.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    blocks = python_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    namespace: dict[str, Any] = {"__name__": "walkthrough"}
    try:
        for line, code in blocks:
            exec(compile(code, f"{PAGE}:{line}", "exec"), namespace)  # noqa: S102
    finally:
        registry = namespace.get("registry")
        if registry is not None:
            registry.stop()
    out = capsys.readouterr().out
    # What the page says the reader sees.
    assert "kernel+initrd ['tour-kernel', 'tour-initrd.img', 'tour-cmdline']" in out
    assert "~ services/web  image: " in out
    assert "- files/etc/motd  file" in out
    assert "['CAP_NET_BIND_SERVICE']" in out
    assert not any(tmp_path.glob("moby-assemble-walkthrough-*")), "the page cleans up"
