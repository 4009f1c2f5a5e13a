"""The benchmark images, built streamed into one OCI layout (which is also a Store).

Each layer is written once per compression, straight from its generator through the
compressor into ``blobs/sha256/`` (never held in memory), and images are composed from
those blobs: a layer shared by several images (the gzip big-file layers are in image
``a`` and in its twin ``bigg``) costs one write.

Layers (sizes at full scale; ``--quick`` shrinks everything about 100x):

========== ==========================================================================
usr        a distribution's ``/usr``: 60,000 small files (median 512 B), links
modules    a kernel's ``/usr/lib/modules``: 40,000 ``.ko`` files (median 1 KiB)
bigtext    4 binary-like files of 64 MiB (gzip 2.7x, zstd 4x)
bigrandom  one incompressible 48 MiB file
top        ``/etc`` files, a whiteout and an opaque directory over ``usr``
extra      480 MiB of binary-like files and 64 MiB of random data
========== ==========================================================================

Images (tags in the layout):

========== ============================================== ========================
a          usr modules bigtext bigrandom top (gzip)       ~200 MB: the pull image
bigz       bigtext bigrandom (zstd)                       flatten throughput
bigg       bigtext bigrandom (gzip)                       its umoci twin
small      usr modules (gzip)                             entries per second
huge       usr modules bigtext bigrandom extra top (zstd) ~1 GB: peak RSS
========== ============================================== ========================

Example::

    scale = QUICK
    images = ImageBuilder(Path("/tmp/bench/layout"), scale).build(["a", "small"])
    images["a"].compressed_size
"""

from __future__ import annotations

import functools
import json
import os
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from moby_assemble.layers import EntryType, TarEntry
from moby_assemble.layers._compress import compress_tar
from moby_assemble.store import Store
from moby_assemble.testing import Layer

from ._content import RandomStream, TextStream, module_tree, usr_tree

__all__ = [
    "FULL",
    "IMAGES",
    "QUICK",
    "BuiltImage",
    "ImageBuilder",
    "LayerInfo",
    "Scale",
    "push_image",
]

Compression = Literal["gzip", "zstd"]

#: Bump when the content generators change, so a reused work directory is rebuilt.
_REVISION = 1
_MIB = 1 << 20
_MEDIA_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


@attrs.frozen
class Scale:
    """How big the benchmark images are.

    Attributes:
        name: ``"full"`` or ``"quick"``.
        usr_files, module_files: files in the two many-small-files layers.
        text_files, text_file_size: the big binary-like files of ``bigtext``.
        random_size: the incompressible file of ``bigrandom``.
        extra_text_files, extra_random_size: the ``extra`` layer of the ~1 GB image.
        pull_repeat, repeat: runs per measurement (the best one counts).
    """

    name: str
    usr_files: int
    module_files: int
    text_files: int
    text_file_size: int
    random_size: int
    extra_text_files: int
    extra_random_size: int
    pull_repeat: int = 5
    repeat: int = 2


FULL = Scale("full", 60_000, 40_000, 4, 64 * _MIB, 48 * _MIB, 6, 64 * _MIB)
QUICK = Scale("quick", 600, 400, 2, _MIB, _MIB, 2, _MIB, pull_repeat=1, repeat=1)

#: Image tag -> (layer names bottom first, compression).
IMAGES: Mapping[str, tuple[tuple[str, ...], Compression]] = {
    "a": (("usr", "modules", "bigtext", "bigrandom", "top"), "gzip"),
    "bigz": (("bigtext", "bigrandom"), "zstd"),
    "bigg": (("bigtext", "bigrandom"), "gzip"),
    "small": (("usr", "modules"), "gzip"),
    "huge": (("usr", "modules", "bigtext", "bigrandom", "extra", "top"), "zstd"),
}


