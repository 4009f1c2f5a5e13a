"""``verify``: check that images (given directly, or every image of a system) carry a cosign
signature a trusted key made.

Trust comes from ``--key`` files (every image must be signed by one of them) or from a
``--policy`` file: rules of globs over ``registry/repository`` and the keys each trusts, and
a default for images no rule matches (see :class:`moby_assemble.trust.TrustPolicy`)::

    default: deny
    rules:
      - match: "127.0.0.1:*/moby-assemble/*"
        keys: [release.pub]          # relative to the policy file

With ``--lock``, a system's images are checked at the digests the lock pins, which are the
digests a locked build uses; otherwise each tag is resolved now.

Example::

    moby-assemble verify --key release.pub 127.0.0.1:5000/moby-assemble/init:1.0
    moby-assemble verify --policy trust.yml --lock system.lock.json system.yml
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import yaml

from .._errors import ConfigError
from .._lock import Lock
from ..registry import ImageReference
from ..trust import PublicKey, TrustPolicy, VerificationResult
from ._options import json_option, state_of
from ._state import dump_json
from ._systems import STDIN, is_system_file, load_system

__all__ = ["load_policy", "verify"]

_MAX_POLICY = 1024 * 1024


def load_policy(path: Path) -> TrustPolicy:
    """Read a trust policy file (YAML or JSON; TOML for ``.toml``); key files are relative
    to it.

    Raises:
        ConfigError: unreadable, not a mapping, or an invalid policy (with the field path).
    """
    try:
        text = path.read_bytes()[: _MAX_POLICY + 1]
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", file=str(path)) from None
    if len(text) > _MAX_POLICY:
        raise ConfigError(f"larger than {_MAX_POLICY} bytes", file=str(path))
    try:
        data = (
            tomllib.loads(text.decode("utf-8")) if path.suffix == ".toml" else yaml.safe_load(text)
        )
    except (yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"not a valid policy file: {reason}", file=str(path)) from None
    try:
        return TrustPolicy.from_mapping(data, base_dir=path.parent)
    except ConfigError as e:
        raise ConfigError(e.reason, path=e.path, file=e.file or str(path)) from None


def _images(targets: tuple[str, ...], lock: Lock | None) -> list[tuple[ImageReference, str | None]]:
    """(reference, digest to check) for every target; system files give all their images."""
    out: list[tuple[ImageReference, str | None]] = []
    for target in targets:
        if is_system_file(target):
            system = load_system([target], stdin=sys.stdin)
            for reference in system.image_references():
                pinned = lock.image(reference) if lock is not None else None
                out.append((ImageReference.parse(reference), pinned.digest if pinned else None))
        else:
            ref = ImageReference.parse(target)
            pinned = lock.image(target) if lock is not None else None
            out.append((ref, pinned.digest if pinned else None))
    # The same image named twice (two systems, or a system and the command line) once.
    return list(dict.fromkeys(out))


@click.command()
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A trusted public key (PEM); repeatable. Every image must be signed by one.",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A trust policy file (rules of image globs and keys, and a default).",
)
@click.option(
    "--lock",
    "lock_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Check the digests this lock pins (default: what each tag points at now).",
)
@json_option
@click.pass_context
def verify(
    ctx: click.Context,
    targets: tuple[str, ...],
    key_files: tuple[Path, ...],
    policy_file: Path | None,
    lock_path: Path | None,
    as_json: bool,
) -> None:
    """Verify the cosign signatures of images, or of every image of a system.

    TARGETS are image references or system files ('-' for stdin). Prints one line per
    image; any image that is unsigned or badly signed fails the command (exit code 7),
    with every failure named.
    """
    state = state_of(ctx)
    if bool(key_files) == (policy_file is not None):
        raise click.UsageError("give either --key (one or more) or --policy")
    if list(targets).count(STDIN) > 1:
        raise click.UsageError("standard input ('-') can only be read once")
    if policy_file is not None:
        policy = load_policy(policy_file)
    else:
        keys = [PublicKey.load(k) for k in key_files]
        policy = TrustPolicy(default="deny").with_rule("**", keys)
    lock = Lock.load(lock_path) if lock_path is not None else None
    images = _images(targets, lock)
    with state.client() as client:
        results = policy.verify_all(client, images)
    if as_json:
        click.echo(dump_json([_result_json(r) for r in results]))
        return
    for result in results:
        click.echo(str(result))


def _result_json(result: VerificationResult) -> dict[str, Any]:
    return {
        "reference": result.reference,
        "digest": result.digest,
        "verified": result.verified,
        "format": str(result.format) if result.format is not None else None,
        "key": str(result.key) if result.key is not None else None,
        "signature": result.signature,
        "rule": result.rule,
    }
