"""The ``pull`` step: every image of the system, fetched into the store by its pinned digest.

Images are fetched concurrently (blobs shared between images once), by the digest the lock
pins, so what a tag means today never matters. The step starts the downloads and returns:
later steps wait for the images they need (:meth:`BuildContext.image`), so the kernel is
being flattened while the services are still downloading. With everything already in the
store nothing touches the network; offline, anything missing is an
:class:`~moby_assemble.OfflineError`. Images named ``oci-layout:DIR:TAG`` are copied from
their layout, verified, by the same pinned digest, offline or not; they never touch the
network.

Example::

    pull_step(ctx)
    ctx.image("docker.io/linuxkit/init:v1.2").manifest.digest   # waits for that one
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._errors import LockMismatchError, OfflineError
from .._lock import image_locations, layout_sources
from ..registry import ImageReference
from ..store import LayoutReference, is_layout_reference, parse_layout_reference

if TYPE_CHECKING:
    from .._lock import Lock
    from ..registry import PulledImage
    from ..registry._pull import ImageSource
    from ._context import BuildContext

__all__ = ["checked_image", "pinned_reference", "pull_step"]

logger = logging.getLogger("moby_assemble.assemble")


def pinned_reference(
    lock: Lock, reference: str, *, layouts: Mapping[str, LayoutReference] | None = None
) -> ImageSource:
    """The reference to fetch for ``reference``: pinned to the lock's digest.

    An ``oci-layout:`` reference gives a :class:`~moby_assemble.store.LayoutReference`: the
    one in ``layouts`` (see :func:`~moby_assemble._lock.layout_sources`) if given, else its
    path as written (a relative one is then relative to the current directory).

    Raises:
        LockMismatchError: the lock does not pin ``reference``.
    """
    image = lock.image(reference)
    if image is None:
        raise LockMismatchError(
            f"{reference} is not in the lock", differences=(f"{reference} is not in the lock",)
        )
    ref: ImageSource
    if is_layout_reference(reference):
        known = layouts.get(reference) if layouts is not None else None
        ref = known if known is not None else parse_layout_reference(reference)
    else:
        ref = ImageReference.parse(reference)
    return ref if ref.digest == image.digest else ref.with_digest(image.digest)


def _pull_offline(ctx: BuildContext, reference: str, ref: ImageSource) -> PulledImage:
    try:
        return ctx.puller.pull(ref, ctx.platform)
    except OfflineError as e:
        raise OfflineError(
            f"offline, and image {reference} ({ref.digest}) for {ctx.platform} is not "
            f"complete in the store: {e}",
            reference=reference,
            path=e.path,
        ) from None


def pull_step(ctx: BuildContext) -> bool:
    """Start fetching every image for ``ctx.platform`` (see the module documentation)."""
    references = list(dict.fromkeys(ref for _path, ref in image_locations(ctx.system)))
    if not references:
        return False
    layouts = layout_sources(ctx.system)
    refs = [pinned_reference(ctx.lock, r, layouts=layouts) for r in references]
    if ctx.puller.offline:
        # Nothing to wait for, and this way an error can name the image that is missing.
        for reference, ref in zip(references, refs, strict=True):
            image = _pull_offline(ctx, reference, ref)
            ctx.images[reference] = checked_image(ctx, reference, image)
    else:
        pool = ctx.start_pulls(len(refs))
        for reference, ref in zip(references, refs, strict=True):
            ctx.pending[reference] = pool.submit(ctx.puller.pull, ref, ctx.platform)
    ctx.plan_sections()
    return True


def checked_image(ctx: BuildContext, reference: str, image: PulledImage) -> PulledImage:
    """``image``, pulled for ``reference``, if it is the manifest the lock pins.

    Raises:
        LockMismatchError: the lock pins another manifest for the platform.
    """
    locked = ctx.lock.image(reference)
    assert locked is not None
    expected = locked.manifest_for(ctx.platform)
    if expected is not None and expected != image.manifest.digest:
        difference = (
            f"{reference}: the lock pins manifest {expected} for {ctx.platform}, but its "
            f"index {locked.digest} selects {image.manifest.digest}"
        )
        raise LockMismatchError(difference, differences=(difference,))
    logger.debug("pulled %s for %s: %s", reference, ctx.platform, image.manifest.digest)
    return image
