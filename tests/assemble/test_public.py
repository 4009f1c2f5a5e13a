"""The public surface of moby_assemble.assemble, and how a Bundle shows itself."""

from __future__ import annotations

from pathlib import Path

import moby_assemble.assemble as assemble_package
from moby_assemble import Container, System
from moby_assemble.assemble import Assembler

from .conftest import Components


def _isort_style(name: str) -> tuple[bool, int, str]:
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return (name.startswith("__"), kind, name)


def test_all_is_sorted_and_every_name_exists():
    exported = list(assemble_package.__all__)
    assert exported == sorted(exported, key=_isort_style)
    for name in exported:
        assert hasattr(assemble_package, name), name


def test_assembler_and_bundle_show_themselves(components: Components, tmp_path: Path):
    system = System(
        platform="linux/amd64",
        onboot=[Container("a", components.tool, readonly=True), Container("b", components.tool)],
    )
    with Assembler(tmp_path / "cache") as asm:
        assert repr(asm) == f"Assembler({str(tmp_path / 'cache')!r})"
        bundle = asm.assemble(system)
    html = bundle._repr_html_()
    assert "containers/onboot/000-a" in html
    assert "read-only" in html
    assert "overlay (shared)" in html

    class Printer:
        text_out = ""

        def text(self, s: str) -> None:
            self.text_out += s

    p = Printer()
    bundle._repr_pretty_(p, False)
    lines = p.text_out.splitlines()
    assert lines[0].startswith("Bundle(linux/amd64, no kernel, 2 containers, ")
    assert lines[1].strip().startswith("containers/onboot/000-a")
