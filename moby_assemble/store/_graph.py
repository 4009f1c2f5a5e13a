"""The children of an OCI or Docker manifest or index: what a document references.

One job: given a document's media type and its exact bytes, list the descriptors it points
to. The store's garbage collector and exporter walk images with it, and the puller uses it to
know what to fetch next. Pure: no I/O.

Example::

    >>> import json
    >>> from moby_assemble._oci import MediaType
    >>> doc = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": []}
    >>> referenced_descriptors(MediaType.OCI_INDEX, json.dumps(doc).encode())
    []
"""

from __future__ import annotations

from typing import Any

from .._errors import UnsupportedError
from .._oci import Descriptor, MediaType
from .._parse import loads_json

__all__ = ["is_document", "referenced_descriptors", "sniff_media_type"]


def is_document(media_type: str) -> bool:
    """True for the media types whose children :func:`referenced_descriptors` can list."""
    return media_type in MediaType.INDEXES or media_type in MediaType.MANIFESTS


def _parse(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = loads_json(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise UnsupportedError(f"{what}: not valid JSON ({e})", reference=what) from None
    if not isinstance(doc, dict):
        raise UnsupportedError(f"{what}: expected a JSON object", reference=what)
    return doc


def sniff_media_type(data: bytes, *, subject: str = "document") -> str:
    """The media type a manifest or index declares, or infers from its shape.

    OCI documents may omit ``mediaType``; an object with ``manifests`` is then an index and
    one with ``config`` and ``layers`` a manifest.

    Raises:
        UnsupportedError: the bytes are not a JSON object or have no recognisable shape.
    """
    doc = _parse(data, subject)
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if isinstance(doc.get("manifests"), list):
        return MediaType.OCI_INDEX
    if isinstance(doc.get("layers"), list) and isinstance(doc.get("config"), dict):
        return MediaType.OCI_MANIFEST
    raise UnsupportedError(f"{subject}: neither an image index nor a manifest", reference=subject)


def _descriptor(obj: Any, where: str, subject: str) -> Descriptor:
    try:
        return Descriptor.from_json(obj, where=where)
    except ValueError as e:
        raise UnsupportedError(f"{subject}: {e}", reference=subject) from None


def referenced_descriptors(media_type: str, data: bytes, *, subject: str = "") -> list[Descriptor]:
    """The descriptors a manifest or index references, in document order.

    An index lists its ``manifests``; a manifest its ``config`` then its ``layers``. The
    ``subject`` field (a referrer's link back to what it is about) is *not* a child and is
    not followed. Any other media type (layers, configs, Docker schema 1 manifests, unknown
    artifacts) is an opaque blob with no children.

    Args:
        media_type: the media type of the descriptor that pointed at ``data``.
        data: the document's exact bytes (already verified against that descriptor).
        subject: what the document is (a digest or reference), used in error messages.

    Raises:
        UnsupportedError: the document is not valid JSON, declares a different media type
            than its descriptor, has the wrong schema version, or holds a malformed
            descriptor (the message names ``subject`` and the field).

    Example::

        >>> cfg = {"mediaType": MediaType.OCI_CONFIG, "digest": "sha256:" + "0" * 64, "size": 2}
        >>> doc = json.dumps({"schemaVersion": 2, "config": cfg, "layers": []}).encode()
        >>> [d.size for d in referenced_descriptors(MediaType.OCI_MANIFEST, doc)]
        [2]
    """
    if not is_document(media_type):
        return []
    what = subject or media_type
    doc = _parse(data, what)
    declared = doc.get("mediaType")
    if declared is not None and declared != media_type:
        # A document that claims to be something else is a confusion attack or a broken
        # push; following it as either type could keep or fetch the wrong blobs.
        raise UnsupportedError(
            f"{what}: document declares mediaType {declared!r} but was referenced as "
            f"{media_type!r}",
            reference=what,
        )
    if doc.get("schemaVersion") != 2:
        raise UnsupportedError(
            f"{what}: unsupported schemaVersion {doc.get('schemaVersion')!r} (expected 2)",
            reference=what,
        )
    if media_type in MediaType.INDEXES:
        manifests = doc.get("manifests")
        if not isinstance(manifests, list):
            raise UnsupportedError(f"{what}: 'manifests' must be a list", reference=what)
        return [_descriptor(m, f"manifests[{i}]", what) for i, m in enumerate(manifests)]
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise UnsupportedError(f"{what}: 'layers' must be a list", reference=what)
    children = [_descriptor(doc.get("config"), "config", what)]
    children.extend(_descriptor(lay, f"layers[{i}]", what) for i, lay in enumerate(layers))
    return children
