"""Writing a built component into the store: gzip layer, image config, manifest, index.

Everything is deterministic: the gzip stream has no file name and mtime 0 (so only zlib's
output decides the bytes), JSON documents have sorted keys and no white space, timestamps
come from ``SOURCE_DATE_EPOCH``. The same layer content therefore always gives the same
digests, and :func:`write_layer` stores nothing new when it already exists.

Example::

    layer = write_layer(store, content.write_tar)
    manifest = write_image(store, platform=Platform.parse("linux/amd64"), layers=(layer,),
                           config={"Cmd": ["/bin/sh"]}, created=0)
"""

from __future__ import annotations

import datetime
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

import attrs

from .._oci import Descriptor, MediaType
from .._platform import Platform
from ..layers._compress import compress_tar
from ..store import Store

__all__ = ["LayerInfo", "document_bytes", "rfc3339", "write_image", "write_index", "write_layer"]

_CHUNK = 1 << 20


@attrs.frozen
class LayerInfo:
    """A layer written to the store.

    Attributes:
        descriptor: the compressed blob (``…tar+gzip``).
        diff_id: the digest of the uncompressed tar.
        uncompressed_size: bytes of the uncompressed tar.
    """

    descriptor: Descriptor
    diff_id: str
    uncompressed_size: int


def rfc3339(epoch: int) -> str:
    """``SOURCE_DATE_EPOCH`` as the RFC 3339 time OCI documents use.

    Example::

        >>> rfc3339(0)
        '1970-01-01T00:00:00Z'
    """
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def document_bytes(doc: Mapping[str, Any]) -> bytes:
    """A JSON document as stored: sorted keys, compact, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write_layer(store: Store, write_tar: Callable[[BinaryIO], object]) -> LayerInfo:
    """Compress the tar that ``write_tar(out)`` writes and put it in ``store``.

    The compressed bytes go to a temporary file first (the store wants the digest before
    it commits a blob), so memory stays flat for any layer size.
    """
    with tempfile.TemporaryFile(prefix="moby-assemble-layer-") as spool:
        blob = compress_tar(write_tar, spool, "gzip")
        spool.flush()
        desc = Descriptor(MediaType.OCI_LAYER_GZIP, blob.digest, blob.size)
        if not store.has_blob(desc.digest):
            spool.seek(0)
            store.ingest_stream(desc, spool)
    return LayerInfo(desc, blob.diff_id, blob.uncompressed_size)


def write_image(
    store: Store,
    *,
    platform: Platform,
    layers: Sequence[LayerInfo],
    config: Mapping[str, Any],
    created: int,
    history: str = "",
    annotations: Mapping[str, str] | None = None,
) -> Descriptor:
    """Write the image config and manifest of one platform; returns the manifest descriptor
    (with its ``platform`` set, ready for an index)."""
    image_config: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": dict(config),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "created": rfc3339(created),
        "history": [
            {"created": rfc3339(created), "created_by": history or "moby-assemble pkg build"}
        ],
    }
    if platform.variant:
        image_config["variant"] = platform.variant
    config_desc = store.put_bytes(MediaType.OCI_CONFIG, document_bytes(image_config))
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.descriptor.to_json() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    desc = store.put_bytes(MediaType.OCI_MANIFEST, document_bytes(manifest))
    return attrs.evolve(desc, platform=platform)


def write_index(
    store: Store, manifests: Sequence[Descriptor], *, annotations: Mapping[str, str] | None = None
) -> Descriptor:
    """Write an image index of ``manifests`` (each with its platform), in the given order."""
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_INDEX,
        "manifests": [m.to_json() for m in manifests],
    }
    if annotations:
        index["annotations"] = dict(annotations)
    return store.put_bytes(MediaType.OCI_INDEX, document_bytes(index))
