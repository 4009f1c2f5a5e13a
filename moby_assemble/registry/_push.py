"""Pushing to a registry: blobs, manifests, whole images from the store, ORAS artifacts.

Order follows the distribution spec: blobs (config, layers) first, then manifests (children
before the index that lists them), each manifest by digest, and only then the tag, so a tag
never points at something incomplete.

Example::

    with RegistryClient() as client:
        ref = ImageReference.parse("127.0.0.1:5000/tools/app:1.0")
        push_from_store(client, store, store.resolve("app:1.0"), ref)

Blob uploads are streamed (memory does not grow with the blob), hashed on the way and
checked against the descriptor before the last byte leaves; see :func:`push_blob`.
"""

from __future__ import annotations

import enum
import io
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs

from .._errors import IntegrityError, RegistryError
from .._oci import EMPTY_DESCRIPTOR, Descriptor, MediaType
from .._parse import loads_json
from ..store._graph import is_document, referenced_descriptors
from ._blobs import ProgressFn
from ._push_upload import upload_blob
from ._reference import ImageReference
from ._referrers import add_referrer, referrer_entry

if TYPE_CHECKING:
    from ..store import Store
    from ._client import RegistryClient

__all__ = [
    "ORAS_TITLE",
    "BlobPushResult",
    "attach_referrer",
    "push_artifact",
    "push_blob",
    "push_bytes",
    "push_from_store",
    "push_manifest",
    "push_scopes",
]

_LOG = logging.getLogger("moby_assemble.registry")

#: The annotation ORAS (and oras-py) use for a file's name inside an artifact.
ORAS_TITLE = "org.opencontainers.image.title"
#: The media type ORAS gives plain files by default.
_ORAS_FILE = "application/vnd.oci.image.layer.v1.tar"
#: Layers we must never upload (the image spec: "MUST NOT be uploaded").
_NON_DISTRIBUTABLE = frozenset(
    {
        MediaType.OCI_LAYER_NONDIST,
        MediaType.OCI_LAYER_NONDIST_GZIP,
        MediaType.OCI_LAYER_NONDIST_ZSTD,
        MediaType.DOCKER_LAYER_FOREIGN_GZIP,
    }
)
_MAX_DOCUMENT = 4 * 1024 * 1024


class BlobPushResult(enum.StrEnum):
    """What :func:`push_blob` had to do."""

    #: The repository already had the blob (HEAD answered 200): nothing was sent.
    EXISTS = "exists"
    #: The registry linked it from another repository (cross-repository mount).
    MOUNTED = "mounted"
    #: The bytes were uploaded.
    UPLOADED = "uploaded"


def push_scopes(ref: ImageReference, mount_from: Iterable[str] = ()) -> tuple[str, ...]:
    """Token scopes for pushing to ``ref``: pull+push on it, pull on every mount source.

    Example::

        >>> push_scopes(ImageReference.parse("r.io/a/b:1"), ["a/c"])
        ('repository:a/b:pull,push', 'repository:a/c:pull')
    """
    sources = sorted({s for s in mount_from if s != ref.repository})
    return (f"repository:{ref.repository}:pull,push", *(f"repository:{s}:pull" for s in sources))


