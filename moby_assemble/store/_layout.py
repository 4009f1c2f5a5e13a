"""The local store: an OCI image layout directory used as cache, source and export format.

``skopeo`` and ``umoci`` read it as-is (``oci:<dir>:<tag>``). Every blob is verified before
it gets its final name, every file is replaced atomically, and processes sharing one store
coordinate through ``flock`` (see :mod:`._lock`).

On disk::

    <store>/oci-layout          {"imageLayoutVersion": "1.0.0"}
    <store>/index.json          tags: entries with org.opencontainers.image.ref.name
    <store>/blobs/sha256/<hex>  content, named by its digest
    <store>/ingest/             temp files of writes in progress (ignored by readers)
    <store>/.lock, .lease       lock files

Example::

    store = Store("~/.cache/moby-assemble/store")
    desc = store.put_bytes(MediaType.OCI_CONFIG, config_bytes)
    store.tag("app:v1", manifest_desc)
    with store.open_blob(store.resolve("app:v1").digest) as f:
        manifest = f.read()
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .._errors import ImageReferenceError, OfflineError, StoreError
from .._oci import Descriptor, validate_digest, verify_bytes
from .._platform import Platform
from ._blob import CHUNK_SIZE, BlobWriter, VerifyingReader, atomic_write_bytes, temp_name
from ._graph import sniff_media_type
from ._index import (
    StoreEntry,
    dump_json,
    empty_index,
    index_entries,
    layout_bytes,
    parse_index,
    parse_layout_file,
    validate_ref_name,
    with_entry,
    without_entry,
)
from ._lock import FileLock, shared_lock

if TYPE_CHECKING:
    from ._gc import GcResult, StoreProblem

__all__ = ["MAX_DOCUMENT_SIZE", "Store"]

logger = logging.getLogger("moby_assemble.store")

#: Largest manifest or index the store will parse (the distribution spec's 4 MiB limit).
MAX_DOCUMENT_SIZE = 4 * 1024 * 1024

_LAYOUT = "oci-layout"
_INDEX = "index.json"
_BLOBS = "blobs"
_INGEST = "ingest"
_LOCK = ".lock"
_LEASE = ".lease"
_SKELETON = frozenset({_INDEX, _BLOBS, _INGEST, _LOCK, _LEASE})


class Store:
    """An OCI image layout on disk, used as cache and as image source.

    The directory is created lazily on the first write. An existing directory must be an
    OCI layout (it has ``oci-layout``) or empty.

    Args:
        path: the layout directory (``~`` is expanded).
        offline: when true, anything missing is reported as :class:`OfflineError` so callers
            know not to fetch it; the store itself never uses the network either way.

    Raises:
        StoreError: ``path`` is a file, or a non-empty directory that is not an OCI layout,
            or its ``oci-layout`` declares another version.

    Example::

        >>> store = Store(tmp_path / "cache")                       # doctest: +SKIP
        >>> desc = store.put_bytes("application/octet-stream", b"hi")  # doctest: +SKIP
        >>> store.read_blob(desc.digest)                             # doctest: +SKIP
        b'hi'
    """

    def __init__(self, path: str | os.PathLike[str], *, offline: bool = False) -> None:
        self._path = Path(path).expanduser().absolute()
        self._offline = bool(offline)
        self._lock = FileLock(self._path / _LOCK)
        self._created = False
        self._check_existing()

    # -- identity -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The layout directory."""
        return self._path

    @property
    def offline(self) -> bool:
        """True if missing content must be reported rather than fetched."""
        return self._offline

    def __repr__(self) -> str:
        return f"Store({str(self._path)!r}, offline={self._offline})"

    def _check_existing(self) -> None:
        p = self._path
        if not p.exists():
            return
        if not p.is_dir():
            raise StoreError(f"store path {p} exists and is not a directory", path=str(p))
        layout = p / _LAYOUT
        if layout.is_file():
            parse_layout_file(self._read_small(layout), str(layout))
            self._created = True
            return
        # A skeleton that a crash interrupted before oci-layout was written is ours to finish.
        if any(child.name not in _SKELETON for child in p.iterdir()):
            raise StoreError(
                f"{p} is not an OCI image layout (no oci-layout file) and is not empty",
                path=str(p),
            )

    def _read_small(self, path: Path) -> bytes:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_DOCUMENT_SIZE + 1)
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror}", path=str(path)) from None
        if len(data) > MAX_DOCUMENT_SIZE:
            raise StoreError(f"{path} is larger than {MAX_DOCUMENT_SIZE} bytes", path=str(path))
        return data

    def _ensure_layout(self) -> None:
        """Create the layout skeleton if any part is missing (safe under concurrency)."""
        if self._created:
            return
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create store {self._path}: {e.strerror}", path=str(self._path)
            ) from None
        with self._lock:
            self._check_existing()
            ingest = self._path / _INGEST
            (self._path / _BLOBS / "sha256").mkdir(parents=True, exist_ok=True)
            ingest.mkdir(exist_ok=True)
            if not (self._path / _INDEX).exists():
                atomic_write_bytes(self._path / _INDEX, dump_json(empty_index()), ingest)
            if not (self._path / _LAYOUT).exists():
                # Written last: its presence marks a complete skeleton.
                atomic_write_bytes(self._path / _LAYOUT, layout_bytes(), ingest)
            self._created = True

    def _missing(self, what: str, reference: str, detail: str = "") -> StoreError:
        message = f"{what} is not in the store {self._path}{detail}"
        if self._offline:
            return OfflineError(f"offline and {message}", reference=reference, path=str(self._path))
        return StoreError(message, path=str(self._path))

    # -- locks ----------------------------------------------------------------------------

    def locked(self) -> FileLock:
        """Exclusive inter-process lock on the store (``flock`` on ``<store>/.lock``).

        ``tag``, ``untag``, ``gc`` and ``import_tar`` take it themselves; hold it around
        several of them to make a read-modify-write of the tags atomic. Re-entrant.

        Example::

            with store.locked():
                if "app:latest" not in {e.name for e in store.entries()}:
                    store.tag("app:latest", desc)
        """
        self._ensure_layout()
        return self._lock

    @contextmanager
    def lease(self, timeout: float | None = None) -> Iterator[None]:
        """Protect blobs written inside the block from a concurrent :meth:`gc`.

        Blob writes hold a lease themselves; a caller that writes several blobs and then
        tags them (a pull) should hold one around the whole sequence, because a blob that is
        written but not yet tagged is otherwise garbage. Many leases may be held at once;
        ``gc`` waits until none is.

        Raises:
            StoreError: ``timeout`` seconds passed while a ``gc`` held the store.
        """
        self._ensure_layout()
        with shared_lock(self._path / _LEASE, timeout):
            yield

    # -- blobs ----------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where the blob with this digest is, or would be (``blobs/<alg>/<encoded>``).

        Raises:
            ImageReferenceError: ``digest`` is malformed or uses an unsupported algorithm.
        """
        try:
            alg, encoded = validate_digest(digest).split(":", 1)
        except ValueError as e:
            raise ImageReferenceError(str(digest), str(e)) from None
        return self._path / _BLOBS / alg / encoded

    def has_blob(self, digest: str) -> bool:
        """True if the blob is in the store (its content was verified when written)."""
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: str, *, verify: bool = True) -> BinaryIO:
        """Open a blob for reading.

        With ``verify`` (the default) the stream hashes what it reads and raises
        :class:`IntegrityError` on reaching end of file with the wrong content, so a store
        written by another tool is never trusted blindly; such a stream cannot seek. With
        ``verify=False`` the plain, seekable file is returned.

        Raises:
            OfflineError: the blob is missing and the store is offline.
            StoreError: the blob is missing.
        """
        path = self.blob_path(digest)
        try:
            if verify:
                size = path.stat().st_size
                return io.BufferedReader(VerifyingReader(path, digest, size), CHUNK_SIZE)
            return open(path, "rb")
        except FileNotFoundError:
            raise self._missing(f"blob {digest}", digest) from None
        except OSError as e:
            raise StoreError(f"cannot read blob {digest}: {e.strerror}", path=str(path)) from None

    def read_blob(self, digest: str, *, max_size: int | None = None) -> bytes:
        """The whole content of a (small) blob, re-verified against its digest.

        Raises:
            OfflineError / StoreError: the blob is missing (see :meth:`open_blob`).
            StoreError: the blob is larger than ``max_size``.
            IntegrityError: the content does not hash to ``digest``.
        """
        path = self.blob_path(digest)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if max_size is not None and size > max_size:
                    raise StoreError(
                        f"blob {digest} is {size} bytes, more than the {max_size} allowed",
                        path=str(path),
                    )
                data = f.read()
        except FileNotFoundError:
            raise self._missing(f"blob {digest}", digest) from None
        except OSError as e:
            raise StoreError(f"cannot read blob {digest}: {e.strerror}", path=str(path)) from None
        verify_bytes(data, digest, subject=f"blob {digest} in {self._path}")
        return data

    @contextmanager
    def blob_writer(self, desc: Descriptor) -> Iterator[BlobWriter]:
        """Stream a blob into the store, verified and committed atomically on exit.

        On a clean exit the size and digest are checked against ``desc``, the temp file is
        fsynced and renamed to its final name (or dropped if the blob already exists). On a
        mismatch, or an exception inside the block, the temp file is removed and nothing is
        committed. The write holds a :meth:`lease`.

        Raises:
            IntegrityError: wrong size or digest (also raised early by ``write`` when more
                than ``desc.size`` bytes arrive).

        Example::

            with store.blob_writer(desc) as w:
                for chunk in chunks:
                    w.write(chunk)
        """
        final = self.blob_path(desc.digest)
        self._ensure_layout()
        ingest = self._path / _INGEST
        with self.lease():
            ingest.mkdir(exist_ok=True)
            writer = BlobWriter(desc, ingest / temp_name(final.name))
            try:
                yield writer
                writer._commit(final)
            finally:
                writer._discard()

    def ingest_bytes(self, desc: Descriptor, data: bytes) -> None:
        """Verify ``data`` against ``desc`` and store it (IntegrityError on mismatch)."""
        verify_bytes(data, desc.digest, desc.size, subject=f"blob {desc.digest}")
        if self.has_blob(desc.digest):
            return
        with self.blob_writer(desc) as w:
            w.write(data)

    def ingest_stream(self, desc: Descriptor, stream: BinaryIO) -> None:
        """Copy ``stream`` into the store in chunks, verified against ``desc``.

        Reads at most ``desc.size + 1`` bytes, so an over-long stream is caught without
        reading it all.
        """
        with self.blob_writer(desc) as w:
            remaining = desc.size + 1
            while remaining > 0:
                chunk = stream.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    break
                w.write(chunk)
                remaining -= len(chunk)

    def put_bytes(
        self,
        media_type: str,
        data: bytes,
        *,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
        artifact_type: str | None = None,
    ) -> Descriptor:
        """Store ``data`` and return its (sha256) descriptor.

        Example::

            >>> store.put_bytes(MediaType.OCI_EMPTY, b"{}").size       # doctest: +SKIP
            2
        """
        desc = Descriptor.for_bytes(
            media_type,
            data,
            annotations=annotations,
            platform=platform,
            artifact_type=artifact_type,
        )
        self.ingest_bytes(desc, data)
        return desc

    def blob_files(self) -> Iterator[tuple[str | None, Path]]:
        """Every file under ``blobs/``: ``(digest, path)``, digest None if the name is not one."""
        root = self._path / _BLOBS
        if not root.is_dir():
            return
        for alg_dir in sorted(root.iterdir()):
            if not alg_dir.is_dir():
                yield None, alg_dir
                continue
            for f in sorted(alg_dir.iterdir()):
                name = f"{alg_dir.name}:{f.name}"
                try:
                    digest: str | None = validate_digest(name)
                except ValueError:
                    digest = None
                yield digest, f

    # -- index.json -----------------------------------------------------------------------

    def read_index(self) -> dict[str, Any]:
        """The parsed ``index.json`` (an empty index if the store has none yet)."""
        path = self._path / _INDEX
        if not path.exists():
            return empty_index()
        return parse_index(self._read_small(path), str(path))

    def write_index(self, doc: dict[str, Any]) -> None:
        """Replace ``index.json`` atomically. Callers hold :meth:`locked`."""
        self._ensure_layout()
        atomic_write_bytes(self._path / _INDEX, dump_json(doc), self._path / _INGEST)

    def entries(self) -> tuple[StoreEntry, ...]:
        """The entries of ``index.json`` (sorted by name when this library wrote it)."""
        return index_entries(self.read_index(), str(self._path / _INDEX))

    def tag(self, name: str, desc: Descriptor) -> None:
        """Point the tag ``name`` at ``desc`` (a manifest or index already in the store).

        Writes an ``index.json`` entry annotated ``org.opencontainers.image.ref.name=name``,
        replacing any entry of that name. The file is rewritten atomically under
        :meth:`locked`, entries sorted by name.

        Raises:
            ImageReferenceError: ``name`` is not a valid ref.name.
            StoreError: the blob ``desc`` names is not in the store.
        """
        validate_ref_name(name)
        if not self.has_blob(desc.digest):
            raise StoreError(
                f"cannot tag {name!r}: blob {desc.digest} is not in the store {self._path}",
                path=str(self._path),
            )
        with self.locked():
            self.write_index(with_entry(self.read_index(), name, desc))
        logger.debug("tagged %s -> %s in %s", name, desc.digest, self._path)

    def untag(self, name: str, *, missing_ok: bool = False) -> None:
        """Remove the tag ``name`` (its blobs stay until :meth:`gc`).

        Raises:
            StoreError: there is no such tag and ``missing_ok`` is false.
        """
        if not (self._path / _INDEX).exists():
            if missing_ok:
                return
            raise StoreError(f"tag {name!r} is not in the store {self._path}", path=str(self._path))
        with self.locked():
            doc = without_entry(self.read_index(), name)
            if doc is None:
                if missing_ok:
                    return
                raise StoreError(
                    f"tag {name!r} is not in the store {self._path}", path=str(self._path)
                )
            self.write_index(doc)

    def resolve(self, name: str) -> Descriptor:
        """The descriptor the tag ``name`` points at.

        Raises:
            OfflineError: no such tag and the store is offline.
            StoreError: no such tag (the message lists some that exist).
        """
        names: list[str] = []
        for entry in self.entries():
            if entry.name == name:
                return entry.descriptor
            if entry.name is not None:
                names.append(entry.name)
        known = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
        raise self._missing(f"tag {name!r}", name, f" (tags: {known or 'none'})")

    def resolve_digest(self, digest: str) -> Descriptor:
        """A descriptor for the manifest or index with this digest.

        An ``index.json`` entry with that digest gives the descriptor as recorded; otherwise
        the blob is read and its media type taken from the document.

        Raises:
            OfflineError / StoreError: the blob is missing.
            UnsupportedError: the blob is not a manifest or index.
        """
        self.blob_path(digest)  # validates
        for entry in self.entries():
            if entry.descriptor.digest == digest:
                return entry.descriptor
        data = self.read_blob(digest, max_size=MAX_DOCUMENT_SIZE)
        media_type = sniff_media_type(data, subject=f"blob {digest}")
        return Descriptor(media_type, digest, len(data))

    def names(self) -> tuple[str, ...]:
        """The tags in the store, sorted."""
        return tuple(sorted(e.name for e in self.entries() if e.name is not None))

    # -- maintenance (implemented in sibling modules) --------------------------------------

    def gc(self, *, dry_run: bool = False, timeout: float | None = None) -> GcResult:
        """Remove blobs no tag reaches, and stale temp files. See :func:`._gc.collect_garbage`."""
        from ._gc import collect_garbage

        return collect_garbage(self, dry_run=dry_run, timeout=timeout)

    def verify(self, *, content: bool = True, complete: bool = False) -> tuple[StoreProblem, ...]:
        """Check the layout; an empty tuple means healthy. See :func:`._gc.verify_store`."""
        from ._gc import verify_store

        return verify_store(self, content=content, complete=complete)

    def export_tar(
        self, dest: str | os.PathLike[str] | BinaryIO, names: Sequence[str] | None = None
    ) -> None:
        """Write an OCI layout tar of these tags. See :func:`._archive.export_tar`."""
        from ._archive import export_tar

        export_tar(self, dest, names)

    def import_tar(self, src: str | os.PathLike[str] | BinaryIO) -> tuple[str, ...]:
        """Import an OCI layout tar; returns the tags. See :func:`._archive.import_tar`."""
        from ._archive import import_tar

        return import_tar(self, src)
