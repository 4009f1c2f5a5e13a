"""docs/faults.md is generated from the case tables: it must match them exactly."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.faults.cases import TABLES as FAULT_TABLES
from tests.hostile.cases import TABLES as HOSTILE_TABLES

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "docs" / "_gen" / "faults.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_gen_faults", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_faults_page_is_up_to_date() -> None:
    page = ROOT / "docs" / "faults.md"
    assert page.read_text(encoding="utf-8") == _generator().render(), (
        "docs/faults.md is stale: run `python docs/_gen/faults.py` and commit the result"
    )


def test_page_lists_every_case_of_every_table_and_each_known_bug() -> None:
    text = _generator().render()
    tables = (*FAULT_TABLES, *HOSTILE_TABLES)
    for table in tables:
        assert f"## {table.title}" in text
        for case in table.cases:
            assert f"| `{case.id}` |" in text
            if case.bug is not None:
                assert f"- `{case.id}`:" in text


def test_case_ids_are_unique_across_the_page() -> None:
    ids = [c.id for t in (*FAULT_TABLES, *HOSTILE_TABLES) for c in t.cases]
    assert len(ids) == len(set(ids))


def test_generator_check_mode_passes_on_the_committed_page() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


def test_generator_check_mode_fails_on_a_stale_page(tmp_path: Path) -> None:
    generator = _generator()
    stale = tmp_path / "faults.md"
    stale.write_text("# Faults\n\nout of date\n", encoding="utf-8")
    generator.PAGE = stale  # type: ignore[attr-defined]
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0
    assert stale.read_text(encoding="utf-8") == generator.render()
    assert generator.main(["--check"]) == 0
