"""Layer content: selection globs, normalisation, order, hard links, usrmerge, conflicts."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from moby_assemble import ConfigError
from moby_assemble.layers import EntryType, read_tar
from moby_assemble.pkg import DebPackage, FileSpec, LayerContent, PackageSpec

from .conftest import MakeDeb, ar_archive, control_text, tar_bytes


def layer(content: LayerContent) -> list[tarfile.TarInfo]:
    out = io.BytesIO()
    content.write_tar(out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        return tf.getmembers()


def names(content: LayerContent) -> list[str]:
    return [m.name for m in layer(content)]


@pytest.fixture
def tool(make_deb: MakeDeb) -> DebPackage:
    return DebPackage.open(
        make_deb(
            "tool",
            files={
                "bin/tool": b"#!/bin/sh\n",
                "lib/x86_64-linux-gnu/libtool.so.1": b"\x7fELF lib",
                "lib/x86_64-linux-gnu/libtool.so": "libtool.so.1",
                "usr/share/doc/tool/copyright": b"GPL\n",
                "usr/share/doc/tool/changelog.gz": b"\x1f\x8b",
                "usr/share/man/man1/tool.1.gz": b"\x1f\x8b",
            },
        )
    )


def test_entries_are_sorted_normalised_and_root_owned(tool: DebPackage) -> None:
    with LayerContent(mtime=1234) as content:
        content.add_package(tool, PackageSpec("tool"))
        members = layer(content)
    listed = [m.name for m in members]
    assert listed == sorted(listed)
    assert "." not in listed
    assert all(m.mtime == 1234 for m in members)
    assert all((m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "") for m in members)
    assert "usr/share/man/man1/tool.1.gz" in listed


def test_include_keeps_matches_and_their_parents_only(tool: DebPackage) -> None:
    with LayerContent() as content:
        content.add_package(
            tool, PackageSpec("tool", include=("bin/tool", "lib/*/libtool.so*", "usr/share/doc"))
        )
        assert names(content) == [
            "bin",
            "bin/tool",
            "lib",
            "lib/x86_64-linux-gnu",
            "lib/x86_64-linux-gnu/libtool.so",
            "lib/x86_64-linux-gnu/libtool.so.1",
            "usr",
            "usr/share",
            "usr/share/doc",
            "usr/share/doc/tool",
            "usr/share/doc/tool/changelog.gz",
            "usr/share/doc/tool/copyright",
        ]


def test_exclude_drops_subtrees_and_double_star_crosses_directories(tool: DebPackage) -> None:
    with LayerContent() as content:
        content.add_package(tool, PackageSpec("tool", exclude=("usr/share/man", "**/*.gz")))
        listed = names(content)
    assert "usr/share/man" not in listed
    assert not [n for n in listed if n.endswith(".gz")]
    assert "usr/share/doc/tool/copyright" in listed


def test_recipe_files_override_packages_and_add_parents(tool: DebPackage, tmp_path: Path) -> None:
    src = tmp_path / "tool.sh"
    src.write_bytes(b"#!/bin/sh\necho replaced\n")
    with LayerContent() as content:
        content.add_package(tool, PackageSpec("tool", include=("bin/tool",)))
        content.add_file(FileSpec("bin/tool", source=src, mode=0o750))
        content.add_file(FileSpec("etc/deep/dir/conf", contents="a=1\n", uid=7, gid=8))
        content.add_file(FileSpec("var/empty", directory=True, mode=0o1777))
        content.add_file(FileSpec("bin/sh", symlink="tool"))
        members = {m.name: m for m in layer(content)}
        assert content.read("bin/tool") == b"#!/bin/sh\necho replaced\n"
    assert members["bin/tool"].mode == 0o750
    assert (members["etc/deep/dir/conf"].uid, members["etc/deep/dir/conf"].gid) == (7, 8)
    assert members["etc/deep"].isdir()
    assert members["etc/deep"].mode == 0o755
    assert members["var/empty"].mode == 0o1777
    assert members["bin/sh"].issym()
    assert members["bin/sh"].linkname == "tool"


def test_conflicting_packages_are_an_error_naming_both(make_deb: MakeDeb) -> None:
    a = DebPackage.open(make_deb("a", files={"etc/shared.conf": b"from a\n"}))
    b = DebPackage.open(make_deb("b", files={"etc/shared.conf": b"from b\n"}))
    same = DebPackage.open(make_deb("c", files={"etc/shared.conf": b"from a\n"}))
    with LayerContent(recipe_file="r.toml") as content:
        content.add_package(a, PackageSpec("a"), where="packages[0]")
        content.add_package(same, PackageSpec("c"), where="packages[1]")  # identical: fine
        with pytest.raises(ConfigError, match=r"package b 1\.0-1 and package a 1\.0-1") as info:
            content.add_package(b, PackageSpec("b"), where="packages[2]")
    assert info.value.path == "packages[2]"
    assert info.value.file == "r.toml"
    assert "etc/shared.conf" in str(info.value)


def test_file_over_directory_is_an_error(make_deb: MakeDeb) -> None:
    a = DebPackage.open(make_deb("a", files={"opt/app/x": b"1"}))
    with LayerContent() as content:
        content.add_package(a, PackageSpec("a"))
        with pytest.raises(ConfigError, match="non-directory at 'opt/app'"):
            content.add_file(FileSpec("opt/app", contents="oops"))


def test_keep_ownership_keeps_package_ids(tmp_path: Path) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tf:
        info = tarfile.TarInfo("./var/games")
        info.type = tarfile.DIRTYPE
        info.uid, info.gid, info.mode = 0, 60, 0o2775
        tf.addfile(info)
    path = tmp_path / "own.deb"
    path.write_bytes(
        ar_archive(
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar", tar_bytes({"control": control_text("own", "1").encode()})),
                ("data.tar", data.getvalue()),
            ]
        )
    )
    deb = DebPackage.open(path)
    for keep, gid in ((False, 0), (True, 60)):
        with LayerContent() as content:
            content.add_package(deb, PackageSpec("own", keep_ownership=keep))
            games = {m.name: m for m in layer(content)}["var/games"]
        assert games.gid == gid
        assert games.mode == 0o2775


def _linked_deb(
    tmp_path: Path, links: dict[str, str], files: dict[str, bytes | str | None]
) -> DebPackage:
    path = tmp_path / "linked.deb"
    path.write_bytes(
        ar_archive(
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar", tar_bytes({"control": control_text("linked", "1").encode()})),
                ("data.tar", tar_bytes(files, links=links)),
            ]
        )
    )
    return DebPackage.open(path)


def test_hard_links_are_reordered_so_the_first_name_carries_the_data(tmp_path: Path) -> None:
    # In the package "zz/data" has the bytes and "aa/link" links to it; sorted, "aa/link" comes
    # first, so it must become the file and "zz/data" the link.
    deb = _linked_deb(
        tmp_path, {"aa/link": "zz/data"}, {"zz": None, "zz/data": b"payload", "aa": None}
    )
    with LayerContent() as content:
        content.add_package(deb, PackageSpec("linked"))
        out = io.BytesIO()
        content.write_tar(out)
    entries = {e.name: (e, e.read()) for e in read_tar(io.BytesIO(out.getvalue()))}
    first, data = entries["aa/link"]
    assert (first.type, data) == (EntryType.FILE, b"payload")
    second, _ = entries["zz/data"]
    assert (second.type, second.linkname) == (EntryType.HARDLINK, "aa/link")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xf", "-", "-C", str(unpacked)], input=out.getvalue(), check=True)
    assert os.stat(unpacked / "aa/link").st_ino == os.stat(unpacked / "zz/data").st_ino


def test_selected_hard_link_to_an_unselected_file_gets_the_data(tmp_path: Path) -> None:
    deb = _linked_deb(tmp_path, {"bin/keep": "libexec/drop"}, {"libexec/drop": b"bytes"})
    with LayerContent() as content:
        content.add_package(deb, PackageSpec("linked", include=("bin/keep",)))
        assert names(content) == ["bin", "bin/keep"]
        assert content.read("bin/keep") == b"bytes"


def test_usrmerge_moves_top_dirs_and_keeps_symlinks_pointing_right(tmp_path: Path) -> None:
    deb = _linked_deb(
        tmp_path,
        {},
        {
            "bin": None,
            "bin/busybox": b"BB",
            "bin/sh": "busybox",
            "lib": None,
            "lib/x86_64-linux-gnu": None,
            "lib/x86_64-linux-gnu/libz.so.1.2": b"Z",
            "lib/x86_64-linux-gnu/libz.so.1": "libz.so.1.2",
            "lib/x86_64-linux-gnu/libdeep.so": "../../usr/lib/x86_64-linux-gnu/libdeep.so.0",
            "lib64": None,
            "lib64/ld-linux-x86-64.so.2": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            "usr": None,
            "usr/lib": None,
            "usr/lib/x86_64-linux-gnu": None,
            "usr/lib/x86_64-linux-gnu/libdeep.so.0": b"D",
        },
    )
    with LayerContent(usrmerge=True) as content:
        content.add_package(deb, PackageSpec("linked"))
        content.add_file(FileSpec("sbin/init", symlink="/bin/busybox"))
        out = io.BytesIO()
        content.write_tar(out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        members = {m.name: m for m in tf}
    assert members["bin"].issym()
    assert members["bin"].linkname == "usr/bin"
    assert members["lib"].linkname == "usr/lib"
    assert members["lib64"].linkname == "usr/lib64"
    assert members["sbin"].linkname == "usr/sbin"
    assert "usr/bin/busybox" in members
    assert "usr/sbin/init" in members
    # A relative link that climbed out of lib/ now climbs out of usr/lib/.
    assert members["usr/lib/x86_64-linux-gnu/libdeep.so"].linkname == "libdeep.so.0"
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["tar", "-xf", "-", "-C", str(root)], input=out.getvalue(), check=True)
    assert (root / "bin/sh").resolve() == (root / "usr/bin/busybox").resolve()
    assert (root / "lib/x86_64-linux-gnu/libdeep.so").read_bytes() == b"D"
    assert (root / "lib/x86_64-linux-gnu/libz.so.1").read_bytes() == b"Z"


def test_same_content_twice_gives_the_same_bytes(tool: DebPackage) -> None:
    outputs = []
    for _ in range(2):
        with LayerContent(mtime=99) as content:
            content.add_file(FileSpec("etc/zz", contents="z"))
            content.add_package(tool, PackageSpec("tool"))
            out = io.BytesIO()
            content.write_tar(out)
            outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
