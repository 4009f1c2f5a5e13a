"""Walking what a store's tags reach, garbage collection, and health checks.

``gc`` keeps every blob reachable from an ``index.json`` entry (through nested indexes,
manifests, configs and layers; a referrer's ``subject`` is not followed) and removes the
rest, plus temp files that crashed writes left in ``ingest/``. It holds the store's lease
exclusively (no write in flight) and its lock (no tag changing) while it runs, and it
computes the whole reachable set before deleting anything: a document it cannot parse
aborts the collection with nothing removed.

Example::

    result = store.gc()
    print(f"removed {len(result.removed)} blobs, {result.freed_bytes} bytes")
    assert store.verify() == ()
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import attrs

from .._errors import IntegrityError, MobyAssembleError, StoreError, UnsupportedError
from .._oci import Descriptor, new_hasher
from ._blob import CHUNK_SIZE, fsync_dir
from ._graph import is_document, referenced_descriptors
from ._index import index_entries
from ._lock import exclusive_lock

if TYPE_CHECKING:
    from ._layout import Store

__all__ = ["GcResult", "StoreProblem", "collect_garbage", "verify_store", "walk"]

logger = logging.getLogger("moby_assemble.store")

_RETRY_SECONDS = 0.05

#: ``missing(parent, child)``: a referenced blob is not in the store (parent None for a root).
MissingHandler = Callable[[Descriptor | None, Descriptor], None]
#: ``broken(desc, error)``: a document could not be read, verified or parsed.
BrokenHandler = Callable[[Descriptor, MobyAssembleError], None]


@attrs.frozen
class GcResult:
    """What :meth:`Store.gc` removed (or would remove, with ``dry_run``).

    Attributes:
        removed: digests of the removed blobs, sorted.
        freed_bytes: their total size.
        removed_temp_files: stale temp files removed from ``ingest/``.
    """

    removed: tuple[str, ...]
    freed_bytes: int
    removed_temp_files: int = 0


@attrs.frozen
class StoreProblem:
    """One thing :meth:`Store.verify` found wrong.

    Attributes:
        path: the file involved.
        message: what is wrong with it.
        digest: the blob involved, if any.
    """

    path: str
    message: str
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def walk(
    store: Store,
    roots: Iterable[Descriptor],
    *,
    missing: MissingHandler,
    broken: BrokenHandler,
) -> dict[str, Descriptor]:
    """Every blob reachable from ``roots`` that is in the store, by digest (breadth first).

    Documents are read (verified) and parsed to find their children; a missing blob or a
    broken document is handed to the callbacks, which may raise to stop the walk.
    """
    from ._layout import MAX_DOCUMENT_SIZE

    seen: dict[str, Descriptor] = {}
    queue: deque[tuple[Descriptor | None, Descriptor]] = deque((None, r) for r in roots)
    while queue:
        parent, desc = queue.popleft()
        if desc.digest in seen:
            continue
        if not store.has_blob(desc.digest):
            missing(parent, desc)
            continue
        seen[desc.digest] = desc
        if not is_document(desc.media_type):
            continue
        try:
            data = store.read_blob(desc.digest, max_size=MAX_DOCUMENT_SIZE)
            if len(data) != desc.size:
                raise IntegrityError(
                    f"blob {desc.digest}: {len(data)} bytes, descriptor says {desc.size}",
                    digest=desc.digest,
                    subject=desc.media_type,
                )
            children = referenced_descriptors(desc.media_type, data, subject=desc.digest)
        except (IntegrityError, StoreError, UnsupportedError) as e:
            broken(desc, e)
            continue
        queue.extend((desc, child) for child in children)
    return seen


def _ignore_missing(_parent: Descriptor | None, _child: Descriptor) -> None:
    """A partial image (one platform of an index, say) is normal in a cache."""


@contextmanager
def _lease_and_lock(store: Store, timeout: float | None) -> Iterator[None]:
    """Hold the lease exclusively and the lock, never blocking on one while holding the other.

    A puller holds a lease and then takes the lock to tag; a caller inside ``locked()`` may
    start a blob write and so take a lease. Waiting for the lock while holding the lease
    exclusively would deadlock with the second, the reverse order with the first; so the
    lock is only *tried* while the lease is held, and on failure both are let go and the
    attempt repeated.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    lock = store.locked()
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        with exclusive_lock(store.path / ".lease", remaining):
            try:
                lock.acquire(timeout=0)
            except StoreError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
            else:
                try:
                    yield
                finally:
                    lock.release()
                return
        time.sleep(_RETRY_SECONDS)


