"""Finding images for the CLI: names in the cache, OCI layouts, registries.

People name cached images the way they pulled them (``alpine``, ``127.0.0.1:5000/app:1``),
while the store tags them by their full name (``docker.io/library/alpine:latest``, plus
``…@sha256:…``). :func:`store_name` bridges the two. :class:`ImageSource` reads manifests
and configs from a store or a registry alike, for ``inspect``.

Example::

    name = store_name(store, "alpine")             # 'docker.io/library/alpine:latest'
    source = StoreSource(store)
    top = source.manifest(store.resolve(name))
"""

from __future__ import annotations

from typing import Protocol

import attrs

from .._errors import ImageReferenceError, StoreError, UnsupportedError
from .._oci import Descriptor, MediaType
from .._platform import Platform
from ..registry import ImageReference, Manifest, RegistryClient
from ..registry._pull import MAX_CONFIG_SIZE
from ..store import Store
from ..store._layout import MAX_DOCUMENT_SIZE

__all__ = [
    "ImageSource",
    "RegistrySource",
    "StoreSource",
    "reference_store_name",
    "select_manifest",
    "store_name",
]


def reference_store_name(ref: ImageReference) -> str:
    """The tag a pull gives ``ref`` in the store (``name@digest`` when pinned)."""
    if ref.digest is not None:
        return f"{ref.name}@{ref.digest}"
    return f"{ref.name}:{ref.tag or 'latest'}"


def store_name(store: Store, text: str) -> str:
    """The store tag ``text`` means: itself if it is one, else the tag of the reference it
    parses as.

    Raises:
        StoreError / OfflineError: not in the store (the message lists what is).
        ImageReferenceError: neither a tag of the store nor a valid reference.
    """
    names = store.names()
    if text in names:
        return text
    try:
        name = reference_store_name(ImageReference.parse(text))
    except ImageReferenceError:
        store.resolve(text)  # raises the store's "not in the store (tags: …)" error
        raise
    store.resolve(name)  # raises if missing
    return name


class MemorySink:
    """A :class:`~moby_assemble.registry.BlobSink` in memory, for small documents."""

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self._limit = limit

    @property
    def offset(self) -> int:
        return len(self.data)

    def write(self, data: bytes, /) -> None:
        if len(self.data) + len(data) > self._limit:
            raise UnsupportedError(f"blob larger than {self._limit} bytes")
        self.data += data

    def reset(self) -> None:
        self.data.clear()


class ImageSource(Protocol):
    """Where ``inspect`` reads documents from."""

    def top(self) -> Manifest:
        """The manifest or index the name points at."""
        ...

    def manifest(self, desc: Descriptor) -> Manifest:
        """A manifest or index by descriptor."""
        ...

    def config(self, desc: Descriptor) -> bytes:
        """A config blob (small)."""
        ...


class StoreSource:
    """Documents from a store (a cache or any OCI layout), re-verified as they are read."""

    def __init__(self, store: Store, name: str | None, digest: str | None = None) -> None:
        self._store = store
        self._name = name
        self._digest = digest

    def top(self) -> Manifest:
        if self._digest is not None:
            desc = self._store.resolve_digest(self._digest)
        elif self._name is not None:
            desc = self._store.resolve(self._name)
        else:
            entries = self._store.entries()
            if len(entries) != 1:
                raise StoreError(
                    f"{self._store.path} holds {len(entries)} images; name one with :TAG",
                    path=str(self._store.path),
                )
            desc = entries[0].descriptor
        return self.manifest(desc)

    def manifest(self, desc: Descriptor) -> Manifest:
        data = self._store.read_blob(desc.digest, max_size=MAX_DOCUMENT_SIZE)
        return Manifest.parse(
            data, content_type=desc.media_type, digest=desc.digest, reference=desc.digest
        )

    def config(self, desc: Descriptor) -> bytes:
        return self._store.read_blob(desc.digest, max_size=MAX_CONFIG_SIZE)


class RegistrySource:
    """Documents from a registry, verified against their digests."""

    def __init__(self, client: RegistryClient, ref: ImageReference) -> None:
        self._client = client
        self._ref = ref

    def top(self) -> Manifest:
        return self._client.get_manifest(self._ref)

    def manifest(self, desc: Descriptor) -> Manifest:
        return self._client.get_manifest(self._ref.with_digest(desc.digest), expected=desc)

    def config(self, desc: Descriptor) -> bytes:
        if desc.size > MAX_CONFIG_SIZE:
            raise UnsupportedError(
                f"{self._ref}: config {desc.digest} is {desc.size} bytes, more than "
                f"{MAX_CONFIG_SIZE}",
                registry=self._ref.registry,
                reference=str(self._ref),
            )
        sink = MemorySink(desc.size)
        self._client.fetch_blob(self._ref, desc, sink)
        return bytes(sink.data)


def select_manifest(
    source: ImageSource, top: Manifest, platform: Platform | None, reference: str
) -> Manifest | None:
    """The image manifest to show: ``top`` itself, or the index entry for ``platform``.

    Without ``platform`` an index yields the host's image if it has one, else ``None`` (the
    index alone is shown).
    """
    if not top.is_index:
        return top
    wanted = platform if platform is not None else Platform.host()
    if platform is None and not any(wanted.matches(p) for p in top.platforms()):
        return None
    desc = top.select_platform(wanted, reference=reference)
    chosen = source.manifest(desc)
    if chosen.descriptor.media_type not in MediaType.MANIFESTS:
        raise UnsupportedError(
            f"{reference}: the entry for {wanted} ({desc.digest}) is not an image manifest",
            reference=reference,
        )
    # Fetched by digest, the manifest does not know which platform the index chose it for.
    return attrs.evolve(chosen, descriptor=attrs.evolve(chosen.descriptor, platform=desc.platform))
