"""The hand-written pages stay true: their runnable ``python`` blocks run, every page is in the
table of contents, and their generated tables (catalog, output formats) are current.

A block whose first line is ``# sketch`` needs what a test machine lacks (the catalog's images
in a registry, a bundle) and is only compiled. The walkthrough has its own test, against a
real registry.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from moby_assemble.components import CATALOG
from moby_assemble.outputs import available_formats, register_format, unregister_format

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


def _tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_gen_tables", DOCS / "_gen" / "tables.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_tables_are_up_to_date() -> None:
    assert _tables().stale() == [], "run `python docs/_gen/tables.py` and commit the pages"


def test_catalog_table_has_a_row_per_component_with_version_role_and_stage() -> None:
    rows = {
        m.group(1): [c.strip() for c in m.group(0).strip("|").split("|")]
        for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", _tables().catalog_table(), re.MULTILINE)
    }
    assert set(rows) == set(CATALOG)
    for name, entry in CATALOG.items():
        stage = entry.stage.value if entry.stage is not None else "–"
        assert rows[name][1:4] == [f"`{entry.version}`", entry.role.value, stage], name


def test_formats_table_has_a_row_per_built_in_format_and_none_for_plugins() -> None:
    class Plugin:
        name = "plugin-format"
        description = "from a plug-in"
        files = ("{name}.x",)
        streamable = False
        options: frozenset[str] = frozenset({"level"})

        def write(self, *args: object, **options: object) -> tuple[Path, ...]:
            return ()

    register_format(Plugin())
    try:
        table = _tables().formats_table()
    finally:
        unregister_format("plugin-format")
    names = re.findall(r"^\| `([a-z0-9+-]+)` \|", table, re.MULTILINE)
    assert names == [n for n in available_formats() if n != "plugin-format"]
    kernel = next(line for line in table.splitlines() if line.startswith("| `kernel+initrd` |"))
    assert "`<name>-kernel`, `<name>-initrd.img`, `<name>-cmdline`" in kernel
    assert "`compression`, `compression_level`" in kernel


def test_tables_check_mode_fails_on_a_stale_page_and_rewrites_it(tmp_path: Path) -> None:
    tables = _tables()
    for page in tables.TABLES:
        (tmp_path / page).write_text((DOCS / page).read_text(encoding="utf-8"), encoding="utf-8")
    page = tmp_path / "catalog.md"
    page.write_text(page.read_text(encoding="utf-8").replace("`0.1.0`", "`9.9.9`"))
    assert tables.stale(tmp_path) == ["catalog.md"]
    assert tables.write(tmp_path) == ["catalog.md"]
    assert tables.stale(tmp_path) == []
    broken = tmp_path / "outputs.md"
    broken.write_text("# Output formats\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks the markers"):
        tables.stale(tmp_path)
