"""A lean tar reader and writer: the entry type, :func:`read_tar` and :class:`TarWriter`.

Why not :mod:`tarfile`: rewriting a stream with it costs about 45 µs per entry (it builds a
``TarInfo``, re-validates, and writes through several layers of small calls), so an image of
100,000 small files would spend seconds on headers alone. Here a header is one
``struct.unpack`` on a buffered block, a handful of ``int(…, 8)`` calls and one attrs
instance; writing is one ``struct.pack`` plus a checksum. Data is copied in large chunks
straight from the decompressor to the output.

What is read: ustar and POSIX (``ustar\\0``) headers, GNU (``ustar ``) headers, v7 headers,
GNU ``L``/``K`` long names, PAX ``x`` and ``g`` headers, base-256 numbers, old signed
checksums. Sparse files (GNU ``S`` or ``GNU.sparse.*`` records), multi-volume and other
exotic member types are rejected with a :class:`LayerError` naming the member.

What is written: POSIX ustar headers, plus one PAX ``x`` header in front of an entry only
when its name or link does not fit (long or non-ASCII), a number is too large, the mtime
has a fraction or is negative, or the entry carries extra PAX records (xattrs, ``LINUXKIT.*``).
Output is deterministic: PAX headers have fixed fields and sorted records, and the
archive ends with exactly two zero blocks.

Example::

    >>> import io
    >>> out = io.BytesIO()
    >>> with TarWriter(out) as w:
    ...     w.add(TarEntry("etc", EntryType.DIRECTORY))
    ...     w.add(TarEntry("etc/motd", size=3), b"hi\\n")
    >>> [(e.name, e.read()) for e in read_tar(io.BytesIO(out.getvalue()))]
    [('etc', b''), ('etc/motd', b'hi\\n')]
"""

from __future__ import annotations

import enum
import io
import struct
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO

import attrs

from .._errors import LayerError
from ._paths import normalise_name

__all__ = ["EntryType", "TarEntry", "TarWriter", "read_tar"]

_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
_CHUNK = 1 << 20
# name mode uid gid size mtime chksum type linkname magic version uname gname
# devmajor devminor prefix (+ 12 bytes of padding)
_HEADER = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s12x")
_SIGNED = struct.Struct("148b8x356b")
_MAX_OCT7 = 0o7777777
_MAX_OCT11 = 0o77777777777
_PAX_NAME = b"././@PaxHeader"
_Buffer = bytearray | memoryview


class EntryType(enum.StrEnum):
    """The kind of a tar member; the value is its tar type flag."""

    FILE = "0"
    HARDLINK = "1"
    SYMLINK = "2"
    CHAR_DEVICE = "3"
    BLOCK_DEVICE = "4"
    DIRECTORY = "5"
    FIFO = "6"


_TYPES: dict[bytes, EntryType] = {
    b"0": EntryType.FILE,
    b"\0": EntryType.FILE,
    b"7": EntryType.FILE,  # contiguous file: a regular file everywhere that matters
    b"1": EntryType.HARDLINK,
    b"2": EntryType.SYMLINK,
    b"3": EntryType.CHAR_DEVICE,
    b"4": EntryType.BLOCK_DEVICE,
    b"5": EntryType.DIRECTORY,
    b"6": EntryType.FIFO,
}
_TYPE_BYTES = {t: t.value.encode() for t in EntryType}
_UNSUPPORTED = {
    b"S": "a GNU sparse file",
    b"V": "a GNU volume header",
    b"M": "a GNU multi-volume continuation",
    b"N": "an old GNU long-name record",
    b"D": "a GNU dump directory",
}
# PAX keys that set header fields; everything else is kept in TarEntry.pax.
_PAX_FIELDS = frozenset(
    {"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime"}
)
_PAX_DROPPED = frozenset({"atime", "ctime", "hdrcharset", "charset"})


def _default_mode(entry: TarEntry) -> int:
    return 0o755 if entry.type is EntryType.DIRECTORY else 0o644


