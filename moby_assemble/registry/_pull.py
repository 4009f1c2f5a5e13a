"""Pulling images into the local store: one platform, verified, de-duplicated, offline-capable.

:class:`Puller` turns a reference and a platform into a :class:`PulledImage`, leaving in the
store exactly what that platform needs: the index (if any) and manifest bytes as the
registry sent them, the config and the layers. Blobs already in the store are never fetched
again; blobs shared by several images of one build are fetched once, a bounded number at a
time. With no client, or an offline store, nothing touches the network.

An :class:`~moby_assemble.store.LayoutReference` (``oci-layout:DIR:TAG``) pulls from an OCI
image layout on disk instead of a registry: the same selection, the same checks, every blob
copied into the store verified against its digest, and never any network, offline or not.

Example::

    from moby_assemble import Platform
    from moby_assemble.registry import ImageReference, Puller, RegistryClient
    from moby_assemble.store import Store

    with RegistryClient() as client, Puller(client, Store("cache")) as puller:
        image = puller.pull(ImageReference.parse("127.0.0.1:5000/app:1"),
                            Platform.parse("linux/arm64"))
        print(image.manifest.digest, len(image.layers))
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import attrs

from .._errors import OfflineError, PlatformError, StoreError, UnsupportedError
from .._oci import Descriptor, MediaType
from .._parse import loads_json
from .._platform import Platform
from ..store._reference import LayoutReference, copy_layout_blob, read_layout_document
from ._client import DEFAULT_MAX_MANIFEST_SIZE, RegistryClient
from ._events import BlobFinished, BlobProgress, BlobStarted, ProgressCallback
from ._manifest import Manifest, is_attestation
from ._reference import ImageReference

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["MAX_CONFIG_SIZE", "ImageSource", "PulledImage", "Puller"]

#: What the puller pulls from: a registry reference, or an image in an OCI layout.
ImageSource = ImageReference | LayoutReference

_LOG = logging.getLogger("moby_assemble.registry")

#: Image configs are small JSON documents; anything bigger is refused before download.
MAX_CONFIG_SIZE = 16 * 1024 * 1024
#: Indexes inside indexes are legal; this deep is not plausible.
_MAX_NESTING = 4
#: BuildKit's annotation naming the image manifest an attestation manifest is about.
_ATTESTATION_SUBJECT = "vnd.docker.reference.digest"


@attrs.frozen
class PulledImage:
    """What a pull produced: the descriptors chosen and the parsed config.

    Everything named here is in the store, verified.

    Attributes:
        reference: the reference as asked for. For an image pulled from an OCI layout this
            is the :class:`~moby_assemble.store.LayoutReference` (it has ``str``, ``tag``,
            ``digest`` and ``with_digest`` like an image reference; the annotation still
            says ``ImageReference`` because the SBOM reader is typed for that alone).
        platform: the platform of the chosen image.
        index: the index (or Docker manifest list) the image was selected from, if any.
        manifest: the image manifest's descriptor (with ``platform`` when from an index).
        config_descriptor: the config blob's descriptor.
        config: the parsed image config (empty for non-image configs; do not modify).
        layers: the layer descriptors, base first.
    """

    reference: ImageReference
    platform: Platform
    index: Descriptor | None
    manifest: Descriptor
    config_descriptor: Descriptor
    config: Mapping[str, Any] = attrs.field(eq=False, hash=False, repr=False)
    layers: tuple[Descriptor, ...]

    @property
    def top(self) -> Descriptor:
        """What the reference points at: the index if there is one, else the manifest."""
        return self.index if self.index is not None else self.manifest

    @property
    def digest(self) -> str:
        """The digest the reference resolves to (index or manifest): what a lock pins."""
        return self.top.digest

    @property
    def pinned(self) -> ImageReference:
        """The reference pinned to :attr:`digest` (the tag is kept for readability)."""
        return self.reference.with_digest(self.digest)

    @property
    def source(self) -> ImageSource:
        """Where the image came from: the registry reference or the OCI layout reference."""
        return self.reference


def _tag_name(ref: ImageReference) -> str | None:
    return f"{ref.name}:{ref.tag}" if ref.tag is not None else None


def _anchored(ref: ImageSource) -> ImageSource:
    # A relative layout path means the current directory *now*: fix it once per call.
    return ref.anchored() if isinstance(ref, LayoutReference) else ref


class Puller:
    """Fetch images for one platform into a :class:`~moby_assemble.store.Store`.

    Args:
        client: the registry client; ``None`` to work offline from the store only.
        store: where manifests and blobs go (and come from).
        max_concurrency: blob downloads running at once, across all images pulled by
            this puller (and manifest look-ups at once in :meth:`pull_many`).
        progress: called with :mod:`~moby_assemble.registry._events` values.

    Offline (no client, or ``store.offline``) a missing image, manifest or blob is an
    :class:`~moby_assemble.OfflineError` naming the reference. Images named by a
    :class:`~moby_assemble.store.LayoutReference` come from their layout whether offline or
    not (reading a local directory is not fetching); a missing tag or blob is a
    :class:`~moby_assemble.StoreError`, a corrupt blob an :class:`~moby_assemble.IntegrityError`,
    both naming the layout.
    """

    def __init__(
        self,
        client: RegistryClient | None,
        store: Store,
        *,
        max_concurrency: int = 4,
        progress: ProgressCallback | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self._client = client
        self._store = store
        self._max = max_concurrency
        self._progress = progress
        self._lock = threading.RLock()
        self._inflight: dict[str, Future[None]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._layouts: dict[Path, Store] = {}

    @property
    def offline(self) -> bool:
        """True when nothing may be fetched."""
        return self._client is None or self._store.offline

    @property
    def store(self) -> Store:
        return self._store

    @property
    def max_concurrency(self) -> int:
        """Blob downloads running at once, across all images."""
        return self._max

    def close(self) -> None:
        """Stop the download threads (after running downloads finish)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def __enter__(self) -> Puller:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- public operations ----------------------------------------------------------------

    def pull(self, ref: ImageSource, platform: Platform, *, fallback: bool = False) -> PulledImage:
        """Make sure the store holds ``ref`` for ``platform`` and describe it.

        Args:
            ref: the image; a pinned reference whose manifest is in the store needs no
                network at all. A :class:`~moby_assemble.store.LayoutReference` is read
                from its layout (a relative path is relative to the current directory).
            platform: the platform wanted (strict match unless ``fallback``).
            fallback: accept a compatible platform (``amd64/v2`` for ``amd64/v3`` …).

        Raises:
            PlatformError: the image has no such platform (lists those it has).
            OfflineError: offline and something is missing from the store.
            StoreError: a layout lacks the tag, manifest or blob (naming the layout).
            IntegrityError: content does not match its digest or size.
            RegistryError: and subclasses, from the registry.
        """
        ref = _anchored(ref)
        with self._store.lease():
            image, top = self._resolve_image(ref, platform, fallback)
            self._wait([self._ensure_blob(ref, d, platform) for d in image.layers])
            if isinstance(ref, ImageReference):
                if not self.offline:
                    self._tag(ref, top)
            elif image.index is not None:
                # A layout stays the source of its images (its copies need no tags here),
                # but an SBOM step must find this image's attestations without a registry.
                self._copy_attestations(ref, image)
        return image

    def pull_many(
        self, refs: Iterable[ImageSource], platform: Platform, *, fallback: bool = False
    ) -> list[PulledImage]:
        """Pull several images, their blobs fetched concurrently and each digest once.

        Returns the images in the order of ``refs``; the first failure is raised after
        every running download has finished.
        """
        refs = list(refs)
        with ThreadPoolExecutor(self._max, thread_name_prefix="moby-assemble-pull") as pool:
            futures = [pool.submit(self.pull, ref, platform, fallback=fallback) for ref in refs]
            wait(futures)
        return [f.result() for f in futures]

    def resolve(
        self,
        ref: ImageSource,
        platform: Platform | None = None,
        *,
        fallback: bool = False,
    ) -> str:
        """The digest ``ref`` points at now (index or manifest), for pinning in a lock.

        A tag is resolved with ``HEAD`` (cheap, and not counted by Docker Hub's rate
        limit). With ``platform``, the image is also checked to offer it: the index comes
        from the store when cached, else it is fetched and cached. Offline the store's
        tag is used. A layout's tag is looked up in its ``index.json``, offline or not.

        Raises:
            OfflineError: offline and the store does not know ``ref``.
            StoreError: a layout does not have the tag or digest (naming the layout).
            PlatformError: ``platform`` given and not offered.
        """
        ref = _anchored(ref)
        if ref.digest is not None and platform is None:
            return ref.digest
        if self._is_offline(ref):
            assert isinstance(ref, ImageReference)
            desc = self._stored_top_descriptor(ref)
        elif ref.digest is not None:
            desc = Descriptor(MediaType.OCI_MANIFEST, ref.digest, 0)
        else:
            desc = self._head(ref)
        if platform is not None:
            top = self._top_by_digest(ref, desc)
            if top.is_index:
                self._select(ref, top, platform, fallback, 0)
            else:
                self._check_single_platform(ref, top, platform, fallback)
        return desc.digest

    # -- sources: a registry, or an OCI layout on disk ---------------------------------------

    def _is_offline(self, ref: ImageSource) -> bool:
        """True when what ``ref`` needs must already be in the store (never for a layout)."""
        return self.offline if isinstance(ref, ImageReference) else False

    def _layout(self, ref: LayoutReference) -> Store:
        """The layout ``ref`` names, opened once per puller (read-only)."""
        with self._lock:
            layout = self._layouts.get(ref.path)
            if layout is None:
                layout = self._layouts[ref.path] = ref.open_source()
            return layout

    def _head(self, ref: ImageSource) -> Descriptor:
        """What a tag points at: a HEAD request, or the layout's ``index.json`` entry."""
        if isinstance(ref, LayoutReference):
            return ref.resolve(self._layout(ref))
        assert self._client is not None
        return self._client.head_manifest(ref)

    def _get_manifest(
        self, ref: ImageSource, desc: Descriptor, expected: Descriptor | None
    ) -> Manifest:
        """The document ``desc`` names, from the registry or the layout, verified."""
        if isinstance(ref, LayoutReference):
            data = read_layout_document(
                ref, self._layout(ref), desc, max_size=DEFAULT_MAX_MANIFEST_SIZE
            )
            return Manifest.parse(
                data,
                content_type=expected.media_type if expected is not None else None,
                digest=desc.digest,
                size=expected.size if expected is not None else None,
                reference=str(ref),
            )
        assert self._client is not None
        return self._client.get_manifest(ref.with_digest(desc.digest), expected=expected)

    def _copy_attestations(self, ref: LayoutReference, image: PulledImage) -> None:
        """Copy the attestation manifests (and their blobs) about ``image``'s manifest that
        the layout's index lists directly and the layout holds."""
        assert image.index is not None
        index = self._stored(ref, image.index.digest, image.index, str(ref))
        subject = image.manifest.digest
        for entry in index.manifests:
            if not is_attestation(entry):
                continue
            if entry.annotation_dict.get(_ATTESTATION_SUBJECT) != subject:
                continue
            what = f"attestation {entry.digest} of {ref}"
            try:
                manifest = self._document(ref, entry, what)
                blobs = (manifest.config, *manifest.layers)
                self._wait([self._ensure_blob(ref, d, image.platform) for d in blobs])
            except StoreError as e:
                # Not every copy of a layout keeps attestations; an SBOM then says so.
                _LOG.debug("%s: not copied (%s)", what, e)

    # -- manifests ------------------------------------------------------------------------

    def _resolve_image(
        self, ref: ImageSource, platform: Platform, fallback: bool
    ) -> tuple[PulledImage, Descriptor]:
        top = self._top(ref)
        index_desc = None
        manifest = top
        if top.is_index:
            index_desc = top.descriptor
            chosen = self._select(ref, top, platform, fallback, 0)
            manifest = self._document(ref, chosen, f"{ref} for {platform}")
            if manifest.is_index:
                raise UnsupportedError(
                    f"{ref}: the entry for {platform} ({chosen.digest}) is an index, "
                    "not an image manifest",
                    reference=str(ref),
                )
            manifest_desc = attrs.evolve(manifest.descriptor, platform=chosen.platform)
        else:
            manifest_desc = manifest.descriptor
        config_desc, config = self._config(ref, manifest, platform)
        image_platform = manifest_desc.platform or self._config_platform(config)
        if index_desc is None:
            image_platform = self._check_platform(ref, image_platform, platform, fallback)
        assert image_platform is not None
        image = PulledImage(
            # A LayoutReference too: see the note on PulledImage.reference.
            reference=cast("ImageReference", ref),
            platform=image_platform,
            index=index_desc,
            manifest=manifest_desc,
            config_descriptor=config_desc,
            config=config,
            layers=manifest.layers,
        )
        return image, top.descriptor

    def _top(self, ref: ImageSource) -> Manifest:
        """The document ``ref`` points at, from the store when that is safe."""
        if self._is_offline(ref):
            assert isinstance(ref, ImageReference)
            return self._top_by_digest(ref, self._stored_top_descriptor(ref))
        if ref.digest is not None and self._store.has_blob(ref.digest):
            return self._top_by_digest(ref, Descriptor(MediaType.OCI_MANIFEST, ref.digest, 0))
        # HEAD first: when the tag still points at what we have, no body is transferred.
        desc = (
            self._head(ref)
            if ref.digest is None
            else Descriptor(MediaType.OCI_MANIFEST, ref.digest, 0)
        )
        return self._top_by_digest(ref, desc)

    def _top_by_digest(self, ref: ImageSource, desc: Descriptor) -> Manifest:
        # ``desc.size`` is 0 when only the digest is known.
        expected = desc if desc.size else None
        if self._store.has_blob(desc.digest):
            return self._stored(ref, desc.digest, expected, str(ref))
        if self._is_offline(ref):
            raise self._offline_missing(ref, f"manifest {desc.digest}")
        manifest = self._get_manifest(ref, desc, expected)
        self._store.ingest_bytes(manifest.descriptor, manifest.data)
        return manifest

    def _document(self, ref: ImageSource, desc: Descriptor, what: str) -> Manifest:
        """A child manifest or index named by an index entry."""
        if desc.size > DEFAULT_MAX_MANIFEST_SIZE:
            raise UnsupportedError(
                f"{what}: manifest {desc.digest} of {desc.size} bytes exceeds the limit of "
                f"{DEFAULT_MAX_MANIFEST_SIZE} bytes",
                reference=str(ref),
            )
        if self._store.has_blob(desc.digest):
            return self._stored(ref, desc.digest, desc, what)
        if self._is_offline(ref):
            raise self._offline_missing(ref, f"manifest {desc.digest} ({what})")
        manifest = self._get_manifest(ref, desc, desc)
        self._store.ingest_bytes(manifest.descriptor, manifest.data)
        return manifest

    def _stored(
        self, ref: ImageSource, digest: str, expected: Descriptor | None, what: str
    ) -> Manifest:
        data = self._store.read_blob(digest, max_size=DEFAULT_MAX_MANIFEST_SIZE)
        return Manifest.parse(
            data,
            content_type=expected.media_type if expected is not None else None,
            digest=digest,
            size=expected.size if expected is not None else None,
            reference=what,
        )

    def _stored_top_descriptor(self, ref: ImageReference) -> Descriptor:
        try:
            if ref.digest is not None:
                return self._store.resolve_digest(ref.digest)
            name = _tag_name(ref)
            assert name is not None
            return self._store.resolve(name)
        except OfflineError:
            raise
        except StoreError as e:
            raise OfflineError(
                f"offline: image {ref} is not in the store {self._store.path} ({e})",
                reference=str(ref),
                path=str(self._store.path),
            ) from None

    def _offline_missing(self, ref: ImageSource, what: str) -> OfflineError:
        return OfflineError(
            f"offline: {what} of image {ref} is not in the store {self._store.path}",
            reference=str(ref),
            path=str(self._store.path),
        )

    def _select(
        self, ref: ImageSource, index: Manifest, platform: Platform, fallback: bool, depth: int
    ) -> Descriptor:
        """The image entry for ``platform``, searching nested indexes after direct entries."""
        try:
            return index.select_platform(platform, fallback=fallback, reference=str(ref))
        except PlatformError as e:
            available = list(e.available)
        for nested in index.nested_indexes:
            if depth >= _MAX_NESTING:
                raise UnsupportedError(
                    f"{ref}: indexes nested more than {_MAX_NESTING} deep", reference=str(ref)
                )
            child = self._document(ref, nested, f"{ref} nested index {nested.digest}")
            if not child.is_index:
                continue
            try:
                return self._select(ref, child, platform, fallback, depth + 1)
            except PlatformError as e:
                available += [p for p in e.available if p not in available]
        raise PlatformError(
            f"{ref}: no image for platform {platform}"
            + (" (or a compatible one)" if fallback else "")
            + f"; available: {', '.join(available) if available else 'none'}",
            reference=str(ref),
            wanted=str(platform),
            available=tuple(available),
        )

    # -- config and platform ----------------------------------------------------------------

    def _config(
        self, ref: ImageSource, manifest: Manifest, platform: Platform
    ) -> tuple[Descriptor, Mapping[str, Any]]:
        desc = manifest.config
        if desc.media_type not in MediaType.CONFIGS:
            # An artifact: its config is opaque bytes that we must not interpret.
            self._wait([self._ensure_blob(ref, desc, platform)])
            return desc, {}
        if desc.size > MAX_CONFIG_SIZE:
            raise UnsupportedError(
                f"{ref}: image config {desc.digest} of {desc.size} bytes exceeds the limit "
                f"of {MAX_CONFIG_SIZE} bytes",
                reference=str(ref),
            )
        self._wait([self._ensure_blob(ref, desc, platform)])
        data = self._store.read_blob(desc.digest, max_size=MAX_CONFIG_SIZE)
        try:
            config = loads_json(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise UnsupportedError(
                f"{ref}: image config {desc.digest} is not valid JSON ({e})", reference=str(ref)
            ) from None
        if not isinstance(config, dict):
            raise UnsupportedError(
                f"{ref}: image config {desc.digest} is not a JSON object", reference=str(ref)
            )
        return desc, config

    @staticmethod
    def _config_platform(config: Mapping[str, Any]) -> Platform | None:
        os_name, arch = config.get("os"), config.get("architecture")
        if not isinstance(os_name, str) or not isinstance(arch, str):
            return None
        variant = config.get("variant")
        try:
            return Platform(os_name, arch, variant if isinstance(variant, str) else None)
        except PlatformError:
            return None

    def _check_single_platform(
        self, ref: ImageSource, manifest: Manifest, platform: Platform, fallback: bool
    ) -> None:
        _, config = self._config(ref, manifest, platform)
        self._check_platform(ref, self._config_platform(config), platform, fallback)

    @staticmethod
    def _check_platform(
        ref: ImageSource, have: Platform | None, want: Platform, fallback: bool
    ) -> Platform:
        """A single-platform image must be for the wanted platform (or say none)."""
        if have is None:
            # Artifacts and odd images without os/architecture: take them as they are.
            return want
        candidates = want.compatible() if fallback else (want,)
        if any(c.matches(have) for c in candidates):
            return have
        raise PlatformError(
            f"{ref}: no image for platform {want}"
            + (" (or a compatible one)" if fallback else "")
            + f"; available: {have} (a single-platform image)",
            reference=str(ref),
            wanted=str(want),
            available=(str(have),),
        )

    # -- blobs ----------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self._max, thread_name_prefix="moby-assemble-blob"
                )
            return self._executor

    def _ensure_blob(self, ref: ImageSource, desc: Descriptor, platform: Platform) -> Future[None]:
        """A future for ``desc`` being in the store, shared by everyone who needs it."""
        done: Future[None] = Future()
        with self._lock:
            running = self._inflight.get(desc.digest)
            if running is not None:
                return running
            cached = self._store.has_blob(desc.digest)
            if not cached and not self._is_offline(ref):
                return self._start_download(ref, desc)
        if cached:
            self._emit(BlobFinished(desc.digest, desc.size, cached=True))
            done.set_result(None)
        else:
            done.set_exception(self._offline_missing(ref, f"blob {desc.digest} ({platform})"))
        return done

    def _start_download(self, ref: ImageSource, desc: Descriptor) -> Future[None]:
        with self._lock:
            future = self._pool().submit(self._download, ref, desc)
            self._inflight[desc.digest] = future
            # Forget it once settled: a later caller then finds the blob in the store, or
            # (after a failure) tries again.
            future.add_done_callback(functools.partial(self._forget, desc.digest))
            return future

    def _forget(self, digest: str, _future: object = None) -> None:
        with self._lock:
            self._inflight.pop(digest, None)

    def _download(self, ref: ImageSource, desc: Descriptor) -> None:
        self._emit(BlobStarted(str(ref), desc.digest, desc.size, desc.media_type))
        if isinstance(ref, LayoutReference):
            # Streams from the layout into the store; the store's writer verifies it.
            copy_layout_blob(ref, self._layout(ref), desc, self._store)
            _LOG.debug("copied blob %s (%d bytes) from %s", desc.digest, desc.size, ref)
        else:
            progress = None
            if self._progress is not None:

                def progress(done: int) -> None:
                    self._emit(BlobProgress(desc.digest, done, desc.size))

            assert self._client is not None
            with self._store.blob_writer(desc) as writer:
                self._client.fetch_blob(ref, desc, writer, progress=progress)
            _LOG.debug("fetched blob %s (%d bytes) for %s", desc.digest, desc.size, ref)
        self._emit(BlobFinished(desc.digest, desc.size))

    @staticmethod
    def _wait(futures: Sequence[Future[None]]) -> None:
        if not futures:
            return
        # Let every download finish before reporting, so nothing writes after we return.
        wait(futures)
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error

    def _emit(self, event: BlobStarted | BlobProgress | BlobFinished) -> None:
        if self._progress is not None:
            self._progress(event)

    def _tag(self, ref: ImageReference, top: Descriptor) -> None:
        plain = attrs.evolve(top, platform=None, annotations=())
        name = _tag_name(ref)
        if name is not None:
            self._store.tag(name, plain)
        self._store.tag(f"{ref.name}@{top.digest}", plain)
