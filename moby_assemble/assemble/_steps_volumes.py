"""The ``volumes`` step: ``containers/volumes/<name>/{lower,tmp,merged}`` for each named volume.

At boot LinuxKit's init mounts a tmpfs on ``tmp`` and an overlay of ``lower`` (read-only
content) and ``tmp`` on ``merged``; containers bind ``merged``. ``lower`` holds:

- nothing, for a volume without an image;
- the image's flattened root filesystem (``format: filesystem``, the default), filtered like
  an init image (``etc/resolv.conf`` symlinked to ``/run/resolvconf/resolv.conf``);
- the image as an OCI image layout (``format: oci``): ``oci-layout``, ``index.json`` naming
  the image, and the blobs of the platforms asked for (``platforms``; default: the platform
  being assembled, where LinuxKit takes every platform of the index). Blobs are streamed from
  the store, verified.

Example::

    volumes_step(ctx)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .._lock import layout_sources
from .._oci import Descriptor, MediaType
from .._platform import Platform
from ..layers import EntryType, TarEntry
from ._steps_pull import pinned_reference

if TYPE_CHECKING:
    from .._model import Volume
    from ._context import BuildContext

__all__ = ["VOLUMES_PREFIX", "volumes_step"]

#: Where volumes live in the root filesystem.
VOLUMES_PREFIX = "containers/volumes"
_VOLUMES_SOURCE = "linuxkit.volumes"
_REF_NAME = "org.opencontainers.image.ref.name"


def volumes_step(ctx: BuildContext) -> bool:
    """Write every volume; no-op without any."""
    if not ctx.system.volumes:
        return False
    w = ctx.writer
    for index, volume in enumerate(ctx.system.volumes):
        location = f"volume[{index}]"  # LinuxKit's spelling (not "volumes[…]")
        base = f"{VOLUMES_PREFIX}/{volume.name}"
        lower = f"{base}/lower"
        source = volume.image or "empty"
        w.mkdirs(lower, source=source, location=location)
        if volume.image:
            ctx.record_use(location, volume.image)
            if volume.format == "oci":
                _write_layout(ctx, volume, lower, location)
            else:
                ctx.copy_image(volume.image, location, prefix=lower, kind="volume")
        w.directory(f"{base}/tmp", source=_VOLUMES_SOURCE, location=location)  # noqa: S108
        w.directory(f"{base}/merged", source=_VOLUMES_SOURCE, location=location)
    return True


def _write_layout(ctx: BuildContext, volume: Volume, lower: str, location: str) -> None:
    assert volume.image is not None
    reference = volume.image
    platforms = [Platform.parse(p) for p in volume.platforms] or [ctx.platform]
    ref = pinned_reference(ctx.lock, reference, layouts=layout_sources(ctx.system))
    blobs: dict[str, Descriptor] = {}
    top: Descriptor | None = None
    for platform in platforms:
        image = ctx.image(reference) if platform == ctx.platform else ctx.puller.pull(ref, platform)
        top = image.top
        for desc in (image.top, image.manifest, image.config_descriptor, *image.layers):
            blobs.setdefault(desc.digest, desc)
    assert top is not None
    entry = Descriptor(top.media_type, top.digest, top.size).with_annotations(
        **{_REF_NAME: reference}
    )
    index = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [entry.to_json()]}
    w = ctx.writer
    w.file(
        f"{lower}/oci-layout",
        b'{"imageLayoutVersion":"1.0.0"}',
        source=reference,
        location=location,
    )
    w.file(
        f"{lower}/index.json",
        json.dumps(index, sort_keys=True, separators=(",", ":")).encode(),
        source=reference,
        location=location,
    )
    w.mkdirs(f"{lower}/blobs/sha256", source=reference, location=location)
    for digest in sorted(blobs):
        algorithm, encoded = digest.split(":", 1)
        size = blobs[digest].size
        blob = TarEntry(
            f"{lower}/blobs/{algorithm}/{encoded}",
            EntryType.FILE,
            0o644,
            size=size,
            mtime=ctx.source_date_epoch,
        )
        with ctx.store.open_blob(digest) as data:
            w.stream_file(blob, data, source=reference, location=location)
