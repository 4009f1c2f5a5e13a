"""How an assembled Bundle and the outputs it wrote show themselves in notebooks."""

from __future__ import annotations

import hashlib
import tarfile
from html.parser import HTMLParser
from pathlib import Path

from moby_assemble import System
from moby_assemble.assemble import Assembler, Bundle
from moby_assemble.assemble._display import (
    WrittenOutputs,
    bundle_rows,
    format_size,
    location_sizes,
)


class _Tables(HTMLParser):
    """Rows of cells per table (text content only)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: str | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


class _Printer:
    out = ""

    def text(self, s: str) -> None:
        self.out += s


def _assemble(system: System, cache: Path) -> Bundle:
    with Assembler(cache) as asm:
        return asm.assemble(system, lock=asm.resolve(system))


def test_rows_list_components_in_build_order_with_role_digest_and_size(
    system: System, tmp_path: Path
) -> None:
    bundle = _assemble(system, tmp_path / "cache")
    rows = bundle_rows(bundle)
    assert [(r[0], r[1]) for r in rows] == [
        ("kernel", "kernel"),
        ("init", "init"),
        ("init", "runc"),
        ("volumes", "data"),
        ("onboot", "format"),
        ("onboot", "mount"),
        ("onshutdown", "bye"),
        ("services", "web"),
        ("services", "sshd"),
        ("files", "7 entries"),
    ]
    by_name = {r[1]: r for r in rows}
    # The digest is the image manifest the lock pinned for the bundle's platform.
    pinned = bundle.lock.image(system.init[0].image)
    assert pinned is not None
    assert by_name["init"][4] == pinned.manifest_for(bundle.platform)
    assert by_name["web"][4] == bundle.container("web").manifest_digest
    # Sizes are the file bytes each location put in the root tar, counted independently.
    expected: dict[str, int] = {}
    with tarfile.open(bundle.rootfs_tar) as tar:
        for m in tar:
            location = m.pax_headers.get("LINUXKIT.location")
            if location is not None:
                expected[location] = expected.get(location, 0) + (m.size if m.isreg() else 0)
    assert location_sizes(bundle) == expected
    assert by_name["init"][5] == expected["init[0]"]
    assert by_name["web"][5] == expected["services[0]"]
    assert by_name["7 entries"][5] == sum(expected.get(f"files[{i}]", 0) for i in range(7))
    assert by_name["kernel"][2] == "kernel"
    assert by_name["runc"][2] == "init"  # from YAML: LinuxKit has no role field


def test_html_shows_components_then_files_with_sizes_and_digests(
    system: System, tmp_path: Path
) -> None:
    bundle = _assemble(system, tmp_path / "cache")
    parser = _Tables()
    parser.feed(bundle._repr_html_())
    components, files = parser.tables
    assert components[0] == ["stage", "name", "role", "image", "digest", "size", "root"]
    web = next(r for r in components if r[1].startswith("web "))
    assert web[1] == "web (containers/services/web)"
    assert web[3] == system["web"].image
    assert web[4] == bundle.container("web").manifest_digest[:19]
    assert web[6] == "overlay"
    sshd = next(r for r in components if r[1].startswith("sshd "))
    assert sshd[6] == "read-only"
    assert files[0] == ["file", "size", "digest"]
    by_file = {r[0]: r for r in files[1:]}
    assert set(by_file) == {"rootfs.tar", "kernel", "ucode.cpio"}
    assert by_file["rootfs.tar"][1] == format_size(bundle.rootfs_tar.stat().st_size)
    # The digest reads the whole tar: shown once something asked for it.
    assert by_file["rootfs.tar"][2] == ""
    digest = "sha256:" + hashlib.sha256(bundle.rootfs_tar.read_bytes()).hexdigest()
    assert bundle.rootfs_sha256 == digest
    again = _Tables()
    again.feed(bundle._repr_html_())
    assert {r[0]: r for r in again.tables[1][1:]}["rootfs.tar"][2] == digest[:19]
    assert bundle.kernel is not None
    kernel_digest = "sha256:" + hashlib.sha256(bundle.kernel.read_bytes()).hexdigest()
    assert by_file["kernel"][2] == kernel_digest[:19]
    assert "console=ttyS0 quiet" in bundle._repr_html_()


def test_pretty_has_one_line_per_component_and_file(system: System, tmp_path: Path) -> None:
    bundle = _assemble(system, tmp_path / "cache")
    p = _Printer()
    bundle._repr_pretty_(p, False)
    lines = p.out.splitlines()
    assert lines[0].startswith("Bundle(linux/amd64, kernel, 5 containers, ")
    assert len(lines) == 1 + 10 + 3
    assert lines[1].split()[:2] == ["kernel", "kernel"]
    web = next(line for line in lines if "containers/services/web " in line)
    assert "[service]" not in web  # the YAML gave it no role
    assert bundle.container("web").manifest_digest[:19] in web
    assert lines[-3].split()[:2] == ["=", "rootfs.tar"]
    cyclic = _Printer()
    bundle._repr_pretty_(cyclic, True)
    assert cyclic.out == lines[0]


def test_write_returns_a_dict_that_shows_files_with_sizes_and_digests(
    system: System, tmp_path: Path
) -> None:
    bundle = _assemble(system, tmp_path / "cache")
    written = bundle.write(tmp_path / "out", formats=["kernel+initrd", "oci-layout"], name="x")
    assert isinstance(written, WrittenOutputs)
    assert isinstance(written, dict)
    assert [p.name for p in written["kernel+initrd"]] == ["x-kernel", "x-initrd.img", "x-cmdline"]
    parser = _Tables()
    parser.feed(written._repr_html_())
    (table,) = parser.tables
    assert table[0] == ["format", "file", "size", "digest"]
    rows = {r[1]: r for r in table[1:]}
    initrd = tmp_path / "out" / "x-initrd.img"
    assert rows["x-initrd.img"][2] == format_size(initrd.stat().st_size)
    assert (
        rows["x-initrd.img"][3] == "sha256:" + hashlib.sha256(initrd.read_bytes()).hexdigest()[:12]
    )
    layout = rows["x.oci"]
    assert layout[0] == "oci-layout"
    assert layout[3] == ""  # a directory has no single digest
    total = sum(f.stat().st_size for f in (tmp_path / "out" / "x.oci").rglob("*") if f.is_file())
    assert layout[2] == format_size(total)
    p = _Printer()
    written._repr_pretty_(p, False)
    assert len(p.out.splitlines()) == 4


def test_sizes_are_empty_when_the_root_tar_is_gone(system: System, tmp_path: Path) -> None:
    bundle = _assemble(system, tmp_path / "cache")
    for section in (tmp_path / "cache" / "sections").glob("*.tar"):
        section.unlink()
    assert location_sizes(bundle) == {}
    assert "rootfs.tar" not in bundle._repr_html_()


def test_format_size_is_exact_below_one_kibibyte() -> None:
    assert [format_size(n) for n in (0, 1023, 1024, 5 * 1024**2, None)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "",
    ]
