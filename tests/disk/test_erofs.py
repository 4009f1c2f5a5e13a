"""EROFS from a tar: written in Python (fsck.erofs and dump.erofs read it back), or with
mkfs.erofs --tar for compressed images (erofs-utils 1.7+), or a clear error without."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import erofs_reads_tar, write_erofs
from moby_assemble.layers import EntryType, TarEntry, TarWriter

from .conftest import require, run, sha256

Item = tuple[TarEntry, bytes | None]


def _tar(path: Path, items: list[Item]) -> Path:
    with open(path, "wb") as f, TarWriter(f) as writer:
        for entry, data in items:
            writer.add(entry, data)
    return path


def _file(name: str, data: bytes, **fields: object) -> Item:
    return TarEntry(name, size=len(data), **fields), data  # type: ignore[arg-type]


def _dump(image: Path, path: str) -> str:
    return run("dump.erofs", f"--path={path}", image).stdout


def _extract(image: Path, tmp_path: Path) -> Path:
    out = tmp_path / "extracted"
    run("fsck.erofs", f"--extract={out}", "--preserve", image)
    return out


def test_fsck_extracts_every_entry_with_owner_mode_and_type(
    system_tar: Path, tmp_path: Path
) -> None:
    require("fsck.erofs")
    image = tmp_path / "system.erofs"
    write_erofs(system_tar, image, seed="s", epoch=1700000000)
    out = _extract(image, tmp_path)
    assert (out / "bin/busybox").read_bytes() == b"#!busybox\n" * 50
    assert (out / "bin/ls").read_bytes() == b"#!busybox\n" * 50  # fsck.erofs copies links
    assert (out / "bin/sh").readlink() == Path("busybox")
    setuid = (out / "etc/setuid").stat()
    assert (setuid.st_uid, setuid.st_gid) == (7, 8)
    # fsck.erofs 1.5 drops setuid when it chowns and dump.erofs masks it: read the inode
    # that dump.erofs names.
    nid = int(re.search(r"NID: (\d+)", _dump(image, "/etc/setuid")).group(1))  # type: ignore[union-attr]
    mode = int.from_bytes(image.read_bytes()[nid * 32 + 4 : nid * 32 + 6], "little")
    assert oct(mode) == "0o104755"
    assert (out / "bin/busybox").stat().st_mtime == 2000
    null = (out / "dev/null").stat()
    assert (null.st_mode & 0o170000, null.st_rdev) == (0o020000, (1 << 8) | 3)
    assert (out / "dev/sda").is_block_device()
    assert (out / "dev/fifo").is_fifo()


def test_dump_erofs_reads_the_superblock_links_and_xattrs(system_tar: Path, tmp_path: Path) -> None:
    require("dump.erofs")
    image = tmp_path / "system.erofs"
    write_erofs(system_tar, image, seed="s", epoch=1700000000)
    superblock = run("dump.erofs", "-s", image).stdout
    assert "Filesystem root nid:                          36" in superblock
    assert "Filesystem inode count:                       11" in superblock
    assert "2023-11-14" in superblock or "Nov 14" in superblock
    busybox, ls = _dump(image, "/bin/busybox"), _dump(image, "/bin/ls")
    assert "Links: 2" in busybox
    assert re.search(r"NID: \d+", busybox).group() == re.search(r"NID: \d+", ls).group()  # type: ignore[union-attr]
    assert re.search(r"Xattr size: [1-9]", _dump(image, "/etc/capable"))
    assert "Links: 5" in _dump(image, "/")  # ., .., bin, dev, etc


def test_sizes_around_the_block_size_and_big_directories_read_back(tmp_path: Path) -> None:
    require("fsck.erofs")
    rng = random.Random(5)
    sizes = [0, 1, 4000, 4095, 4096, 4097, 8192, 100_000, 1 << 20]
    items: list[Item] = [_file(f"sizes/f{size}", rng.randbytes(size)) for size in sizes]
    items += [
        _file(f"big/{'a long name to fill directory blocks ' * 3}{i:05d}", b"%d" % i)
        for i in range(600)
    ]
    items += [
        _file(
            "xattrs/many", b"x", pax=tuple((f"SCHILY.xattr.user.k{i}", "v" * 40) for i in range(20))
        )
    ]
    image = tmp_path / "sizes.erofs"
    write_erofs(_tar(tmp_path / "sizes.tar", items), image)
    out = _extract(image, tmp_path)
    for (entry, data), size in zip(items, sizes, strict=False):
        assert (out / entry.name).read_bytes() == data, size
    assert len(list((out / "big").iterdir())) == 600
    assert "Size: " in _dump(image, "/big")
    assert int(re.search(r"Size: (\d+)", _dump(image, "/big")).group(1)) > 3 * 4096  # type: ignore[union-attr]


def test_a_later_entry_of_the_same_name_wins(tmp_path: Path) -> None:
    require("fsck.erofs")
    items: list[Item] = [
        (TarEntry("etc", EntryType.DIRECTORY, mode=0o700), None),
        _file("etc/motd", b"first\n"),
        _file("etc/other", b"stays\n"),
        (TarEntry("etc", EntryType.DIRECTORY, mode=0o755, uid=3), None),
        _file("etc/motd", b"second\n", mode=0o600),
    ]
    image = tmp_path / "x.erofs"
    write_erofs(_tar(tmp_path / "x.tar", items), image)
    out = _extract(image, tmp_path)
    assert (out / "etc/motd").read_bytes() == b"second\n"
    assert (out / "etc/other").read_bytes() == b"stays\n"
    assert (out / "etc").stat().st_uid == 3
    assert oct((out / "etc/motd").stat().st_mode & 0o777) == "0o600"


def test_the_same_tar_gives_the_same_image(system_tar: Path, tmp_path: Path) -> None:
    write_erofs(system_tar, tmp_path / "one", seed="s", epoch=5)
    write_erofs(system_tar, tmp_path / "two", seed="s", epoch=5)
    write_erofs(system_tar, tmp_path / "other", seed="t", epoch=5)
    assert sha256(tmp_path / "one") == sha256(tmp_path / "two")
    assert sha256(tmp_path / "one") != sha256(tmp_path / "other")


def test_an_xattr_erofs_cannot_name_is_an_error_naming_the_member(tmp_path: Path) -> None:
    tar = _tar(tmp_path / "x.tar", [_file("odd", b"", pax=(("SCHILY.xattr.weird.name", "v"),))])
    with pytest.raises(OutputError, match=r"odd: extended attribute 'weird\.name'"):
        write_erofs(tar, tmp_path / "x.erofs")


def test_compressed_images_need_mkfs_erofs_1_7(system_tar: Path, tmp_path: Path) -> None:
    require("mkfs.erofs")
    if erofs_reads_tar():
        write_erofs(system_tar, tmp_path / "one.erofs", seed="s", compression="lz4hc")
        write_erofs(system_tar, tmp_path / "two.erofs", seed="s", compression="lz4hc")
        run("fsck.erofs", tmp_path / "one.erofs")
        assert sha256(tmp_path / "one.erofs") == sha256(tmp_path / "two.erofs")
    else:
        with pytest.raises(OutputError, match=r"erofs-utils 1\.7 or newer"):
            write_erofs(system_tar, tmp_path / "x.erofs", compression="lz4")
        assert not (tmp_path / "x.erofs").exists()


def test_a_missing_mkfs_erofs_names_the_debian_package(
    system_tar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no real peer can be "not installed"
    with pytest.raises(OutputError, match="erofs-utils"):
        write_erofs(system_tar, tmp_path / "x.erofs", compression="lz4")
    write_erofs(system_tar, tmp_path / "plain.erofs")  # uncompressed needs no tool


def test_a_missing_tar_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="nothing"):
        write_erofs(tmp_path / "nothing", tmp_path / "x.erofs")