@attrs.frozen
class LayerInfo:
    """One written layer blob: digest, compressed size, ``diff_id`` and tar size."""

    name: str
    compression: Compression
    digest: str
    size: int
    diff_id: str
    tar_size: int

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self.compression]


@attrs.frozen
class BuiltImage:
    """An image in the layout: its tag, manifest digest and layers (bottom first)."""

    tag: str
    manifest_digest: str
    layers: tuple[LayerInfo, ...]

    @property
    def compressed_size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def tar_size(self) -> int:
        """Uncompressed bytes of all layers (the tar streams flattening reads)."""
        return sum(layer.tar_size for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "manifest": self.manifest_digest,
            "layers": len(self.layers),
            "compressed_bytes": self.compressed_size,
            "uncompressed_bytes": self.tar_size,
        }


def _dir(name: str) -> TarEntry:
    return TarEntry(name, EntryType.DIRECTORY, 0o755)


def _big_files(
    layer: Layer, directory: str, stream: Callable[[int, int], Any], sizes: Iterable[int]
) -> Layer:
    for i, size in enumerate(sizes):
        # A stable seed per file (str hashes change between processes).
        seed = zlib.crc32(f"{directory}/{i}".encode())
        layer = layer.file(
            f"{directory}/part{i:02d}.bin", functools.partial(stream, seed, size), size=size
        )
    return layer