def push_blob(
    client: RegistryClient,
    ref: ImageReference,
    desc: Descriptor,
    open_source: Callable[[], BinaryIO],
    *,
    mount_from: Sequence[str] = (),
    chunk_size: int | None = None,
    progress: ProgressFn | None = None,
) -> BlobPushResult:
    """Make the blob ``desc`` exist in ``ref``'s repository.

    1. ``HEAD`` the blob: if it is there, nothing else happens.
    2. For each repository in ``mount_from`` (same registry), ask for a cross-repository
       mount (``POST ?mount=<digest>&from=<repo>``); a registry that declines opens an upload
       session instead, which is then used.
    3. Otherwise upload: one streamed ``PUT`` (monolithic), or, with ``chunk_size`` or when
       the registry answers 413 to the monolithic upload, ``PATCH`` chunks of at least the
       registry's ``OCI-Chunk-Min-Length``, following the newest ``Location`` and recovering
       from 416 and dropped connections by asking the session where it stands.

    Args:
        client: the registry client.
        ref: the target repository (tag and digest are ignored).
        desc: the blob's descriptor: exactly ``desc.size`` bytes are sent and they must hash
            to ``desc.digest``, else :class:`IntegrityError` before the upload completes.
        open_source: opens the content from its start (called again to resume or retry;
            seekable streams are seeked, others read forward).
        mount_from: repositories on the same registry that may already hold the blob,
            tried in order.
        chunk_size: upload in chunks of this many bytes instead of one request.
        progress: called with the number of bytes sent so far.

    Raises:
        IntegrityError: the source does not match ``desc``, or the registry reports
            another digest.
        RegistryError: and its subclasses, when the registry refuses.
    """
    scopes = push_scopes(ref, mount_from)
    if _blob_exists(client, ref, desc, scopes):
        _LOG.debug("blob %s already in %s", desc.digest, ref.name)
        return BlobPushResult.EXISTS
    location: str | None = None
    for source_repo in dict.fromkeys(r for r in mount_from if r != ref.repository):
        if location is not None:
            _cancel_session(client, ref, location, scopes)
        response = client.request(
            "POST",
            ref,
            "blobs/uploads/",
            scopes=scopes,
            params={"mount": desc.digest, "from": source_repo},
            idempotent=True,
            expect=(201, 202),
        )
        if response.status_code == 201:
            _check_digest_header(response.headers.get("Docker-Content-Digest"), desc, ref)
            _LOG.info("mounted blob %s into %s from %s", desc.digest, ref.name, source_repo)
            return BlobPushResult.MOUNTED
        # Declined (e.g. the source does not have it): the answer is a fresh upload session,
        # used for the upload unless the next source mounts.
        location = response.headers.get("Location")
    upload_blob(
        client,
        ref,
        desc,
        open_source,
        scopes=scopes,
        location=location,
        chunk_size=chunk_size,
        progress=progress,
    )
    return BlobPushResult.UPLOADED


def push_bytes(
    client: RegistryClient, ref: ImageReference, desc: Descriptor, data: bytes
) -> BlobPushResult:
    """:func:`push_blob` for content already in memory (configs, small files)."""
    return push_blob(client, ref, desc, lambda: io.BytesIO(data))


def _blob_exists(
    client: RegistryClient, ref: ImageReference, desc: Descriptor, scopes: Sequence[str]
) -> bool:
    response = client.request("HEAD", ref, f"blobs/{desc.digest}", scopes=scopes, expect=(200, 404))
    return response.status_code == 200


def _cancel_session(
    client: RegistryClient, ref: ImageReference, location: str, scopes: Sequence[str]
) -> None:
    # Best effort: an abandoned session only costs the registry some space until it expires.
    try:
        client.request("DELETE", ref, "", scopes=scopes, url=location, expect=(202, 204, 404))
    except RegistryError as e:
        _LOG.debug("could not cancel upload session for %s: %s", ref.name, e)


def _check_digest_header(header: str | None, desc: Descriptor, ref: ImageReference) -> None:
    # Only comparable when the registry hashed with the same algorithm.
    same_algorithm = header is not None and header.split(":")[0] == desc.digest.split(":")[0]
    if same_algorithm and header != desc.digest:
        raise IntegrityError(
            f"{ref.name}: registry {ref.registry} stored {header} for {desc.digest}",
            digest=desc.digest,
            actual=header,
            subject=f"{ref.name}@{desc.digest}",
        )


# -- manifests ----------------------------------------------------------------------------


def _put_manifest(
    client: RegistryClient,
    ref: ImageReference,
    reference: str,
    desc: Descriptor,
    data: bytes,
) -> dict[str, str]:
    response = client.request(
        "PUT",
        ref,
        f"manifests/{reference}",
        scopes=push_scopes(ref),
        headers={"Content-Type": desc.media_type},
        content=data,
        expect=(201,),
    )
    _check_digest_header(response.headers.get("Docker-Content-Digest"), desc, ref)
    return dict(response.headers)


def push_manifest(
    client: RegistryClient,
    ref: ImageReference,
    data: bytes,
    media_type: str,
    *,
    tag: str | None = None,
) -> Descriptor:
    """PUT a manifest or index with its exact bytes: by digest, then under the tag.

    The tag is ``tag`` if given, else ``ref.tag`` (none: pushed by digest only). When the
    document has a ``subject`` and the registry does not confirm it with ``OCI-Subject``
    (no referrers API), the subject's fallback referrers index is updated too.

    Args:
        client: the registry client.
        ref: the target repository (and tag); a digest in it must match ``data``.
        data: the exact bytes (never re-serialised).
        media_type: the document's media type (sent as ``Content-Type``).
        tag: the tag to point at it.

    Returns:
        The manifest's descriptor (media type, digest of ``data``, size).

    Raises:
        IntegrityError: ``ref`` is pinned to another digest, or the registry reports one.
        RegistryError: the registry refused (e.g. ``MANIFEST_BLOB_UNKNOWN``).
    """
    desc = Descriptor.for_bytes(media_type, data)
    if ref.digest is not None and ref.digest != desc.digest:
        raise IntegrityError(
            f"{ref}: the manifest to push hashes to {desc.digest}",
            digest=ref.digest,
            actual=desc.digest,
            subject=str(ref),
        )
    headers = _put_manifest(client, ref, desc.digest, desc, data)
    _record_subject(client, ref, desc, data, headers)
    name = tag if tag is not None else ref.tag
    if name:
        _put_manifest(client, ref, name, desc, data)
    _LOG.info("pushed manifest %s to %s%s", desc.digest, ref.name, f":{name}" if name else "")
    return desc


