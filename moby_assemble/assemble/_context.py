"""The one context every pipeline step works on: inputs, the output tar, and what was built.

A :class:`BuildContext` is created by :meth:`Assembler.assemble
<moby_assemble.assemble.Assembler.assemble>` for one assembly and handed to each step in
turn. Steps read the system, lock and platform, get image content through
:meth:`BuildContext.image_entries` (which goes through the flat cache), write to
:attr:`BuildContext.writer`, and record what they produced (kernel, containers) for the
:class:`~moby_assemble.assemble.Bundle`.

Example::

    with ctx.image_entries(container.image, "services[0]") as entries:
        copy_image(ctx.writer, entries, prefix="containers/services/web/lower", ...)
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import attrs

from .._errors import ConfigError
from ._events import AssemblyEvent, ImageCopied, ImageFlattened
from ._parts import PartsSink
from ._rebase import may_rebase, origin_of, rebase
from ._rootfs import RootfsWriter, copy_image_section
from ._segments import segment_key
from ._steps_pull import checked_image
from ._workers import SectionJob, planned_copies

if TYPE_CHECKING:
    from .._lock import Lock
    from .._model import System
    from .._platform import Platform
    from ..layers import TarEntry
    from ..registry import PulledImage, Puller
    from ..store import Store
    from ._bundle import BundleContainer
    from ._flatcache import FlatCache
    from ._rootfs import ApkDatabases
    from ._segments import SectionStore, Segment
    from ._workers import SectionWorkers

__all__ = ["BuildContext", "ImageUse", "SbomGenerator"]

logger = logging.getLogger("moby_assemble.assemble")


@attrs.frozen
class ImageUse:
    """One use of an image in the system: where, which reference, and what was pulled.

    Attributes:
        location: the place in the system (``kernel``, ``init[1]``, ``volume[0]``,
            ``services[2]``; LinuxKit's ``LINUXKIT.location`` values).
        reference: the reference as the system writes it.
        image: the pulled image (manifest, config, layers), all in the store.
    """

    location: str
    reference: str
    image: PulledImage


class SbomGenerator(Protocol):
    """What the ``sbom`` step calls (the seam for an SPDX generator).

    ``generate`` gets every image use of the assembly, in build order, and returns the files
    to add to the root filesystem as ``(path, content)`` (LinuxKit writes one
    ``sbom.spdx.json`` at the root). It must be deterministic for reproducible outputs.
    """

    def generate(
        self,
        uses: Sequence[ImageUse],
        *,
        store: Store,
        platform: Platform,
        source_date_epoch: int,
    ) -> Sequence[tuple[str, bytes]]: ...


@attrs.define(eq=False)
class BuildContext:
    """State of one assembly, shared by the pipeline's steps.

    Attributes:
        system: what is assembled (not pinned: references as the user wrote them).
        lock: the pins used.
        platform: the platform assembled for.
        writer: the root filesystem tar.
        store: the blob store.
        flat: the flat cache.
        images: reference → pulled image (filled by the ``pull`` step).
        work_dir: the bundle directory (kernel and ucode files go here).
        emit: the progress sink.
        id_map: container name → uid/gid (LinuxKit's allocation from 100).
        source_date_epoch: mtime of generated entries.
        sbom: the SBOM generator, or ``None`` (the ``sbom`` step is skipped).
        puller: fetches images (offline if the assembler is).
        written: manifest digest → directory holding that image's files (de-duplication).
        containers: the container bundles written, in build order.
        uses: every image use, in build order (for the SBOM).
        kernel: the kernel file in ``work_dir``, once the kernel step ran.
        cmdline: the kernel command line.
        ucode: the microcode cpio in ``work_dir``, if any.
        flattened: images flattened (not found in the flat cache) during this assembly.
        segments: sections of earlier root filesystems to reuse, and where to record this
            one's.
        pending: reference → download still under way (moved to ``images`` when awaited).
        workers: processes writing sections ahead of the steps (see :meth:`plan_sections`
            and ``_workers``), or ``None``.
    """

    system: System
    lock: Lock
    platform: Platform
    writer: RootfsWriter
    store: Store
    flat: FlatCache
    puller: Puller
    work_dir: Path
    emit: Callable[[AssemblyEvent], None]
    id_map: dict[str, int]
    source_date_epoch: int
    segments: SectionStore
    sbom: SbomGenerator | None = None
    images: dict[str, PulledImage] = attrs.Factory(dict)
    written: dict[str, str] = attrs.Factory(dict)
    containers: list[BundleContainer] = attrs.Factory(list)
    uses: list[ImageUse] = attrs.Factory(list)
    kernel: Path | None = None
    cmdline: str | None = None
    ucode: Path | None = None
    flattened: int = 0
    pending: dict[str, Future[PulledImage]] = attrs.Factory(dict)
    workers: SectionWorkers | None = None
    _pool: ThreadPoolExecutor | None = None
    _planner: threading.Thread | None = None
    _stop: threading.Event = attrs.Factory(threading.Event)

    def image(self, reference: str) -> PulledImage:
        """The pulled image for a reference of the system (waiting for its download).

        Raises:
            ConfigError: the reference was not pulled (a step asked for an image the
                system does not name: a bug, reported clearly rather than as a KeyError).
            RegistryError, IntegrityError, LockMismatchError, ...: its download failed.
        """
        image = self.images.get(reference)
        if image is not None:
            return image
        future = self.pending.pop(reference, None)
        if future is None:
            raise ConfigError(f"image {reference} was not pulled for {self.platform}")
        image = checked_image(self, reference, future.result())
        self.images[reference] = image
        return image

    def start_pulls(self, count: int) -> ThreadPoolExecutor:
        """The thread pool the ``pull`` step submits downloads to (see :meth:`finish`)."""
        if self._pool is None:
            workers = max(1, min(count, self.puller.max_concurrency))
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="moby-assemble-image")
        return self._pool

    def wait_for_images(self) -> None:
        """Wait for every download still pending, raising the first failure (in system
        order): an image no step asked for must still be complete and as locked."""
        for reference in list(self.pending):
            self.image(reference)

    def finish(self) -> None:
        """Stop the downloads (those not started are cancelled, running ones finish), the
        section planner and the section workers."""
        self._stop.set()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
        planner, self._planner = self._planner, None
        if planner is not None:
            planner.join()
        workers, self.workers = self.workers, None
        if workers is not None:
            workers.close()

    def plan_sections(self) -> None:
        """Hand the workers (if any) the sections the steps will write, in the steps'
        order, each as soon as its image is pulled (on a thread of its own)."""
        if self.workers is None:
            return
        self._planner = threading.Thread(
            target=self._plan,
            args=(dict(self.pending), dict(self.images)),
            name="moby-assemble-plan",
            daemon=True,
        )
        self._planner.start()

    def _plan(self, pending: dict[str, Future[PulledImage]], ready: dict[str, PulledImage]) -> None:
        workers, sections = self.workers, self.segments
        assert workers is not None
        containers: set[str] = set()
        try:
            for copy in planned_copies(self):
                if self._stop.is_set():
                    return
                reference, location, kind = copy.reference, copy.location, copy.kind
                image = ready.get(reference)
                if image is None:
                    future = pending.get(reference)
                    if future is None:
                        continue
                    image = future.result()
                    ready[reference] = image
                digest = image.manifest.digest
                if kind == "container":
                    if digest in containers:
                        continue  # the step shares the first container's copy
                    containers.add(digest)
                prefix = copy.prefix_of(image)
                key = self.section_key(
                    digest, prefix=prefix, source=reference, location=location, kind=kind
                )
                if sections.has(key):
                    continue
                if may_rebase(self, image, reference, location, prefix=prefix, kind=kind):
                    continue  # made from an old section, here, faster than a worker flattens
                workers.submit(
                    SectionJob(
                        store=self.store.path,
                        flat=self.flat.directory,
                        max_layer_size=self.flat.max_layer_size,
                        sections=sections.directory,
                        image=image,
                        reference=reference,
                        location=location,
                        prefix=prefix,
                        kind=kind,
                        epoch=self.source_date_epoch,
                        key=key,
                    )
                )
        except Exception as e:
            logger.debug("section planning stopped: %s", e)

    def record_use(self, location: str, reference: str) -> PulledImage:
        """Note that ``location`` uses ``reference`` (for the SBOM) and return the image."""
        image = self.image(reference)
        self.uses.append(ImageUse(location, reference, image))
        return image

    def copy_image(
        self,
        reference: str,
        location: str,
        *,
        prefix: str,
        kind: str,
        apk: ApkDatabases | None = None,
    ) -> int:
        """Write an image's entries under ``prefix`` with LinuxKit's filter (see
        :func:`~moby_assemble.assemble._rootfs.copy_image`), reusing the bytes of an earlier
        root filesystem when one has this very section (see ``_segments``).

        Args:
            reference, location: the image and its place (the provenance records).
            prefix: where its root goes.
            kind: ``"init"``, ``"volume"`` or ``"container"`` (init and volume images get the
                ``etc/resolv.conf`` symlink).
            apk: collect the apk database here (init images).

        Returns:
            How many of the image's own entries were written.
        """
        image = self.image(reference)
        digest = image.manifest.digest
        key = self.section_key(
            digest, prefix=prefix, source=reference, location=location, kind=kind
        )
        done = self.workers.take(key) if self.workers is not None else None
        found: Segment | None
        if done is not None:
            found = done.segment
            self.emit(ImageCopied(location, reference, digest, done.cached))
            if done.flattened is not None:
                self.flattened += 1
                self.emit(ImageFlattened(reference, digest, len(image.layers), done.flattened))
        else:
            # Stored by an earlier assembly, else made from the section of an earlier tag.
            found = self.segments.lookup(key) or rebase(
                self, image, reference, location, prefix=prefix, kind=kind, key=key
            )
            if found is not None:
                self.emit(ImageCopied(location, reference, digest, True))
        if found is not None:
            self.writer.add_section(found)
            if apk is not None and found.apk is not None:
                apk.add_bytes(found.apk)
            return found.count
        origin = self.section_origin(image, reference, location, prefix=prefix, kind=kind)
        with self.image_entries(reference, location) as entries:
            count, _ = copy_image_section(
                self.writer,
                entries,
                key,
                prefix=prefix,
                source=reference,
                location=location,
                kind=kind,
                apk=apk,
                origin=origin,
            )
        return count

    def section_origin(
        self, image: PulledImage, reference: str, location: str, *, prefix: str, kind: str
    ) -> Mapping[str, str] | None:
        """What the section of ``image`` at this place records for a later rebase (see
        ``_rebase``)."""
        return origin_of(
            image,
            source=reference,
            prefix=prefix,
            location=location,
            kind=kind,
            epoch=self.source_date_epoch,
        )

    def section_key(
        self, digest: str, *, prefix: str, source: str, location: str, kind: str
    ) -> str:
        """The key of a reusable section of the root tar (see ``_segments``)."""
        return segment_key(
            digest,
            prefix=prefix,
            source=source,
            location=location,
            kind=kind,
            epoch=self.source_date_epoch,
        )

    def detached(self, key: str) -> DetachedSection:
        """A writer for entries that go into the root tar later, as a section of their own
        (the :class:`Segment` :meth:`DetachedSection.finish` returns, for
        :meth:`RootfsWriter.add_section`): a step can write them before the entries that
        come first (the kernel step reads the modules before it writes ``boot/``)."""
        return DetachedSection(self, key)

    @contextlib.contextmanager
    def image_entries(
        self, reference: str, location: str, *, announce: bool = True, cache: bool = False
    ) -> Iterator[Iterator[TarEntry]]:
        """The flattened entries of an image (no root entry), from the flat cache.

        An image not in the flat cache is flattened from its layers (an
        :class:`~moby_assemble.assemble.ImageFlattened` event follows its last entry). The
        first time, nothing is kept (the root filesystem's own section is what later
        assemblies reuse, see ``_segments``): a cold build writes its bytes once. The
        second time (the image is used at another place, or its section is gone), or with
        ``cache=True`` (a step that reads the image twice), the entries go through the
        flat cache. An :class:`~moby_assemble.assemble.ImageCopied` event says whether the
        content came from the cache (``announce=False`` skips it, for a second pass).
        """
        image = self.image(reference)
        digest = image.manifest.digest

        def flattened(size: int) -> None:
            self.flattened += 1
            self.emit(ImageFlattened(reference, digest, len(image.layers), size))

        if announce:
            self.emit(ImageCopied(location, reference, digest, self.flat.has(digest)))
        with self.flat.image_entries(
            image, self.store, cache=cache, on_flatten=flattened
        ) as entries:
            yield entries


class DetachedSection:
    """Entries written apart from the root tar (see :meth:`BuildContext.detached`), into the
    section ``key`` of the cache.

    Write with :attr:`writer`, then :meth:`finish`; :meth:`abort` on failure.
    """

    def __init__(self, ctx: BuildContext, key: str) -> None:
        self._key = key
        self._sink = PartsSink(io.BytesIO(), ctx.segments)
        self.writer = RootfsWriter(self._sink, mtime=ctx.source_date_epoch)
        self.writer.begin_section()

    def finish(self, count: int, *, origin: Mapping[str, str] | None = None) -> Segment:
        """Done writing; ``count`` entries were the image's own (``origin``: see
        :class:`~moby_assemble.assemble._segments.Segment`). Returns the section."""
        return self.writer.end_section(self._key, count=count, origin=origin)

    def abort(self) -> None:
        """Discard what was written."""
        self._sink.abort()
