"""``pkg build``: component images from recipes (Debian packages and files), without Docker.

LinuxKit's ``linuxkit pkg build`` writes into its cache; so does this (``<cache>/store``,
tagged ``<name>:<version>``) unless ``--layout`` names another OCI layout. ``--push`` also
publishes the image, so a system can use it by reference; ``--sign-key`` signs it there,
as ``cosign sign --key`` would (the password from ``$COSIGN_PASSWORD``).

Example::

    moby-assemble pkg build components/dhcp
    moby-assemble pkg build --push 127.0.0.1:5000/moby-assemble/dhcp components/dhcp
    COSIGN_PASSWORD=... moby-assemble pkg build --push 127.0.0.1:5000/moby-assemble/dhcp \
        --sign-key cosign.key components/dhcp
    moby-assemble pkg build --no-apt --debs-dir ./debs --layout out/oci components/*
"""

from __future__ import annotations

from pathlib import Path

import click

from ..pkg import BuildResult, load_recipe
from ..pkg import build as build_package
from ._build import load_signing_key
from ._options import cache_option, json_option, state_of
from ._state import dump_json, store_for_cache

__all__ = ["pkg"]


@click.group()
def pkg() -> None:
    """Build component images from recipes."""


@pkg.command("build")
@click.argument("recipes", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@cache_option
@click.option(
    "--layout",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write to this OCI image layout instead of the cache.",
)
@click.option(
    "--push",
    "push_to",
    default=None,
    metavar="HOST/REPOSITORY[:TAG]",
    help="Also push the image (the tag defaults to the recipe's version); with several "
    "recipes, each is pushed to HOST/REPOSITORY/<name>.",
)
@click.option("--tag", default=None, help="The image tag (default: the recipe's version).")
@click.option(
    "--debs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where .deb files are found and downloaded to (default ~/.cache/moby-assemble/debs).",
)
@click.option("--no-apt", is_flag=True, help="Never run apt-get download: use --debs-dir only.")
@click.option(
    "--source-date-epoch",
    type=click.IntRange(min=0),
    default=None,
    help="Time of every entry (default: $SOURCE_DATE_EPOCH, else 0).",
)
@click.option(
    "--sign-key",
    "sign_key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sign the pushed image with this cosign.key or PEM private key (password from "
    "$COSIGN_PASSWORD); needs --push.",
)
@json_option
@click.pass_context
def pkg_build(
    ctx: click.Context,
    recipes: tuple[Path, ...],
    cache: Path,
    layout: Path | None,
    push_to: str | None,
    tag: str | None,
    debs_dir: Path | None,
    no_apt: bool,
    source_date_epoch: int | None,
    sign_key_file: Path | None,
    as_json: bool,
) -> None:
    """Build the component image of each RECIPE (a folder with recipe.toml, or the file).

    Prints where each image is: the pushed reference pinned to its digest, else its
    oci-layout: reference.
    """
    state = state_of(ctx)
    if sign_key_file is not None and push_to is None:
        raise click.UsageError("--sign-key signs what is pushed: give --push too")
    sign_key = load_signing_key(sign_key_file) if sign_key_file is not None else None
    store = layout if layout is not None else store_for_cache(cache).path
    results: list[BuildResult] = []
    with state.client() as client:
        for path in recipes:
            recipe = load_recipe(path)
            target = push_to
            if push_to is not None and len(recipes) > 1:
                target = f"{push_to.rstrip('/')}/{recipe.name}"
            result = build_package(
                recipe,
                debs_dir=debs_dir,
                apt=not no_apt,
                layout=store,
                push=target,
                client=client if target is not None else None,
                tag=tag,
                source_date_epoch=source_date_epoch,
                sign_key=sign_key,
            )
            state.info(
                f"built {result.name} {result.version} in {result.seconds:.2f}s "
                f"({result.compressed_size} bytes compressed)"
            )
            results.append(result)
    if as_json:
        click.echo(dump_json([_result_json(r) for r in results]))
        return
    for result in results:
        click.echo(result.reference)


def _result_json(result: BuildResult) -> dict[str, object]:
    return {
        "name": result.name,
        "version": result.version,
        "role": str(result.role),
        "tag": result.tag,
        "digest": result.digest,
        "reference": result.reference,
        "pushed": result.pushed,
        "packages": [p.to_json() for p in result.packages],
        "compressedSize": result.compressed_size,
        "uncompressedSize": result.uncompressed_size,
        "seconds": round(result.seconds, 3),
    }
