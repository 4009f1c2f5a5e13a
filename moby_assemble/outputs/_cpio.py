"""A lean, deterministic writer of newc (``070701``) cpio archives, the initramfs format.

Each member is a 110-byte ASCII header (13 eight-digit hex fields), the NUL-terminated name
padded to a multiple of four, and the data padded likewise; ``TRAILER!!!`` ends the archive.
What the Linux initramfs unpacker and GNU cpio expect, and nothing more:

- inode numbers are handed out in order from 1 (never taken from the host), so the same
  entries give the same bytes; members of a hard-link group share one inode number and
  carry the group's ``nlink`` — the caller puts the data on the last of them, as GNU cpio
  does (the kernel links every later member to the first one it saw);
- symlinks store their target as data; character and block devices their numbers in the
  ``rdevmajor``/``rdevminor`` fields; every ``devmajor``/``devminor`` is 0;
- times come from the entries (whole seconds); nothing depends on the clock.

newc sizes are 32-bit: a file of 4 GiB or more cannot be stored, and is refused with an
:class:`~moby_assemble.OutputError` naming it.

Example::

    >>> import io
    >>> from moby_assemble.layers import EntryType, TarEntry
    >>> buf = io.BytesIO()
    >>> w = CpioWriter(buf)
    >>> w.add(TarEntry("init", size=3, mode=0o755), b"hi\\n")
    >>> w.close()
    >>> buf.getvalue()[:6], len(buf.getvalue()) % 4
    (b'070701', 0)
"""

from __future__ import annotations

from typing import IO, BinaryIO

from .._errors import OutputError
from ..layers import EntryType, TarEntry

__all__ = ["MAX_FILE_SIZE", "CpioWriter"]

#: The largest file newc can store (its size field has eight hex digits).
MAX_FILE_SIZE = 0xFFFFFFFF
_MAX_FIELD = 0xFFFFFFFF
_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"
_CHUNK = 1 << 20
_FLUSH_AT = 1 << 20

_TYPE_BITS = {
    EntryType.FILE: 0o100000,
    EntryType.DIRECTORY: 0o040000,
    EntryType.SYMLINK: 0o120000,
    EntryType.CHAR_DEVICE: 0o020000,
    EntryType.BLOCK_DEVICE: 0o060000,
    EntryType.FIFO: 0o010000,
}


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


class CpioWriter:
    """Write newc cpio members to a binary stream.

    Args:
        out: where the archive goes (a file, or a compressor's input); never closed here.
        format: the output format, for error messages.

    Attributes:
        bytes_written: bytes handed to ``out`` so far (everything, after :meth:`close`).
    """

    def __init__(self, out: BinaryIO, *, format: str = "kernel+initrd") -> None:
        self._out = out
        self._format = format
        self._buf = bytearray()
        self._next_ino = 1
        self._closed = False
        self.bytes_written = 0

    def new_inode(self) -> int:
        """Reserve the next inode number (for a hard-link group)."""
        ino = self._next_ino
        self._next_ino += 1
        return ino

    def _error(self, message: str, name: str) -> OutputError:
        return OutputError(f"initrd member {name!r}: {message}", format=self._format, path=name)

    def _field(self, value: int, what: str, name: str) -> int:
        if not 0 <= value <= _MAX_FIELD:
            raise self._error(f"{what} {value} does not fit a newc header", name)
        return value

    def add(
        self,
        entry: TarEntry,
        data: bytes | IO[bytes] | None = None,
        *,
        ino: int | None = None,
        nlink: int | None = None,
        size: int | None = None,
    ) -> None:
        """Append ``entry`` (any type but a hard link: the caller turns links into members
        that share an inode, see :meth:`new_inode`).

        Args:
            entry: name, type, mode, ownership, mtime and (for links) target or device.
            data: a regular file's data; by default read from ``entry`` itself.
            ino: the inode number (default: a new one).
            nlink: the link count (default: 2 for directories, 1 otherwise).
            size: a regular file's data size, overriding ``entry.size`` (0 for a member of a
                hard-link group that does not carry the data).

        Raises:
            OutputError: a file of 4 GiB or more, an id or time outside 32 bits, a hard
                link, or data of the wrong length.
        """
        if self._closed:
            raise self._error("the archive is already closed", entry.name)
        etype = entry.type
        if etype is EntryType.HARDLINK:
            raise self._error("hard links must be written as members sharing an inode", entry.name)
        name = entry.name
        payload: bytes | None = None
        if etype is EntryType.SYMLINK:
            payload = entry.linkname.encode("utf-8", "surrogateescape")
            length = len(payload)
        elif etype is EntryType.FILE:
            length = entry.size if size is None else size
            if length > MAX_FILE_SIZE:
                raise self._error(
                    f"{length} bytes is more than newc's limit of {MAX_FILE_SIZE} bytes per "
                    "file; use another output (tar, oci-layout) for this system",
                    name,
                )
        else:
            length = 0
        mtime = int(entry.mtime)
        mtime = min(max(mtime, 0), _MAX_FIELD)
        raw_name = name.encode("utf-8", "surrogateescape") + b"\0"
        if ino is None:
            ino = self.new_inode()
        if nlink is None:
            nlink = 2 if etype is EntryType.DIRECTORY else 1
        is_device = etype is EntryType.CHAR_DEVICE or etype is EntryType.BLOCK_DEVICE
        header = b"%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
            _MAGIC,
            ino,
            _TYPE_BITS[etype] | (entry.mode & 0o7777),
            self._field(entry.uid, "uid", name),
            self._field(entry.gid, "gid", name),
            nlink,
            mtime,
            length,
            0,
            0,
            self._field(entry.devmajor, "device major", name) if is_device else 0,
            self._field(entry.devminor, "device minor", name) if is_device else 0,
            len(raw_name),
            0,
        )
        buf = self._buf
        buf += header
        buf += raw_name
        buf += _pad4(len(header) + len(raw_name))
        if payload is not None:
            buf += payload
        elif length:
            self._copy(entry, data, length)
            buf = self._buf
        buf += _pad4(length)
        if len(buf) >= _FLUSH_AT:
            self.flush()

    def _copy(self, entry: TarEntry, data: bytes | IO[bytes] | None, length: int) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            if len(data) != length:
                raise self._error(f"size is {length} but data has {len(data)} bytes", entry.name)
            self._put(data)
            return
        left = length
        while left:
            chunk = entry.read(min(left, _CHUNK)) if data is None else data.read(min(left, _CHUNK))
            if not chunk:
                raise self._error(f"data ended after {length - left} of {length} bytes", entry.name)
            self._put(chunk)
            left -= len(chunk)

    def _put(self, chunk: bytes | bytearray | memoryview) -> None:
        if len(chunk) < 65536:
            self._buf += chunk
            if len(self._buf) >= _FLUSH_AT:
                self.flush()
        else:
            self.flush()
            self._out.write(chunk)
            self.bytes_written += len(chunk)

    def flush(self) -> None:
        """Hand everything buffered to ``out``."""
        if self._buf:
            self._out.write(self._buf)
            self.bytes_written += len(self._buf)
            self._buf = bytearray()

    def close(self) -> None:
        """Write the ``TRAILER!!!`` member and flush. Idempotent."""
        if self._closed:
            return
        # As GNU cpio writes it: every field zero but nlink and the name size.
        name = _TRAILER.encode("ascii") + b"\0"
        header = _MAGIC + b"%08X" * 13 % (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, len(name), 0)
        self._buf += header + name + _pad4(len(header) + len(name))
        self._closed = True
        self.flush()
