"""RootfsWriter and LinuxKit's image filter, on hand-made entries (no registry needed)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from moby_assemble.assemble._rootfs import (
    HOSTS,
    NO_RESOLV_CONF,
    ApkDatabases,
    RootfsWriter,
    copy_image,
)
from moby_assemble.layers import EntryType, TarEntry, read_tar
from moby_assemble.testing import Layer

from .conftest import read_members


def entries_of(layer: Layer) -> Iterable[TarEntry]:
    return read_tar(io.BytesIO(layer.tar()))


def write(tmp_path: Path, fill, mtime: int = 7) -> list:  # type: ignore[no-untyped-def]
    path = tmp_path / "out.tar"
    with open(path, "wb") as f, RootfsWriter(f, mtime=mtime) as w:
        fill(w)
    return read_members(path)


def test_a_complete_image_gets_only_its_own_entries_and_the_replacements(tmp_path: Path):
    layer = (
        Layer()
        .dir("dev", mtime=5).dir("dev/pts").dir("dev/shm").dir("etc", mtime=5)
        .symlink("etc/mtab", "/proc/mounts", mtime=5).dir("proc").dir("sys")
        .file("etc/hosts", b"x").file("etc/resolv.conf", b"y")
    )  # fmt: skip
    members = write(
        tmp_path,
        lambda w: copy_image(
            w, entries_of(layer), prefix="", source="img", location="init[0]", resolv_symlink=False
        ),
    )
    names = [m.name for m in members]
    assert names == [
        "dev", "dev/pts", "dev/shm", "etc", "etc/mtab", "proc", "sys", "etc/hosts",
        "etc/resolv.conf",
    ]  # fmt: skip
    by_name = {m.name: m for m in members}
    assert by_name["etc/hosts"].data == HOSTS
    assert by_name["etc/resolv.conf"].data == NO_RESOLV_CONF
    # the image's own touched paths take the build time (LinuxKit's defaultModTime)
    assert (by_name["dev"].mtime, by_name["etc"].mtime, by_name["etc/mtab"].mtime) == (7, 7, 7)


def test_an_empty_image_under_a_prefix_gets_every_touched_path(tmp_path: Path):
    members = write(
        tmp_path,
        lambda w: copy_image(
            w,
            [],
            prefix="containers/services/x/lower",
            source="img",
            location="services[0]",
            resolv_symlink=True,
        ),
    )
    assert [(m.name.removeprefix("containers/services/x/lower/"), m.type) for m in members] == [
        ("dev", "dir"), ("dev/pts", "dir"), ("dev/shm", "dir"), ("etc", "dir"),
        ("etc/hosts", "file"), ("etc/mtab", "symlink"), ("etc/resolv.conf", "symlink"),
        ("proc", "dir"), ("sys", "dir"),
    ]  # fmt: skip
    assert all((m.source, m.location, m.mtime) == ("img", "services[0]", 7) for m in members)


def test_excluded_names_and_hard_links_to_them_are_dropped(tmp_path: Path):
    layer = (
        Layer()
        .file(".dockerenv", b"").file("Dockerfile", b"FROM x").dir("etc")
        .file("etc/hostname", b"h").hardlink("etc/hostname2", "etc/hostname")
        .file("etc/hosts", b"x").hardlink("etc/hosts.bak", "etc/hosts")
        .file("dev/pts", b"not a dir").file("keep", b"k").hardlink("keep2", "keep")
    )  # fmt: skip
    members = write(
        tmp_path,
        lambda w: copy_image(
            w, entries_of(layer), prefix="p", source="s", location="l", resolv_symlink=False
        ),
    )
    names = {m.name for m in members}
    for gone in ("Dockerfile", ".dockerenv", "etc/hostname", "etc/hostname2", "etc/hosts.bak"):
        assert f"p/{gone}" not in names
    assert "p/dev/pts" in names  # re-created as a directory by the touch list
    assert [m.type for m in members if m.name == "p/dev/pts"] == ["dir"]
    keep2 = next(m for m in members if m.name == "p/keep2")
    assert (keep2.type, keep2.linkname) == ("hardlink", "p/keep")


def test_apk_databases_are_merged_only_when_there_are_two_or_more(tmp_path: Path):
    one = Layer().dir("lib/apk/db").file("lib/apk/db/installed", b"P:a\n")
    two = Layer().dir("lib/apk/db").file("lib/apk/db/installed", b"P:b\n")

    def fill(w: RootfsWriter, layers: list[Layer]) -> None:
        apk = ApkDatabases()
        try:
            for i, layer in enumerate(layers):
                copy_image(w, entries_of(layer), prefix="", source=f"i{i}",
                           location=f"init[{i}]", resolv_symlink=True, apk=apk)  # fmt: skip
            apk.write_union(w)
        finally:
            apk.close()

    single = write(tmp_path, lambda w: fill(w, [one]))
    assert [m.location for m in single if m.name == "lib/apk/db/installed"] == ["init[0]"]
    both = write(tmp_path, lambda w: fill(w, [one, two]))
    dbs = [m for m in both if m.name == "lib/apk/db/installed"]
    assert [m.data for m in dbs] == [b"P:a\n", b"P:b\n", b"P:a\n\n\nP:b\n\n\n"]
    assert (dbs[-1].source, dbs[-1].location) == ("LINUXKIT.apkinit", "init")


def test_mkdirs_writes_each_directory_once_and_remembers_kinds(tmp_path: Path):
    def fill(w: RootfsWriter) -> None:
        w.mkdirs("containers/onboot/000-a", source="s", location="onboot[0]")
        w.mkdirs("containers/onboot/001-b", source="s", location="onboot[1]")
        w.add(TarEntry("link", EntryType.SYMLINK, linkname="/x"), source="s", location="l")
        assert w.kind("containers/onboot") is EntryType.DIRECTORY
        assert w.kind("link") is EntryType.SYMLINK
        w.add(TarEntry("link", size=0), source="s", location="l")
        assert w.kind("link") is None

    members = write(tmp_path, fill)
    assert [m.name for m in members[:4]] == [
        "containers", "containers/onboot", "containers/onboot/000-a", "containers/onboot/001-b",
    ]  # fmt: skip


def test_existing_linuxkit_records_of_an_image_are_replaced_not_doubled(tmp_path: Path):
    entry = TarEntry("f", pax=(("LINUXKIT.source", "old"), ("SCHILY.xattr.user.a", "1")))
    members = write(tmp_path, lambda w: w.add(entry, source="new", location="files[0]"))
    assert (members[0].source, members[0].location) == ("new", "files[0]")
    raw = (tmp_path / "out.tar").read_bytes()
    assert raw.count(b"LINUXKIT.source=") == 1
    assert b"SCHILY.xattr.user.a=1" in raw
