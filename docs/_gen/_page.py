"""What the one-page generators (``faults.py``, ``yaml_reference.py``) share: writing the
page only when it changed, and the command line (``--check`` for a stale page).

Example::

    def main(argv=None):
        return page_main(argv, page=PAGE, render=render, script="docs/_gen/faults.py")
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def write_page(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds it; return whether it wrote."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def page_main(
    argv: Sequence[str] | None, *, page: Path, render: Callable[[], str], script: str
) -> int:
    """``script`` rewrites ``page``; ``script --check`` exits 1 if it is stale."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--check"]:
        current = page.read_text(encoding="utf-8") if page.exists() else ""
        if current != render():
            print(f"{page} is stale: run python {script}", file=sys.stderr)
            return 1
        return 0
    if args:
        print(f"usage: {Path(script).name} [--check]", file=sys.stderr)
        return 2
    print(f"{page}: {'updated' if write_page(page, render()) else 'up to date'}")
    return 0
