"""The Assembler: the one object that owns I/O (registry client, store, caches, progress).

Typical use::

    import moby_assemble as ma

    with ma.Assembler(cache="~/.cache/moby-assemble") as asm:
        lock = asm.resolve(system)                 # pins every image; save it next to the YAML
        bundle = asm.assemble(system, lock=lock)   # never asks a registry what a tag means
        bundle.write("out/", formats=["kernel+initrd"])

Images come from registries or, named ``oci-layout:DIR:TAG`` (or ``…@sha256:…``), from OCI
image layouts on disk: resolved from the layout's ``index.json``, copied into the store
verified, never with any network, so a system whose images all come from layouts builds with
``offline=True`` and no registry at all.

The cache directory holds ``store/`` (an OCI image layout: every manifest and blob fetched,
verified), ``sections/`` (each image's section of a root tar, written once and shared, see
:mod:`._segments`), ``flat/`` (each image's flattened content by manifest digest, see
:mod:`._flatcache`) and ``bundles/`` (assembled systems named after their content: their
own entries and the list of parts of their root tar, see :mod:`._parts`). Several assemblers
and processes may share one cache.

Reproducibility: every entry the assembly generates (directories, ``config.json``, boot
files, the ``files`` section, …) gets the mtime ``SOURCE_DATE_EPOCH`` (the ``source_date_epoch``
argument, else the environment variable, else **0**, the Unix epoch); entries from images keep
the mtimes their layers give them, which a pinned image fixes. So two assemblies of one locked
system, on different days, in different cache directories, give byte-identical tars.

The assembler never prints, never prompts and never exits; progress goes to the ``progress``
callback as :mod:`typed events <moby_assemble.assemble._events>`, and logs to the
``moby_assemble.assemble`` logger.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .._cpus import usable_cpus
from .._errors import ConfigError, SignatureError, StoreError
from .._fsync import fsync_path
from .._lock import Lock, LockedImage, image_locations, layout_sources, system_checksum
from .._platform import Platform
from .._runtime_spec import allocate_ids
from .._stale import LOCK_NAME, lock_path, touch
from ..registry import DockerConfig, Puller, RegistryClient
from ..store import Store
from ._bundle import Bundle
from ._context import BuildContext, SbomGenerator
from ._events import AssemblyEvent, AssemblyFinished, ProgressSink
from ._flatcache import FlatCache
from ._parts import GLUE_NAME, PARTS_NAME, PartsSink, RootfsParts, encode_parts
from ._pipeline import STEPS, Step, run_steps
from ._prune import remove_litter
from ._resolve import _manifest_for, _resolve_one, _stored, resolve_lock
from ._rootfs import RootfsWriter
from ._segments import SectionStore
from ._workers import SectionWorkers, sections_to_write

if TYPE_CHECKING:
    from .._model import System
    from ..registry import CredentialProvider, RegistryConfig
    from ..store import LayoutReference
    from ..trust import TrustPolicy

__all__ = ["MAX_LAYER_SIZE", "Assembler", "default_cache_dir", "source_date_epoch"]

logger = logging.getLogger("moby_assemble.assemble")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/moby-assemble``, else ``~/.cache/moby-assemble``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "moby-assemble"


def source_date_epoch(value: int | None = None) -> int:
    """The mtime of generated entries: ``value``, else ``$SOURCE_DATE_EPOCH``, else 0.

    Raises:
        ConfigError: the environment variable is not a non-negative integer.

    Example::

        >>> source_date_epoch(1700000000)
        1700000000
    """
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"source_date_epoch must be a non-negative integer, not {value!r}")
        return value
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ConfigError(
            f"SOURCE_DATE_EPOCH={text!r} is not a non-negative integer", path="SOURCE_DATE_EPOCH"
        )
    return int(text)


#: The default bound on one layer's uncompressed size (64 GiB): far above real images,
#: far below what a few kilobytes of zstd can expand to.
MAX_LAYER_SIZE = 64 << 30


class Assembler:
    """Resolves and assembles systems; owns the registry client, store and caches.

    Args:
        cache: the cache directory (default :func:`default_cache_dir`); ``~`` is expanded.
        platform: the platform to assemble for when a system does not say (default: the
            host's).
        client: a registry client to use (not closed by the assembler); by default one is
            made from ``credentials`` and ``registries`` and closed with the assembler.
        credentials: where registry credentials come from (default
            :class:`~moby_assemble.registry.DockerConfig`: what ``docker login``,
            ``podman login`` and credential helpers stored, as LinuxKit does).
        registries: per-registry settings (TLS, mirrors, plain HTTP).
        offline: never use the network; every registry image must be in the store (images
            named ``oci-layout:…`` are read from their layouts, offline or not).
        progress: called with every :class:`~moby_assemble.assemble.AssemblyEvent`.
        source_date_epoch: mtime of generated entries (see the module documentation).
        max_concurrency: downloads and look-ups at once.
        max_layer_size: the most bytes one layer may uncompress to (default
            :data:`MAX_LAYER_SIZE`, 64 GiB); more is a :class:`~moby_assemble.LayerError`
            naming the layer, raised before the bytes reach the disk, so a decompression
            bomb cannot fill it. ``None`` removes the limit.
        trust_policy: which images must carry a cosign signature by which keys (see
            :class:`~moby_assemble.trust.TrustPolicy`). Every locked image is checked at the
            digest the lock pins before anything is written; a failure is a
            :class:`~moby_assemble.SignatureError` naming the image. Signatures live in
            registries, so a policy cannot be combined with ``offline=True``.
        section_workers: processes that write images' sections of the root tar while the
            pipeline runs (forked, see ``_workers``); ``None`` (the default) uses one fewer
            than the usable CPUs, ``0`` writes everything in this process. Workers are only
            started for an assembly with at least two sections to write. The bytes are the
            same either way.

    Example::

        with Assembler(tmp_path / "cache", platform="linux/amd64") as asm:
            bundle = asm.assemble(System.from_yaml("linuxkit.yml"))
    """

    def __init__(
        self,
        cache: str | os.PathLike[str] | None = None,
        *,
        platform: Platform | str | None = None,
        client: RegistryClient | None = None,
        credentials: CredentialProvider | None = None,
        registries: Mapping[str, RegistryConfig] | None = None,
        offline: bool = False,
        progress: ProgressSink | None = None,
        source_date_epoch: int | None = None,
        max_concurrency: int = 4,
        max_layer_size: int | None = MAX_LAYER_SIZE,
        trust_policy: TrustPolicy | None = None,
        section_workers: int | None = None,
    ) -> None:
        if max_layer_size is not None and max_layer_size < 1:
            raise ValueError(f"max_layer_size must be positive or None, got {max_layer_size}")
        if trust_policy is not None and offline:
            raise ConfigError(
                "a trust policy cannot be checked offline: signatures are read from the "
                "registries; assemble online, or without trust_policy",
                path="trust_policy",
            )
        if section_workers is not None and section_workers < 0:
            raise ValueError(f"section_workers must not be negative, got {section_workers}")
        self._section_workers = section_workers
        self._trust = trust_policy
        self._cache = Path(cache).expanduser() if cache is not None else default_cache_dir()
        self._platform = Platform.parse(platform) if isinstance(platform, str) else platform
        self._progress = progress
        self._epoch = source_date_epoch
        self._max = max_concurrency
        self._offline = offline
        self._store = Store(self._cache / "store", offline=offline)
        self._flat = FlatCache(self._cache / "flat", max_layer_size=max_layer_size)
        self._owns_client = False
        self._client: RegistryClient | None = None
        if not offline:
            if client is None:
                client = RegistryClient(
                    credentials=DockerConfig() if credentials is None else credentials,
                    registries=registries,
                )
                self._owns_client = True
            self._client = client
        self._puller = Puller(
            self._client, self._store, max_concurrency=max_concurrency, progress=self._emit
        )
        self._closed = False

    # -- resources ---------------------------------------------------------------------------

    @property
    def cache(self) -> Path:
        """The cache directory."""
        return self._cache

    @property
    def store(self) -> Store:
        """The OCI layout store images are fetched into."""
        return self._store

    @property
    def flat_cache(self) -> FlatCache:
        """Flattened image contents by manifest digest."""
        return self._flat

    @property
    def offline(self) -> bool:
        return self._offline

    def close(self) -> None:
        """Stop download threads and close the registry client if the assembler made it."""
        if self._closed:
            return
        self._closed = True
        self._puller.close()
        if self._owns_client and self._client is not None:
            self._client.close()

    def __enter__(self) -> Assembler:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", offline" if self._offline else ""
        return f"Assembler({str(self._cache)!r}{mode})"

    def _emit(self, event: AssemblyEvent) -> None:
        if self._progress is not None:
            self._progress(event)

    # -- platforms ---------------------------------------------------------------------------

    def _default_platform(self) -> Platform:
        return self._platform or Platform.host()

    def target_platform(self, system: System, platform: Platform | str | None = None) -> Platform:
        """The platform :meth:`assemble` builds ``system`` for.

        ``platform`` if given; else the system's only platform; else the assembler's
        platform (when the system lists it, or lists none); else the host's.

        Raises:
            ConfigError: the system lists several platforms and none was chosen, or
                ``platform`` is not one the system lists.
        """
        listed = system.platforms
        if platform is not None:
            chosen = Platform.parse(platform) if isinstance(platform, str) else platform
            if listed and chosen not in listed:
                raise ConfigError(
                    f"the system is for {', '.join(map(str, listed))}, not {chosen}",
                    path="platforms",
                )
            return chosen
        if len(listed) == 1:
            return listed[0]
        if not listed:
            return self._default_platform()
        if self._platform is not None and self._platform in listed:
            return self._platform
        raise ConfigError(
            f"the system lists several platforms ({', '.join(map(str, listed))}): "
            "pass platform= to choose one",
            path="platforms",
        )

    # -- resolve -------------------------------------------------------------------------------

    def resolve(self, system: System, *, platforms: Iterable[Platform | str] | None = None) -> Lock:
        """Pin every image of ``system`` to a digest, for each platform.

        An ``oci-layout:`` image is pinned to what its layout's ``index.json`` names (the
        tag is the ``org.opencontainers.image.ref.name`` annotation), offline or not; the
        lock records it under the reference as written.

        Args:
            system: the system.
            platforms: which platforms to pin (default: the system's, else the assembler's
                platform, else the host's).

        Raises:
            PlatformError: an image lacks one of the platforms.
            OfflineError: offline and the store does not know a reference.
            StoreError: a layout is missing, or lacks the tag (the message lists its tags).
            RegistryError: and subclasses, from the registry.
        """
        system.check()
        chosen: Sequence[Platform]
        if platforms is not None:
            chosen = [Platform.parse(p) if isinstance(p, str) else p for p in platforms]
        else:
            chosen = list(system.platforms) or [self._default_platform()]
        layouts = layout_sources(system)
        if not layouts:
            return resolve_lock(self._puller, system, chosen, max_workers=self._max)

        def one(reference: str) -> LockedImage:
            source = layouts.get(reference)
            if source is None:
                return _resolve_one(self._puller, reference, chosen)
            return self._resolve_layout(reference, source, chosen)

        references = list(dict.fromkeys(ref for _path, ref in image_locations(system)))
        workers = max(1, self._max)
        with ThreadPoolExecutor(workers, thread_name_prefix="moby-assemble-lock") as pool:
            images = [f.result() for f in [pool.submit(one, r) for r in references]]
        return Lock(system_checksum(system), chosen, images)

    def _resolve_layout(
        self, reference: str, source: LayoutReference, platforms: Sequence[Platform]
    ) -> LockedImage:
        """Pin an ``oci-layout:`` image: as a registry image is pinned, but from the layout
        (its documents are copied into the store on the way, as a registry's are)."""
        digest = self._puller.resolve(source)
        pinned = source.with_digest(digest)
        manifests = []
        media_type = ""
        for platform in platforms:
            self._puller.resolve(pinned, platform)
            top = _stored(self._store, digest, str(pinned))
            media_type = top.media_type
            manifests.append(
                (str(platform), _manifest_for(self._store, top, platform, str(source)))
            )
        logger.info("resolved %s to %s", reference, digest)
        return LockedImage(reference, digest, media_type, manifests)

    # -- assemble ------------------------------------------------------------------------------

    def assemble(
        self,
        system: System,
        lock: Lock | None = None,
        *,
        platform: Platform | str | None = None,
        sbom: SbomGenerator | bool | None = None,
        steps: Sequence[Step] = STEPS,
    ) -> Bundle:
        """Assemble ``system`` into one root filesystem tar (a :class:`Bundle`).

        Args:
            system: the system.
            lock: the pins to use; without one the system is resolved first (for the target
                platform only). With a lock, no registry is asked what a tag means: images
                come from the store by digest, and are fetched by digest only if missing.
            platform: the platform (see :meth:`target_platform`).
            sbom: an SBOM generator for the ``sbom`` step; ``True`` writes the SPDX 2.3
                document of :class:`~moby_assemble.sbom.SpdxGenerator` (attestations fetched
                through this assembler's client) to ``sbom.spdx.json``; ``None`` or ``False``
                skips the step.
            steps: the pipeline (:data:`~moby_assemble.assemble._pipeline.STEPS`).

        Raises:
            LockMismatchError: the lock does not pin every image of the system.
            ConfigError: the system is inconsistent (the message names the field).
            SignatureError: an image fails the assembler's ``trust_policy`` (checked before
                anything is written; see :meth:`check_signatures`).
            PlatformError, OfflineError, RegistryError, IntegrityError, LayerError: from
                fetching and flattening images.
        """
        started = time.monotonic()
        system.check()
        target = self.target_platform(system, platform)
        if lock is None:
            lock = self.resolve(system, platforms=[target])
        else:
            lock.check(system, platforms=[target])
        # Before anything is written: an untrusted image must not reach the cache.
        self.check_signatures(lock)
        epoch = source_date_epoch(self._epoch)
        if sbom is True:
            from ..sbom import SpdxGenerator

            sbom = SpdxGenerator(client=self._client)
        elif sbom is False:
            sbom = None
        bundles = self._cache / "bundles"
        self.remove_stale()
        try:
            bundles.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".assembling-", dir=bundles))
        except OSError as e:
            raise StoreError(
                f"cannot create a work directory in {bundles}: {e.strerror}", path=str(bundles)
            ) from None
        try:
            # Held until the directory is published or removed: while it is, no other
            # process takes the directory for litter (see remove_stale).
            held = lock_path(work / LOCK_NAME)
        except OSError as e:
            shutil.rmtree(work, ignore_errors=True)
            raise StoreError(f"cannot lock {work}: {e.strerror}", path=str(work)) from None
        sections = SectionStore(self._cache / "sections")
        sink: PartsSink | None = None
        try:
            with open(work / GLUE_NAME, "wb") as glue:
                sink = PartsSink(glue, sections)
                writer = RootfsWriter(sink, mtime=epoch)
                ctx = BuildContext(
                    system=system,
                    lock=lock,
                    platform=target,
                    writer=writer,
                    store=self._store,
                    flat=self._flat,
                    puller=self._puller,
                    work_dir=work,
                    emit=self._emit,
                    id_map=allocate_ids(system),
                    source_date_epoch=epoch,
                    sbom=sbom,
                    segments=sections,
                )
                try:
                    # Forked before the pull step starts its threads (see _workers).
                    ctx.workers = self._start_workers(ctx)
                    run_steps(steps, ctx)
                    ctx.wait_for_images()
                finally:
                    ctx.finish()
                writer.close()
                parts = encode_parts(sink.finish())
                final = bundles / hashlib.sha256(parts).hexdigest()[:32]
                # Durable before the bundle gets its final name (a crash must not leave a
                # short file there); an assembly that was published before needs no fsync.
                synced = not _complete(final)
                if synced:
                    glue.flush()
                    os.fsync(glue.fileno())
            (work / PARTS_NAME).write_bytes(parts)
            # The sections the parts name, durable under their names (written meanwhile
            # on a background thread).
            sections.wait()
            (work / LOCK_NAME).unlink()
            final = self._publish(work, final, synced=synced)
        except BaseException:
            if sink is not None:
                sink.abort()
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            sections.close()
            os.close(held)

        def moved(path: Path | None) -> Path | None:
            return final / path.name if path is not None else None

        rootfs = RootfsParts.load(final)
        bundle = Bundle(
            system=system,
            lock=lock,
            platform=target,
            directory=final,
            rootfs_parts=rootfs,
            kernel=moved(ctx.kernel),
            cmdline=ctx.cmdline,
            ucode=moved(ctx.ucode),
            containers=tuple(ctx.containers),
            source_date_epoch=epoch,
        )
        seconds = time.monotonic() - started
        logger.info(
            "assembled %s for %s: %d bytes, bundle %s, %d images flattened, in %.2fs",
            system,
            target,
            rootfs.size,
            final.name,
            ctx.flattened,
            seconds,
        )
        self._emit(AssemblyFinished(final.name, rootfs.size, seconds))
        return bundle

    def _start_workers(self, ctx: BuildContext) -> SectionWorkers | None:
        """Section workers for this assembly, if it has at least two sections to write and
        more than one CPU to write them on."""
        wanted = self._section_workers
        if wanted is None:
            wanted = usable_cpus() - 1
        if wanted < 1:
            return None
        count = sections_to_write(ctx)
        if count < 2:
            return None
        return SectionWorkers.start(min(wanted, count))

    def check_signatures(self, lock: Lock) -> None:
        """Check every image ``lock`` pins against the assembler's trust policy, at the
        digest the lock pins (nothing is checked without a policy).

        ``oci-layout:`` images have no registry to hold their signatures: under a policy
        whose default is ``deny``, or with a rule ``**`` (every image), they fail; otherwise
        they need none (other rules match registry names, which a layout has not).

        Raises:
            SignatureError: an image is unsigned, badly signed, or denied; the message has
                one line per failing image and names each.
            RegistryError, IntegrityError: the registry failed or sent corrupt content.
        """
        if self._trust is None:
            return
        from ..store._reference import is_layout_reference

        client = self._client
        if client is None:  # refused in __init__; kept for type checkers
            raise ConfigError("a trust policy cannot be checked offline", path="trust_policy")
        remote: list[tuple[str, str | None]] = []
        catch_all = any(rule.pattern == "**" for rule in self._trust.rules)
        for image in lock.images:
            if not is_layout_reference(image.reference):
                remote.append((image.reference, image.digest))
            elif self._trust.default == "deny" or catch_all:
                raise SignatureError(
                    f"{image.reference}@{image.digest}: the signature of an oci-layout image "
                    "cannot be checked (signatures are read from registries), and the trust "
                    + (
                        "policy's rule '**' covers every image"
                        if catch_all
                        else "policy denies unmatched images"
                    ),
                    reference=image.reference,
                )
        results = self._trust.verify_all(client, remote)
        for result in results:
            logger.info("signature of %s: %s", result.reference, result.format or "not required")

    def remove_stale(self) -> list[Path]:
        """Remove what killed assemblies left in the cache (unfinished bundles, flat-cache
        and segment-index temporary files); returns what was removed.

        Only names no live process holds are removed (their writers hold ``flock`` locks,
        which the kernel drops when a process dies), so this is safe while other processes
        assemble into the same cache. Every assembly does it first.
        """
        return remove_litter(self._cache)

    @staticmethod
    def _publish(work: Path, final: Path, *, synced: bool) -> Path:
        """Move the finished work directory to its content-addressed name (``fsync``-ing
        its files first unless ``synced``)."""
        if _complete(final):
            # The same bundle was assembled before: keep that copy (used again: see _prune).
            RootfsParts.load(final).mark_used()
            shutil.rmtree(work, ignore_errors=True)
            return final
        if not synced:  # the earlier copy went away since we looked
            fsync_path(work / GLUE_NAME)
        fsync_path(work / PARTS_NAME)
        try:
            if final.exists():
                _swap(work, final)
            else:
                os.replace(work, final)
        except OSError:
            if _complete(final):  # another process won the race
                touch(final)
                shutil.rmtree(work, ignore_errors=True)
                return final
            raise
        return final


def _complete(bundle: Path) -> bool:
    """Whether ``bundle`` is a published bundle whose parts are all there."""
    if not (bundle / PARTS_NAME).is_file():
        return False
    try:
        return RootfsParts.load(bundle).complete()
    except StoreError:
        return False


def _swap(work: Path, final: Path) -> None:
    """Replace an incomplete ``final`` (left by a crash or a cache gc) with ``work``."""
    shutil.rmtree(final, ignore_errors=True)
    os.replace(work, final)
