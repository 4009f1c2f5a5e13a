"""Tar entries: :class:`EntryType`, :class:`TarEntry` and the one-shot handle on an
entry's data, plus the tar format constants the reader and writer share.

Example::

    >>> e = TarEntry("usr/bin/su", mode=0o4755, size=3)
    >>> oct(e.mode), e.type.name
    ('0o4755', 'FILE')
"""

from __future__ import annotations

import enum
import io
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO
from zlib import adler32

import attrs

from .._errors import LayerError

if TYPE_CHECKING:
    from ._tar_reader import _Source

__all__ = ["EntryType", "TarEntry"]

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
CHUNK = 1 << 20
# name mode uid gid size mtime chksum type linkname magic version uname gname
# devmajor devminor prefix (+ 12 bytes of padding)
HEADER = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s12x")


def byte_sum(block: bytes) -> int:
    """The sum of a 512-byte header's bytes (the tar checksum before its fix-up).

    Computed as two Adler-32 ``A`` sums over 256-byte halves, each exact because it cannot
    reach the modulus (256 * 255 < 65521): about six times faster than ``sum(block)``.
    """
    return (adler32(block[:256]) & 0xFFFF) + (adler32(block[256:]) & 0xFFFF) - 2


class EntryType(enum.StrEnum):
    """The kind of a tar member; the value is its tar type flag."""

    FILE = "0"
    HARDLINK = "1"
    SYMLINK = "2"
    CHAR_DEVICE = "3"
    BLOCK_DEVICE = "4"
    DIRECTORY = "5"
    FIFO = "6"


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

    def with_data(self, stream: BinaryIO, *, layer: str = "") -> TarEntry:
        """A copy whose data is the next ``size`` bytes of ``stream`` (read once, as for
        entries from :func:`read_tar`); ``layer`` names the source in errors.

        Example::

            entry = TarEntry("hello", size=5).with_data(io.BytesIO(b"world"))
        """
        if self.type is not EntryType.FILE:
            raise ValueError(f"{self.name!r}: only regular files carry data")
        payload = _Payload(_StreamSource(stream, layer), self.size, self.name)  # type: ignore[arg-type]
        return self._copy(self.name, self.linkname, self.pax, payload)

    def with_pax(self, pax: tuple[tuple[str, str], ...]) -> TarEntry:
        """A copy with these PAX records instead of its own; the data handle is kept.

        The same as ``evolve(pax=pax)``, without :func:`attrs.evolve`'s cost per call (this
        runs once for every entry of a root filesystem).
        """
        return self._copy(self.name, self.linkname, pax, self._payload)

    def _copy(
        self,
        name: str,
        linkname: str,
        pax: tuple[tuple[str, str], ...],
        payload: _Payload | None,
    ) -> TarEntry:
        return TarEntry(
            name,
            self.type,
            self.mode,
            self.uid,
            self.gid,
            self.size,
            self.mtime,
            linkname,
            self.uname,
            self.gname,
            self.devmajor,
            self.devminor,
            pax,
            _payload=payload,
        )

    def evolve(self, **changes: object) -> TarEntry:
        """A copy with some fields changed; the data handle is kept."""
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]

    def relocated(self, prefix: str) -> TarEntry:
        """This entry moved under ``prefix`` (``"containers/x/rootfs"``): name, and the
        target of a hard link (a symlink's target is left alone: it is resolved inside the
        container). The root ``"."`` becomes ``prefix`` itself. The data handle is kept.
        """
        if not prefix.strip("/"):
            return self
        name, link = relocate(self.name, self.linkname, self.type, prefix)
        return self._copy(name, link, self.pax, self._payload)


def relocate(name: str, linkname: str, kind: EntryType, prefix: str) -> tuple[str, str]:
    """The name and link target of an entry moved under ``prefix`` (see
    :meth:`TarEntry.relocated`, which copies the entry; a writer that renames every entry
    calls this instead)."""
    prefix = prefix.strip("/")
    if not prefix:
        return name, linkname
    moved = prefix if name == "." else f"{prefix}/{name}"
    return moved, f"{prefix}/{linkname}" if kind is EntryType.HARDLINK else linkname


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
            chunk = src.read_some(min(self.remaining, CHUNK))
            if not chunk:
                raise src.truncated(self.name)
            self.remaining -= len(chunk)
            yield chunk


class _StreamSource:
    """What a :class:`_Payload` reads from, over a plain stream (see ``with_data``)."""

    __slots__ = ("layer", "stream")

    def __init__(self, stream: BinaryIO, layer: str) -> None:
        self.stream = stream
        self.layer = layer

    def read_some(self, n: int) -> bytes:
        return self.stream.read(n)

    def truncated(self, name: str) -> LayerError:
        return LayerError(
            f"{self.layer + ': ' if self.layer else ''}data of {name!r} ended early",
            layer=self.layer or None,
            member=name,
        )


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
