"""Reading .deb files: ar, control, every data.tar compression, hostile and broken packages."""

from __future__ import annotations

import bz2
import io
import lzma
import subprocess
from pathlib import Path

import pytest

from moby_assemble import LayerError
from moby_assemble.layers import EntryType
from moby_assemble.pkg import DebPackage, parse_control, read_ar

from .conftest import MakeDeb, ar_archive, control_text, tar_bytes


def dpkg_listing(path: Path) -> set[str]:
    out = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(path)], check=True, capture_output=True, timeout=60
    ).stdout
    names = subprocess.run(
        ["tar", "-t"], input=out, check=True, capture_output=True, timeout=60
    ).stdout.decode()
    return {n.removeprefix("./").rstrip("/") or "." for n in names.splitlines()}


@pytest.mark.parametrize("compression", ["gzip", "xz", "zstd", "none"])
def test_every_dpkg_deb_compression_reads_like_dpkg(make_deb: MakeDeb, compression: str) -> None:
    path = make_deb(
        "hello",
        "2:1.0-3",
        {"usr/bin/hello": b"#!/bin/sh\necho hi\n", "etc/hello.conf": b"x=1\n"},
        compression=compression,
    )
    deb = DebPackage.open(path)
    assert (deb.name, deb.version, deb.architecture) == ("hello", "2:1.0-3", "amd64")
    suffix = {"gzip": ".gz", "xz": ".xz", "zstd": ".zst", "none": ""}[compression]
    assert deb.data_member == f"data.tar{suffix}"
    entries = {e.name: (e, e.read()) for e in deb.data()}
    assert set(entries) == dpkg_listing(path)
    entry, data = entries["usr/bin/hello"]
    assert data == b"#!/bin/sh\necho hi\n"
    assert entry.mode == 0o755
    assert (entry.uid, entry.gid) == (0, 0)


def test_bzip2_and_lzma_data_members_are_read(tmp_path: Path) -> None:
    # dpkg-deb no longer writes these, but old packages use them.
    control = tar_bytes({"control": control_text("old", "0.1").encode()})
    data = tar_bytes({"usr": None, "usr/share": None, "usr/share/old.txt": b"old\n"})
    for suffix, compress in ((".bz2", bz2.compress), (".lzma", _lzma_alone)):
        path = tmp_path / f"old{suffix}.deb"
        path.write_bytes(
            ar_archive(
                [
                    ("debian-binary", b"2.0\n"),
                    ("control.tar.gz", _gzip(control)),
                    (f"data.tar{suffix}", compress(data)),
                ]
            )
        )
        deb = DebPackage.open(path)
        files = {e.name: e.read() for e in deb.data() if e.type is EntryType.FILE}
        assert files == {"usr/share/old.txt": b"old\n"}


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def _lzma_alone(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_ALONE)


def test_real_debian_package_matches_dpkg(small_debs: dict[str, DebPackage]) -> None:
    deb = small_debs["busybox-static"]
    assert deb.control["Package"] == "busybox-static"
    assert deb.version.startswith("1:1.35")
    names = {e.name for e in deb.data()}
    assert names == dpkg_listing(deb.path)
    assert "bin/busybox" in names
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb.path), "Version", "Architecture"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert f"Version: {deb.version}" in fields
    assert f"Architecture: {deb.architecture}" in fields


def test_sha256_is_the_file_hash(make_deb: MakeDeb) -> None:
    import hashlib

    path = make_deb("hashme", files={"etc/x": b"1"})
    assert DebPackage.open(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_hostile_member_names_in_data_tar_are_refused(tmp_path: Path) -> None:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../../etc/shadow")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"evil"))
    path = tmp_path / "evil.deb"
    path.write_bytes(
        ar_archive(
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar", tar_bytes({"control": control_text("evil", "1").encode()})),
                ("data.tar", buf.getvalue()),
            ]
        )
    )
    deb = DebPackage.open(path)
    with pytest.raises(LayerError, match=r"\.\."):
        list(deb.data())
    assert not (tmp_path.parent / "etc" / "shadow").exists()


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("data.tar/../x", "bad ar member"),
        ("evil.sh", "unexpected member"),
    ],
)
def test_hostile_or_unknown_ar_members_are_refused(
    tmp_path: Path, member: str, message: str
) -> None:
    path = tmp_path / "bad.deb"
    path.write_bytes(ar_archive([("debian-binary", b"2.0\n"), (member, b"x")]))
    with pytest.raises(LayerError, match=message) as info:
        DebPackage.open(path)
    assert str(path) in str(info.value)


def test_truncated_package_names_the_member(make_deb: MakeDeb, tmp_path: Path) -> None:
    path = make_deb("big", files={"usr/share/big": bytes(range(256)) * 400})
    cut = tmp_path / "cut.deb"
    cut.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(LayerError, match="truncated") as info:
        DebPackage.open(cut)
    assert info.value.member == "data.tar.xz"


def test_corrupt_compressed_data_is_a_layer_error(make_deb: MakeDeb, tmp_path: Path) -> None:
    path = make_deb("noisy", files={"usr/share/noise": bytes(range(256)) * 64})
    data = bytearray(path.read_bytes())
    members = read_ar(io.BytesIO(bytes(data)), source="x")
    payload = next(m for m in members if m.name.startswith("data.tar"))
    for i in range(payload.offset + 60, payload.offset + 120):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.deb"
    bad.write_bytes(bytes(data))
    with pytest.raises(LayerError, match=r"bad\.deb"):
        list(DebPackage.open(bad).data())


def test_not_a_deb_and_wrong_format_version_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.deb"
    junk.write_bytes(b"PK\x03\x04 not an ar archive")
    with pytest.raises(LayerError, match="not a Debian package"):
        DebPackage.open(junk)
    v3 = tmp_path / "v3.deb"
    v3.write_bytes(ar_archive([("debian-binary", b"3.0\n")]))
    with pytest.raises(LayerError, match=r"format '3\.0'"):
        DebPackage.open(v3)


def test_missing_control_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nocontrol.deb"
    path.write_bytes(
        ar_archive(
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar", tar_bytes({"md5sums": b""})),
                ("data.tar", tar_bytes({})),
            ]
        )
    )
    with pytest.raises(LayerError, match="no control file"):
        DebPackage.open(path)


def test_control_paragraph_continuations_and_errors() -> None:
    fields = parse_control("Package: a\nDescription: short\n long line\n .\n\nPackage: b\n")
    assert fields == {"Package": "a", "Description": "short\nlong line\n."}
    with pytest.raises(LayerError, match="control:2"):
        parse_control("Package: a\nthis is not a field\n", source="control")


def test_hard_links_in_data_tar_are_reported_as_links(make_deb: MakeDeb) -> None:
    # dpkg-deb keeps hard links of the tree it packs.
    path = make_deb("linked", files={"usr/bin/one": b"same\n"})
    root = next(p for p in path.parent.iterdir() if p.name.startswith("build-linked"))
    (root / "usr/bin/two").hardlink_to(root / "usr/bin/one")
    rebuilt = path.parent / "linked2.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(root), str(rebuilt)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    entries = {e.name: e for e in DebPackage.open(rebuilt).data()}
    kinds = sorted((entries["usr/bin/one"].type.name, entries["usr/bin/two"].type.name))
    assert kinds == ["FILE", "HARDLINK"]
