"""Compressing a layer tar deterministically, learning its digests on the way.

The writing direction of :mod:`._compression`: a tar written by a callback is compressed
as ``gzip`` (no file name, mtime 0, so only zlib's version changes the bytes), ``zstd``
(with content checksums) or left plain (``None``), and both the blob's digest and size and the
uncompressed tar's (the image config's ``diff_id``) are counted as the bytes pass. Used by
``pkg`` to store built images, by :mod:`moby_assemble.testing` and by the benchmarks.

Example::

    >>> import io
    >>> out = io.BytesIO()
    >>> blob = compress_tar(lambda tar: tar.write(b"x" * 1024), out, "gzip")
    >>> blob.uncompressed_size, blob.size == len(out.getvalue())
    (1024, True)
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from typing import Any, BinaryIO, Literal, cast

import attrs
import zstandard

__all__ = ["GZIP_LEVEL", "ZSTD_LEVEL", "CompressedTar", "compress_tar"]

GZIP_LEVEL = 6  # what Docker and BuildKit use
ZSTD_LEVEL = 3  # zstd's default, and BuildKit's


class _HashingWriter:
    """Hashes and counts what passes through on its way to ``out`` (``None``: nowhere)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.out is not None:
            self.out.write(data)
        return len(data)

    def flush(self) -> None:
        # Flushing a GzipFile would add a sync marker and change the bytes: never pass it on.
        pass

    @property
    def digest(self) -> str:
        return f"sha256:{self.hash.hexdigest()}"


@attrs.frozen
class CompressedTar:
    """What :func:`compress_tar` wrote.

    Attributes:
        digest: ``sha256:…`` of the compressed blob.
        size: bytes of the compressed blob.
        diff_id: ``sha256:…`` of the uncompressed tar.
        uncompressed_size: bytes of the uncompressed tar.
    """

    digest: str
    size: int
    diff_id: str
    uncompressed_size: int


def compress_tar(
    write_tar: Callable[[BinaryIO], object],
    out: BinaryIO | None,
    compression: Literal["gzip", "zstd"] | None,
    level: int | None = None,
) -> CompressedTar:
    """Compress what ``write_tar(stream)`` writes into ``out`` (``None``: only count it).

    Args:
        write_tar: writes the uncompressed tar to the stream it is given.
        out: where the compressed blob goes.
        compression: ``gzip``, ``zstd`` or ``None`` (the tar as it is).
        level: the compressor's level (default :data:`GZIP_LEVEL` or :data:`ZSTD_LEVEL`).
    """
    blob = _HashingWriter(out)
    if compression == "gzip":
        with gzip.GzipFile(
            filename="",
            mode="wb",
            fileobj=cast(BinaryIO, blob),
            compresslevel=GZIP_LEVEL if level is None else level,
            mtime=0,
        ) as gz:
            tar = _HashingWriter(gz)
            write_tar(cast(BinaryIO, tar))
    elif compression == "zstd":
        cctx = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL if level is None else level, write_checksum=True
        )
        with cctx.stream_writer(cast(BinaryIO, blob), closefd=False) as zw:
            tar = _HashingWriter(zw)
            write_tar(cast(BinaryIO, tar))
    else:
        tar = _HashingWriter(blob)
        write_tar(cast(BinaryIO, tar))
    return CompressedTar(blob.digest, blob.size, tar.digest, tar.size)