def _subject_digest(data: bytes) -> str | None:
    try:
        doc = loads_json(data)
    except (ValueError, UnicodeDecodeError):
        return None
    subject = doc.get("subject") if isinstance(doc, dict) else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


def _record_subject(
    client: RegistryClient,
    ref: ImageReference,
    desc: Descriptor,
    data: bytes,
    headers: Mapping[str, str],
) -> None:
    subject = _subject_digest(data)
    if subject is None:
        return
    lower = {k.lower() for k in headers}
    if "oci-subject" in lower:
        return  # the registry indexes referrers itself
    add_referrer(client, ref, subject, referrer_entry(desc, data))


def attach_referrer(
    client: RegistryClient,
    ref: ImageReference,
    data: bytes,
    media_type: str = MediaType.OCI_MANIFEST,
    *,
    tag: str | None = None,
) -> Descriptor:
    """Push a manifest that refers to another one through its ``subject`` field.

    Like :func:`push_manifest` (``ref``'s tag is *not* applied unless ``tag`` is given,
    referrers are usually found through their subject), and checks that there is a subject.
    On registries without the referrers API the subject's fallback index gets an entry
    (once, however often the same referrer is attached).

    Raises:
        ValueError: ``data`` has no ``subject``.
    """
    if _subject_digest(data) is None:
        raise ValueError(f"referrer for {ref.name} has no 'subject' field")
    return push_manifest(
        client, attrs.evolve(ref, tag=None, digest=None), data, media_type, tag=tag
    )


# -- whole images -------------------------------------------------------------------------


class _StorePusher:
    """Pushes a graph of store content once per digest, blobs in parallel."""

    def __init__(
        self,
        client: RegistryClient,
        store: Store,
        ref: ImageReference,
        *,
        mount_from: Sequence[str],
        chunk_size: int | None,
        max_workers: int,
    ) -> None:
        self.client = client
        self.store = store
        self.ref = attrs.evolve(ref, tag=None, digest=None)
        self.mount_from = mount_from
        self.chunk_size = chunk_size
        self.max_workers = max_workers
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def _claim(self, digest: str) -> bool:
        with self._lock:
            if digest in self._done:
                return False
            self._done.add(digest)
            return True

    def blob(self, desc: Descriptor) -> None:
        if desc.media_type in _NON_DISTRIBUTABLE or not self._claim(desc.digest):
            return
        push_blob(
            self.client,
            self.ref,
            desc,
            lambda: self.store.open_blob(desc.digest, verify=False),
            mount_from=self.mount_from,
            chunk_size=self.chunk_size,
        )

    def document(self, desc: Descriptor) -> bytes:
        """Push a manifest or index and everything below it; return its bytes."""
        data = self.store.read_blob(desc.digest, max_size=_MAX_DOCUMENT)
        if not self._claim(desc.digest):
            return data
        children = referenced_descriptors(desc.media_type, data, subject=desc.digest)
        if desc.media_type in MediaType.INDEXES:
            for child in children:
                if is_document(child.media_type):
                    self.document(child)
                else:
                    # An index entry of a type we cannot walk: push it as an opaque manifest.
                    self._manifest_only(child)
        elif children:
            with ThreadPoolExecutor(self.max_workers, thread_name_prefix="push") as pool:
                for future in [pool.submit(self.blob, c) for c in children]:
                    future.result()
        push_manifest(self.client, self.ref, data, desc.media_type)
        return data

    def _manifest_only(self, desc: Descriptor) -> None:
        if self._claim(desc.digest):
            data = self.store.read_blob(desc.digest, max_size=_MAX_DOCUMENT)
            push_manifest(self.client, self.ref, data, desc.media_type)