@attrs.frozen
class TarEntry:
    """One member of a tar stream: its header, and (for entries from :func:`read_tar`) a
    one-shot handle on its data.

    Attributes:
        name: normalised relative name (``"usr/bin/env"``; the root directory is ``"."``)
            for entries from :func:`read_tar`. The writer writes whatever it is given.
        type: the :class:`EntryType`.
        mode: permission bits including setuid, setgid and sticky (``0o4755``), no type bits.
        uid, gid, uname, gname: ownership.
        size: length of the data (0 for everything but regular files).
        mtime: seconds since the epoch; a ``float`` only when it has a fraction.
        linkname: symlink target (verbatim), or the normalised member a hard link points at.
        devmajor, devminor: device numbers of character and block devices.
        pax: extra PAX records as sorted ``(key, value)`` pairs: extended attributes
            (``SCHILY.xattr.<name>``), ``LINUXKIT.*`` and any other key. Values are
            strings; bytes that are not UTF-8 are kept with ``surrogateescape``.

    Example::

        >>> TarEntry("bin/sh", EntryType.SYMLINK, linkname="busybox").mode
        420
    """

    name: str
    type: EntryType = EntryType.FILE
    mode: int = attrs.field(default=attrs.Factory(_default_mode, takes_self=True))
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int | float = 0
    linkname: str = ""
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    pax: tuple[tuple[str, str], ...] = ()
    _payload: _Payload | None = attrs.field(default=None, eq=False, repr=False, alias="_payload")

    @property
    def xattrs(self) -> dict[str, bytes]:
        """Extended attributes from ``SCHILY.xattr.*`` records, values as raw bytes."""
        return {
            k[13:]: v.encode("utf-8", "surrogateescape")
            for k, v in self.pax
            if k.startswith("SCHILY.xattr.")
        }

    @property
    def has_data(self) -> bool:
        """Whether this entry's data can still be read (see :meth:`read`)."""
        p = self._payload
        return p is not None and p.valid

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all that is left by default) of the entry's data.

        Data of an entry from :func:`read_tar` can be read once, and only until the
        iterator moves on; after that this raises :class:`LayerError`. Entries built by
        hand have no data and return ``b""``.
        """
        p = self._payload
        if p is None:
            return b""
        return p.read(size)

    def open(self) -> BinaryIO:
        """The entry's data as a read-only file object (same one-shot rules as :meth:`read`)."""
        return _PayloadFile(self._payload)  # type: ignore[return-value]

    def evolve(self, **changes: object) -> TarEntry:
        """A copy with some fields changed; the data handle is kept."""
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]

    def relocated(self, prefix: str) -> TarEntry:
        """This entry moved under ``prefix`` (``"containers/x/rootfs"``): name, and the
        target of a hard link (a symlink's target is left alone: it is resolved inside the
        container). The root ``"."`` becomes ``prefix`` itself. The data handle is kept.
        """
        prefix = prefix.strip("/")
        if not prefix:
            return self
        name = prefix if self.name == "." else f"{prefix}/{self.name}"
        link = self.linkname
        if self.type is EntryType.HARDLINK:
            link = f"{prefix}/{link}"
        return TarEntry(
            name,
            self.type,
            self.mode,
            self.uid,
            self.gid,
            self.size,
            self.mtime,
            link,
            self.uname,
            self.gname,
            self.devmajor,
            self.devminor,
            self.pax,
            _payload=self._payload,
        )


class _Payload:
    """The not-yet-read data of the current member of a :class:`_Source`."""

    __slots__ = ("name", "remaining", "source", "valid")

    def __init__(self, source: _Source, size: int, name: str) -> None:
        self.source = source
        self.remaining = size
        self.name = name
        self.valid = True

    def _check(self) -> None:
        if not self.valid:
            raise LayerError(
                f"data of {self.name!r} is no longer available: read it before moving to the "
                "next entry",
                layer=self.source.layer,
                member=self.name,
            )

    def read(self, size: int = -1) -> bytes:
        self._check()
        n = self.remaining if size < 0 or size > self.remaining else size
        if n == 0:
            return b""
        src = self.source
        first = src.read_some(n)
        if len(first) == n:
            self.remaining -= n
            return first
        parts = [first]
        got = len(first)
        while got < n:
            chunk = src.read_some(n - got)
            if not chunk:
                raise src.truncated(self.name)
            parts.append(chunk)
            got += len(chunk)
        self.remaining -= n
        return b"".join(parts)

    def chunks(self) -> Iterator[bytes]:
        """The rest of the data in large pieces."""
        self._check()
        src = self.source
        while self.remaining:
            chunk = src.read_some(min(self.remaining, _CHUNK))
            if not chunk:
                raise src.truncated(self.name)
            self.remaining -= len(chunk)
            yield chunk


