"""The system as a runnable OCI image: ``oci-layout`` (a directory) and ``oci-archive`` (a tar).

The image has one layer, the root filesystem tar exactly as assembled (``boot/`` included),
gzip-compressed deterministically; its config names the platform the system was assembled
for, is dated ``source_date_epoch``, and starts ``/sbin/init``.

Why ``/sbin/init`` and not LinuxKit's ``/bin/rc.init`` (which the ``docker`` output keeps for
compatibility): the image is the *whole* system, so its first process should be the
system's init — it stays PID 1, runs ``rc.init`` at boot and the ``onshutdown`` containers
when the runtime sends SIGTERM. ``rc.init`` alone returns once boot is done, and the
container would stop with it. Pass ``entrypoint=[...]`` to choose otherwise.

Files:

- ``oci-layout``: ``<name>.oci/`` — ``oci-layout``, ``index.json`` (one manifest, tagged
  ``tag``, default ``latest``) and ``blobs/sha256/…``; read it with
  ``skopeo inspect oci:<name>.oci:latest`` or ``umoci unpack --image <name>.oci:latest``.
- ``oci-archive``: ``<name>.oci.tar`` — the same layout as one tar
  (``skopeo inspect oci-archive:<name>.oci.tar:latest``).

Example::

    write_formats(bundle, "out", ["oci-layout"], name="web", tag="v1")
"""

from __future__ import annotations

import abc
import datetime
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from .._errors import OutputError
from .._oci import Descriptor, MediaType
from .._pgzip import ParallelGzipWriter
from ..layers import EntryType, TarEntry, TarWriter
from ._atomic import AtomicOutput
from ._format import BundleView

__all__ = ["DEFAULT_ENTRYPOINT", "OciArchiveFormat", "OciLayoutFormat", "SystemImage"]

#: The command the system image starts (see the module docs for why).
DEFAULT_ENTRYPOINT = ("/sbin/init",)
_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_REF_NAME = "org.opencontainers.image.ref.name"
_CREATED = "org.opencontainers.image.created"
_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
_GZIP_LEVEL = 6
_CHUNK = 1 << 20


