"""squashfs from a tar with tar2sqfs: unsquashfs lists it with owners, links and devices."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import write_squashfs

from .conftest import require, run, sha256


def test_unsquashfs_lists_every_entry_with_owner_mode_and_type(
    system_tar: Path, tmp_path: Path
) -> None:
    require("tar2sqfs", "unsquashfs")
    image = tmp_path / "system.squashfs"
    write_squashfs(system_tar, image, epoch=1700000000)
    listing = run("unsquashfs", "-lln", "-d", "", image).stdout
    lines = {
        line.split()[-1] if "->" not in line else line.split()[-3]: line
        for line in listing.splitlines()
        if line.startswith(("d", "-", "l", "c", "b", "p"))
    }
    assert lines["/etc/setuid"].startswith("-rwsr-xr-x 7/8")
    assert lines["/bin/sh"].startswith("lrwxrwxrwx")
    assert "/bin/sh -> busybox" in listing
    assert lines["/dev/null"].startswith("crw-rw-rw- 0/0")
    assert "1,  3" in lines["/dev/null"] or "1, 3" in lines["/dev/null"]
    assert lines["/dev/sda"].startswith("brw-rw----")
    assert lines["/dev/fifo"].startswith("prw-------")
    assert "/bin/ls" in lines


def test_contents_hard_links_and_xattrs_survive(system_tar: Path, tmp_path: Path) -> None:
    require("tar2sqfs", "unsquashfs")
    image = tmp_path / "system.squashfs"
    write_squashfs(system_tar, image, compression="zstd")
    out = tmp_path / "out"
    # xattrs are not written back: the test may not run as root
    run("unsquashfs", "-no-xattrs", "-d", out, image)
    assert (out / "bin/busybox").read_bytes() == b"#!busybox\n" * 50
    assert (out / "bin/ls").stat().st_ino == (out / "bin/busybox").stat().st_ino
    stat = run("unsquashfs", "-stat", image).stdout
    assert "zstd" in stat
    assert "Number of xattr ids 1" in stat  # user.marker of etc/capable


def test_the_same_tar_gives_the_same_image(system_tar: Path, tmp_path: Path) -> None:
    require("tar2sqfs")
    write_squashfs(system_tar, tmp_path / "one", epoch=5)
    write_squashfs(system_tar, tmp_path / "two", epoch=5)
    write_squashfs(system_tar, tmp_path / "other", epoch=6)
    assert sha256(tmp_path / "one") == sha256(tmp_path / "two")
    assert sha256(tmp_path / "one") != sha256(tmp_path / "other")


def test_a_stream_works_like_a_file(system_tar: Path, tmp_path: Path) -> None:
    require("tar2sqfs")
    write_squashfs(system_tar, tmp_path / "file")
    with open(system_tar, "rb") as stream:
        write_squashfs(stream, tmp_path / "stream")
    assert sha256(tmp_path / "file") == sha256(tmp_path / "stream")


def test_a_broken_tar_is_an_error_naming_the_image(tmp_path: Path) -> None:
    require("tar2sqfs")
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not a tar" * 200)
    with pytest.raises(OutputError, match="tar2sqfs failed") as info:
        write_squashfs(broken, tmp_path / "x.squashfs")
    assert info.value.path == str(tmp_path / "x.squashfs")


def test_a_missing_tar2sqfs_names_the_debian_package(
    system_tar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no real peer can be "not installed"
    with pytest.raises(OutputError, match="squashfs-tools-ng"):
        write_squashfs(system_tar, tmp_path / "x.squashfs")


def test_invalid_options_are_errors() -> None:
    with pytest.raises(OutputError, match="brotli"):
        write_squashfs("x.tar", "x.sqfs", compression="brotli")  # type: ignore[arg-type]
    with pytest.raises(OutputError, match="3000"):
        write_squashfs("x.tar", "x.sqfs", block_size=3000)