class _PayloadFile(io.RawIOBase):
    """File-object view of an entry's data for callers that want ``BinaryIO``."""

    def __init__(self, payload: _Payload | None) -> None:
        super().__init__()
        self._payload = payload

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._payload is None:
            return b""
        return self._payload.read(-1 if size is None else size)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Source:
    """A buffered view of the archive stream: headers are parsed straight out of ``buf``."""

    __slots__ = ("buf", "eof", "layer", "pos", "stream")

    def __init__(self, stream: BinaryIO, layer: str | None) -> None:
        self.stream = stream
        self.layer = layer
        self.buf = b""
        self.pos = 0
        self.eof = False

    def available(self) -> int:
        return len(self.buf) - self.pos

    def fill(self, need: int) -> bool:
        """Buffer at least ``need`` bytes; ``False`` if the stream ends first."""
        avail = len(self.buf) - self.pos
        if avail >= need:
            return True
        parts = [self.buf[self.pos :]] if avail else []
        while avail < need and not self.eof:
            chunk = self.stream.read(max(_CHUNK, need - avail))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            avail += len(chunk)
        self.buf = b"".join(parts) if len(parts) != 1 else parts[0]
        self.pos = 0
        return avail >= need

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes: what is buffered, else one read of the stream."""
        pos = self.pos
        avail = len(self.buf) - pos
        if avail:
            take = n if n < avail else avail
            self.pos = pos + take
            return self.buf[pos : pos + take]
        if self.eof:
            return b""
        self.buf = b""
        self.pos = 0
        chunk = self.stream.read(n)
        if not chunk:
            self.eof = True
            return b""
        if len(chunk) > n:  # a stream that ignores the size: keep the excess buffered
            self.buf = chunk
            self.pos = n
            return chunk[:n]
        return chunk

    def skip(self, n: int, name: str) -> None:
        avail = len(self.buf) - self.pos
        if n <= avail:
            self.pos += n
            return
        n -= avail
        self.buf = b""
        self.pos = 0
        while n > 0:
            chunk = self.stream.read(_CHUNK)
            if not chunk:
                self.eof = True
                raise self.truncated(name)
            if len(chunk) > n:
                self.buf = chunk
                self.pos = n
                return
            n -= len(chunk)

    def take(self, n: int, name: str) -> bytes:
        if not self.fill(n):
            raise self.truncated(name)
        pos = self.pos
        self.pos = pos + n
        return self.buf[pos : pos + n]

    def truncated(self, name: str) -> LayerError:
        where = f"layer {self.layer}: " if self.layer else ""
        return LayerError(
            f"{where}archive is truncated inside {name!r}", layer=self.layer, member=name
        )

    def error(self, message: str, name: str | None) -> LayerError:
        where = f"layer {self.layer}: " if self.layer else ""
        return LayerError(f"{where}{message}", layer=self.layer, member=name)


def _number(field: bytes) -> int:
    if field and field[0] & 0x80:
        # Base-256 (GNU): 0x80 marks a positive, 0xff a negative big-endian number.
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip()
    return int(digits, 8) if digits else 0


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes, src: _Source, name: str) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] == 0:  # some writers pad the record block with NULs
            break
        sp = data.find(b" ", pos, pos + 24)
        try:
            length = int(data[pos:sp]) if sp > pos else -1
        except ValueError:
            length = -1
        if length <= 0 or pos + length > end or data[pos + length - 1] != 0x0A:
            raise src.error(f"malformed PAX record in the header of {name!r}", name)
        key, eq, value = data[sp + 1 : pos + length - 1].partition(b"=")
        if not eq:
            raise src.error(f"malformed PAX record in the header of {name!r}", name)
        records[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return records


def _pax_int(value: bytes, key: str, src: _Source, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise src.error(f"PAX record {key}={value!r} of {name!r} is not a number", name) from None


def _pax_time(value: bytes, src: _Source, name: str) -> int | float:
    try:
        if b"." in value:
            t = float(value)
            return int(t) if t.is_integer() else t
        return int(value)
    except ValueError:
        raise src.error(f"PAX mtime {value!r} of {name!r} is not a number", name) from None


def read_tar(stream: BinaryIO, *, layer: str | None = None) -> Iterator[TarEntry]:
    """Iterate over the members of a tar stream, lazily.

    Names (and hard-link targets) are normalised and checked with
    :func:`~moby_assemble.layers._paths.normalise_name`; metadata members (PAX, GNU long
    names) are applied and not yielded. Each entry's data can be read (once) until the
    iterator advances, which skips whatever was not read. Reading stops at the
    end-of-archive block (or a clean end of stream); the stream itself is not drained or
    closed.

    Args:
        stream: the uncompressed archive (see :func:`~moby_assemble.layers.open_layer`).
        layer: what the stream is (a digest), for error messages.

    Raises:
        LayerError: a malformed or truncated archive, an unsafe name, a sparse file or an
            unsupported member type (the message names the layer and member).

    Example::

        >>> import io
        >>> list(read_tar(io.BytesIO(bytes(1024))))
        []
    """
    return _iterate(_Source(stream, layer))


def _iterate(src: _Source) -> Iterator[TarEntry]:
    layer = src.layer
    global_pax: dict[str, bytes] = {}
    local_pax: dict[str, bytes] | None = None
    long_name: bytes | None = None
    long_link: bytes | None = None
    payload: _Payload | None = None
    pad = 0
    last = "the first member"
    header = _HEADER.unpack
    types = _TYPES
    file_type = EntryType.FILE
    dir_type = EntryType.DIRECTORY
    link_type = EntryType.HARDLINK
    while True:
        if payload is not None:
            payload.valid = False
            skip = payload.remaining + pad
            if skip:
                src.skip(skip, payload.name)
            payload = None
        if not src.fill(_BLOCK):
            if src.available():
                raise src.truncated(last)
            return  # a clean end of stream without the end-of-archive blocks
        pos = src.pos
        block = src.buf[pos : pos + _BLOCK]
        src.pos = pos + _BLOCK
        if block == _ZERO_BLOCK:
            return
        (
            f_name,
            f_mode,
            f_uid,
            f_gid,
            f_size,
            f_mtime,
            f_chksum,
            f_type,
            f_link,
            f_magic,
            _f_version,
            f_uname,
            f_gname,
            f_devmajor,
            f_devminor,
            f_prefix,
        ) = header(block)
        try:
            chksum = _number(f_chksum)
            if chksum != sum(block) - sum(block[148:156]) + 256 and chksum != (
                sum(_SIGNED.unpack(block)) + 256
            ):
                raise ValueError
            size = _number(f_size)
        except ValueError:
            raise src.error(
                f"invalid tar header after {last!r} (bad checksum or number): not a tar "
                "archive, or corrupted",
                last,
            ) from None
        if f_type in b"xgLK":
            what = f"metadata of the member after {last!r}"
            data = src.take(size, what)
            src.skip(-size % _BLOCK, what)
            if f_type == b"L":
                long_name = data.split(b"\0", 1)[0]
            elif f_type == b"K":
                long_link = data.split(b"\0", 1)[0]
            else:
                records = _parse_pax(data, src, what)
                for key in records:
                    if key.startswith("GNU.sparse."):
                        raise src.error(f"the member after {last!r} is a sparse file", last)
                if f_type == b"g":
                    global_pax.update(records)
                    global_pax = {k: v for k, v in global_pax.items() if v}
                elif local_pax is None:
                    local_pax = records
                else:
                    local_pax.update(records)
            continue
        etype = types.get(f_type)
        if etype is None:
            kind = _UNSUPPORTED.get(f_type, f"an unsupported member type {f_type!r}")
            raise src.error(f"the member after {last!r} is {kind}", last)
        ustar = f_magic[:5] == b"ustar"
        if long_name is not None:
            raw_name = long_name
            long_name = None
        elif f_magic == b"ustar\0" and f_prefix[0]:
            raw_name = f_prefix.split(b"\0", 1)[0] + b"/" + f_name.split(b"\0", 1)[0]
        else:
            raw_name = f_name.split(b"\0", 1)[0]
        name = raw_name.decode("utf-8", "surrogateescape")
        if f_type == b"\0" and name.endswith("/"):
            etype = dir_type  # v7 archives mark directories with a trailing slash only
        if long_link is not None:
            linkname = long_link.decode("utf-8", "surrogateescape")
            long_link = None
        else:
            linkname = _text(f_link) if f_link[0] else ""
        try:
            mode = _number(f_mode) & 0o7777
            uid = _number(f_uid)
            gid = _number(f_gid)
            mtime: int | float = _number(f_mtime)
            if etype is EntryType.CHAR_DEVICE or etype is EntryType.BLOCK_DEVICE:
                devmajor = _number(f_devmajor)
                devminor = _number(f_devminor)
            else:
                devmajor = devminor = 0
        except ValueError:
            raise src.error(f"invalid number in the header of {name!r}", name) from None
        uname = _text(f_uname) if ustar and f_uname[0] else ""
        gname = _text(f_gname) if ustar and f_gname[0] else ""
        extra: tuple[tuple[str, str], ...] = ()
        if local_pax is not None or global_pax:
            records = {**global_pax, **local_pax} if local_pax is not None else global_pax
            local_pax = None
            rest = []
            for key, value in records.items():
                if not value:
                    continue  # an empty value deletes a global record
                if key == "path":
                    name = value.decode("utf-8", "surrogateescape")
                elif key == "linkpath":
                    linkname = value.decode("utf-8", "surrogateescape")
                elif key == "size":
                    size = _pax_int(value, key, src, name)
                elif key == "uid":
                    uid = _pax_int(value, key, src, name)
                elif key == "gid":
                    gid = _pax_int(value, key, src, name)
                elif key == "uname":
                    uname = value.decode("utf-8", "surrogateescape")
                elif key == "gname":
                    gname = value.decode("utf-8", "surrogateescape")
                elif key == "mtime":
                    mtime = _pax_time(value, src, name)
                elif key == "SCHILY.devmajor":
                    devmajor = _pax_int(value, key, src, name)
                elif key == "SCHILY.devminor":
                    devminor = _pax_int(value, key, src, name)
                elif key not in _PAX_DROPPED:
                    rest.append((key, value.decode("utf-8", "surrogateescape")))
            if rest:
                rest.sort()
                extra = tuple(rest)
        name = normalise_name(name, layer=layer)
        if etype is link_type:
            linkname = normalise_name(linkname, layer=layer, what="hard link target")
        last = name
        if etype is not file_type:
            # Headers of links, directories, devices and FIFOs carry no data whatever
            # their size field says (as GNU tar and Go's archive/tar read them).
            yield TarEntry(
                name, etype, mode, uid, gid, 0, mtime, linkname, uname, gname,
                devmajor, devminor, extra,
            )  # fmt: skip
            continue
        if size < 0:
            raise src.error(f"negative size in the header of {name!r}", name)
        payload = _Payload(src, size, name)
        pad = -size % _BLOCK
        yield TarEntry(
            name, etype, mode, uid, gid, size, mtime, linkname, uname, gname,
            devmajor, devminor, extra, _payload=payload,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------
# Writing


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode("utf-8", "surrogateescape") + b"=" + value + b"\n"
    n = len(body)
    total = n + len(str(n))
    if len(str(total)) != len(str(n)):
        total = n + len(str(total))
    return b"%d" % total + body


def _ascii_field(text: str, width: int) -> bytes | None:
    """``text`` as an ASCII header field of ``width`` bytes, or ``None`` if it does not fit."""
    if text.isascii() and len(text) <= width:
        return text.encode("ascii")
    return None


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """Split a long ASCII name into ustar ``(prefix, name)`` at a ``/``, if possible."""
    end = len(name)
    if end > 156:
        end = 156
    elif name.endswith(b"/"):
        end -= 1
    cut = name.rfind(b"/", 0, end)
    rest = len(name) - cut - 1
    if cut <= 0 or rest > 100 or rest == 0:
        return None
    return name[:cut], name[cut + 1 :]


def _decimal(value: int | float) -> bytes:
    """A PAX decimal number (no exponent), shortest form that reads back the same float."""
    if type(value) is int:
        return b"%d" % value
    text = repr(float(value))
    if "inf" in text or "nan" in text:
        raise ValueError(f"mtime must be finite, got {value!r}")
    if "e" in text:
        text = format(value, "f")
    return text.encode("ascii")


def _base256(value: int, width: int) -> bytes:
    if value < 0:
        return value.to_bytes(width, "big", signed=True)
    raw = value.to_bytes(width, "big")
    return bytes([raw[0] | 0x80]) + raw[1:]


def _header(entry: TarEntry) -> bytes:
    """The header block(s) for ``entry``: a PAX header first if needed, then ustar."""
    etype = entry.type
    name = entry.name
    if etype is EntryType.DIRECTORY and not name.endswith("/"):
        name = "./" if name == "." else name + "/"
    pax: list[bytes] | None = None
    prefix_b = b""
    if name.isascii() and len(name) <= 100:
        name_b = name.encode("ascii")
    else:
        raw = name.encode("utf-8", "surrogateescape")
        split = _split_ustar(raw) if name.isascii() else None
        if split is not None:
            prefix_b, name_b = split
        else:
            pax = [_pax_record("path", raw)]
            name_b = raw[:100]
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                pax.insert(0, _pax_record("hdrcharset", b"BINARY"))
    link = entry.linkname
    link_b = b""
    if link:
        if link.isascii() and len(link) <= 100:
            link_b = link.encode("ascii")
        else:
            raw = link.encode("utf-8", "surrogateescape")
            pax = pax or []
            pax.append(_pax_record("linkpath", raw))
            link_b = raw[:100]
    size = entry.size if etype is EntryType.FILE else 0
    if size <= _MAX_OCT11:
        size_b = b"%011o" % size
    else:
        pax = pax or []
        pax.append(_pax_record("size", b"%d" % size))
        size_b = b"%011o" % 0
    uid = entry.uid
    if 0 <= uid <= _MAX_OCT7:
        uid_b = b"%07o" % uid
    else:
        pax = pax or []
        pax.append(_pax_record("uid", b"%d" % uid))
        uid_b = b"0000000"
    gid = entry.gid
    if 0 <= gid <= _MAX_OCT7:
        gid_b = b"%07o" % gid
    else:
        pax = pax or []
        pax.append(_pax_record("gid", b"%d" % gid))
        gid_b = b"0000000"
    mtime = entry.mtime
    if type(mtime) is float and mtime.is_integer():
        mtime = int(mtime)
    if type(mtime) is int and 0 <= mtime <= _MAX_OCT11:
        mtime_b = b"%011o" % mtime
    else:
        pax = pax or []
        pax.append(_pax_record("mtime", _decimal(mtime)))
        mtime_b = b"%011o" % min(max(int(mtime), 0), _MAX_OCT11)
    uname_b = _ascii_field(entry.uname, 32)
    if uname_b is None:
        pax = pax or []
        pax.append(_pax_record("uname", entry.uname.encode("utf-8", "surrogateescape")))
        uname_b = b""
    gname_b = _ascii_field(entry.gname, 32)
    if gname_b is None:
        pax = pax or []
        pax.append(_pax_record("gname", entry.gname.encode("utf-8", "surrogateescape")))
        gname_b = b""
    if etype is EntryType.CHAR_DEVICE or etype is EntryType.BLOCK_DEVICE:
        major, minor = entry.devmajor, entry.devminor
        dmaj_b = b"%07o" % major if 0 <= major <= _MAX_OCT7 else _base256(major, 8)
        dmin_b = b"%07o" % minor if 0 <= minor <= _MAX_OCT7 else _base256(minor, 8)
    else:
        dmaj_b = dmin_b = b"0000000"
    if entry.pax:
        pax = pax or []
        for key, value in sorted(entry.pax):
            pax.append(_pax_record(key, value.encode("utf-8", "surrogateescape")))
    block = _HEADER.pack(
        name_b, b"%07o" % (entry.mode & 0o7777), uid_b, gid_b, size_b, mtime_b, b"        ",
        _TYPE_BYTES[etype], link_b, b"ustar", b"00", uname_b, gname_b, dmaj_b, dmin_b,
        prefix_b,
    )  # fmt: skip
    block = block[:148] + b"%06o\0 " % sum(block) + block[156:]
    if pax is None:
        return block
    records = b"".join(pax)
    pax_block = _HEADER.pack(
        _PAX_NAME, b"0000644", b"0000000", b"0000000", b"%011o" % len(records),
        b"00000000000", b"        ", b"x", b"", b"ustar", b"00", b"", b"", b"0000000",
        b"0000000", b"",
    )  # fmt: skip
    pax_block = pax_block[:148] + b"%06o\0 " % sum(pax_block) + pax_block[156:]
    return pax_block + records + _ZERO_BLOCK[: -len(records) % _BLOCK] + block


class TarWriter:
    """Write tar entries to a binary stream, deterministically.

    Args:
        out: where the archive goes; it is written in large pieces and never closed.
        buffer_size: how many bytes of small entries are collected before one write.

    Example::

        >>> import io
        >>> buf = io.BytesIO()
        >>> with TarWriter(buf) as w:
        ...     w.add(TarEntry("hello", size=5, mode=0o4755), b"world")
        >>> len(buf.getvalue())
        2048
    """

    def __init__(self, out: BinaryIO, *, buffer_size: int = _CHUNK) -> None:
        self._out = out
        self._buf = bytearray()
        self._limit = buffer_size
        self._closed = False
        self.bytes_written = 0
        """Bytes handed to ``out`` so far (after :meth:`flush`, everything added)."""

    def add(self, entry: TarEntry, data: BinaryIO | bytes | _Buffer | None = None) -> None:
        """Append ``entry``; for regular files with ``size > 0`` its data comes from ``data``
        or, when ``data`` is ``None``, from the entry's own handle (entries from
        :func:`read_tar` and :func:`~moby_assemble.layers.flatten_layers`).

        Raises:
            ValueError: the writer is closed, data is given for a non-file, or the data's
                length differs from ``entry.size``.
            LayerError: the data stream (or the source archive) ends early.
        """
        if self._closed:
            raise ValueError("TarWriter is closed")
        size = entry.size if entry.type is EntryType.FILE else 0
        if data is not None and entry.type is not EntryType.FILE:
            raise ValueError(f"{entry.name!r}: only regular files carry data")
        buf = self._buf
        buf += _header(entry)
        if size:
            if data is None:
                payload = entry._payload
                if payload is None:
                    raise ValueError(f"{entry.name!r}: size is {size} but no data was given")
                if payload.remaining != size:
                    raise ValueError(
                        f"{entry.name!r}: size is {size} but {payload.remaining} bytes of data "
                        "are left"
                    )
                if size <= 65536:
                    buf += payload.read(size)
                else:
                    for chunk in payload.chunks():
                        self._put(chunk)
            elif isinstance(data, bytes | bytearray | memoryview):
                if len(data) != size:
                    raise ValueError(
                        f"{entry.name!r}: size is {size} but data has {len(data)} bytes"
                    )
                self._put(data)
            else:
                self._copy(data, size, entry.name)
            buf = self._buf
            buf += _ZERO_BLOCK[: -size % _BLOCK]
        if len(buf) >= self._limit:
            self.flush()

    def _put(self, chunk: bytes | bytearray | memoryview) -> None:
        if len(chunk) < 65536:
            self._buf += chunk
            if len(self._buf) >= self._limit:
                self.flush()
        else:
            self.flush()
            self._out.write(chunk)
            self.bytes_written += len(chunk)

    def _copy(self, data: BinaryIO, size: int, name: str) -> None:
        left = size
        while left:
            chunk = data.read(min(left, _CHUNK))
            if not chunk:
                raise LayerError(
                    f"data of {name!r} ended after {size - left} of {size} bytes", member=name
                )
            if len(chunk) > left:
                raise ValueError(f"{name!r}: data is longer than its size {size}")
            self._put(chunk)
            left -= len(chunk)

    def flush(self) -> None:
        """Hand everything buffered to ``out`` (does not flush ``out`` itself)."""
        if self._buf:
            self._out.write(self._buf)
            self.bytes_written += len(self._buf)
            self._buf = bytearray()

    def close(self) -> None:
        """Write the end-of-archive marker (two zero blocks) and flush. Idempotent."""
        if not self._closed:
            self._buf += _ZERO_BLOCK * 2
            self.flush()
            self._closed = True

    def __enter__(self) -> TarWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.flush()