def _json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(epoch: int) -> str:
    """``epoch`` as an RFC 3339 UTC time (``1970-01-01T00:00:00Z``), as OCI documents want."""
    when = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class _HashingFile:
    """Hashes and counts what goes through to ``out`` (the compressed layer)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


@attrs.frozen
class SystemImage:
    """The documents of the system image (the layer itself is written separately).

    Attributes:
        layer: the gzip layer's descriptor.
        config: the image config's exact bytes; ``manifest``, ``index``: likewise.
        manifest_descriptor: the manifest's descriptor (with platform and tag annotation).
    """

    layer: Descriptor
    config: bytes = attrs.field(repr=False)
    config_descriptor: Descriptor
    manifest: bytes = attrs.field(repr=False)
    manifest_descriptor: Descriptor
    index: bytes = attrs.field(repr=False)

    def blobs(self) -> tuple[tuple[str, bytes], ...]:
        """The small blobs (config, manifest) as ``(digest, bytes)``, in digest order."""
        return tuple(
            sorted(
                [(self.config_descriptor.digest, self.config),
                 (self.manifest_descriptor.digest, self.manifest)]
            )
        )  # fmt: skip


def write_system_image(
    bundle: BundleView,
    layer_out: IO[bytes],
    *,
    tag: str,
    entrypoint: Sequence[str],
    compression_level: int | None,
    format: str,
) -> SystemImage:
    """Gzip the root tar into ``layer_out`` and build the config, manifest and index for it."""
    if not tag or "/" in tag:
        raise OutputError(f"{format}: invalid tag {tag!r}", format=format)
    if isinstance(entrypoint, str) or not all(isinstance(a, str) for a in entrypoint):
        raise OutputError(f"{format}: entrypoint must be a list of strings", format=format)
    diff = hashlib.sha256()
    hashing = _HashingFile(layer_out)
    level = _GZIP_LEVEL if compression_level is None else compression_level
    with (
        bundle.open_rootfs() as src,
        ParallelGzipWriter(hashing, level=level) as gz,  # type: ignore[arg-type]
    ):
        while chunk := src.read(_CHUNK):
            diff.update(chunk)
            gz.write(chunk)
    layer = Descriptor(MediaType.OCI_LAYER_GZIP, f"sha256:{hashing.hash.hexdigest()}", hashing.size)
    created = rfc3339(bundle.source_date_epoch)
    platform = bundle.platform.to_json()
    config_doc = {
        **platform,
        "created": created,
        "config": {"Entrypoint": list(entrypoint), "Env": [_PATH]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff.hexdigest()}"]},
        "history": [{"created": created, "created_by": "moby-assemble"}],
    }
    config = _json(config_doc)
    config_desc = Descriptor.for_bytes(MediaType.OCI_CONFIG, config)
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": config_desc.to_json(),
            "layers": [layer.to_json()],
            "annotations": {_CREATED: created},
        }
    )
    manifest_desc = Descriptor.for_bytes(MediaType.OCI_MANIFEST, manifest)
    entry = {**manifest_desc.to_json(), "platform": platform, "annotations": {_REF_NAME: tag}}
    index = _json({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [entry]})
    return SystemImage(layer, config, config_desc, manifest, manifest_desc, index)


def _blob_name(digest: str) -> str:
    algorithm, hexdigest = digest.split(":", 1)
    return f"blobs/{algorithm}/{hexdigest}"


class _SystemImageFormat(abc.ABC):
    """What the two image formats share: options, and building the image in ``out``."""

    name = ""
    streamable = False
    options = frozenset({"tag", "entrypoint", "compression_level"})

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        *,
        tag: str = "latest",
        entrypoint: Sequence[str] = DEFAULT_ENTRYPOINT,
        compression_level: int | None = None,
        **_other_formats_options: Any,
    ) -> tuple[Path, ...]:
        def build(layer_out: IO[bytes]) -> SystemImage:
            return write_system_image(
                bundle,
                layer_out,
                tag=tag,
                entrypoint=entrypoint,
                compression_level=compression_level,
                format=self.name,
            )

        with AtomicOutput(directory, format=self.name) as out:
            self._write(out, name, build, bundle.source_date_epoch)
        return out.paths

    @abc.abstractmethod
    def _write(
        self, out: AtomicOutput, name: str, build: Callable[[IO[bytes]], SystemImage], mtime: int
    ) -> None:
        """Put the image (``build(layer_stream)`` writes the layer) into ``out``."""


class OciLayoutFormat(_SystemImageFormat):
    """``oci-layout``: ``<name>.oci/``, the system as an OCI image layout directory.

    Options:
        tag: the ``org.opencontainers.image.ref.name`` of the image (default ``latest``).
        entrypoint: the image's entrypoint (default ``["/sbin/init"]``).
        compression_level: gzip level of the layer (default 6).
    """

    name = "oci-layout"
    description = "the system as a runnable OCI image, in an OCI layout directory"
    files = ("{name}.oci",)

    def _write(
        self, out: AtomicOutput, name: str, build: Callable[[IO[bytes]], SystemImage], mtime: int
    ) -> None:
        root = out.mkdir(f"{name}.oci")
        blobs = root / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        with tempfile.NamedTemporaryFile(dir=blobs, prefix=".layer-", delete=False) as f:
            image = build(f)
        os.rename(f.name, root / _blob_name(image.layer.digest))
        for digest, data in image.blobs():
            (root / _blob_name(digest)).write_bytes(data)
        (root / "index.json").write_bytes(image.index)
        (root / "oci-layout").write_bytes(_LAYOUT)


class OciArchiveFormat(_SystemImageFormat):
    """``oci-archive``: ``<name>.oci.tar``, the OCI image layout as one tar.

    Options: as for ``oci-layout``.
    """

    name = "oci-archive"
    description = "the system as a runnable OCI image, in an OCI layout tar archive"
    files = ("{name}.oci.tar",)

    def _write(
        self, out: AtomicOutput, name: str, build: Callable[[IO[bytes]], SystemImage], mtime: int
    ) -> None:
        target = out.path(f"{name}.oci.tar")
        # A tar header needs the layer's size first: compress into an unnamed temp file.
        with tempfile.TemporaryFile(dir=target.parent) as layer:
            image = build(layer)
            layer.seek(0)
            with open(target, "wb") as f, TarWriter(f) as tw:
                for dirname in ("blobs", "blobs/sha256"):
                    tw.add(TarEntry(dirname, EntryType.DIRECTORY, mtime=mtime))
                small = dict(image.blobs())
                for digest in sorted([*small, image.layer.digest]):
                    data = small.get(digest)
                    size = image.layer.size if data is None else len(data)
                    entry = TarEntry(_blob_name(digest), size=size, mtime=mtime)
                    tw.add(entry, layer if data is None else data)
                tw.add(TarEntry("index.json", size=len(image.index), mtime=mtime), image.index)
                tw.add(TarEntry("oci-layout", size=len(_LAYOUT), mtime=mtime), _LAYOUT)
