"""The hand-written pages stay true: their runnable ``python`` blocks run, every page is in the
table of contents, and the catalog and output-format tables list what the library has.

A block whose first line is ``# sketch`` needs what a test machine lacks (the catalog's images
in a registry, a bundle) and is only compiled. The walkthrough has its own test, against a
real registry.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from moby_assemble.components import CATALOG
from moby_assemble.outputs import available_formats, get_format

from .test_walkthrough import python_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = ["quickstart", "concepts", "catalog", "outputs", "reproducibility", "linuxkit"]

_RUNNER = """
import sys
namespace = {"__name__": "docs"}
for path, line, code in BLOCKS:
    exec(compile(code, f"{path}:{line}", "exec"), namespace)
"""


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run_in_order(page: str, tmp_path: Path) -> None:
    path = DOCS / f"{page}.md"
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    runnable = []
    for line, code in blocks:
        compile(code, f"{path}:{line}", "exec")  # sketches must at least be Python
        if not code.startswith("# sketch"):
            runnable.append((str(path), line, code))
    # A fresh interpreter per page: a page may register an output format.
    script = f"BLOCKS = {runnable!r}\n{_RUNNER}"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr


def test_every_page_is_in_the_table_of_contents() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    toctree = index.split("```{toctree}", 1)[1].split("```", 1)[0].split()
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    assert pages <= set(toctree), pages - set(toctree)


def test_catalog_page_lists_every_component_with_its_version_role_and_stage() -> None:
    text = (DOCS / "catalog.md").read_text(encoding="utf-8")
    rows = {
        m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", text, re.MULTILINE)
    }
    assert set(rows) == set(CATALOG)
    for name, entry in CATALOG.items():
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        stage = entry.stage.value if entry.stage is not None else "–"
        assert cells[1:4] == [f"`{entry.version}`", entry.role.value, stage], name


def test_outputs_page_lists_every_built_in_format_with_its_files_and_options() -> None:
    text = (DOCS / "outputs.md").read_text(encoding="utf-8")
    table = text.split("## Built-in formats", 1)[1].split("\n\n", 2)[1]
    rows = {
        m.group(1): [c.strip() for c in m.group(0).strip("|").split("|")]
        for m in re.finditer(r"^\| `([a-z0-9+-]+)` \|.*$", table, re.MULTILINE)
    }
    built_in = [
        name
        for name in available_formats()
        if type(get_format(name)).__module__.startswith("moby_assemble.")
    ]
    assert sorted(rows) == sorted(built_in)
    for name, cells in rows.items():
        fmt = get_format(name)
        files = [f"`{f.replace('{name}', '<name>')}`" for f in fmt.files]
        assert cells[1].replace("/`", "`") == ", ".join(files), name  # `<name>.oci/`: a dir
        # option names, not the values given in parentheses
        options = sorted(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", cells[2])))
        assert options == sorted(fmt.options), name
