"""``cache ls|rm|gc|verify|export|import``: look after the image cache (an OCI layout).

Example::

    moby-assemble cache ls
    moby-assemble cache export -o images.tar 127.0.0.1:5000/app:1
    moby-assemble cache import images.tar --cache /other/cache
    moby-assemble cache gc
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._errors import StoreError
from .._oci import MediaType
from ..progress import format_bytes
from ..store import Store
from ._lookup import store_name
from ._options import cache_option, json_option, state_of
from ._state import dump_json, store_for_cache

__all__ = ["cache"]


@click.group()
def cache() -> None:
    """Manage the image cache."""


@cache.command("ls")
@cache_option
@json_option
def cache_ls(cache: Path, as_json: bool) -> None:
    """List the cached images: name, digest and kind."""
    store = store_for_cache(cache)
    entries = store.entries()
    rows = [
        {
            "name": e.name,
            "digest": e.descriptor.digest,
            "mediaType": e.descriptor.media_type,
            "size": e.descriptor.size,
        }
        for e in entries
    ]
    if as_json:
        click.echo(dump_json(rows))
        return
    for e in entries:
        kind = "index" if e.descriptor.media_type in MediaType.INDEXES else "image"
        click.echo(f"{e.name or '<untagged>'}\t{e.descriptor.digest}\t{kind}")


@cache.command("rm")
@click.argument("names", nargs=-1, required=True)
@cache_option
@click.option(
    "--keep-blobs",
    is_flag=True,
    help="Only remove the names; leave the blobs for a later 'cache gc'.",
)
@click.pass_context
def cache_rm(ctx: click.Context, names: tuple[str, ...], cache: Path, keep_blobs: bool) -> None:
    """Remove images from the cache.

    NAMES are cached images as they were pulled (``alpine``, ``127.0.0.1:5000/app:1``) or
    exact cache tags. The image's pinned name (``…@sha256:…``) goes too, and then every
    blob no other image needs.
    """
    state = state_of(ctx)
    store = store_for_cache(cache)
    with store.locked():
        for text in names:
            name = store_name(store, text)
            digest = store.resolve(name).digest
            store.untag(name)
            base = name.rsplit("@", 1)[0] if "@" in name else name.rsplit(":", 1)[0]
            pinned = f"{base}@{digest}"
            if pinned != name:
                store.untag(pinned, missing_ok=True)
            state.info(f"removed {name}")
    if not keep_blobs:
        result = store.gc()
        state.info(f"freed {format_bytes(result.freed_bytes)} ({len(result.removed)} blobs)")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` (or plain seconds) in seconds."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if value < 0:
        raise click.BadParameter(f"{text!r} is not a duration like 12h, 7d or 2w")
    return value * _UNITS[unit]


@cache.command("gc")
@cache_option
@click.option(
    "--max-age",
    default="7d",
    show_default=True,
    help="Also remove assembled bundles and flattened images not used for this long "
    "(s, m, h, d, w).",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
@click.pass_context
def cache_gc(ctx: click.Context, cache: Path, max_age: str, dry_run: bool, as_json: bool) -> None:
    """Remove blobs that no cached image needs, bundles and flattened images not used for
    --max-age, and leftovers of interrupted writes."""
    from ..assemble._prune import prune_cache  # the assembler's part of the cache

    older_than = _duration(max_age)
    store = store_for_cache(cache)
    result = store.gc(dry_run=dry_run)
    pruned = prune_cache(cache.expanduser(), older_than=older_than, dry_run=dry_run)
    if as_json:
        click.echo(
            dump_json(
                {
                    "removed": list(result.removed),
                    "freedBytes": result.freed_bytes,
                    "removedTempFiles": result.removed_temp_files,
                    "removedAssemblyFiles": [str(p) for p in pruned.removed],
                    "freedAssemblyBytes": pruned.freed_bytes,
                    "dryRun": dry_run,
                }
            )
        )
        return
    verb = "would free" if dry_run else "freed"
    click.echo(f"{verb} {format_bytes(result.freed_bytes)} ({len(result.removed)} blobs)")
    click.echo(
        f"{verb} {format_bytes(pruned.freed_bytes)} of bundles and flattened images not "
        f"used for {max_age} ({len(pruned.removed)} paths)"
    )


@cache.command("verify")
@cache_option
@click.option(
    "--complete",
    is_flag=True,
    help="Also require every platform of cached indexes (not only the pulled ones).",
)
@click.option("--fast", is_flag=True, help="Check structure only, without re-hashing blobs.")
def cache_verify(cache: Path, complete: bool, fast: bool) -> None:
    """Check the cache: every blob hashes to its name and every image is complete."""
    store = store_for_cache(cache)
    problems = store.verify(content=not fast, complete=complete)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise StoreError(f"{len(problems)} problems in the cache {store.path}", path=str(cache))
    click.echo(f"{store.path}: ok")


@cache.command("export")
@click.argument("names", nargs=-1)
@cache_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    required=True,
    help="The tar file to write ('-' for stdout).",
)
@click.pass_context
def cache_export(ctx: click.Context, names: tuple[str, ...], cache: Path, output: Path) -> None:
    """Write cached images as an OCI layout tar (all images when no NAMES are given).

    Each image keeps its cache name, so 'cache import' elsewhere restores it, and the tar
    is what 'skopeo copy oci-archive:' reads.
    """
    state = state_of(ctx)
    store = store_for_cache(cache)
    chosen = [store_name(store, n) for n in names] if names else None
    if str(output) == "-":
        store.export_tar(sys.stdout.buffer, chosen)
        sys.stdout.buffer.flush()
        return
    store.export_tar(output, chosen)
    state.info(f"wrote {output}")


@cache.command("import")
@click.argument("archive", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@cache_option
def cache_import(archive: Path, cache: Path) -> None:
    """Import an OCI layout tar (plain or compressed; '-' for stdin) into the cache.

    Prints the names imported.
    """
    store: Store = store_for_cache(cache)
    source = sys.stdin.buffer if str(archive) == "-" else archive
    names = store.import_tar(source)
    for name in names:
        click.echo(name)
