"""Find and read the SPDX attestations BuildKit attaches to an image in its index.

``docker buildx build --sbom=true`` adds, next to each image manifest of the index, an
*attestation manifest* (platform ``unknown/unknown``, annotations
``vnd.docker.reference.type: attestation-manifest`` and ``vnd.docker.reference.digest:
<image manifest digest>``) whose layers are in-toto statements
(``application/vnd.in-toto+json``); those annotated ``in-toto.io/predicate-type:
https://spdx.dev/Document`` carry an SPDX JSON document as their predicate.

The puller keeps only what the chosen platform needs, so these documents are read from the
store when they are there and otherwise fetched through a :class:`RegistryClient` and added
to the store (digest and size verified), where a later offline build finds them. Every
document is checked: manifest bytes against their digest, statement size against a cap
before download, and the statement's ``subject`` must name the image's manifest digest.

Example::

    with RegistryClient() as client:
        for att in find_spdx_attestations(pulled, store, client=client):
            print(att.layer, len(att.document.get("packages", [])))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import IntegrityError, OfflineError, UnsupportedError
from .._oci import Descriptor
from .._parse import loads_json
from ..registry import DEFAULT_MAX_MANIFEST_SIZE, Manifest, is_attestation

if TYPE_CHECKING:
    from ..registry import ImageReference, PulledImage, RegistryClient
    from ..store import Store

__all__ = [
    "IN_TOTO_MEDIA_TYPE",
    "MAX_STATEMENT_SIZE",
    "PREDICATE_TYPE_ANNOTATION",
    "REFERENCE_DIGEST_ANNOTATION",
    "SPDX_PREDICATE_TYPE",
    "SpdxAttestation",
    "find_spdx_attestations",
]

_LOG = logging.getLogger("moby_assemble.sbom")

IN_TOTO_MEDIA_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type"
REFERENCE_DIGEST_ANNOTATION = "vnd.docker.reference.digest"
SPDX_PREDICATE_TYPE = "https://spdx.dev/Document"
#: SBOMs of big images run to megabytes; this is far beyond any real one and refused unread.
MAX_STATEMENT_SIZE = 64 * 1024 * 1024
_STATEMENT_TYPE_PREFIX = "https://in-toto.io/Statement/"
#: As deep as the puller searches nested indexes.
_MAX_NESTING = 4


@attrs.frozen
class SpdxAttestation:
    """One SPDX document attested for an image.

    Attributes:
        subject: the image manifest digest the statement is about.
        manifest: the attestation manifest's digest.
        layer: the in-toto statement blob's digest.
        document: the SPDX document (the statement's predicate; do not modify).
    """

    subject: str
    manifest: str
    layer: str
    document: Mapping[str, Any] = attrs.field(eq=False, hash=False, repr=False)


class _Reader:
    """Documents and blobs of one image's repository: from the store, else fetched."""

    def __init__(self, ref: ImageReference, store: Store, client: RegistryClient | None) -> None:
        self.ref = ref
        self.store = store
        self.client = client

    def _offline(self, what: str) -> OfflineError:
        return OfflineError(
            f"{what} of image {self.ref} is not in the store {self.store.path} and there is "
            "no registry client to fetch it (give the SBOM generator a client, or build "
            "once online)",
            reference=str(self.ref),
            path=str(self.store.path),
        )

    def manifest(self, desc: Descriptor, what: str) -> Manifest:
        if desc.size > DEFAULT_MAX_MANIFEST_SIZE:
            raise UnsupportedError(
                f"{what}: manifest {desc.digest} of {desc.size} bytes exceeds the limit of "
                f"{DEFAULT_MAX_MANIFEST_SIZE} bytes",
                reference=str(self.ref),
            )
        if self.store.has_blob(desc.digest):
            data = self.store.read_blob(desc.digest, max_size=DEFAULT_MAX_MANIFEST_SIZE)
            return Manifest.parse(
                data,
                content_type=desc.media_type,
                digest=desc.digest,
                size=desc.size,
                reference=what,
            )
        if self.client is None or self.store.offline:
            raise self._offline(f"{what} ({desc.digest})")
        manifest = self.client.get_manifest(self.ref.with_digest(desc.digest), expected=desc)
        self.store.ingest_bytes(manifest.descriptor, manifest.data)
        return manifest

    def blob(self, desc: Descriptor, what: str, max_size: int) -> bytes:
        if desc.size > max_size:
            raise UnsupportedError(
                f"{what}: {desc.digest} is {desc.size} bytes, more than the {max_size} allowed",
                reference=str(self.ref),
            )
        if not self.store.has_blob(desc.digest):
            if self.client is None or self.store.offline:
                raise self._offline(f"{what} ({desc.digest})")
            with self.store.blob_writer(desc) as writer:
                self.client.fetch_blob(self.ref, desc, writer)
        return self.store.read_blob(desc.digest, max_size=max_size)


def _attestation_entries(
    reader: _Reader, index: Manifest, manifest_digest: str, depth: int
) -> list[Descriptor]:
    found = [
        d
        for d in index.manifests
        if is_attestation(d)
        and d.annotation_dict.get(REFERENCE_DIGEST_ANNOTATION) == manifest_digest
    ]
    # The puller stores the nested indexes it descended into; one not in the store did not
    # hold this image, so there is nothing to fetch for it.
    for nested in index.nested_indexes:
        if depth < _MAX_NESTING and reader.store.has_blob(nested.digest):
            child = reader.manifest(nested, f"nested index {nested.digest}")
            if child.is_index:
                found += _attestation_entries(reader, child, manifest_digest, depth + 1)
    return found


def _statement_document(
    data: bytes, layer: Descriptor, subject: str, where: str
) -> Mapping[str, Any]:
    try:
        statement = loads_json(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise UnsupportedError(f"{where}: not valid JSON ({e})", reference=where) from None
    if not isinstance(statement, dict):
        raise UnsupportedError(f"{where}: not a JSON object", reference=where)
    kind = statement.get("_type")
    if not isinstance(kind, str) or not kind.startswith(_STATEMENT_TYPE_PREFIX):
        raise UnsupportedError(
            f"{where}: not an in-toto statement (_type {kind!r})", reference=where
        )
    if statement.get("predicateType") != layer.annotation_dict.get(PREDICATE_TYPE_ANNOTATION):
        raise UnsupportedError(
            f"{where}: predicateType {statement.get('predicateType')!r} differs from the "
            f"layer's {PREDICATE_TYPE_ANNOTATION} annotation",
            reference=where,
        )
    algorithm, _, encoded = subject.partition(":")
    subjects = statement.get("subject")
    names = (
        [s.get("digest", {}).get(algorithm) for s in subjects if isinstance(s, dict)]
        if isinstance(subjects, list)
        else []
    )
    if encoded not in names:
        raise IntegrityError(
            f"{where}: the statement is not about image manifest {subject} "
            f"(its subjects: {', '.join(str(n) for n in names) or 'none'})",
            digest=subject,
            subject=where,
        )
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise UnsupportedError(f"{where}: the predicate is not a JSON object", reference=where)
    return predicate


def find_spdx_attestations(
    image: PulledImage,
    store: Store,
    *,
    client: RegistryClient | None = None,
    max_size: int = MAX_STATEMENT_SIZE,
) -> tuple[SpdxAttestation, ...]:
    """The SPDX documents attested for ``image`` in its index, ordered by statement digest.

    An image pulled without an index (a single manifest) has none. Other attestations
    (provenance) are skipped without being downloaded.

    Args:
        image: what the puller produced (its index and manifest are in ``store``).
        store: the store; fetched attestation documents are added to it.
        client: fetches what the store lacks; ``None`` works from the store only.
        max_size: the largest statement blob read.

    Raises:
        OfflineError: an attestation is not in the store and cannot be fetched.
        IntegrityError: content does not match its digest, or a statement is about
            another image.
        UnsupportedError: a statement or document is malformed or too large.
        RegistryError: from the registry, when fetching.
    """
    if image.index is None:
        return ()
    reader = _Reader(image.reference, store, client)
    subject = image.manifest.digest
    with store.lease():
        index = reader.manifest(image.index, f"index of {image.reference}")
        out = []
        for entry in _attestation_entries(reader, index, subject, 0):
            what = f"attestation {entry.digest} of {image.reference}"
            manifest = reader.manifest(entry, what)
            for layer in manifest.layers:
                predicate_type = layer.annotation_dict.get(PREDICATE_TYPE_ANNOTATION, "")
                if layer.media_type != IN_TOTO_MEDIA_TYPE or not predicate_type.startswith(
                    SPDX_PREDICATE_TYPE
                ):
                    continue
                where = f"SPDX statement {layer.digest} of {image.reference}"
                data = reader.blob(layer, where, max_size)
                document = _statement_document(data, layer, subject, where)
                out.append(SpdxAttestation(subject, entry.digest, layer.digest, document))
    _LOG.debug("%s: %d SPDX attestation(s)", image.reference, len(out))
    return tuple(sorted(set(out), key=lambda a: (a.layer, a.manifest)))
