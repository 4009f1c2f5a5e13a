"""Build OCI (and Docker) images in Python, for tests: layers, configs, manifests, indexes.

Everything is an immutable value; each builder method returns a new object, so a test
can share a base layer and derive variants from it. Building is deterministic: tar
entries default to mtime 0 and root ownership, gzip headers carry no name or time, zstd
uses a fixed level, and JSON documents have sorted keys, so the same inputs always give
the same digests::

    base = Layer().dir("etc").file("etc/os-release", b"ID=test\\n")
    app = Layer(compression="zstd").file("bin/app", b"#!/bin/sh\\n", mode=0o755)
    images = ImageIndex((
        Image((base, app), platform="linux/amd64", labels={"role": "service"}),
        Image((base, app), platform="linux/arm64"),
    ), attestation=True).build()
    images.write_oci_layout(tmp_path / "layout", "app:1")   # readable by umoci and skopeo
    images.blobs[images.descriptor.digest]                   # the index's exact bytes

Names are written verbatim (:meth:`Layer.entry` makes ``"../escape"`` on purpose). Large
layers: give :meth:`Layer.file` a callable opening a stream plus its ``size``, or use
:meth:`Layer.generated`; :meth:`Image.write_oci_layout` then streams every blob to disk,
while :meth:`Image.build` keeps blobs in memory (small images).

.. versionadded:: 0.1
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

import attrs

from .._oci import Descriptor, MediaType, digest_bytes
from .._platform import Platform
from ..layers import EntryType, LayerSource, TarEntry, TarWriter
from ..layers._compress import compress_tar

__all__ = ["Image", "ImageIndex", "ImageSet", "Layer", "LayerBlob"]

Compression = Literal["gzip", "zstd"] | None
Data = bytes | Callable[[], BinaryIO] | None
ItemFactory = Callable[[], Iterable[tuple[TarEntry, "bytes | BinaryIO | None"]]]

_IN_TOTO = "application/vnd.in-toto+json"


def _xattr_pax(xattrs: Mapping[str, bytes | str] | None) -> tuple[tuple[str, str], ...]:
    if not xattrs:
        return ()
    out = []
    for key, value in xattrs.items():
        text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
        out.append((f"SCHILY.xattr.{key}", text))
    return tuple(sorted(out))


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@attrs.frozen
class LayerBlob:
    """What writing a layer produced: its media type, digest, size and ``diff_id``."""

    media_type: str
    digest: str
    size: int
    diff_id: str

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size)


@attrs.frozen
class Layer:
    """A layer under construction: tar entries in order, and how to compress them.

    Paths are written exactly as given (no parent directories are added, no normalising),
    so tests can make archives with implicit parents, odd orders or hostile names.

    Example::

        >>> layer = Layer().dir("etc").file("etc/motd", b"hi\\n").symlink("motd", "etc/motd")
        >>> layer.blob_info().media_type
        'application/vnd.oci.image.layer.v1.tar+gzip'
    """

    items: tuple[tuple[TarEntry, Data], ...] = ()
    compression: Compression = "gzip"
    generator: ItemFactory | None = None
    level: int | None = None

    # -- entries --------------------------------------------------------------------------

    def entry(self, entry: TarEntry, data: Data = None) -> Layer:
        """Any raw entry, name verbatim (``data``: bytes, or a callable opening a stream)."""
        return attrs.evolve(self, items=(*self.items, (entry, data)))

    def file(
        self,
        path: str,
        data: bytes | Callable[[], BinaryIO] = b"",
        *,
        size: int | None = None,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: int | float = 0,
        xattrs: Mapping[str, bytes | str] | None = None,
        uname: str = "",
        gname: str = "",
    ) -> Layer:
        """A regular file. ``data`` is bytes, or a callable returning a fresh stream of
        exactly ``size`` bytes each time the layer is written (for big files)."""
        if isinstance(data, bytes):
            size = len(data)
        elif size is None:
            raise ValueError(f"{path}: a streamed file needs its size")
        entry = TarEntry(
            path, EntryType.FILE, mode, uid, gid, size, mtime, "", uname, gname,
            pax=_xattr_pax(xattrs),
        )  # fmt: skip
        return self.entry(entry, data)

    def dir(
        self,
        path: str,
        *,
        mode: int = 0o755,
        uid: int = 0,
        gid: int = 0,
        mtime: int | float = 0,
        xattrs: Mapping[str, bytes | str] | None = None,
    ) -> Layer:
        """A directory."""
        return self.entry(
            TarEntry(path, EntryType.DIRECTORY, mode, uid, gid, mtime=mtime, pax=_xattr_pax(xattrs))
        )

    def symlink(
        self, path: str, target: str, *, uid: int = 0, gid: int = 0, mtime: int | float = 0
    ) -> Layer:
        """A symbolic link (``target`` verbatim)."""
        return self.entry(
            TarEntry(path, EntryType.SYMLINK, 0o777, uid, gid, mtime=mtime, linkname=target)
        )

    def hardlink(self, path: str, target: str, *, mtime: int | float = 0) -> Layer:
        """A hard link to an earlier member ``target``."""
        return self.entry(TarEntry(path, EntryType.HARDLINK, 0o644, mtime=mtime, linkname=target))

    def device(
        self,
        path: str,
        kind: Literal["c", "b"],
        major: int,
        minor: int,
        *,
        mode: int = 0o600,
        uid: int = 0,
        gid: int = 0,
    ) -> Layer:
        """A character (``"c"``) or block (``"b"``) device node."""
        etype = {"c": EntryType.CHAR_DEVICE, "b": EntryType.BLOCK_DEVICE}[kind]
        return self.entry(TarEntry(path, etype, mode, uid, gid, devmajor=major, devminor=minor))

    def fifo(self, path: str, *, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Layer:
        """A named pipe."""
        return self.entry(TarEntry(path, EntryType.FIFO, mode, uid, gid))

    def whiteout(self, path: str) -> Layer:
        """Delete ``path`` (and everything under it) from lower layers (``.wh.<name>``)."""
        head, _, base = path.rstrip("/").rpartition("/")
        marker = f"{head}/.wh.{base}" if head else f".wh.{base}"
        return self.entry(TarEntry(marker, EntryType.FILE, 0o644))

    def opaque(self, directory: str) -> Layer:
        """Hide every lower-layer child of ``directory`` (``.wh..wh..opq``)."""
        directory = directory.strip("/")
        marker = f"{directory}/.wh..wh..opq" if directory else ".wh..wh..opq"
        return self.entry(TarEntry(marker, EntryType.FILE, 0o644))

    @classmethod
    def generated(
        cls, factory: ItemFactory, *, compression: Compression = "gzip", level: int | None = None
    ) -> Layer:
        """A layer whose entries come from ``factory()``, called each time it is written:
        an iterable of ``(TarEntry, data)`` with data as bytes, a stream or ``None``.
        Use it for layers too big to describe up front (100,000 files)."""
        return cls((), compression, factory, level)

    def with_compression(self, compression: Compression, *, level: int | None = None) -> Layer:
        """The same entries, compressed another way (same ``diff_id``)."""
        return attrs.evolve(self, compression=compression, level=level)

    # -- output ---------------------------------------------------------------------------

    def media_type(self, media_types: Literal["oci", "docker"] = "oci") -> str:
        """The layer media type for this compression, in OCI or Docker flavour."""
        if media_types == "docker":
            if self.compression != "gzip":
                raise ValueError("Docker image manifests only have gzip layers")
            return MediaType.DOCKER_LAYER_GZIP
        return {
            "gzip": MediaType.OCI_LAYER_GZIP,
            "zstd": MediaType.OCI_LAYER_ZSTD,
            None: MediaType.OCI_LAYER,
        }[self.compression]

    def _entries(self) -> Iterator[tuple[TarEntry, bytes | BinaryIO | None]]:
        for entry, data in self.items:
            if callable(data):
                with data() as stream:
                    yield entry, stream
            else:
                yield entry, data
        if self.generator is not None:
            yield from self.generator()

    def write_tar(self, out: BinaryIO) -> None:
        """Write the uncompressed tar to ``out``."""
        with TarWriter(out) as writer:
            for entry, data in self._entries():
                writer.add(entry, data)

    def write_to(
        self, out: BinaryIO | None, media_types: Literal["oci", "docker"] = "oci"
    ) -> LayerBlob:
        """Stream the compressed blob to ``out`` (or nowhere, to learn its digests)."""
        blob = compress_tar(self.write_tar, out, self.compression, self.level)
        return LayerBlob(self.media_type(media_types), blob.digest, blob.size, blob.diff_id)

    def tar(self) -> bytes:
        """The uncompressed tar archive."""
        out = io.BytesIO()
        self.write_tar(out)
        return out.getvalue()

    def blob(self) -> bytes:
        """The compressed blob."""
        out = io.BytesIO()
        self.write_to(out)
        return out.getvalue()

    def blob_info(self, media_types: Literal["oci", "docker"] = "oci") -> LayerBlob:
        """Digest, size and ``diff_id`` (computed by writing the layer once)."""
        return self.write_to(None, media_types)

    def source(self, *, diff_id: str | Literal["auto"] | None = "auto") -> LayerSource:
        """A :class:`~moby_assemble.layers.LayerSource` over this layer's blob, held in
        memory; ``diff_id="auto"`` checks against the true ``diff_id``."""
        out = io.BytesIO()
        info = self.write_to(out)
        data = out.getvalue()
        return LayerSource(
            lambda: io.BytesIO(data),
            info.media_type,
            info.digest,
            info.diff_id if diff_id == "auto" else diff_id,
        )


@attrs.frozen
class ImageSet:
    """Built images: every blob by digest, and the descriptor of the top document.

    Attributes:
        descriptor: the image manifest or index at the top (with its platform, if any).
        blobs: digest → exact bytes, for layers, configs, manifests and indexes.
    """

    descriptor: Descriptor
    blobs: Mapping[str, bytes] = attrs.field(eq=False, hash=False)

    def json(self, digest: str | None = None) -> Any:
        """A JSON document among the blobs (the top one by default), parsed."""
        return json.loads(self.blobs[digest or self.descriptor.digest])

    def manifest_for(self, platform: str | Platform | None = None) -> Any:
        """The (parsed) image manifest for ``platform``, searching nested indexes; the top
        manifest if the set is a single image and no platform is given."""
        wanted = Platform.parse(platform) if isinstance(platform, str) else platform
        found = self._find(self.descriptor, wanted)
        if found is None:
            raise KeyError(f"no image for platform {platform}")
        return self.json(found.digest)

    def _find(self, desc: Descriptor, wanted: Platform | None) -> Descriptor | None:
        if desc.media_type in MediaType.MANIFESTS:
            if wanted is None or desc.platform is None or desc.platform.matches(wanted):
                return desc
            return None
        for child in self.json(desc.digest)["manifests"]:
            child_desc = Descriptor.from_json(child)
            if child_desc.platform is not None and child_desc.platform.is_unknown:
                continue
            if (
                child_desc.platform is not None
                and wanted is not None
                and not child_desc.platform.matches(wanted)
            ):
                continue
            hit = self._find(child_desc, wanted)
            if hit is not None:
                return hit
        return None

    def layers(self, platform: str | Platform | None = None) -> tuple[LayerSource, ...]:
        """The layer sources of one image (see :meth:`manifest_for`), with diff_ids."""
        manifest = self.manifest_for(platform)
        config = self.json(manifest["config"]["digest"])
        diff_ids = config["rootfs"]["diff_ids"]
        out = []
        for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
            data = self.blobs[layer["digest"]]
            out.append(LayerSource(_opener(data), layer["mediaType"], layer["digest"], diff_id))
        return tuple(out)

    def write_oci_layout(self, path: str | Path, tag: str | None = None) -> Path:
        """Write (or add to) an OCI image layout directory and tag the top document.

        Blobs go to ``blobs/sha256/``; ``index.json`` gains the descriptor (replacing one
        with the same ``org.opencontainers.image.ref.name``). Returns the layout path.
        """
        root = Path(path)
        _ensure_layout(root)
        for digest, data in self.blobs.items():
            _write_blob(root, digest, data)
        _add_to_index(root, self.descriptor, tag)
        return root


def _layers(items: Iterable[Layer]) -> tuple[Layer, ...]:
    return tuple(items)


def _manifests(items: Iterable[Image | ImageIndex]) -> tuple[Image | ImageIndex, ...]:
    return tuple(items)


def _opener(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)


def _ensure_layout(root: Path) -> None:
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    marker = root / "oci-layout"
    if not marker.exists():
        marker.write_bytes(_json_bytes({"imageLayoutVersion": "1.0.0"}))


def _write_blob(root: Path, digest: str, data: bytes) -> None:
    target = root / "blobs" / "sha256" / digest.split(":", 1)[1]
    if not target.exists():
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)


def _add_to_index(root: Path, descriptor: Descriptor, tag: str | None) -> None:
    index_path = root / "index.json"
    if index_path.exists():
        index = json.loads(index_path.read_bytes())
    else:
        index = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": []}
    entry = (
        descriptor
        if tag is None
        else descriptor.with_annotations(**{"org.opencontainers.image.ref.name": tag})
    )
    manifests = [
        m
        for m in index.get("manifests", [])
        if tag is None
        or (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag
    ]
    manifests.append(entry.to_json())
    index["manifests"] = manifests
    index_path.write_bytes(_json_bytes(index) + b"\n")


@attrs.frozen
class Image:
    """One image: layers, a config and a manifest.

    Args:
        layers: bottom first.
        config: fields of the config's ``config`` object (``Env``, ``Cmd``,
            ``Entrypoint``, ``User``, ``WorkingDir`` …); ``labels`` are merged in.
        platform: ``"linux/arm64/v8"`` or a :class:`Platform`.
        labels: image labels (``org.mobyproject.config`` …).
        media_types: ``"oci"`` or ``"docker"`` (schema 2; gzip layers only).
        annotations: manifest annotations.
        sbom: an SPDX document (JSON object) for the predicate of the attestation that an
            :class:`ImageIndex` with ``attestation=True`` attaches to this image (an empty
            predicate without it).
    """

    layers: tuple[Layer, ...] = attrs.field(default=(), converter=_layers)
    config: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    platform: str | Platform = "linux/amd64"
    labels: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    media_types: Literal["oci", "docker"] = "oci"
    annotations: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    sbom: Mapping[str, Any] | None = attrs.field(default=None, hash=False)

    @property
    def platform_value(self) -> Platform:
        return Platform.parse(self.platform) if isinstance(self.platform, str) else self.platform

    def _documents(self, blobs: list[LayerBlob]) -> tuple[bytes, bytes]:
        """(config bytes, manifest bytes) for layers that were written as ``blobs``."""
        plat = self.platform_value
        inner = dict(self.config)
        if self.labels:
            inner["Labels"] = {**inner.get("Labels", {}), **self.labels}
        config: dict[str, Any] = {
            "architecture": plat.architecture,
            "os": plat.os,
            "config": inner,
            "rootfs": {"type": "layers", "diff_ids": [b.diff_id for b in blobs]},
            "history": [
                {"created_by": f"moby_assemble.testing layer {i}"} for i in range(len(blobs))
            ],
        }
        if plat.variant:
            config["variant"] = plat.variant
        config_bytes = _json_bytes(config)
        docker = self.media_types == "docker"
        config_desc = Descriptor.for_bytes(
            MediaType.DOCKER_CONFIG if docker else MediaType.OCI_CONFIG, config_bytes
        )
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MediaType.DOCKER_MANIFEST if docker else MediaType.OCI_MANIFEST,
            "config": config_desc.to_json(),
            "layers": [b.descriptor().to_json() for b in blobs],
        }
        if self.annotations:
            manifest["annotations"] = dict(self.annotations)
        return config_bytes, _json_bytes(manifest)

    def _descriptor(self, manifest: bytes) -> Descriptor:
        media_type = (
            MediaType.DOCKER_MANIFEST if self.media_types == "docker" else MediaType.OCI_MANIFEST
        )
        return Descriptor.for_bytes(media_type, manifest, platform=self.platform_value)

    def build(self) -> ImageSet:
        """Every blob in memory, and the manifest's descriptor (carrying the platform)."""
        blobs: dict[str, bytes] = {}
        infos = []
        for layer in self.layers:
            out = io.BytesIO()
            info = layer.write_to(out, self.media_types)
            blobs[info.digest] = out.getvalue()
            infos.append(info)
        config, manifest = self._documents(infos)
        blobs[digest_bytes(config)] = config
        blobs[digest_bytes(manifest)] = manifest
        return ImageSet(self._descriptor(manifest), blobs)

    def write_oci_layout(self, path: str | Path, tag: str | None = None) -> Descriptor:
        """Stream this image into an OCI layout without holding layers in memory (for big
        benchmark images); returns the manifest descriptor."""
        root = Path(path)
        _ensure_layout(root)
        infos = []
        for layer in self.layers:
            fd, tmp = tempfile.mkstemp(dir=root / "blobs" / "sha256", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    info = layer.write_to(fh, self.media_types)
                os.replace(tmp, root / "blobs" / "sha256" / info.digest.split(":", 1)[1])
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            infos.append(info)
        config, manifest = self._documents(infos)
        _write_blob(root, digest_bytes(config), config)
        _write_blob(root, digest_bytes(manifest), manifest)
        desc = self._descriptor(manifest)
        _add_to_index(root, desc, tag)
        return desc


@attrs.frozen
class ImageIndex:
    """A multi-platform index over images and (nested) indexes.

    Args:
        manifests: the images (and nested :class:`ImageIndex` values) in order.
        attestation: add a BuildKit-style attestation manifest (platform
            ``unknown/unknown``) after each image, as ``docker buildx`` does.
        media_types: ``"oci"`` (image index) or ``"docker"`` (manifest list).
        annotations: index annotations.
        nested: put all of this in an inner index that the built index points to (the
            same as ``ImageIndex((ImageIndex(...),))``).
    """

    manifests: tuple[Image | ImageIndex, ...] = attrs.field(converter=_manifests)
    attestation: bool = False
    media_types: Literal["oci", "docker"] = "oci"
    annotations: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    nested: bool = False

    def build(self) -> ImageSet:
        """Every blob in memory, and the index's descriptor."""
        if self.nested:
            inner = attrs.evolve(self, nested=False, annotations={})
            outer = ImageIndex((inner,), media_types=self.media_types, annotations=self.annotations)
            return outer.build()
        blobs: dict[str, bytes] = {}
        entries: list[dict[str, Any]] = []
        for child in self.manifests:
            built = child.build()
            blobs.update(built.blobs)
            entries.append(built.descriptor.to_json())
            if self.attestation and isinstance(child, Image):
                att = _attestation(built.descriptor, child.sbom)
                blobs.update(att.blobs)
                entries.append(att.descriptor.to_json())
        media_type = (
            MediaType.DOCKER_MANIFEST_LIST if self.media_types == "docker" else MediaType.OCI_INDEX
        )
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
        if self.annotations:
            index["annotations"] = dict(self.annotations)
        data = _json_bytes(index)
        blobs[digest_bytes(data)] = data
        return ImageSet(Descriptor.for_bytes(media_type, data), blobs)


def _attestation(subject: Descriptor, sbom: Mapping[str, Any] | None = None) -> ImageSet:
    """An in-toto attestation manifest the way BuildKit attaches one to an image, with
    ``sbom`` (an SPDX document) as its predicate."""
    predicate = "https://spdx.dev/Document"
    statement = _json_bytes(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": predicate,
            "subject": [{"name": "image", "digest": {"sha256": subject.digest.split(":")[1]}}],
            "predicate": dict(sbom) if sbom is not None else {},
        }
    )
    layer = Descriptor.for_bytes(
        _IN_TOTO, statement, annotations={"in-toto.io/predicate-type": predicate}
    )
    unknown = Platform("unknown", "unknown")
    config = Image(platform=unknown)._documents([])[0]
    config_desc = Descriptor.for_bytes(MediaType.OCI_CONFIG, config)
    manifest = _json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": config_desc.to_json(),
            "layers": [layer.to_json()],
        }
    )
    kind = {
        "vnd.docker.reference.digest": subject.digest,
        "vnd.docker.reference.type": "attestation-manifest",
    }
    desc = Descriptor.for_bytes(
        MediaType.OCI_MANIFEST, manifest, annotations=kind, platform=unknown
    )
    blobs = {desc.digest: manifest, config_desc.digest: config, layer.digest: statement}
    return ImageSet(desc, blobs)
