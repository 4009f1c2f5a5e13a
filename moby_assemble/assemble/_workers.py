"""Encoding images' sections on the other cores while the pipeline runs on this one.

Most of a cold assembly is per-entry work in Python (decompressing, parsing and writing tens
of thousands of tar entries), and one interpreter runs it on one core. But each image's
section of the root tar is a pure function of its inputs (see :mod:`._segments`), so it can
be written anywhere, in any order: when an assembly has several sections to write, it forks
worker processes and hands them the sections it will need, in pipeline order, as soon as
each image is pulled. The pipeline itself still runs in order on the calling thread; when a
step reaches an image's section it

* takes it if a worker finished it (the section is in the cache, durable);
* waits for it if a worker is writing it;
* writes it itself if no worker has started on it (the job is cancelled), so no core idles
  while work is queued.

A worker that fails (a damaged layer, a full disk, a killed process) costs nothing but the
time: the step writes that section itself and raises the error, with all its detail, from
here. Which sections a worker writes never changes the bytes: a section's key decides them.

Workers are forked (not spawned), so a user's script needs no ``if __name__ == "__main__"``
guard and workers start in milliseconds; they are forked at the start of an assembly,
before its download threads exist, and stopped at its end. With one usable CPU, or fewer
than two sections to write (a rebuild after one change), nothing is forked.

Example::

    workers = SectionWorkers.start(count=1)
    workers.submit(job)
    done = workers.take(job.key)     # a SectionDone, or None: write it here
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from .._model import Container, Stage
from ..store import Store
from ._flatcache import FlatCache
from ._parts import PartsSink
from ._rebase import origin_of
from ._rootfs import ApkDatabases, RootfsWriter, copy_image_section
from ._segments import SectionStore, Segment

if TYPE_CHECKING:
    from ..registry import PulledImage
    from ._context import BuildContext

__all__ = [
    "PlannedCopy",
    "SectionDone",
    "SectionJob",
    "SectionWorkers",
    "encode_section",
    "planned_copies",
    "sections_to_write",
]

logger = logging.getLogger("moby_assemble.assemble")


@attrs.frozen
class SectionJob:
    """An image's section to write (the arguments of ``BuildContext.copy_image``).

    Attributes:
        store: the store's directory.
        flat: the flat cache's directory.
        max_layer_size: the bound on one layer's uncompressed size.
        sections: the sections' directory.
        image: the image, pulled (in the store).
        reference, location, prefix, kind: as for ``copy_image``.
        epoch: ``SOURCE_DATE_EPOCH``.
        key: the section's key.
    """

    store: Path
    flat: Path
    max_layer_size: int | None
    sections: Path
    image: PulledImage
    reference: str
    location: str
    prefix: str
    kind: str
    epoch: int
    key: str


@attrs.frozen
class SectionDone:
    """A section a worker wrote.

    Attributes:
        segment: the section, durable in the cache.
        cached: whether the image's content came from the flat cache.
        flattened: the flattened size, when the image was flattened from its layers.
    """

    segment: Segment
    cached: bool
    flattened: int | None


def encode_section(job: SectionJob) -> SectionDone:
    """Write ``job``'s section into the cache (in a worker process)."""
    store = Store(job.store, offline=True)
    flat = FlatCache(job.flat, max_layer_size=job.max_layer_size)
    sections = SectionStore(job.sections)
    sizes: list[int] = []
    cached = flat.has(job.image.manifest.digest)
    apk = ApkDatabases() if job.kind == "init" else None
    sink = PartsSink(io.BytesIO(), sections)
    try:
        origin = origin_of(
            job.image,
            source=job.reference,
            prefix=job.prefix,
            location=job.location,
            kind=job.kind,
            epoch=job.epoch,
        )
        with flat.image_entries(job.image, store, on_flatten=sizes.append) as entries:
            _, segment = copy_image_section(
                RootfsWriter(sink, mtime=job.epoch),
                entries,
                job.key,
                prefix=job.prefix,
                source=job.reference,
                location=job.location,
                kind=job.kind,
                apk=apk,
                origin=origin,
            )
        sections.wait()
    except BaseException:
        sink.abort()
        raise
    finally:
        sections.close()
        if apk is not None:
            apk.close()
    return SectionDone(segment, cached, sizes[0] if sizes else None)


def _ready() -> None:
    """Nothing: submitted once to make the pool fork its workers now."""


