"""Gzip on every core, with the same bytes whatever the number of cores.

The input is cut into fixed blocks (1 MiB); each is deflated on a worker thread (zlib
releases the GIL while it compresses) with the 32 KiB before it as the preset dictionary,
and ends on a byte boundary (``Z_SYNC_FLUSH``) so the pieces join into one deflate stream,
the last one finishing it; the gzip header and the CRC-32/size trailer go around it. This is
what ``pigz`` does. The output depends only on the input, the level and the block size, never
on the number of threads or on timing: outputs stay reproducible. Any gzip reader reads it
(it is one ordinary member), and the ratio is within a fraction of a percent of one-stream
gzip at the same level.

Example::

    with open("initrd.img", "wb") as f, ParallelGzipWriter(f, level=6) as gz:
        gz.write(data)
"""

from __future__ import annotations

import collections
import struct
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import BinaryIO

from ._cpus import usable_cpus
from ._crc import crc32

__all__ = ["BLOCK_SIZE", "ParallelGzipWriter"]

#: Input bytes per independently compressed block (part of what fixes the output bytes).
BLOCK_SIZE = 1 << 20
_WINDOW = 32 << 10


def _deflate(block: bytes, dictionary: bytes, level: int, last: bool) -> bytes:
    if dictionary:
        c = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=dictionary)
    else:
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(block) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class ParallelGzipWriter:
    """A write-only binary stream that gzips into ``out`` on several threads.

    Args:
        out: where the gzip member goes (not closed).
        level: the zlib level, 1-9.
        threads: worker threads (default: the CPUs this process may use).
        mtime: the header's modification time (0: none, for reproducible bytes).

    Closing (or leaving the ``with`` block) writes the rest and the trailer. Nothing is
    written after an exception inside the ``with`` block: the output is incomplete then.
    """

    def __init__(
        self, out: BinaryIO, *, level: int = 6, threads: int | None = None, mtime: int = 0
    ) -> None:
        if not 1 <= level <= 9:
            raise ValueError(f"gzip level must be 1-9, got {level}")
        if threads is None:
            threads = usable_cpus()
        self._out = out
        self._level = level
        self._threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="moby-assemble-gzip")
        self._pending: collections.deque[Future[bytes]] = collections.deque()
        self._buf = bytearray()
        self._tail = b""
        self._crc = 0
        self._size = 0
        self._closed = False
        xfl = 2 if level == 9 else 4 if level == 1 else 0
        out.write(b"\x1f\x8b\x08\x00" + struct.pack("<I", mtime) + bytes((xfl, 255)))

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed ParallelGzipWriter")
        n = len(data)
        self._buf += data
        while len(self._buf) >= BLOCK_SIZE:
            block = bytes(self._buf[:BLOCK_SIZE])
            del self._buf[:BLOCK_SIZE]
            self._submit(block, last=False)
        return n

    def _submit(self, block: bytes, *, last: bool) -> None:
        self._crc = crc32(block, self._crc)
        self._size += len(block)
        future = self._pool.submit(_deflate, block, self._tail, self._level, last)
        self._tail = block[-_WINDOW:] if len(block) >= _WINDOW else (self._tail + block)[-_WINDOW:]
        self._pending.append(future)
        # Keep a bounded number of blocks in flight: memory stays flat.
        while len(self._pending) > 2 * self._threads:
            self._out.write(self._pending.popleft().result())

    def flush(self) -> None:
        """Nothing to do: blocks are written when they are complete (see ``close``)."""

    def close(self) -> None:
        """Compress the rest, write the trailer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._submit(bytes(self._buf), last=True)
            self._buf = bytearray()
            while self._pending:
                self._out.write(self._pending.popleft().result())
            self._out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop without writing the rest (after an error)."""
        self._closed = True
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParallelGzipWriter:
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
            self.abort()
