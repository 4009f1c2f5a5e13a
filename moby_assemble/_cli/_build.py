"""``build`` and ``resolve``/``lock``: systems from YAML to outputs, and their lock files.

``build`` takes LinuxKit's flags where they make sense (``--format``/``-f`` repeatable or a
comma list, ``-o`` for one streamable output or ``-`` for stdout, ``--dir``, ``--name``,
``--arch``, ``--cache``, ``--pull``, ``--dry-run``, ``--no-sbom``, several config files
merged, ``-`` for stdin) and adds ``--lock``/``--locked``, ``--offline`` and ``--platform``.

``--policy FILE`` checks every image's cosign signature against a trust policy (the file
``verify --policy`` reads) before anything is written; ``--sign-key FILE`` signs what the
``push`` format pushes, with a ``cosign.key`` (its password from ``$COSIGN_PASSWORD``, as
cosign reads it) or a PEM private key.

Example::

    moby-assemble build -f kernel+initrd,tar --dir out --lock system.lock.json system.yml
    moby-assemble build --locked --lock system.lock.json -o - system.yml > system.tar
    moby-assemble build --policy trust.yml -f push --reference 127.0.0.1:5000/sys/web:1 \
        --sign-key cosign.key system.yml
    moby-assemble resolve --platform linux/amd64 --platform linux/arm64 system.yml -o lock.json
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from .._errors import LockError
from .._lock import Lock
from .._model import System
from .._platform import Platform
from ..assemble import Assembler, Bundle
from ..outputs import get_format
from ..registry import ImageReference, RegistryClient
from ..trust import PrivateKey, TrustPolicy
from ._options import (
    IMAGE_REFERENCE,
    PLATFORM,
    cache_option,
    json_option,
    offline_option,
    platform_option,
    requested_platform,
    state_of,
)
from ._state import CliState, dump_json
from ._systems import default_name, load_system
from ._verify import load_policy

__all__ = ["build", "load_signing_key", "resolve"]

_DEFAULT_FORMAT = "kernel+initrd"
_STREAM_FORMAT = "tar"


def _split_formats(values: tuple[str, ...]) -> list[str]:
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return list(dict.fromkeys(names))


def load_signing_key(path: Path) -> PrivateKey:
    """Read a signing key file as cosign does: the password comes from ``$COSIGN_PASSWORD``
    (unset or empty: the empty password; a PEM key that is not encrypted needs none).

    Raises:
        ConfigError: unreadable, not a private key, or the wrong password (names the file).
    """
    password = os.environ.get("COSIGN_PASSWORD")
    return PrivateKey.load(path, password=password.encode() if password else None)


@contextlib.contextmanager
def _assembler(
    state: CliState,
    cache: Path,
    *,
    offline: bool,
    platform: Platform | None,
    source_date_epoch: int | None = None,
    trust_policy: TrustPolicy | None = None,
) -> Iterator[tuple[Assembler, RegistryClient | None]]:
    """An assembler with the CLI's registry settings and progress display, and its client
    (``None`` offline)."""
    with contextlib.ExitStack() as stack:
        client = None if offline else stack.enter_context(state.client())
        progress = stack.enter_context(state.progress())
        asm = stack.enter_context(
            Assembler(
                cache,
                platform=platform,
                client=client,
                offline=offline,
                progress=progress,
                source_date_epoch=source_date_epoch,
                trust_policy=trust_policy,
            )
        )
        yield asm, client


@click.command()
@click.argument("configs", nargs=-1, required=True)
@click.option(
    "-f",
    "--format",
    "formats",
    multiple=True,
    metavar="FORMAT[,FORMAT…]",
    help=f"Output formats (repeatable or a comma list; default {_DEFAULT_FORMAT}, or "
    f"{_STREAM_FORMAT} with -o). See 'moby-assemble formats'.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Write one streamable output (tar, docker) to this file, or '-' for stdout.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Directory for the outputs (default: the current one).",
)
@click.option("--name", default=None, help="Base name of the outputs (default: the first file's).")
@platform_option
@cache_option
@click.option(
    "--pull",
    is_flag=True,
    help="Ask the registries what every tag means now. This is always done unless --locked "
    "or --offline is given; accepted for LinuxKit compatibility.",
)
@click.option("--dry-run", is_flag=True, help="Print the merged configuration and stop.")
@click.option(
    "--no-sbom",
    is_flag=True,
    help="Add no SPDX SBOM (sbom.spdx.json) to the root filesystem. Without it the SBOM is "
    "composed from the images' SBOM attestations and the catalog's Debian package lists.",
)
@click.option(
    "--lock",
    "lock_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Lock file: built from when it matches the system, else (re)written.",
)
@click.option(
    "--locked",
    is_flag=True,
    help="Build only from the --lock file; fail if it is missing or does not match.",
)
@offline_option
@click.option(
    "--compression",
    type=click.Choice(["gzip", "zstd"]),
    default=None,
    help="Initrd compression for kernel+initrd, tar-kernel-initrd and push (default gzip).",
)
@click.option(
    "--reference",
    type=IMAGE_REFERENCE,
    default=None,
    help="Where the 'push' format publishes the system (host/repo:tag).",
)
@click.option(
    "--source-date-epoch",
    type=click.IntRange(min=0),
    default=None,
    help="Time of generated entries (default: $SOURCE_DATE_EPOCH, else 0).",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A trust policy file (YAML, JSON or TOML, as for 'verify'): every image must carry "
    "the signatures it asks for, checked before anything is written.",
)
@click.option(
    "--sign-key",
    "sign_key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sign what the push format pushes with this cosign.key or PEM private key "
    "(password from $COSIGN_PASSWORD).",
)
@json_option
@click.pass_context
def build(
    ctx: click.Context,
    configs: tuple[str, ...],
    formats: tuple[str, ...],
    output: Path | None,
    directory: Path,
    name: str | None,
    platform: Platform | None,
    arch: str | None,
    cache: Path,
    pull: bool,
    dry_run: bool,
    no_sbom: bool,
    lock_path: Path | None,
    locked: bool,
    offline: bool,
    compression: str | None,
    reference: ImageReference | None,
    source_date_epoch: int | None,
    policy_file: Path | None,
    sign_key_file: Path | None,
    as_json: bool,
) -> None:
    """Assemble a system from LinuxKit YAML (or TOML) files and write its outputs.

    Several CONFIGS are merged in order, as LinuxKit does; '-' reads standard input.
    The paths written are printed on stdout.
    """
    state = state_of(ctx)
    chosen = _split_formats(formats) or [_STREAM_FORMAT if output else _DEFAULT_FORMAT]
    _check_flags(chosen, output, locked, lock_path, offline, pull, reference)
    _check_trust_flags(chosen, offline, policy_file, sign_key_file)
    system = load_system(configs, stdin=sys.stdin)
    if dry_run:
        click.echo(system.to_yaml(), nl=False)
        return
    target = requested_platform(platform, arch)
    options: dict[str, Any] = {}
    if compression is not None:
        options["compression"] = compression
    # Both read before anything is assembled: a bad policy or password fails at once.
    policy = load_policy(policy_file) if policy_file is not None else None
    if sign_key_file is not None:
        options["sign_key"] = load_signing_key(sign_key_file)
    out_name = name or default_name(configs)
    with _assembler(
        state,
        cache,
        offline=offline,
        platform=target,
        source_date_epoch=source_date_epoch,
        trust_policy=policy,
    ) as (asm, client):
        platform_used = asm.target_platform(system, target)
        lock = _lock_for(state, asm, system, platform_used, lock_path, locked)
        bundle = asm.assemble(system, lock=lock, platform=platform_used, sbom=not no_sbom)
        if "push" in chosen:
            options["reference"] = reference
            options["client"] = client
        written = _write(state, bundle, chosen, output, directory, out_name, options)
    if as_json:
        click.echo(dump_json({fmt: [str(p) for p in paths] for fmt, paths in written.items()}))
    elif output is None:
        for paths in written.values():
            for path in paths:
                click.echo(str(path))


def _check_flags(
    formats: list[str],
    output: Path | None,
    locked: bool,
    lock_path: Path | None,
    offline: bool,
    pull: bool,
    reference: ImageReference | None,
) -> None:
    """Usage errors that need no file read and no network."""
    for name in formats:
        get_format(name)  # an unknown name is an OutputError listing the known ones
    if output is not None and (len(formats) != 1 or not get_format(formats[0]).streamable):
        streamable = ", ".join(f for f in _format_names() if get_format(f).streamable)
        raise click.UsageError(
            f"-o writes exactly one streamable format ({streamable}), "
            f"not {', '.join(formats)}; use --dir for the others"
        )
    if locked and lock_path is None:
        raise click.UsageError("--locked needs --lock FILE")
    if pull and (offline or locked):
        raise click.UsageError("--pull contradicts " + ("--offline" if offline else "--locked"))
    if "push" in formats and reference is None:
        raise click.UsageError("the push format needs --reference host/repo:tag")
    if reference is not None and "push" not in formats:
        raise click.UsageError("--reference is for the push format (-f push)")


def _check_trust_flags(
    formats: list[str], offline: bool, policy_file: Path | None, sign_key_file: Path | None
) -> None:
    if policy_file is not None and offline:
        raise click.UsageError(
            "--policy cannot be checked with --offline: signatures are read from registries"
        )
    if sign_key_file is not None and "push" not in formats:
        raise click.UsageError("--sign-key signs what the push format pushes (-f push)")


def _format_names() -> tuple[str, ...]:
    from ..outputs import available_formats

    return available_formats()


def _lock_for(
    state: CliState,
    asm: Assembler,
    system: System,
    platform: Platform,
    lock_path: Path | None,
    locked: bool,
) -> Lock | None:
    """The lock to build from: the file's when it matches (required with ``--locked``),
    else a fresh resolution written to the file; ``None`` without ``--lock``."""
    if lock_path is None:
        return None
    previous: Lock | None = None
    if lock_path.exists():
        previous = Lock.load(lock_path)
        if locked:
            previous.check(system, [platform], file=str(lock_path))
            return previous
        if not previous.differences(system, [platform]):
            return previous
        state.info(f"{lock_path} does not match the system: resolving again")
    elif locked:
        raise LockError(f"lock file {lock_path} does not exist (--locked)", file=str(lock_path))
    # Platforms the old lock pinned stay pinned, so building for one does not drop others.
    platforms = sorted({*(previous.platforms if previous is not None else ()), platform})
    fresh = asm.resolve(system, platforms=platforms)
    fresh.save(lock_path)
    state.info(f"wrote {lock_path}")
    return fresh


def _write(
    state: CliState,
    bundle: Bundle,
    formats: list[str],
    output: Path | None,
    directory: Path,
    name: str,
    options: dict[str, Any],
) -> dict[str, tuple[Path, ...]]:
    """Write the outputs into ``directory``, or the one streamable output to ``output``."""
    if output is None:
        written = bundle.write(directory, formats, name=name, **options)
        for fmt, paths in written.items():
            state.info(f"{fmt}: {', '.join(str(p) for p in paths)}")
        return written
    to_stdout = str(output) == "-"
    # Written whole beside the target (same file system, so the rename is atomic), or in
    # the cache for stdout, then moved or streamed.
    scratch_parent = bundle.directory.parent if to_stdout else output.absolute().parent
    with tempfile.TemporaryDirectory(dir=scratch_parent, prefix=".moby-assemble-") as scratch:
        written = bundle.write(scratch, formats, name=name, **options)
        (produced,) = written[formats[0]]
        if to_stdout:
            with open(produced, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer, 1024 * 1024)
            sys.stdout.buffer.flush()
            return {formats[0]: ()}
        os.replace(produced, output)
    state.info(f"{formats[0]}: {output}")
    return {formats[0]: (output,)}


@click.command()
@click.argument("configs", nargs=-1, required=True)
@click.option(
    "--platform",
    "platforms",
    type=PLATFORM,
    multiple=True,
    help="Platform to pin (repeatable; default: the system's, else this machine's).",
)
@cache_option
@offline_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    help="Where to write the lock (default: stdout).",
)
@click.pass_context
def resolve(
    ctx: click.Context,
    configs: tuple[str, ...],
    platforms: tuple[Platform, ...],
    cache: Path,
    offline: bool,
    output: Path,
) -> None:
    """Pin every image of a system to a digest and write the lock file (JSON).

    Building with --lock then never asks a registry what a tag means.
    """
    state = state_of(ctx)
    system = load_system(configs, stdin=sys.stdin)
    with _assembler(state, cache, offline=offline, platform=None) as (asm, _client):
        lock = asm.resolve(system, platforms=platforms or None)
    if str(output) == "-":
        click.echo(lock.to_json(), nl=False)
    else:
        lock.save(output)
        state.info(f"wrote {output}")


@click.command("formats")
@json_option
def list_formats(as_json: bool) -> None:
    """List the output formats (built-in and from plug-ins)."""
    rows: list[dict[str, Any]] = []
    for name in _format_names():
        fmt = get_format(name)
        rows.append(
            {
                "name": name,
                "description": fmt.description,
                "files": list(fmt.files),
                "streamable": fmt.streamable,
                "options": sorted(fmt.options),
            }
        )
    if as_json:
        click.echo(dump_json(rows))
        return
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        click.echo(f"{row['name']:<{width}}  {row['description']}")
