"""The newc writer and the root-tar-to-initrd conversion, checked with GNU cpio."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
import zstandard

from moby_assemble import OutputError
from moby_assemble.layers import EntryType, TarEntry
from moby_assemble.outputs import CpioWriter, write_cpio, write_initrd

from .conftest import SYSTEM_ITEMS, cpio_extract, cpio_list, d, dev, f, hard, sym, write_tar


def _cpio(root: Path) -> bytes:
    buf = io.BytesIO()
    write_cpio(root, buf)
    return buf.getvalue()


def _headers(archive: bytes) -> list[dict[str, object]]:
    """Parse newc headers (fields by name) — independent of the writer's code."""
    fields = ["ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
              "devminor", "rdevmajor", "rdevminor", "namesize", "check"]  # fmt: skip
    out = []
    pos = 0
    while True:
        assert archive[pos : pos + 6] == b"070701", f"bad magic at {pos}"
        values = {
            k: int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i, k in enumerate(fields)
        }
        namesize = values["namesize"]
        name = archive[pos + 110 : pos + 110 + namesize - 1].decode()
        assert archive[pos + 110 + namesize - 1] == 0
        pos += 110 + namesize
        pos += -pos % 4
        data = archive[pos : pos + values["filesize"]]
        pos += values["filesize"]
        pos += -pos % 4
        out.append({"name": name, "data": data, **values})
        if name == "TRAILER!!!":
            assert pos == len(archive), "bytes after the trailer"
            return out


def test_writer_emits_newc_records_with_padding_and_trailer() -> None:
    buf = io.BytesIO()
    w = CpioWriter(buf)
    w.add(TarEntry("a", size=5, mode=0o640, uid=3, gid=4, mtime=77), b"hello")
    w.add(TarEntry("dir", EntryType.DIRECTORY, mode=0o700))
    w.close()
    w.close()  # idempotent
    archive = buf.getvalue()
    assert len(archive) % 4 == 0
    heads = _headers(archive)
    assert [h["name"] for h in heads] == ["a", "dir", "TRAILER!!!"]
    a, directory, trailer = heads
    assert a["mode"] == stat.S_IFREG | 0o640
    assert (a["uid"], a["gid"], a["mtime"], a["filesize"], a["data"]) == (3, 4, 77, 5, b"hello")
    assert directory["mode"] == stat.S_IFDIR | 0o700
    assert directory["nlink"] == 2
    assert trailer["mode"] == 0
    assert trailer["ino"] == 0
    assert trailer["nlink"] == 1
    assert [h["ino"] for h in heads[:2]] == [1, 2]  # deterministic, not from the host


def test_writer_refuses_a_file_of_4_gib_naming_it() -> None:
    w = CpioWriter(io.BytesIO())
    with pytest.raises(OutputError, match=r"var/big\.img") as info:
        w.add(TarEntry("var/big.img", size=1 << 32), io.BytesIO(b""))
    assert info.value.path == "var/big.img"
    assert "4" in str(info.value) or "limit" in str(info.value)


def test_writer_refuses_hard_link_entries_and_short_data() -> None:
    w = CpioWriter(io.BytesIO())
    with pytest.raises(OutputError, match="hard link"):
        w.add(TarEntry("b", EntryType.HARDLINK, linkname="a"))
    with pytest.raises(OutputError, match="ended after 2 of 5"):
        w.add(TarEntry("short", size=5), io.BytesIO(b"ab"))


