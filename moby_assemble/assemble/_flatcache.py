"""The flat cache: each image's flattened root filesystem, kept as one tar per manifest digest.

Flattening decompresses every layer (twice for multi-layer images) and is the expensive part
of an assembly. An image manifest digest fixes the layers and therefore the flattened result,
so the result is kept as ``<cache>/flat/v2-sha256-<hex>.tar`` (plain, uncompressed) next to a
``.crc32`` file holding the tar's CRC-32 and size. A later assembly that uses the same image,
in the same or another system, copies entries out of that tar instead of decompressing
anything: this is what makes a rebuild after changing one service cheap, without
LinuxKit's ``--input-tar`` flag.

The first use of an image flattens it *through* the cache (:meth:`FlatCache.flatten_entries`):
the entries are handed to the caller while they are written to the cache, so a cold assembly
does not read its own cache entries back.

Entries are read back through a checksum, and a tar that does not match its ``.crc32`` is an
:class:`~moby_assemble.IntegrityError` naming the file; the entry is deleted so that the next
assembly flattens the image again. The check guards against accidental damage (a truncated
or edited file, a bad disk), not against an adversary who can write to the cache (who could
rewrite the checksum too): the blobs the cache is made from are verified by their SHA-256
digests when they are pulled, and their uncompressed content against the image's
``diff_ids`` while flattening. CRC-32 runs at tens of GB/s (ISA-L), where SHA-256 would add
a third of a second per 500 MB to every assembly. Writes go to a temp file that is renamed
into place, so a crash or a second process never leaves a half-written entry behind. The
``v2`` in the name changes when the flattened form or the checksum does.

Example::

    cache = FlatCache(tmp_path / "flat")
    path, cached = cache.ensure(pulled_image, store)
    with cache.entries(pulled_image.manifest.digest) as entries:
        for entry in entries:
            writer.add(entry)
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .._crc import crc32
from .._errors import IntegrityError, LayerError, StoreError
from .._oci import validate_digest
from .._stale import lock_fd, replace_file, touch
from ..layers import EntryType, LayerSource, TarEntry, TarWriter, flatten_layers, read_tar

if TYPE_CHECKING:
    from ..registry import PulledImage
    from ..store import Store

__all__ = ["FORMAT", "FlatCache"]

logger = logging.getLogger("moby_assemble.assemble")

#: Version of the flattened form and its checksum; part of every file name.
FORMAT = "v2"
_CHUNK = 1 << 20
# Files up to this size are held in memory on their way through the cache; larger ones are
# read back from the cache file (they are in the page cache), so memory stays flat.
_INLINE = 1 << 16


def _check_line(checksum: int, size: int) -> str:
    return f"crc32:{checksum:08x} size:{size}"


class _CheckingWriter:
    """Checksums and counts what it passes on to ``out``."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.crc = 0
        self.size = 0

    def write(self, data: Any) -> int:
        self.crc = crc32(data, self.crc)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


class _CheckingReader:
    """Checksums what is read from ``src`` (read-only, forward-only)."""

    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.crc = 0
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.crc = crc32(data, self.crc)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


