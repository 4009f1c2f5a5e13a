"""The flat cache: each image's flattened root filesystem, kept as one tar per manifest digest.

Flattening decompresses every layer (twice for multi-layer images) and is the expensive part
of an assembly. An image manifest digest fixes the layers and therefore the flattened result,
so the result is kept as ``<cache>/flat/v1-sha256-<hex>.tar`` (plain, uncompressed) next to a
``.sha256`` file holding the tar's own digest. A later assembly that uses the same image,
in the same or another system, copies entries out of that tar instead of decompressing
anything: this is what makes a rebuild after changing one service cheap, without
LinuxKit's ``--input-tar`` flag.

Entries are read back through a hash, and a tar that does not match its ``.sha256`` is an
:class:`~moby_assemble.IntegrityError` naming the file; the entry is deleted so that the next
assembly flattens the image again. Writes go to a temp file that is renamed into place, so a
crash or a second process never leaves a half-written entry behind. The ``v1`` in the name
changes when the flattened form does.

Example::

    cache = FlatCache(tmp_path / "flat")
    path, cached = cache.ensure(pulled_image, store)
    with cache.entries(pulled_image.manifest.digest) as entries:
        for entry in entries:
            writer.add(entry)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .._errors import IntegrityError, LayerError, StoreError
from .._oci import validate_digest
from ..layers import LayerSource, TarEntry, TarWriter, flatten_layers, read_tar

if TYPE_CHECKING:
    from ..registry import PulledImage
    from ..store import Store

__all__ = ["FORMAT", "FlatCache"]

logger = logging.getLogger("moby_assemble.assemble")

#: Version of the flattened form; part of every file name.
FORMAT = "v1"
_CHUNK = 1 << 20


class _HashingWriter:
    """Hashes and counts what it passes on to ``out``."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


class _HashingReader:
    """Hashes what is read from ``src`` (read-only, forward-only)."""

    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def _opener(store: Store, digest: str) -> Callable[[], BinaryIO]:
    # The store verified the blob when it was written; the diff_id check while flattening
    # verifies the uncompressed content, so the blob is read as a plain (fast) file here.
    return lambda: store.open_blob(digest, verify=False)


class FlatCache:
    """Flattened image content by manifest digest (see the module documentation).

    Args:
        directory: where the tars live (created on first write).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._dir = Path(directory)

    @property
    def directory(self) -> Path:
        return self._dir

    def path_for(self, digest: str) -> Path:
        """Where the flattened tar of the image with manifest ``digest`` is (or would be)."""
        algorithm, encoded = validate_digest(digest).split(":", 1)
        return self._dir / f"{FORMAT}-{algorithm}-{encoded}.tar"

    def _sidecar(self, path: Path) -> Path:
        return path.with_name(path.name + ".sha256")

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
        digest = image.manifest.digest
        path = self.path_for(digest)
        if self.has(digest):
            return path, True
        diff_ids = image.config.get("rootfs", {}).get("diff_ids")
        if not isinstance(diff_ids, list) or len(diff_ids) != len(image.layers):
            raise LayerError(
                f"{image.reference}: the image config lists "
                f"{len(diff_ids) if isinstance(diff_ids, list) else 'no'} diff_ids for "
                f"{len(image.layers)} layers (manifest {digest})",
                layer=digest,
            )
        sources = [
            LayerSource(_opener(store, desc.digest), desc.media_type, desc.digest, diff_id)
            for desc, diff_id in zip(image.layers, diff_ids, strict=True)
        ]
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create the flat cache {self._dir}: {e.strerror}", path=str(self._dir)
            ) from None
        fd, tmp_name = tempfile.mkstemp(dir=self._dir, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as raw:
                hashing = _HashingWriter(raw)
                with TarWriter(hashing) as writer:  # type: ignore[arg-type]
                    for entry in flatten_layers(sources, include_root=False):
                        writer.add(entry)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, path)
            sidecar = self._sidecar(path)
            side_tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
            side_tmp.write_text(f"sha256:{hashing.hash.hexdigest()}\n")
            os.replace(side_tmp, sidecar)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        logger.info(
            "flattened %s (%d layers, %d bytes) into the flat cache",
            image.reference,
            len(image.layers),
            hashing.size,
        )
        if on_flatten is not None:
            on_flatten(hashing.size)
        return path, False

    @contextlib.contextmanager
    def entries(self, digest: str) -> Iterator[Iterator[TarEntry]]:
        """The cached entries of an image, verified against the recorded digest.

        The check happens when the iterator is exhausted (the entries were already handed out
        by then: on :class:`IntegrityError`, discard what was written from them).

        Raises:
            StoreError: the image is not cached.
            IntegrityError: the cached tar does not match its ``.sha256``, or no longer parses
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
        reader = _HashingReader(f)
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
                digest=expected,
                subject=str(path),
            ) from None
        finally:
            f.close()

    def _discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._sidecar(path).unlink(missing_ok=True)

    def _verified(
        self, entries: Iterator[TarEntry], reader: _HashingReader, path: Path, expected: str
    ) -> Iterator[TarEntry]:
        yield from entries
        reader.drain()
        actual = f"sha256:{reader.hash.hexdigest()}"
        if actual != expected:
            self._discard(path)
            raise IntegrityError(
                f"flat cache entry {path} hashes to {actual}, expected {expected}; it was "
                "deleted and will be rebuilt by the next assembly",
                digest=expected,
                actual=actual,
                subject=str(path),
            )
