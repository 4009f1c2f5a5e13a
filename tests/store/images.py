"""Tiny valid OCI images built by hand into a Store, for the store's tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence

import attrs

from moby_assemble._oci import Descriptor, MediaType
from moby_assemble._platform import Platform
from moby_assemble.store import Store


def tar_bytes(files: Mapping[str, bytes]) -> bytes:
    """A deterministic tar with these regular files (mode 0644, mtime 0, root-owned)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@attrs.frozen
class Image:
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @property
    def digests(self) -> set[str]:
        return {self.manifest.digest, self.config.digest, *(d.digest for d in self.layers)}


def build_image(
    store: Store,
    files: Mapping[str, bytes],
    *,
    tag: str | None = None,
    platform: str = "linux/amd64",
    docker: bool = False,
) -> Image:
    """Write a one-layer gzip image holding ``files`` into ``store`` (and tag it)."""
    plat = Platform.parse(platform)
    raw = tar_bytes(files)
    layer_type = MediaType.DOCKER_LAYER_GZIP if docker else MediaType.OCI_LAYER_GZIP
    layer = store.put_bytes(layer_type, gzip_bytes(raw))
    config = {
        "architecture": plat.architecture,
        "os": plat.os,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    }
    cfg = store.put_bytes(
        MediaType.DOCKER_CONFIG if docker else MediaType.OCI_CONFIG,
        json.dumps(config, sort_keys=True).encode(),
    )
    mtype = MediaType.DOCKER_MANIFEST if docker else MediaType.OCI_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": mtype,
        "config": cfg.to_json(),
        "layers": [layer.to_json()],
    }
    man = store.put_bytes(mtype, json.dumps(manifest, sort_keys=True).encode(), platform=plat)
    if tag is not None:
        store.tag(tag, man)
    return Image(man, cfg, (layer,))


def build_index(
    store: Store, manifests: Sequence[Descriptor], *, tag: str | None = None
) -> Descriptor:
    """Write an OCI index over ``manifests`` (keeping their platforms) and tag it."""
    doc = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_INDEX,
        "manifests": [m.to_json() for m in manifests],
    }
    desc = store.put_bytes(MediaType.OCI_INDEX, json.dumps(doc, sort_keys=True).encode())
    if tag is not None:
        store.tag(tag, desc)
    return desc