class _Window(io.RawIOBase):
    """``size`` bytes of the file ``fd`` from ``offset`` (positional reads: the descriptor
    is shared by every window of one cache file)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        super().__init__()
        self._fd = fd
        self._pos = offset
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0 or n > self._left:
            n = self._left
        if n == 0:
            return b""
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        self._left -= len(data)
        return data


class _Tee:
    """Writes each flattened entry to the cache tar and hands it on with its data."""

    def __init__(
        self, entries: Iterator[TarEntry], writer: TarWriter, raw: BinaryIO, read_fd: int
    ) -> None:
        self._entries = entries
        self._writer = writer
        self._raw = raw
        self._fd = read_fd
        self.done = False

    def __iter__(self) -> Iterator[TarEntry]:
        writer = self._writer
        for entry in self._entries:
            size = entry.size
            if entry.type is not EntryType.FILE or not size:
                writer.add(entry)
                yield entry
            elif size <= _INLINE:
                data = entry.read()
                writer.add(entry, data)
                yield entry.with_data(io.BytesIO(data))
            else:
                # Stream it into the cache, then hand out a window on what was written.
                writer.add(entry)
                writer.flush()
                self._raw.flush()
                start = writer.bytes_written - size - (-size % 512)
                yield entry.with_data(_Window(self._fd, start, size))  # type: ignore[arg-type]
        self.done = True


class _Counted:
    """Passes entries through, counting the bytes of tar they stand for."""

    def __init__(self, entries: Iterator[TarEntry]) -> None:
        self._entries = entries
        self.size = 0
        self.done = False

    def __iter__(self) -> Iterator[TarEntry]:
        for entry in self._entries:
            self.size += 512 + (entry.size + 511) // 512 * 512
            yield entry
        self.done = True


def _sources(image: PulledImage, store: Store) -> list[LayerSource]:
    """The image's layers as flatten_layers takes them.

    Raises:
        LayerError: the image config does not list one ``diff_id`` per layer.
    """
    digest = image.manifest.digest
    diff_ids = image.config.get("rootfs", {}).get("diff_ids")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(image.layers):
        raise LayerError(
            f"{image.reference}: the image config lists "
            f"{len(diff_ids) if isinstance(diff_ids, list) else 'no'} diff_ids for "
            f"{len(image.layers)} layers (manifest {digest})",
            layer=digest,
        )
    return [
        LayerSource(_opener(store, desc.digest), desc.media_type, desc.digest, diff_id)
        for desc, diff_id in zip(image.layers, diff_ids, strict=True)
    ]


def _opener(store: Store, digest: str) -> Callable[[], BinaryIO]:
    # The store verified the blob when it was written; the diff_id check while flattening
    # verifies the uncompressed content, so the blob is read as a plain (fast) file here.
    return lambda: store.open_blob(digest, verify=False)


class FlatCache:
    """Flattened image content by manifest digest (see the module documentation).

    Args:
        directory: where the tars live (created on first write).
        max_layer_size: the most bytes one layer may uncompress to; more is a
            :class:`~moby_assemble.LayerError` (a decompression bomb). ``None``: no limit.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, max_layer_size: int | None = None
    ) -> None:
        self._dir = Path(directory)
        self._max = max_layer_size

    @property
    def max_layer_size(self) -> int | None:
        """The most bytes a layer may uncompress to (``None``: no limit)."""
        return self._max

    @property
    def directory(self) -> Path:
        return self._dir

    def path_for(self, digest: str) -> Path:
        """Where the flattened tar of the image with manifest ``digest`` is (or would be)."""
        algorithm, encoded = validate_digest(digest).split(":", 1)
        return self._dir / f"{FORMAT}-{algorithm}-{encoded}.tar"

    def _sidecar(self, path: Path) -> Path:
        return path.with_name(path.name + ".crc32")

    def has(self, digest: str) -> bool:
        """True if the image's flattened content is cached (and complete)."""
        path = self.path_for(digest)
        return path.is_file() and self._sidecar(path).is_file()

    def ensure(
        self,
        image: PulledImage,
        store: Store,
        *,
        on_flatten: Callable[[int], None] | None = None,
    ) -> tuple[Path, bool]:
        """Make sure the image's flattened content is cached.

        Args:
            image: a pulled image whose layers are in ``store``.
            store: the blob store.
            on_flatten: called with the flattened size when the image had to be flattened.

        Returns:
            ``(path, cached)``: the tar, and whether it was already there.

        Raises:
            LayerError, IntegrityError: a layer is unsafe or does not match its ``diff_id``.
        """
        path = self.path_for(image.manifest.digest)
        if self.has(image.manifest.digest):
            return path, True
        with self.flatten_entries(image, store, on_flatten=on_flatten) as entries:
            for _ in entries:
                pass
        return path, False

    @contextlib.contextmanager
    def flatten_entries(
        self,
        image: PulledImage,
        store: Store,
        *,
        on_flatten: Callable[[int], None] | None = None,
    ) -> Iterator[Iterator[TarEntry]]:
        """Flatten the image into the cache, handing each entry out as it is written.

        Read each entry's data before taking the next (as for :func:`read_tar`). The cache
        entry is committed when the iterator is exhausted; if the caller stops early or
        fails, nothing is left behind.

        Raises:
            LayerError, IntegrityError: a layer is unsafe or does not match its ``diff_id``.
            StoreError: the cache directory cannot be written.
        """
        path = self.path_for(image.manifest.digest)
        sources = _sources(image, store)
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self._dir, prefix=f".{path.name}.", suffix=".tmp")
            lock_fd(fd)  # until it is renamed: a killed writer's file is then litter
        except OSError as e:
            raise StoreError(
                f"cannot write to the flat cache {self._dir}: {e.strerror}", path=str(self._dir)
            ) from None
        tmp = Path(tmp_name)
        read_fd = -1
        try:
            with os.fdopen(fd, "wb") as raw:
                read_fd = os.open(tmp, os.O_RDONLY)
                checking = _CheckingWriter(raw)
                writer = TarWriter(checking)  # type: ignore[arg-type]
                flat = flatten_layers(sources, max_size=self._max, include_root=False)
                tee = _Tee(flat, writer, raw, read_fd)
                yield iter(tee)
                if tee.done:
                    writer.close()
                    raw.flush()
                    os.fsync(raw.fileno())
            if not tee.done:
                # The caller stopped early: what was written is not the whole image.
                tmp.unlink(missing_ok=True)
                return
            os.replace(tmp, path)
            line = _check_line(checking.crc, checking.size) + "\n"
            replace_file(self._sidecar(path), line.encode())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            if read_fd >= 0:
                os.close(read_fd)
        logger.info(
            "flattened %s (%d layers, %d bytes) into the flat cache",
            image.reference,
            len(image.layers),
            checking.size,
        )
        if on_flatten is not None:
            on_flatten(checking.size)

    @contextlib.contextmanager
    def image_entries(
        self,
        image: PulledImage,
        store: Store,
        *,
        cache: bool = False,
        on_flatten: Callable[[int], None] | None = None,
    ) -> Iterator[Iterator[TarEntry]]:
        """The image's entries: from the cache if it has them; else flattened, through the
        cache when ``cache`` is true or the image was flattened before (:meth:`seen`), else
        without keeping anything (the first use of an image writes no cache entry).

        Raises:
            LayerError, IntegrityError: a layer is unsafe or does not match its ``diff_id``
                (or a cache entry its checksum).
            StoreError: the cache directory cannot be written.
        """
        digest = image.manifest.digest
        if self.has(digest):
            with self.entries(digest) as entries:
                yield entries
        elif cache or self.seen(digest):
            with self.flatten_entries(image, store, on_flatten=on_flatten) as entries:
                yield entries
        else:
            with self.flatten_uncached(image, store, on_flatten=on_flatten) as entries:
                yield entries

    def _marker(self, digest: str) -> Path:
        path = self.path_for(digest)
        return path.with_name(path.name.removesuffix(".tar") + ".seen")

    def seen(self, digest: str) -> bool:
        """True if the image was flattened before (by :meth:`flatten_uncached`)."""
        return self._marker(digest).exists()

    @contextlib.contextmanager
    def flatten_uncached(
        self,
        image: PulledImage,
        store: Store,
        *,
        on_flatten: Callable[[int], None] | None = None,
    ) -> Iterator[Iterator[TarEntry]]:
        """Flatten the image without keeping the result, only noting that it was done
        (:meth:`seen`): the first use of an image writes no cache entry, the second does.

        Read each entry's data before taking the next (as for :func:`read_tar`).

        Raises:
            LayerError, IntegrityError: a layer is unsafe or does not match its ``diff_id``.
        """
        sources = _sources(image, store)
        counted = _Counted(flatten_layers(sources, max_size=self._max, include_root=False))
        yield iter(counted)
        if not counted.done:
            return
        marker = self._marker(image.manifest.digest)
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError as e:  # only costs the cache entry next time
            logger.warning("cannot write %s: %s", marker, e)
        if on_flatten is not None:
            on_flatten(counted.size)

    @contextlib.contextmanager
    def entries(self, digest: str) -> Iterator[Iterator[TarEntry]]:
        """The cached entries of an image, checked against the recorded checksum.

        The check happens when the iterator is exhausted (the entries were already handed out
        by then: on :class:`IntegrityError`, discard what was written from them).

        Raises:
            StoreError: the image is not cached.
            IntegrityError: the cached tar does not match its ``.crc32``, or no longer parses
                (it is deleted).
        """
        path = self.path_for(digest)
        sidecar = self._sidecar(path)
        try:
            expected = sidecar.read_text().strip()
            f = open(path, "rb")  # noqa: SIM115 (closed below, after the caller is done)
        except FileNotFoundError:
            raise StoreError(
                f"image {digest} is not in the flat cache {self._dir}", path=str(path)
            ) from None
        touch(path)  # in use (see _prune)
        reader = _CheckingReader(f)
        try:
            yield self._verified(read_tar(reader, layer=str(path)), reader, path, expected)  # type: ignore[arg-type]
        except LayerError as e:
            if e.layer != str(path):
                raise
            # Our own file no longer parses: corrupt. Drop it so the next assembly rebuilds it.
            self._discard(path)
            raise IntegrityError(
                f"flat cache entry {path} is corrupt ({e}); it was deleted and will be "
                "rebuilt by the next assembly",
                digest=digest,
                subject=str(path),
            ) from None
        finally:
            f.close()

    def _discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._sidecar(path).unlink(missing_ok=True)

    def _verified(
        self, entries: Iterator[TarEntry], reader: _CheckingReader, path: Path, expected: str
    ) -> Iterator[TarEntry]:
        yield from entries
        reader.drain()
        actual = _check_line(reader.crc, reader.size)
        if actual != expected:
            self._discard(path)
            raise IntegrityError(
                f"flat cache entry {path} has {actual}, expected {expected}; it was "
                "deleted and will be rebuilt by the next assembly",
                digest=expected,
                actual=actual,
                subject=str(path),
            )