def test_gnu_cpio_lists_names_types_modes_owners_and_devices(tmp_path: Path) -> None:
    archive = _cpio(write_tar(tmp_path / "root.tar", SYSTEM_ITEMS))
    listing = {line.split()[-1] if " -> " not in line else line.split()[-3]: line
               for line in cpio_list(archive, verbose=True)}  # fmt: skip
    names = cpio_list(archive)
    assert "boot" in names
    assert not [n for n in names if n.startswith("boot/")], "kernel and cmdline stay out"
    assert names.count("etc/motd") == 1, "a name overridden later is written once"
    assert listing["dev/null"].startswith("crw-rw-rw-")
    assert "1,   3" in listing["dev/null"]
    assert listing["dev/sda"].startswith("brw-rw----")
    assert "8,   0" in listing["dev/sda"]
    assert listing["dev/fifo"].startswith("prw-------")
    assert listing["bin/sh"].startswith("lrwxrwxrwx")
    assert listing["bin/sh"].endswith("bin/sh -> busybox")
    assert listing["etc/setuid"].startswith("-rwsr-xr-x")
    assert " 7 " in listing["etc/setuid"]
    assert " 8 " in listing["etc/setuid"]
    assert listing["bin/busybox"].startswith("-rwxr-xr-x   2"), "a hard-link group of two"


def test_hard_links_stay_hard_links_with_data_on_the_last_member(tmp_path: Path) -> None:
    archive = _cpio(write_tar(tmp_path / "root.tar", SYSTEM_ITEMS))
    heads = {h["name"]: h for h in _headers(archive)}
    busybox, ls = heads["bin/busybox"], heads["bin/ls"]
    assert busybox["ino"] == ls["ino"]
    assert busybox["nlink"] == ls["nlink"] == 2
    assert busybox["filesize"] == 0
    assert ls["data"] == b"#!busybox\n" * 50
    assert ls["mode"] == stat.S_IFREG | 0o755, "a link member is a regular file"
    other = {h["ino"] for n, h in heads.items() if n not in ("bin/busybox", "bin/ls")}
    assert busybox["ino"] not in other
    out = tmp_path / "x"
    cpio_extract(archive, out)
    assert os.stat(out / "bin/ls").st_ino == os.stat(out / "bin/busybox").st_ino
    assert (out / "bin/busybox").read_bytes() == b"#!busybox\n" * 50
    assert os.readlink(out / "bin/sh") == "busybox"
    assert (out / "etc/motd").read_bytes() == b"second, the one that counts\n"


def test_link_to_an_entry_replaced_later_keeps_the_old_content(tmp_path: Path) -> None:
    # tar semantics: "b" links to the "a" that existed when "b" was written.
    root = write_tar(
        tmp_path / "root.tar",
        [f("a", b"old"), hard("b", "a"), hard("c", "b"), f("a", b"new content")],
    )
    archive = _cpio(root)
    heads = {h["name"]: h for h in _headers(archive) if h["name"] != "TRAILER!!!"}
    assert sorted(heads) == ["a", "b", "c"]
    assert heads["b"]["ino"] == heads["c"]["ino"] != heads["a"]["ino"]
    assert heads["b"]["nlink"] == 2
    assert heads["c"]["data"] == b"old"
    out = tmp_path / "x"
    cpio_extract(archive, out)
    assert (out / "a").read_bytes() == b"new content"
    assert (out / "b").read_bytes() == (out / "c").read_bytes() == b"old"


def test_links_to_symlinks_and_devices_become_copies(tmp_path: Path) -> None:
    root = write_tar(
        tmp_path / "root.tar",
        [sym("s", "target"), hard("s2", "s"),
         dev("null", EntryType.CHAR_DEVICE, 1, 3), hard("null2", "null")],
    )  # fmt: skip
    heads = {h["name"]: h for h in _headers(_cpio(root))}
    assert heads["s2"]["mode"] == stat.S_IFLNK | 0o777
    assert heads["s2"]["data"] == b"target"
    assert stat.S_ISCHR(heads["null2"]["mode"])
    assert (heads["null2"]["rdevmajor"], heads["null2"]["rdevminor"]) == (1, 3)
    assert heads["null2"]["ino"] != heads["null"]["ino"]


def test_dangling_hard_link_is_an_error_naming_it(tmp_path: Path) -> None:
    root = write_tar(tmp_path / "root.tar", [f("a", b"x"), hard("b", "missing")])
    with pytest.raises(OutputError, match="'b' points at 'missing'"):
        _cpio(root)


