"""A lean, deterministic tar writer: :class:`TarWriter`.

Each entry is written as a POSIX ustar header, preceded by one PAX ``x`` header only when
its name or link does not fit (longer than ustar allows, or not ASCII), a number is too
large, the mtime has a fraction or is negative, or the entry carries extra PAX records
(xattrs, ``LINUXKIT.*``). A header is one ``struct.pack`` plus a checksum; small entries
are collected in a 1 MiB buffer, large data goes straight through. The bytes depend only
on the entries: PAX headers have fixed fields and sorted records, and the archive ends with
exactly two zero blocks.

Example::

    >>> import io
    >>> from moby_assemble.layers import read_tar
    >>> out = io.BytesIO()
    >>> with TarWriter(out) as w:
    ...     w.add(TarEntry("etc", EntryType.DIRECTORY))
    ...     w.add(TarEntry("etc/motd", size=3), b"hi\\n")
    >>> [(e.name, e.read()) for e in read_tar(io.BytesIO(out.getvalue()))]
    [('etc', b''), ('etc/motd', b'hi\\n')]
"""

from __future__ import annotations

import decimal
import functools
from types import TracebackType
from typing import BinaryIO, cast

from .._errors import LayerError
from ._entry import BLOCK, CHUNK, HEADER, ZERO_BLOCK, EntryType, TarEntry, byte_sum

__all__ = ["TarWriter"]

_MAX_OCT7 = 0o7777777
_MAX_OCT11 = 0o77777777777
_PAX_NAME = b"././@PaxHeader"
_Buffer = bytearray | memoryview
_TYPE_BYTES = {t: t.value.encode() for t in EntryType}


# Records shorter than this are encoded once and kept (most repeat: every entry of an image
# has the same provenance records in a root filesystem tar); longer ones are not, so the
# cache stays small whatever records an image's entries carry (up to 1 MiB each).
_CACHED_VALUE = 256


@functools.lru_cache(maxsize=1024)
def _cached_text_record(key: str, value: str) -> bytes:
    return _pax_record(key, value.encode("utf-8", "surrogateescape"))


def _pax_text_record(key: str, value: str) -> bytes:
    if len(key) + len(value) <= _CACHED_VALUE:
        return _cached_text_record(key, value)
    return _pax_record(key, value.encode("utf-8", "surrogateescape"))


def pax_records(pax: tuple[tuple[str, str], ...]) -> bytes:
    """``pax`` (a :attr:`TarEntry.pax`, sorted) encoded as the records of a PAX header."""
    return b"".join([_pax_text_record(key, value) for key, value in pax])


@functools.lru_cache(maxsize=256)
def _pax_header(length: int) -> bytes:
    """The ustar block announcing ``length`` bytes of PAX records."""
    block = HEADER.pack(
        _PAX_NAME, b"0000644", b"0000000", b"0000000", b"%011o" % length,
        b"00000000000", b"        ", b"x", b"", b"ustar", b"00", b"", b"", b"0000000",
        b"0000000", b"",
    )  # fmt: skip
    return block[:148] + b"%06o\0 " % byte_sum(block) + block[156:]


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
        text = format(decimal.Decimal(text), "f")
    return text.encode("ascii")


def _base256(value: int, width: int) -> bytes:
    if value < 0:
        return value.to_bytes(width, "big", signed=True)
    raw = value.to_bytes(width, "big")
    return bytes([raw[0] | 0x80]) + raw[1:]


def _header(entry: TarEntry, name: str, link: str, extra: bytes) -> bytes:
    """The header block(s) for ``entry`` named ``name`` with the link target ``link`` and
    the encoded records ``extra`` (see :func:`pax_records`): a PAX header first if needed,
    then ustar."""
    etype = entry.type
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
    uname_b = _ascii_field(entry.uname, 32) if entry.uname else b""
    if uname_b is None:
        pax = pax or []
        pax.append(_pax_record("uname", entry.uname.encode("utf-8", "surrogateescape")))
        uname_b = b""
    gname_b = _ascii_field(entry.gname, 32) if entry.gname else b""
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
    if extra:
        pax = pax or []
        pax.append(extra)
    block = HEADER.pack(
        name_b, b"%07o" % (entry.mode & 0o7777), uid_b, gid_b, size_b, mtime_b, b"        ",
        _TYPE_BYTES[etype], link_b, b"ustar", b"00", uname_b, gname_b, dmaj_b, dmin_b,
        prefix_b,
    )  # fmt: skip
    block = block[:148] + b"%06o\0 " % byte_sum(block) + block[156:]
    if pax is None:
        return block
    records = b"".join(pax)
    return _pax_header(len(records)) + records + ZERO_BLOCK[: -len(records) % BLOCK] + block


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

    def __init__(self, out: BinaryIO, *, buffer_size: int = CHUNK) -> None:
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
            LayerError: the data stream (or the source archive) ends early; the archive
                written so far is then unusable.
        """
        pax = entry.pax
        extra = pax_records(tuple(sorted(pax))) if pax else b""
        self._add_as(entry, data, entry.name, entry.linkname, extra)

    def _add_as(
        self,
        entry: TarEntry,
        data: BinaryIO | bytes | _Buffer | None,
        name: str,
        link: str,
        extra: bytes,
    ) -> None:
        """:meth:`add` with the name, link target and encoded PAX records (see
        :func:`pax_records`) given apart from ``entry`` (a writer that renames every entry
        need not copy each one)."""
        if self._closed:
            raise ValueError("TarWriter is closed")
        size = entry.size if entry.type is EntryType.FILE else 0
        if data is not None and entry.type is not EntryType.FILE:
            raise ValueError(f"{name!r}: only regular files carry data")
        if isinstance(data, bytes | bytearray | memoryview) and len(data) != size:
            raise ValueError(f"{name!r}: size is {size} but data has {len(data)} bytes")
        payload = None
        if size and data is None:
            payload = entry._payload
            if payload is None:
                raise ValueError(f"{name!r}: size is {size} but no data was given")
            if payload.remaining != size:
                raise ValueError(
                    f"{name!r}: size is {size} but {payload.remaining} bytes of data are left"
                )
        buf = self._buf
        buf += _header(entry, name, link, extra)
        if size:
            if payload is not None:
                if size <= 65536:
                    buf += payload.read(size)
                else:
                    for chunk in payload.chunks():
                        self._put(chunk)
            elif isinstance(data, bytes | bytearray | memoryview):
                self._put(data)
            else:
                self._copy(cast(BinaryIO, data), size, name)
            buf = self._buf
            buf += ZERO_BLOCK[: -size % BLOCK]
        if len(buf) >= self._limit:
            self.flush()

    def splice(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes that already are whole tar entries (a section of an archive this
        writer's format produced), as they are; do not modify ``data`` afterwards."""
        if self._closed:
            raise ValueError("TarWriter is closed")
        self._put(data)

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
            chunk = data.read(min(left, CHUNK))
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
            self._buf += ZERO_BLOCK * 2
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