def _layers(scale: Scale) -> dict[str, Layer]:
    """Every benchmark layer as an (uncompressed) :class:`Layer` description."""
    text, rand = TextStream, RandomStream
    opt = Layer().entry(_dir("opt")).entry(_dir("opt/bench"))
    bigtext = _big_files(
        opt.entry(_dir("opt/bench/lib")),
        "opt/bench/lib",
        text,
        [scale.text_file_size] * scale.text_files,
    )
    bigrandom = _big_files(
        opt.entry(_dir("opt/bench/media")), "opt/bench/media", rand, [scale.random_size]
    )
    extra = _big_files(
        Layer().entry(_dir("srv")).entry(_dir("srv/data")),
        "srv/data",
        text,
        [scale.text_file_size * 5 // 4] * scale.extra_text_files,
    )
    extra = _big_files(extra.entry(_dir("srv/cache")), "srv/cache", rand, [scale.extra_random_size])
    top = (
        Layer()
        .dir("etc")
        .file("etc/hostname", b"bench\n")
        .file("etc/os-release", b"ID=bench\nVERSION_ID=1\n")
        .dir("usr")
        .dir("usr/share")
        .dir("usr/share/doc")
        .whiteout("usr/share/doc/pkg00000")
        .dir("usr/lib")
        .dir("usr/lib/python3")
        .dir("usr/lib/python3/pkg00001")
        .opaque("usr/lib/python3/pkg00001")
        .file("usr/lib/python3/pkg00001/__init__.py", b"# replaced\n")
    )
    return {
        # The seeds differ, so usr and modules never share content by accident.
        "usr": Layer.generated(functools.partial(usr_tree, 11, scale.usr_files)),
        "modules": Layer.generated(functools.partial(module_tree, 12, scale.module_files)),
        "bigtext": bigtext,
        "bigrandom": bigrandom,
        "top": top,
        "extra": extra,
    }


class ImageBuilder:
    """Builds the benchmark images into the OCI layout at ``root`` (reusing what a
    previous run with the same scale left there).

    Args:
        root: the layout directory (created if missing).
        scale: sizes.
        progress: called with a line of text per layer written (for the CLI).
        catalog: the file name (in ``root``) recording the layers built so far.
        layers: more layers by name, besides those of :data:`IMAGES` (other benchmarks'
            own; their names should carry a revision of their own).
    """

    def __init__(
        self,
        root: Path,
        scale: Scale,
        progress: Callable[[str], None] | None = None,
        *,
        catalog: str = "bench-layers.json",
        layers: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.scale = scale
        self._progress = progress or (lambda _line: None)
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        marker = root / "oci-layout"
        if not marker.exists():
            marker.write_text('{"imageLayoutVersion":"1.0.0"}')
        self.store = Store(root)
        self._catalog_path = root / catalog
        self._catalog = self._load_catalog()
        self._layers = {**_layers(scale), **(layers or {})}

    def _load_catalog(self) -> dict[str, LayerInfo]:
        try:
            data = json.loads(self._catalog_path.read_text())
        except (OSError, ValueError):
            return {}
        if data.get("revision") != _REVISION or data.get("scale") != attrs.asdict(self.scale):
            return {}
        found = {}
        for key, fields in data["layers"].items():
            info = LayerInfo(**fields)
            if self.store.has_blob(info.digest):
                found[key] = info
        return found

    def _save_catalog(self) -> None:
        doc = {
            "revision": _REVISION,
            "scale": attrs.asdict(self.scale),
            "layers": {k: attrs.asdict(v) for k, v in sorted(self._catalog.items())},
        }
        tmp = self._catalog_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
        tmp.replace(self._catalog_path)

    def layer(self, name: str, compression: Compression) -> LayerInfo:
        """Write the layer blob (once) and describe it."""
        key = f"{name}.{compression}"
        info = self._catalog.get(key)
        if info is not None:
            return info
        tmp = self.root / "blobs" / "sha256" / f".{key}.tmp"
        try:
            with open(tmp, "wb") as fh:
                blob = compress_tar(self._layers[name].write_tar, fh, compression)
            digest = blob.digest
            os.replace(tmp, self.store.blob_path(digest))
        finally:
            tmp.unlink(missing_ok=True)
        info = LayerInfo(name, compression, digest, blob.size, blob.diff_id, blob.uncompressed_size)
        self._catalog[key] = info
        self._save_catalog()
        self._progress(
            f"layer {key}: {blob.uncompressed_size / 1e6:.0f} MB tar, "
            f"{blob.size / 1e6:.0f} MB {compression}"
        )
        return info

    def image(self, tag: str) -> BuiltImage:
        """Build (or find) the image ``tag`` of :data:`IMAGES`."""
        names, compression = IMAGES[tag]
        layers = tuple(self.layer(name, compression) for name in names)
        return self.put_image(tag, layers)

    def put_image(
        self, tag: str, layers: tuple[LayerInfo, ...], *, cmd: list[str] | None = None
    ) -> BuiltImage:
        """Write an amd64 image of ``layers`` (with ``cmd`` as its command), tagged ``tag``."""
        config: dict[str, Any] = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [{"created_by": f"benchmark layer {layer.name}"} for layer in layers],
        }
        if cmd is not None:
            config["config"]["Cmd"] = cmd
        config_desc = self.store.put_bytes(
            "application/vnd.oci.image.config.v1+json", _json(config)
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc.to_json(),
            "layers": [
                {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
                for layer in layers
            ],
        }
        desc = self.store.put_bytes("application/vnd.oci.image.manifest.v1+json", _json(manifest))
        self.store.tag(tag, desc)
        return BuiltImage(tag, desc.digest, layers)

    def build(self, tags: Iterable[str]) -> dict[str, BuiltImage]:
        """Build several images (each layer written once)."""
        return {tag: self.image(tag) for tag in tags}


def _json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def push_image(layout: Path, tag: str, registry_host: str, repository: str) -> str:
    """Push the image ``tag`` from the layout to ``registry_host/repository:tag`` with
    moby_assemble's own pusher; returns the reference pushed."""
    from moby_assemble.registry import (
        ImageReference,
        RegistryClient,
        RegistryConfig,
        push_from_store,
    )

    store = Store(layout)
    ref = ImageReference.parse(f"{registry_host}/{repository}:{tag}")
    with RegistryClient(registries={registry_host: RegistryConfig(plain_http=True)}) as client:
        push_from_store(client, store, store.resolve(tag), ref)
    return str(ref)