class SectionWorkers:
    """Worker processes writing sections (see the module documentation).

    Jobs wait here until a worker is free (the process pool would hand them out early,
    and a job handed out cannot be taken back); a free worker gets the job submitted
    *last*, while the pipeline takes its sections first to last, so the two meet in the
    middle instead of queueing behind each other.

    Use :meth:`start`, then :meth:`submit` and :meth:`take`; :meth:`close` at the end.
    """

    def __init__(self, pool: ProcessPoolExecutor, count: int) -> None:
        self._pool = pool
        self._count = count
        self._lock = threading.Lock()
        self._queued: dict[str, SectionJob] = {}  # in submission order
        self._running: dict[str, Future[SectionDone]] = {}
        self._taken: set[str] = set()  # asked for: never started after that
        self._busy = 0
        self._closed = False

    @classmethod
    def start(cls, count: int) -> SectionWorkers | None:
        """Fork ``count`` workers now; ``None`` where processes cannot be forked."""
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork"))
        try:
            pool.submit(_ready).result()
        except (OSError, BrokenProcessPool) as e:  # no processes: write everything here
            logger.info("cannot start section workers: %s", e)
            pool.shutdown(wait=False, cancel_futures=True)
            return None
        logger.info("started %d section workers", count)
        return cls(pool, count)

    def submit(self, job: SectionJob) -> None:
        """Have a worker write ``job``'s section (once per key)."""
        with self._lock:
            key = job.key
            if self._closed or key in self._queued or key in self._running or key in self._taken:
                return
            self._queued[job.key] = job
            started = self._dispatch()
        self._watch(started)

    def _dispatch(self) -> list[Future[SectionDone]]:
        """With the lock held: hand the last-submitted jobs to free workers; returns their
        futures, for :meth:`_watch` once the lock is released."""
        started: list[Future[SectionDone]] = []
        while self._busy < self._count and self._queued and not self._closed:
            key, job = self._queued.popitem()
            try:
                future = self._pool.submit(encode_section, job)
            except (BrokenProcessPool, RuntimeError) as e:
                # No worker left: the pipeline writes every section itself.
                logger.info("section workers stopped: %s", e)
                self._closed = True
                self._queued.clear()
                break
            self._running[key] = future
            self._busy += 1
            started.append(future)
        return started

    def _watch(self, started: list[Future[SectionDone]]) -> None:
        # Not under the lock: a future that is already done runs the callback at once, in
        # this thread, and the callback takes the lock.
        for future in started:
            future.add_done_callback(self._finished)

    def _finished(self, _future: Future[SectionDone]) -> None:
        with self._lock:
            self._busy -= 1
            started = self._dispatch()
        self._watch(started)

    def take(self, key: str) -> SectionDone | None:
        """The section ``key`` if a worker wrote it (waiting while one writes it); ``None``
        if no worker has it, had not started on it (it is then never started) or failed."""
        with self._lock:
            self._taken.add(key)
            if self._queued.pop(key, None) is not None:
                return None
            future = self._running.pop(key, None)
        if future is None:
            return None
        try:
            return future.result()
        except Exception as e:
            logger.info("a worker could not write section %s: %s", key[:12], e)
            return None

    def close(self) -> None:
        """Drop what has not started, wait for what has, stop the workers."""
        with self._lock:
            self._closed = True
            self._queued.clear()
            self._running.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)


@attrs.frozen
class PlannedCopy:
    """A ``copy_image`` call the steps will make (see :func:`planned_copies`).

    Attributes:
        reference, location, kind: as for ``copy_image``.
        candidates: the prefixes it may have (a container's depends on its image config).
        prefix_of: its prefix, given the pulled image.
    """

    reference: str
    location: str
    kind: str
    candidates: tuple[str, ...]
    prefix_of: Callable[[PulledImage], str]


def planned_copies(ctx: BuildContext) -> Iterator[PlannedCopy]:
    """The ``copy_image`` calls the pipeline's steps will make, in their order.

    A forecast only (the steps decide): a wrong one costs a section nobody uses.
    """
    from ._steps_containers import bundle_directory, image_root

    system = ctx.system

    def fixed(prefix: str) -> Callable[[PulledImage], str]:
        return lambda _image: prefix

    def container_root(stage: Stage, index: int, c: Container) -> Callable[[PulledImage], str]:
        return lambda image: image_root(ctx, stage, index, c, image)

    for index, init in enumerate(system.init):
        yield PlannedCopy(init.image, f"init[{index}]", "init", ("",), fixed(""))
    for index, volume in enumerate(system.volumes):
        if volume.image and volume.format != "oci":
            lower = f"containers/volumes/{volume.name}/lower"
            yield PlannedCopy(volume.image, f"volume[{index}]", "volume", (lower,), fixed(lower))
    for stage in (Stage.ONBOOT, Stage.ONSHUTDOWN, Stage.SERVICES):
        for index, container in enumerate(system.containers(stage)):
            directory = bundle_directory(stage, index, container.name)
            yield PlannedCopy(
                container.image,
                f"{stage.value}[{index}]",
                "container",
                (f"{directory}/rootfs", f"{directory}/lower"),
                container_root(stage, index, container),
            )


def sections_to_write(ctx: BuildContext) -> int:
    """How many sections the assembly will write (a forecast from the lock: images whose
    section is in the cache at none of the prefixes it may have)."""
    sections = ctx.segments
    count = 0
    for copy in planned_copies(ctx):
        locked = ctx.lock.image(copy.reference)
        if locked is None:
            continue
        digest = locked.manifest_for(ctx.platform) or locked.digest
        keys = [
            ctx.section_key(
                digest,
                prefix=prefix,
                source=copy.reference,
                location=copy.location,
                kind=copy.kind,
            )
            for prefix in copy.candidates
        ]
        if not any(sections.has(key) for key in keys):
            count += 1
    return count
