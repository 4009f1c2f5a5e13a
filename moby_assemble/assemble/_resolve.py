"""Resolving a system: every image reference pinned to a digest, per platform, in a Lock.

Each reference is asked once what it points at (a ``HEAD`` for a tag; nothing for a reference
that already names a digest), and every platform is then checked against *that* document,
so a tag moving during resolution cannot give platforms from two different pushes. For each
platform the image manifest the index selects is recorded. Only manifests, indexes and
single-platform images' configs are fetched (into the store), never layers.

Example::

    with RegistryClient() as client, Puller(client, store) as puller:
        lock = resolve_lock(puller, system, [Platform.parse("linux/amd64")])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from .._errors import PlatformError
from .._lock import Lock, LockedImage, image_locations, system_checksum
from ..registry import DEFAULT_MAX_MANIFEST_SIZE, ImageReference, Manifest

if TYPE_CHECKING:
    from .._model import System
    from .._platform import Platform
    from ..registry import Puller
    from ..store import Store

__all__ = ["resolve_lock"]

logger = logging.getLogger("moby_assemble.assemble")
_MAX_NESTING = 4


def _stored(store: Store, digest: str, what: str) -> Manifest:
    return Manifest.parse(
        store.read_blob(digest, max_size=DEFAULT_MAX_MANIFEST_SIZE), digest=digest, reference=what
    )


def _manifest_for(store: Store, document: Manifest, platform: Platform, what: str) -> str:
    """The image manifest ``document`` (an index or a manifest) selects for ``platform``."""
    if not document.is_index:
        return document.digest
    return _select(store, document, platform, what, 0)


def _select(store: Store, index: Manifest, platform: Platform, what: str, depth: int) -> str:
    try:
        return index.select_platform(platform, reference=what).digest
    except PlatformError:
        if depth >= _MAX_NESTING:
            raise
        # The puller has already walked (and stored) nested indexes for this platform.
        for nested in index.nested_indexes:
            if not store.has_blob(nested.digest):
                continue
            child = _stored(store, nested.digest, what)
            try:
                return _select(store, child, platform, what, depth + 1)
            except PlatformError:
                continue
        raise


def _resolve_one(puller: Puller, reference: str, platforms: Sequence[Platform]) -> LockedImage:
    ref = ImageReference.parse(reference)
    digest = puller.resolve(ref)
    pinned = ref.with_digest(digest)
    manifests = []
    media_type = ""
    for platform in platforms:
        # Checks that the platform is offered, and leaves the documents in the store.
        puller.resolve(pinned, platform)
        top = _stored(puller.store, digest, str(pinned))
        media_type = top.media_type
        manifests.append((str(platform), _manifest_for(puller.store, top, platform, str(ref))))
    logger.info("resolved %s to %s", reference, digest)
    return LockedImage(reference, digest, media_type, manifests)


def resolve_lock(
    puller: Puller,
    system: System,
    platforms: Sequence[Platform],
    *,
    max_workers: int = 4,
) -> Lock:
    """Pin every image of ``system`` for ``platforms``.

    Raises:
        PlatformError: an image does not offer one of the platforms.
        OfflineError: offline and the store does not know a reference.
        RegistryError: and subclasses, from the registry.
    """
    if not platforms:
        raise ValueError("resolve_lock needs at least one platform")
    references = list(dict.fromkeys(ref for _path, ref in image_locations(system)))
    with ThreadPoolExecutor(max(1, max_workers), thread_name_prefix="moby-assemble-lock") as pool:
        futures = [pool.submit(_resolve_one, puller, r, platforms) for r in references]
        images = [f.result() for f in futures]
    return Lock(system_checksum(system), platforms, images)
