"""The root tar with each name once and no boot/ files: what tar2sqfs and xorriso need."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.layers import EntryType, TarEntry
from moby_assemble.outputs._rootfs_tar import write_unique_tar

from .conftest import Item, d, f, hard, sym, write_tar


def _unique(tmp_path: Path, items: list[Item]) -> Path:
    root = write_tar(tmp_path / "root.tar", items)
    out = tmp_path / "unique.tar"
    with open(out, "wb") as target:
        write_unique_tar(root, target, format="kernel+squashfs")
    return out


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def _data(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_the_last_file_of_a_name_wins_and_directories_come_first_with_the_last_mode(
    tmp_path: Path,
) -> None:
    out = _unique(
        tmp_path,
        [
            d("etc", mode=0o755),
            f("etc/motd", b"first\n"),
            d("etc", mode=0o700, uid=5),
            f("etc/motd", b"second\n", mode=0o600),
            f("etc/other", b"x"),
        ],
    )
    members = _members(out)
    assert [m.name for m in members] == ["etc", "etc/motd", "etc/other"]
    assert (members[0].mode, members[0].uid) == (0o700, 5)
    assert members[1].mode == 0o600
    assert _data(out, "etc/motd") == b"second\n"


def test_boot_files_are_left_out_and_the_boot_directory_stays(tmp_path: Path) -> None:
    out = _unique(
        tmp_path,
        [d("boot"), f("boot/kernel", b"K"), f("boot/cmdline", b"c"), f("init", b"#!/bin/sh\n")],
    )
    assert [m.name for m in _members(out)] == ["boot", "init"]


def test_a_link_to_a_replaced_file_keeps_the_data_it_was_made_for(tmp_path: Path) -> None:
    out = _unique(
        tmp_path,
        [
            d("bin"),
            f("bin/busybox", b"old busybox", mode=0o755),
            hard("bin/sh", "bin/busybox"),
            hard("bin/ls", "bin/busybox"),
            f("bin/busybox", b"new busybox", mode=0o755),
        ],
    )
    members = {m.name: m for m in _members(out)}
    assert members["bin/sh"].isfile()
    assert _data(out, "bin/sh") == b"old busybox"
    assert members["bin/ls"].islnk()
    assert members["bin/ls"].linkname == "bin/sh"
    assert _data(out, "bin/ls") == b"old busybox"
    assert _data(out, "bin/busybox") == b"new busybox"


def test_a_link_to_a_boot_file_or_a_symlink_becomes_a_copy(tmp_path: Path) -> None:
    out = _unique(
        tmp_path,
        [
            d("boot"),
            f("boot/kernel", b"KERNEL"),
            hard("kernel-copy", "boot/kernel"),
            sym("target-link", "somewhere"),
            hard("link-to-link", "target-link"),
            f("target-link", b"replaced"),
        ],
    )
    members = {m.name: m for m in _members(out)}
    assert _data(out, "kernel-copy") == b"KERNEL"
    assert members["link-to-link"].issym()
    assert members["link-to-link"].linkname == "somewhere"


def test_links_whose_file_stays_stay_links(tmp_path: Path) -> None:
    out = _unique(tmp_path, [f("a", b"data"), hard("b", "a"), hard("c", "b")])
    members = {m.name: m for m in _members(out)}
    assert (members["b"].linkname, members["c"].linkname) == ("a", "a")


def test_tar2sqfs_takes_the_result_of_a_tar_with_repeated_names(tmp_path: Path) -> None:
    if shutil.which("tar2sqfs") is None or shutil.which("unsquashfs") is None:
        pytest.skip("tar2sqfs/unsquashfs are not installed (squashfs-tools-ng, squashfs-tools)")
    out = _unique(tmp_path, [d("etc"), f("etc/motd", b"1"), d("etc"), f("etc/motd", b"22")])
    image = tmp_path / "root.sqfs"
    with open(out, "rb") as stream:
        subprocess.run(["tar2sqfs", "--quiet", str(image)], stdin=stream, check=True)
    shown = subprocess.run(
        ["unsquashfs", "-cat", str(image), "etc/motd"], capture_output=True, check=True
    )
    assert shown.stdout == b"22"


def test_a_hard_link_to_nothing_earlier_is_an_error_naming_it(tmp_path: Path) -> None:
    root = write_tar(tmp_path / "root.tar", [hard("orphan", "missing")])
    with (
        open(tmp_path / "out.tar", "wb") as out,
        pytest.raises(OutputError, match="'orphan' points at 'missing'"),
    ):
        write_unique_tar(root, out, format="kernel+iso")


def test_a_hard_link_to_a_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    link = TarEntry("dirlink", EntryType.HARDLINK, linkname="etc")
    root = write_tar(tmp_path / "root.tar", [d("etc"), (link, None)])
    with (
        open(tmp_path / "out.tar", "wb") as out,
        pytest.raises(OutputError, match="'dirlink' points at the directory 'etc'"),
    ):
        write_unique_tar(root, out, format="kernel+iso")