def collect_garbage(
    store: Store, *, dry_run: bool = False, timeout: float | None = None
) -> GcResult:
    """Remove blobs no ``index.json`` entry reaches, and stale temp files.

    Args:
        dry_run: only report what would be removed.
        timeout: seconds to wait for writers' leases and the lock (None: wait forever).

    Raises:
        StoreError: a reachable document is unreadable or malformed (nothing removed), or
            the store stayed busy for ``timeout`` seconds.
        IntegrityError: a reachable document does not match its digest (nothing removed).
    """
    if not (store.path / "index.json").exists():
        return GcResult((), 0)

    def broken(desc: Descriptor, error: MobyAssembleError) -> None:
        if isinstance(error, IntegrityError):
            raise error
        raise StoreError(
            f"gc stopped, nothing removed: cannot follow {desc.digest} ({error})",
            path=str(store.blob_path(desc.digest)),
        )

    with _lease_and_lock(store, timeout):
        entries = index_entries(store.read_index(), str(store.path / "index.json"))
        keep = walk(store, (e.descriptor for e in entries), missing=_ignore_missing, broken=broken)
        removed: list[str] = []
        freed = 0
        dirs = set()
        for digest, path in store.blob_files():
            if digest is None or digest in keep:
                continue  # a file that is not a blob is not ours to delete
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
                dirs.add(path.parent)
            removed.append(digest)
            freed += size
        temps = 0
        ingest = store.path / "ingest"
        if ingest.is_dir():
            # Every writer holds a lease, and we hold it exclusively: no temp file here is
            # in use, so each one is left over from a crash.
            for tmp in ingest.iterdir():
                if tmp.is_file():
                    temps += 1
                    if not dry_run:
                        tmp.unlink()
        for d in dirs:
            fsync_dir(d)
    removed.sort()
    logger.info(
        "gc of %s: %s %d blobs (%d bytes) and %d temp files",
        store.path,
        "would remove" if dry_run else "removed",
        len(removed),
        freed,
        temps,
    )
    return GcResult(tuple(removed), freed, temps)


def _hash_file(path: os.PathLike[str], digest: str) -> str:
    hasher = new_hasher(digest)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            hasher.update(chunk)
    return f"{digest.split(':', 1)[0]}:{hasher.hexdigest()}"


def verify_store(
    store: Store, *, content: bool = True, complete: bool = False
) -> tuple[StoreProblem, ...]:
    """Check a store: layout files, every blob's content, and what the tags reach.

    Temp files in ``ingest/`` are not problems (a crashed write leaves them; ``gc`` removes
    them). A store that does not exist yet is healthy.

    Args:
        content: re-hash every blob (the slow part).
        complete: also report blobs that entries reach but the store lacks below the top
            level (a cache normally holds one platform of an index, so off by default).
    """
    from ._index import parse_index, parse_layout_file

    root = store.path
    if not root.exists():
        return ()
    problems: list[StoreProblem] = []
    layout = root / "oci-layout"
    try:
        parse_layout_file(layout.read_bytes(), str(layout))
    except FileNotFoundError:
        problems.append(StoreProblem(str(layout), "missing"))
    except StoreError as e:
        problems.append(StoreProblem(str(layout), str(e)))

    for digest, path in store.blob_files():
        if digest is None:
            problems.append(StoreProblem(str(path), "not a blob (name is not a digest)"))
        elif content:
            actual = _hash_file(path, digest)
            if actual != digest:
                problems.append(StoreProblem(str(path), f"content hashes to {actual}", digest))

    index_path = root / "index.json"
    try:
        doc = parse_index(index_path.read_bytes(), str(index_path))
    except FileNotFoundError:
        problems.append(StoreProblem(str(index_path), "missing"))
        return tuple(problems)
    except StoreError as e:
        problems.append(StoreProblem(str(index_path), str(e)))
        return tuple(problems)

    def missing(parent: Descriptor | None, child: Descriptor) -> None:
        if parent is None:
            problems.append(
                StoreProblem(
                    str(index_path), f"entry {child.digest} is not in the store", child.digest
                )
            )
        elif complete:
            problems.append(
                StoreProblem(
                    str(store.blob_path(parent.digest)),
                    f"references {child.digest} ({child.media_type}), which is not in the store",
                    child.digest,
                )
            )

    def broken(desc: Descriptor, error: MobyAssembleError) -> None:
        problems.append(StoreProblem(str(store.blob_path(desc.digest)), str(error), desc.digest))

    reached = walk(
        store,
        (e.descriptor for e in index_entries(doc, str(index_path))),
        missing=missing,
        broken=broken,
    )
    for desc in reached.values():
        path = store.blob_path(desc.digest)
        size = path.stat().st_size
        if size != desc.size and not is_document(desc.media_type):
            problems.append(
                StoreProblem(str(path), f"{size} bytes, a descriptor says {desc.size}", desc.digest)
            )
    return tuple(problems)
