"""Verified blob I/O: a writer that hashes while it writes and commits atomically, and a
reader that hashes while it reads.

The writer streams into a temp file inside the store (``<store>/ingest/``, same file
system, so the final ``rename`` is atomic), checks size and digest against the descriptor,
``fsync``\\ s, and only then renames the file to ``blobs/<alg>/<encoded>``. A crash at any point
leaves at most a temp file in ``ingest/``, never a partial blob under its final name.

Example::

    with store.blob_writer(desc) as w:
        for chunk in response.iter_bytes():
            w.write(chunk)
    # committed here, or IntegrityError and nothing committed
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO

from .._errors import IntegrityError, StoreError
from .._fsync import fsync_dir
from .._oci import Descriptor, new_hasher

__all__ = ["CHUNK_SIZE", "BlobWriter", "VerifyingReader", "atomic_write_bytes", "fsync_dir"]

logger = logging.getLogger("moby_assemble.store")

#: Bytes moved per read/write when streaming blobs (memory stays flat at this size).
CHUNK_SIZE = 1 << 20


def temp_name(final_name: str) -> str:
    """A unique temp file name that says what it will become (handy when debugging)."""
    return f"{final_name}.{secrets.token_hex(8)}.tmp"


def atomic_write_bytes(path: Path, data: bytes, temp_dir: Path) -> None:
    """Write ``data`` to ``path`` via a temp file in ``temp_dir``, fsync, rename.

    ``temp_dir`` must be on the same file system as ``path``.
    """
    temp_dir.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir / temp_name(path.name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {e.strerror or e}", path=str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class BlobWriter:
    """Streams one blob into the store; obtained from ``Store.blob_writer(desc)``.

    Attributes:
        descriptor: what the content must match.
        offset: bytes written so far (resume a download from here, or :meth:`reset`).

    Example::

        with store.blob_writer(desc) as w:
            w.write(b"part one")
            w.write(b"part two")
    """

    def __init__(self, descriptor: Descriptor, temp_path: Path) -> None:
        self.descriptor = descriptor
        self.temp_path = temp_path
        self.offset = 0
        self._algorithm = descriptor.digest.split(":", 1)[0]
        self._hasher: Any = new_hasher(descriptor.digest)
        self._failure: IntegrityError | None = None
        fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def __repr__(self) -> str:
        return f"<BlobWriter {self.descriptor.digest} {self.offset}/{self.descriptor.size}>"

    def _open_file(self) -> BinaryIO:
        if self._file is None:
            raise StoreError(
                f"blob writer for {self.descriptor.digest} is closed", path=str(self.temp_path)
            )
        return self._file

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; returns its length.

        Raises:
            IntegrityError: more bytes than the descriptor's size (nothing of ``data`` is
                written, and the blob can no longer be committed).
        """
        if self._failure is not None:
            raise self._failure
        f = self._open_file()
        n = len(data)
        if self.offset + n > self.descriptor.size:
            self._failure = IntegrityError(
                f"blob {self.descriptor.digest}: more than the expected "
                f"{self.descriptor.size} bytes ({self.offset + n} so far)",
                digest=self.descriptor.digest,
                subject=self.descriptor.media_type,
            )
            raise self._failure
        f.write(data)
        self._hasher.update(data)
        self.offset += n
        return n

    def content_digest(self, algorithm: str) -> str | None:
        """The digest (``"<algorithm>:<hex>"``) of the bytes written since the last
        :meth:`reset`, or ``None`` if this writer hashes with another algorithm.

        A downloader can check this instead of hashing the same bytes a second time
        (see :class:`~moby_assemble.registry.HashingBlobSink`); the commit checks it again.
        """
        if algorithm != self._algorithm:
            return None
        return f"{algorithm}:{self._hasher.hexdigest()}"

    def reset(self) -> None:
        """Discard everything written so far and start again at offset 0."""
        f = self._open_file()
        f.seek(0)
        f.truncate()
        self._hasher = new_hasher(self.descriptor.digest)
        self.offset = 0
        self._failure = None

    def _commit(self, final: Path) -> bool:
        """Verify, fsync and rename into ``final``. True if this call created the blob."""
        desc = self.descriptor
        if self._failure is not None:
            raise self._failure
        if self.offset != desc.size:
            raise IntegrityError(
                f"blob {desc.digest}: expected {desc.size} bytes, got {self.offset}",
                digest=desc.digest,
                subject=desc.media_type,
            )
        alg = desc.digest.split(":", 1)[0]
        actual = f"{alg}:{self._hasher.hexdigest()}"
        if actual != desc.digest:
            raise IntegrityError(
                f"blob {desc.digest} ({desc.media_type}): content hashes to {actual}",
                digest=desc.digest,
                actual=actual,
                subject=desc.media_type,
            )
        f = self._open_file()
        f.flush()
        os.fsync(f.fileno())
        f.close()
        self._file = None
        if final.exists():
            self.temp_path.unlink(missing_ok=True)
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.temp_path, final)
        fsync_dir(final.parent)
        logger.debug("stored blob %s (%d bytes)", desc.digest, desc.size)
        return True

    def _discard(self) -> None:
        """Close and remove the temp file if it is still there (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.temp_path.unlink(missing_ok=True)


class VerifyingReader(io.RawIOBase):
    """Reads a blob file and checks its size and digest as it goes.

    Reading past the expected size, or reaching end of file with the wrong size or digest,
    raises :class:`IntegrityError`. :meth:`finish` reads whatever is left and checks, for
    consumers that stop before end of file. Not seekable: seeking would skip hashing.
    """

    def __init__(self, path: Path, digest: str, size: int) -> None:
        super().__init__()
        self.path = path
        self.digest = digest
        self.size = size
        self._hasher: Any = new_hasher(digest)
        self._count = 0
        self._verified = False
        self._raw = open(path, "rb", buffering=0)  # noqa: SIM115  (closed in close())

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        if n is None:  # pragma: no cover - regular files never block
            return 0
        if n == 0:
            self._check()
            return 0
        self._hasher.update(memoryview(buffer)[:n])
        self._count += n
        if self._count > self.size:
            raise IntegrityError(
                f"blob {self.digest} ({self.path}): longer than the expected {self.size} bytes",
                digest=self.digest,
                subject=str(self.path),
            )
        return n

    def _check(self) -> None:
        if self._verified:
            return
        if self._count != self.size:
            raise IntegrityError(
                f"blob {self.digest} ({self.path}): expected {self.size} bytes, got {self._count}",
                digest=self.digest,
                subject=str(self.path),
            )
        actual = f"{self.digest.split(':', 1)[0]}:{self._hasher.hexdigest()}"
        if actual != self.digest:
            raise IntegrityError(
                f"blob {self.digest} ({self.path}): content hashes to {actual}",
                digest=self.digest,
                actual=actual,
                subject=str(self.path),
            )
        self._verified = True

    def finish(self) -> None:
        """Read to end of file and verify (a no-op if already verified)."""
        buf = bytearray(CHUNK_SIZE)
        while self.readinto(buf):
            pass

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
