"""read_tar and TarWriter: round trips, interoperability with tarfile, and malformed input."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moby_assemble import LayerError
from moby_assemble.layers import EntryType, TarEntry, TarWriter, read_tar
from moby_assemble.layers._tar_writer import _cached_text_record, _header


def write(*items: tuple[TarEntry, bytes | None]) -> bytes:
    out = io.BytesIO()
    with TarWriter(out) as w:
        for entry, data in items:
            w.add(entry, data)
    return out.getvalue()


def read_all(data: bytes) -> list[tuple[TarEntry, bytes]]:
    return [(e, e.read()) for e in read_tar(io.BytesIO(data))]


def tarfile_archive(
    fmt: int, members: list[tuple[tarfile.TarInfo, bytes | None]], **kw: object
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, **kw) as t:  # type: ignore[call-overload]
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def info(
    name: str, type: bytes = tarfile.REGTYPE, size: int = 0, **fields: object
) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.size = size
    for key, value in fields.items():
        setattr(ti, key, value)
    return ti


TRICKY = [
    (TarEntry("etc", EntryType.DIRECTORY, 0o755, mtime=1_700_000_000), None),
    (TarEntry("etc/shadow", mode=0o640, gid=42, gname="shadow", size=5), b"root:"),
    (TarEntry("usr/bin/su", mode=0o4755, size=2), b"su"),
    (TarEntry("usr/bin/crontab", mode=0o2755, size=1), b"c"),
    (TarEntry("tmp", EntryType.DIRECTORY, 0o1777), None),
    (TarEntry("a" * 99 + "/" + "b" * 99, size=1), b"1"),  # > 100: ustar prefix split
    (TarEntry("/".join(["d" * 50] * 6), size=1), b"2"),  # > 255: PAX path
    (TarEntry("x" * 180, size=1), b"3"),  # > 100 without a usable split: PAX path
    (TarEntry("bin/sh", EntryType.SYMLINK, 0o777, linkname="/" + "l" * 200), None),
    (TarEntry("usr/bin/sudo", EntryType.HARDLINK, 0o4755, linkname="usr/bin/su"), None),
    (TarEntry("dev/null", EntryType.CHAR_DEVICE, 0o666, devmajor=1, devminor=3), None),
    (TarEntry("dev/sda", EntryType.BLOCK_DEVICE, 0o660, devmajor=8, devminor=0), None),
    (TarEntry("run/fifo", EntryType.FIFO, 0o600), None),
    (TarEntry("home/big-ids", uid=3_000_000, gid=2**31, uname="u" * 40, size=0), None),
    (TarEntry("ünïcødé/名前", size=2), "名".encode()[:2]),
    (TarEntry("bad-utf8-\udcff\udcfe", size=0), None),
    (TarEntry("fraction", mtime=1.25, size=0), None),
    (TarEntry("before-1970", mtime=-86400, size=0), None),
    (
        TarEntry(
            "xattrs",
            size=1,
            pax=(
                ("LINUXKIT.source", "docker.io/library/alpine:3.20"),
                ("SCHILY.xattr.security.capability", "\x01\x00\x00\x02\udcff"),
                ("SCHILY.xattr.user.note", "hello"),
            ),
        ),
        b"x",
    ),
]


def test_round_trip_of_tricky_entries_keeps_every_field() -> None:
    got = read_all(write(*TRICKY))
    assert [e for e, _ in got] == [e for e, _ in TRICKY]
    assert [d for _, d in got] == [d or b"" for _, d in TRICKY]
    xattrs = got[-1][0].xattrs
    assert xattrs == {"security.capability": b"\x01\x00\x00\x02\xff", "user.note": b"hello"}


def test_writer_output_is_deterministic_and_small_entries_need_no_pax_header() -> None:
    one = write((TarEntry("hello", size=5), b"world"))
    assert one == write((TarEntry("hello", size=5), b"world"))
    assert len(one) == 512 + 512 + 1024  # header, data, end of archive: no PAX header
    assert b"PaxHeader" not in one
    assert b"PaxHeader" in write((TarEntry("hello", mtime=0.5), None))


def test_tarfile_reads_what_the_writer_writes() -> None:
    data = write(*TRICKY)
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        members = t.getmembers()
        contents = {m.name: t.extractfile(m).read() for m in members if m.isreg()}  # type: ignore[union-attr]
    assert [m.name.rstrip("/") for m in members] == [e.name for e, _ in TRICKY]
    for m, (e, d) in zip(members, TRICKY, strict=True):
        assert (m.mode, m.uid, m.gid, m.mtime) == (e.mode, e.uid, e.gid, e.mtime), e.name
        assert m.type == e.type.value.encode()
        assert m.linkname == e.linkname
        if e.type in (EntryType.CHAR_DEVICE, EntryType.BLOCK_DEVICE):
            assert (m.devmajor, m.devminor) == (e.devmajor, e.devminor)
        if d:
            assert contents[m.name] == d
    assert members[-1].pax_headers["SCHILY.xattr.user.note"] == "hello"
    assert members[-1].pax_headers["LINUXKIT.source"] == "docker.io/library/alpine:3.20"


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_read_tar_reads_what_tarfile_writes(fmt: int) -> None:
    long_ok = fmt != tarfile.USTAR_FORMAT
    members = [
        (info("./", tarfile.DIRTYPE, mode=0o755), None),
        (info("./etc/", tarfile.DIRTYPE, mode=0o700, uid=1, gid=2), None),
        (info("./etc/motd", size=3, mode=0o644, mtime=123, uname="root"), b"hi\n"),
        (info("./etc/link", tarfile.SYMTYPE, linkname="motd"), None),
        (info("./etc/hard", tarfile.LNKTYPE, linkname="./etc/motd"), None),
        (info("./dev-zero", tarfile.CHRTYPE, devmajor=1, devminor=5, mode=0o666), None),
    ]
    if long_ok:
        members += [
            (info("./" + "n" * 300, size=1), b"n"),
            (info("./sym", tarfile.SYMTYPE, linkname="t" * 300), None),
            (info("./big-uid", uid=2**30, gid=2**30), None),
        ]
    got = read_all(tarfile_archive(fmt, members))
    names = [e.name for e, _ in got]
    assert names[:6] == [".", "etc", "etc/motd", "etc/link", "etc/hard", "dev-zero"]
    etc, motd, link, hard, dev = (e for e, _ in got[1:6])
    assert (etc.type, etc.mode, etc.uid, etc.gid) == (EntryType.DIRECTORY, 0o700, 1, 2)
    assert (got[2][1], motd.mtime, motd.uname) == (b"hi\n", 123, "root")
    assert (link.type, link.linkname) == (EntryType.SYMLINK, "motd")
    assert (hard.type, hard.linkname) == (EntryType.HARDLINK, "etc/motd")  # normalised
    assert (dev.devmajor, dev.devminor, dev.mode) == (1, 5, 0o666)
    if long_ok:
        assert names[6:] == ["n" * 300, "sym", "big-uid"]
        assert got[7][0].linkname == "t" * 300
        assert (got[8][0].uid, got[8][0].gid) == (2**30, 2**30)  # base-256 in GNU format


def test_pax_xattrs_and_global_headers_written_by_tarfile_are_applied() -> None:
    members = [
        (info("a", size=1, pax_headers={"SCHILY.xattr.user.x": "1", "uname": "alice"}), b"a"),
        (info("b", size=0), None),
    ]
    got = read_all(
        tarfile_archive(tarfile.PAX_FORMAT, members, pax_headers={"gname": "staff", "comment": "c"})
    )
    a, b = got[0][0], got[1][0]
    assert a.xattrs == {"user.x": b"1"}
    assert (a.uname, a.gname, b.gname) == ("alice", "staff", "staff")
    assert dict(b.pax) == {"comment": "c"}


def test_big_sizes_use_a_pax_record() -> None:
    size = 2**33 + 5  # more than ustar's 11 octal digits
    header = _header(TarEntry("huge", size=size), "huge", "", b"")
    assert b"size=8589934597" in header
    entry = next(read_tar(io.BytesIO(header)))
    assert entry.size == size
    with tarfile.open(fileobj=io.BytesIO(header + bytes(1024))) as t:
        assert t.next().size == size  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("member", "what"),
    [
        ("../escape", "'..'"),
        ("a/../../escape", "'..'"),
        ("/etc/passwd", "absolute"),
    ],
)
def test_hostile_member_names_are_rejected_with_the_layer_and_member(
    member: str, what: str
) -> None:
    data = tarfile_archive(tarfile.PAX_FORMAT, [(info(member, size=1), b"x")])
    with pytest.raises(LayerError, match=what) as err:
        list(read_tar(io.BytesIO(data), layer="sha256:abc"))
    assert err.value.member == member
    assert err.value.layer == "sha256:abc"
    assert "sha256:abc" in str(err.value)


def test_hard_link_out_of_the_root_is_rejected() -> None:
    data = tarfile_archive(
        tarfile.PAX_FORMAT, [(info("x", tarfile.LNKTYPE, linkname="../../etc/shadow"), None)]
    )
    with pytest.raises(LayerError, match="hard link target"):
        list(read_tar(io.BytesIO(data)))


def test_symlink_targets_are_kept_verbatim() -> None:
    data = write((TarEntry("l", EntryType.SYMLINK, linkname="../../../etc/shadow"), None))
    assert read_all(data)[0][0].linkname == "../../../etc/shadow"


@pytest.mark.parametrize(
    ("typeflag", "what"),
    [(tarfile.GNUTYPE_SPARSE, "sparse"), (b"V", "volume"), (b"Z", "unsupported member type")],
)
def test_sparse_and_exotic_members_are_rejected(typeflag: bytes, what: str) -> None:
    data = tarfile_archive(
        tarfile.GNU_FORMAT, [(info("ok", size=0), None), (info("s", typeflag), None)]
    )
    with pytest.raises(LayerError, match=what):
        list(read_tar(io.BytesIO(data)))


def test_pax_sparse_records_are_rejected() -> None:
    data = tarfile_archive(
        tarfile.PAX_FORMAT, [(info("s", size=0, pax_headers={"GNU.sparse.major": "1"}), None)]
    )
    with pytest.raises(LayerError, match="sparse"):
        list(read_tar(io.BytesIO(data)))


def test_unread_data_is_skipped_and_cannot_be_read_after_advancing() -> None:
    data = write((TarEntry("a", size=3), b"aaa"), (TarEntry("b", size=3), b"bbb"))
    it = read_tar(io.BytesIO(data))
    a = next(it)
    assert a.read(1) == b"a"
    b = next(it)
    assert b.open().read() == b"bbb"
    with pytest.raises(LayerError, match="no longer available"):
        a.read()
    assert not a.has_data


def test_truncated_archive_and_garbage_are_errors() -> None:
    data = write((TarEntry("a", size=1000), b"a" * 1000))
    with pytest.raises(LayerError, match="truncated inside 'a'"):
        read_all(data[:900])
    with pytest.raises(LayerError, match="truncated"):
        list(read_tar(io.BytesIO(data[:300])))
    corrupt = bytearray(data)
    corrupt[10] ^= 0xFF
    with pytest.raises(LayerError, match="bad checksum"):
        list(read_tar(io.BytesIO(bytes(corrupt))))


def test_end_of_stream_without_end_marker_is_accepted() -> None:
    data = write((TarEntry("a", size=1), b"a"))
    assert [e.name for e in read_tar(io.BytesIO(data[:1024]))] == ["a"]


def test_writer_rejects_inconsistent_data() -> None:
    w = TarWriter(io.BytesIO())
    with pytest.raises(ValueError, match="size is 2"):
        w.add(TarEntry("a", size=2), b"abc")
    with pytest.raises(ValueError, match="only regular files"):
        w.add(TarEntry("d", EntryType.DIRECTORY), b"")
    with pytest.raises(ValueError, match="no data"):
        w.add(TarEntry("a", size=2))
    with pytest.raises(LayerError, match="ended after 1 of 2 bytes"):
        w.add(TarEntry("a", size=2), io.BytesIO(b"x"))
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.add(TarEntry("a"))


def test_entries_copy_their_own_data_from_one_archive_to_another() -> None:
    big = bytes(range(256)) * 1000  # more than the small-entry fast path
    data = write((TarEntry("small", size=3), b"abc"), (TarEntry("big", size=len(big)), big))
    out = io.BytesIO()
    with TarWriter(out) as w:
        for e in read_tar(io.BytesIO(data)):
            w.add(e)
    assert out.getvalue() == data


def test_relocated_moves_names_and_hard_link_targets_but_not_symlink_targets() -> None:
    entries = [
        TarEntry(".", EntryType.DIRECTORY),
        TarEntry("bin/a", EntryType.HARDLINK, linkname="bin/b"),
        TarEntry("bin/s", EntryType.SYMLINK, linkname="/bin/b"),
    ]
    moved = [e.relocated("/containers/x/rootfs/") for e in entries]
    assert [(e.name, e.linkname) for e in moved] == [
        ("containers/x/rootfs", ""),
        ("containers/x/rootfs/bin/a", "containers/x/rootfs/bin/b"),
        ("containers/x/rootfs/bin/s", "/bin/b"),
    ]


_names = st.lists(
    st.text(
        st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=60,
    ).filter(lambda s: s not in (".", "..") and not s.startswith(".wh.")),
    min_size=1,
    max_size=5,
).map("/".join)


_owner_names = st.text(
    st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40
)


@st.composite
def _entries(draw: st.DrawFn) -> tuple[TarEntry, bytes | None]:
    kind = draw(
        st.sampled_from(
            [EntryType.FILE, EntryType.DIRECTORY, EntryType.SYMLINK, EntryType.CHAR_DEVICE]
        )
    )
    data = draw(st.binary(max_size=700)) if kind is EntryType.FILE else None
    return (
        TarEntry(
            draw(_names),
            kind,
            draw(st.integers(0, 0o7777)),
            draw(st.integers(0, 2**32 - 1)),
            draw(st.integers(0, 2**32 - 1)),
            len(data) if data is not None else 0,
            draw(
                st.one_of(
                    st.integers(-(2**40), 2**40),
                    st.floats(-1e9, 1e9).filter(lambda f: not f.is_integer()),
                )
            ),
            draw(_names) if kind is EntryType.SYMLINK else "",
            draw(_owner_names),
            draw(_owner_names),
            draw(st.integers(0, 2**20)) if kind is EntryType.CHAR_DEVICE else 0,
            draw(st.integers(0, 2**20)) if kind is EntryType.CHAR_DEVICE else 0,
            tuple(
                sorted(
                    draw(
                        st.dictionaries(
                            st.from_regex(r"SCHILY\.xattr\.user\.[a-z]{1,8}", fullmatch=True),
                            st.text(max_size=20),
                            max_size=3,
                        )
                    ).items()
                )
            ),
        ),
        data,
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(_entries(), max_size=6))
def test_any_entries_round_trip_through_writer_and_reader(
    items: list[tuple[TarEntry, bytes | None]],
) -> None:
    got = read_all(write(*items))
    assert [e for e, _ in got] == [e for e, _ in items]
    assert [d for _, d in got] == [d or b"" for _, d in items]


def test_oversized_metadata_headers_are_refused_without_buffering_them() -> None:
    header = _header(TarEntry("x" * 300, size=0), "x" * 300, "", b"")  # PAX header, then entry
    forged = bytearray(header[:512])
    forged[124:136] = b"%011o\0" % (1 << 30)  # the PAX record claims 1 GiB
    forged[148:156] = b"        "
    forged[148:156] = b"%06o\0 " % sum(forged)
    with pytest.raises(LayerError, match="claims 1073741824 bytes"):
        list(read_tar(io.BytesIO(bytes(forged))))


def test_bytes_data_of_the_wrong_length_is_refused_before_anything_is_written() -> None:
    out = io.BytesIO()
    w = TarWriter(out)
    with pytest.raises(ValueError, match="size is 0 but data has 3 bytes"):
        w.add(TarEntry("a"), b"abc")
    w.close()
    assert out.getvalue() == bytes(1024)


def test_long_pax_values_are_written_but_not_kept_in_the_record_cache() -> None:
    # An image's entries may carry PAX records of up to 1 MiB each: writing them must not
    # pin them in memory (only short, repeating records such as provenance are cached).
    _cached_text_record.cache_clear()
    big = [
        TarEntry(f"f{i}", pax=(("SCHILY.xattr.user.blob", chr(65 + i) * 100_000),))
        for i in range(5)
    ]
    small = TarEntry("s", pax=(("LINUXKIT.source", "docker.io/x/y:1"),))
    got = read_all(write(*[(e, None) for e in [*big, small, small]]))
    assert [e.pax for e, _ in got] == [e.pax for e in [*big, small, small]]
    info = _cached_text_record.cache_info()
    assert (info.currsize, info.hits) == (1, 1)