def test_directories_are_never_dropped_even_when_repeated(tmp_path: Path) -> None:
    # The first "etc" must come before "etc/x"; the later one only changes its mode.
    root = write_tar(tmp_path / "root.tar", [d("etc"), f("etc/x", b"1"), d("etc", mode=0o700)])
    heads = [h for h in _headers(_cpio(root)) if h["name"] != "TRAILER!!!"]
    assert [(h["name"], h["mode"] & 0o777) for h in heads] == [
        ("etc", 0o755), ("etc/x", 0o644), ("etc", 0o700)
    ]  # fmt: skip


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_initrd_compressions_hold_the_same_cpio(tmp_path: Path, compression: str) -> None:
    root = write_tar(tmp_path / "root.tar", SYSTEM_ITEMS)
    plain = _cpio(root)
    buf = io.BytesIO()
    write_initrd(root, buf, compression=compression)
    data = buf.getvalue()
    if compression == "gzip":
        assert data[:2] == b"\x1f\x8b"
        assert data[4:8] == b"\0\0\0\0", "gzip mtime is 0"
        assert not data[3] & 0x08, "no file name in the gzip header"
        data = gzip.decompress(data)
    elif compression == "zstd":
        assert data[:4] == b"\x28\xb5\x2f\xfd"
        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    assert data == plain


def test_ucode_is_prepended_uncompressed(tmp_path: Path) -> None:
    root = write_tar(tmp_path / "root.tar", SYSTEM_ITEMS)
    ucode_buf = io.BytesIO()
    w = CpioWriter(ucode_buf)
    w.add(TarEntry("kernel/x86/microcode/GenuineIntel.bin", size=4), b"UCOD")
    w.close()
    ucode = tmp_path / "ucode.cpio"
    ucode.write_bytes(ucode_buf.getvalue())
    out = io.BytesIO()
    write_initrd(root, out, ucode=ucode)
    data = out.getvalue()
    assert data.startswith(ucode.read_bytes())
    rest = data[len(ucode.read_bytes()) :]
    assert rest[:2] == b"\x1f\x8b"
    assert gzip.decompress(rest) == _cpio(root)
    assert cpio_list(data[: len(ucode.read_bytes())]) == ["kernel/x86/microcode/GenuineIntel.bin"]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_initrd_is_deterministic(tmp_path: Path, compression: str) -> None:
    roots = [write_tar(tmp_path / f"{n}.tar", SYSTEM_ITEMS) for n in ("a", "b")]
    digests = set()
    for root in (*roots, roots[0]):
        buf = io.BytesIO()
        write_initrd(root, buf, compression=compression)
        digests.add(hashlib.sha256(buf.getvalue()).hexdigest())
    assert len(digests) == 1


def test_unknown_compression_is_an_output_error(tmp_path: Path) -> None:
    root = write_tar(tmp_path / "root.tar", SYSTEM_ITEMS)
    with pytest.raises(OutputError, match="'lz4'"):
        write_initrd(root, io.BytesIO(), compression="lz4")


def test_missing_parent_directories_are_added_before_their_children(tmp_path: Path) -> None:
    # The kernel's unpacker does not create parents: "etc/ssl/cert" alone would be lost.
    root = write_tar(tmp_path / "root.tar", [f("etc/ssl/cert", b"pem"), d("etc", mode=0o700)])
    buf = io.BytesIO()
    write_cpio(root, buf, dir_mtime=42)
    heads = [h for h in _headers(buf.getvalue()) if h["name"] != "TRAILER!!!"]
    assert [(h["name"], h["mode"], h["mtime"]) for h in heads] == [
        ("etc", stat.S_IFDIR | 0o755, 42),
        ("etc/ssl", stat.S_IFDIR | 0o755, 42),
        ("etc/ssl/cert", stat.S_IFREG | 0o644, 2000),
        ("etc", stat.S_IFDIR | 0o700, 1000),  # the tar's own entry still applies, later
    ]