def push_from_store(
    client: RegistryClient,
    store: Store,
    desc: Descriptor,
    ref: ImageReference,
    *,
    tag: str | None = None,
    mount_from: Sequence[str] = (),
    chunk_size: int | None = None,
    max_workers: int = 4,
) -> Descriptor:
    """Push an image or a whole index (every child) from the store to ``ref``.

    Blobs go first (in parallel, each once, existing ones skipped, mounted from
    ``mount_from`` where possible, non-distributable layers never uploaded), then manifests
    by digest (children before their index), then the tag (``tag``, else ``ref.tag``).
    Referrers (``subject``) are not followed.

    Args:
        client: the registry client.
        store: where the content is (``store.resolve(name)`` gives ``desc``).
        desc: the manifest or index to push.
        ref: the target repository and tag.
        tag: the tag to set, overriding ``ref.tag``.
        mount_from: repositories on the same registry to mount blobs from.
        chunk_size: upload blobs in chunks (see :func:`push_blob`).
        max_workers: blobs uploaded at the same time.

    Returns:
        ``desc`` as pushed (the digest the tag now points at).

    Raises:
        StoreError: something the image references is not in the store (e.g. an index of
            which only one platform was pulled).
        RegistryError: the registry refused.
    """
    if desc.media_type not in MediaType.INDEXES | MediaType.MANIFESTS:
        raise RegistryError(
            f"{desc.digest} is a {desc.media_type}, not a manifest or index; nothing to push",
            registry=ref.registry,
            reference=str(ref),
        )
    pusher = _StorePusher(
        client, store, ref, mount_from=mount_from, chunk_size=chunk_size, max_workers=max_workers
    )
    data = pusher.document(desc)
    name = tag if tag is not None else ref.tag
    if name:
        _put_manifest(client, pusher.ref, name, desc, data)
        _LOG.info("tagged %s:%s -> %s", ref.name, name, desc.digest)
    return desc


# -- ORAS artifacts -----------------------------------------------------------------------


def _artifact_manifest(
    artifact_type: str,
    layers: Sequence[Descriptor],
    annotations: Mapping[str, str] | None,
    subject: Descriptor | None,
) -> bytes:
    config = attrs.evolve(EMPTY_DESCRIPTOR, data=None).to_json()
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        # The image spec wants at least one layer; an artifact of no files uses the empty one.
        "layers": [d.to_json() for d in layers] or [config],
    }
    if subject is not None:
        doc["subject"] = Descriptor(subject.media_type, subject.digest, subject.size).to_json()
    if annotations:
        doc["annotations"] = dict(annotations)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def push_artifact(
    client: RegistryClient,
    ref: ImageReference,
    files: Mapping[str, bytes],
    artifact_type: str,
    *,
    file_media_type: str = _ORAS_FILE,
    annotations: Mapping[str, str] | None = None,
    subject: Descriptor | None = None,
    tag: str | None = None,
) -> Descriptor:
    """Push files as an ORAS-compatible OCI artifact.

    Each file becomes a layer annotated with its name (``org.opencontainers.image.title``),
    the config is the empty descriptor and the manifest carries ``artifactType``, as
    ``oras push`` does; ``oras pull`` (and oras-py) get the files back by name.

    Example::

        push_artifact(client, ImageReference.parse("127.0.0.1:5000/notes:v1"),
                      {"readme.txt": b"hello"}, "application/vnd.example.notes")

    Args:
        files: file name → content.
        artifact_type: the manifest's ``artifactType``.
        file_media_type: the media type of every file layer.
        annotations: manifest annotations.
        subject: the manifest this artifact is about (then it is a referrer, see
            :func:`attach_referrer`).
        tag: the tag; default ``ref.tag``, except for referrers (with ``subject``), which
            are pushed by digest only unless ``tag`` is given.

    Returns:
        The artifact manifest's descriptor.
    """
    target = attrs.evolve(ref, digest=None)
    push_bytes(client, target, EMPTY_DESCRIPTOR, b"{}")
    layers = []
    for name, content in files.items():
        desc = Descriptor.for_bytes(file_media_type, content, annotations={ORAS_TITLE: name})
        push_bytes(client, target, desc, content)
        layers.append(desc)
    data = _artifact_manifest(artifact_type, layers, annotations, subject)
    if subject is not None:
        # A referrer is found through its subject; only an explicit tag is applied.
        target = attrs.evolve(target, tag=None)
    return push_manifest(client, target, data, MediaType.OCI_MANIFEST, tag=tag)
