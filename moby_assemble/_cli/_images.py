"""``pull`` and ``push``: images between registries and the cache; image reports for
``inspect``.

Example::

    moby-assemble pull --platform linux/arm64 127.0.0.1:5000/kernel:6.6
    moby-assemble push 127.0.0.1:5000/kernel:6.6 registry.lab:5000/mirror/kernel:6.6
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .._platform import Platform
from ..registry import ImageReference, Manifest, Puller, push_from_store
from ..store import Store, is_layout_reference, parse_layout_reference
from ._lookup import (
    ImageSource,
    StoreSource,
    select_manifest,
    store_name,
)
from ._options import (
    IMAGE_REFERENCE,
    cache_option,
    chosen_platform,
    json_option,
    platform_option,
    state_of,
)
from ._state import dump_json, store_for_cache

__all__ = ["describe_image", "pull", "push", "render_image"]


@click.command()
@click.argument("references", nargs=-1, required=True, type=IMAGE_REFERENCE)
@cache_option
@platform_option
@json_option
@click.pass_context
def pull(
    ctx: click.Context,
    references: tuple[ImageReference, ...],
    cache: Path,
    platform: Platform | None,
    arch: str | None,
    as_json: bool,
) -> None:
    """Pull images for one platform into the cache, verified.

    Prints each image pinned to the digest it resolved to. Blobs already in the cache are
    not fetched again.
    """
    state = state_of(ctx)
    target = chosen_platform(platform, arch)
    store = store_for_cache(cache)
    with (
        state.client() as client,
        state.progress() as progress,
        Puller(client, store, progress=progress) as puller,
    ):
        images = puller.pull_many(references, target)
    if as_json:
        click.echo(
            dump_json(
                [
                    {
                        "reference": str(image.reference),
                        "digest": image.digest,
                        "manifest": image.manifest.digest,
                        "platform": str(image.platform),
                        "layers": len(image.layers),
                        "size": sum(d.size for d in image.layers),
                    }
                    for image in images
                ]
            )
        )
        return
    for image in images:
        click.echo(str(image.pinned))


@click.command()
@click.argument("source")
@click.argument("target", required=False, type=IMAGE_REFERENCE)
@cache_option
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Upload blobs in chunks of this many bytes (default: in one request).",
)
@json_option
@click.pass_context
def push(
    ctx: click.Context,
    source: str,
    target: ImageReference | None,
    cache: Path,
    chunk_size: int | None,
    as_json: bool,
) -> None:
    """Push an image from the cache (or an OCI layout) to a registry.

    SOURCE is a cached image as it was pulled (``alpine``, ``127.0.0.1:5000/app:1``) or
    ``oci-layout:DIR[:TAG]``. TARGET defaults to SOURCE's own reference. Everything the image
    needs must be in the cache: an index of which only one platform was pulled cannot be
    pushed whole.
    """
    state = state_of(ctx)
    if is_layout_reference(source):
        layout = parse_layout_reference(source)
        store = Store(layout.path)
        name = layout.tag
        desc = (
            store.resolve_digest(layout.digest)
            if layout.digest is not None
            else StoreSource(store, name).top().descriptor
        )
        if target is None:
            raise click.UsageError("TARGET is required when SOURCE is an oci-layout: reference")
    else:
        store = store_for_cache(cache)
        name = store_name(store, source)
        desc = store.resolve(name)
        if target is None:
            target = ImageReference.parse(source)
    with state.client() as client:
        pushed = push_from_store(client, store, desc, target, chunk_size=chunk_size)
    pinned = target.with_digest(pushed.digest)
    if as_json:
        click.echo(dump_json({"reference": str(target), "digest": pushed.digest}))
    else:
        click.echo(str(pinned))


def describe_image(
    source: ImageSource, reference: str, platform: Platform | None
) -> dict[str, Any]:
    """The ``inspect`` report of an image (JSON-compatible)."""
    top = source.top()
    report: dict[str, Any] = {
        "reference": reference,
        "digest": top.digest,
        "mediaType": top.media_type,
        "size": top.descriptor.size,
    }
    if top.is_index:
        report["platforms"] = [str(p) for p in top.platforms()]
        report["index"] = top.json
    chosen = select_manifest(source, top, platform, reference)
    if chosen is None:
        return report
    report.update(_image(source, chosen))
    return report


def _image(source: ImageSource, manifest: Manifest) -> dict[str, Any]:
    config_bytes = source.config(manifest.config)
    try:
        config = json.loads(config_bytes)
    except ValueError:
        config = None  # an artifact's config need not be JSON; the digest is still shown
    return {
        "manifestDigest": manifest.digest,
        "manifest": manifest.json,
        "platform": str(manifest.descriptor.platform) if manifest.descriptor.platform else None,
        "config": config,
    }


def render_image(report: dict[str, Any]) -> str:
    """The ``inspect`` report of an image as text."""
    lines = [
        f"Reference:   {report['reference']}",
        f"Digest:      {report['digest']}",
        f"Media type:  {report['mediaType']}",
    ]
    if "platforms" in report:
        lines.append(f"Platforms:   {', '.join(report['platforms']) or 'none'}")
    if "manifest" not in report:
        if "platforms" in report:
            lines.append("(use --platform to show one of the images)")
        return "\n".join(lines)
    manifest = report["manifest"]
    config = report["config"] if isinstance(report["config"], dict) else {}
    platform = report["platform"] or "/".join(
        str(config[k]) for k in ("os", "architecture", "variant") if config.get(k)
    )
    if report["manifestDigest"] != report["digest"]:
        lines.append(f"Manifest:    {report['manifestDigest']}")
    if platform:
        lines.append(f"Platform:    {platform}")
    lines.append(f"Config:      {manifest['config']['digest']}")
    layers = manifest.get("layers", [])
    total = sum(layer.get("size", 0) for layer in layers)
    lines.append(f"Layers:      {len(layers)} ({total} bytes)")
    for layer in layers:
        lines.append(f"  {layer['digest']}  {layer['size']:>10}  {layer['mediaType']}")
    inner = config.get("config") or {}
    for key in ("Entrypoint", "Cmd", "WorkingDir", "User"):
        if inner.get(key):
            lines.append(f"{key + ':':<12} {json.dumps(inner[key])}")
    for key in ("Env",):
        for value in inner.get(key) or ():
            lines.append(f"{key + ':':<12} {value}")
    labels = inner.get("Labels") or {}
    if labels:
        lines.append("Labels:")
        lines.extend(f"  {k}={v}" for k, v in sorted(labels.items()))
    return "\n".join(lines)
