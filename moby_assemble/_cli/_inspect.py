"""``inspect``: an image, a system description, or an assembled root filesystem (a bundle).

What TARGET is decides what is shown:

- a ``.yml``/``.yaml``/``.toml`` file or ``-``: the system's components and images (with
  their pins when ``--lock`` is given);
- a tar file (``build -f tar`` output, the ``rootfs.tar`` of an assembly) or a directory
  holding ``rootfs.tar``: the bundle's boot files and containers, each with the image it came
  from (LinuxKit's ``LINUXKIT.source`` records);
- ``oci-layout:DIR[:TAG]`` or an image reference: the manifest or index, platforms, layers
  and config (from the registry, or from the cache with ``--offline``).

Example::

    moby-assemble inspect system.yml --lock system.lock.json
    moby-assemble inspect --json out/system.tar
    moby-assemble inspect --platform linux/arm64 127.0.0.1:5000/kernel:6.6
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

import click

from .._display import component_rows, system_pretty
from .._errors import OutputError
from .._lock import Lock
from .._platform import Platform
from ..progress import format_bytes
from ..registry import ImageReference
from ..store import Store, is_layout_reference, parse_layout_reference
from ._images import describe_image, render_image
from ._lookup import ImageSource, RegistrySource, StoreSource, store_name
from ._options import (
    cache_option,
    json_option,
    offline_option,
    platform_option,
    requested_platform,
    state_of,
)
from ._state import dump_json, store_for_cache
from ._systems import STDIN, is_system_file, load_system

__all__ = ["describe_bundle", "inspect"]

_CONTAINER_RE = re.compile(r"^containers/(onboot|onshutdown|services)/([^/]+)/")
# Only these small members are read; everything else is listed, never loaded.
_MAX_READ = 1024 * 1024


@click.command()
@click.argument("target")
@cache_option
@offline_option
@platform_option
@click.option(
    "--lock",
    "lock_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="For a system: show the digests this lock pins.",
)
@json_option
@click.pass_context
def inspect(
    ctx: click.Context,
    target: str,
    cache: Path,
    offline: bool,
    platform: Platform | None,
    arch: str | None,
    lock_path: Path | None,
    as_json: bool,
) -> None:
    """Show an image, a system description, or an assembled root filesystem.

    TARGET is a system file (.yml, .yaml, .toml, or '-' for stdin), a root filesystem tar
    (or a directory holding rootfs.tar), 'oci-layout:DIR[:TAG]', or an image reference
    (asked of its registry, or of the cache with --offline). For an index, the image of
    --platform (default: this machine's, if the index has it) is shown as well.
    """
    state = state_of(ctx)
    path = Path(target)
    bundle = _bundle_tar(path) if target != STDIN else None
    if bundle is not None:
        report = describe_bundle(bundle)
        click.echo(dump_json(report) if as_json else render_bundle(report))
        return
    if is_system_file(target):
        report = _describe_system([target], lock_path)
        click.echo(dump_json(report) if as_json else report.pop("text"))
        return
    wanted = requested_platform(platform, arch)
    if is_layout_reference(target):
        layout = parse_layout_reference(target)
        source: ImageSource = StoreSource(Store(layout.path), layout.tag, layout.digest)
        image = describe_image(source, target, wanted)
    elif offline:
        store = store_for_cache(cache, offline=True)
        image = describe_image(StoreSource(store, store_name(store, target)), target, wanted)
    else:
        ref = ImageReference.parse(target)
        with state.client() as client:
            image = describe_image(RegistrySource(client, ref), str(ref), wanted)
    click.echo(dump_json(image) if as_json else render_image(image))


def _bundle_tar(path: Path) -> Path | None:
    """The root filesystem tar ``path`` names (itself, or ``rootfs.tar`` in it), if any."""
    if path.is_dir() and (path / "rootfs.tar").is_file():
        return path / "rootfs.tar"
    if path.is_file() and path.suffix not in (".yml", ".yaml", ".toml"):
        try:
            return path if tarfile.is_tarfile(path) else None
        except OSError:
            return None
    return None


def _describe_system(sources: list[str], lock_path: Path | None) -> dict[str, Any]:
    system = load_system(sources, stdin=sys.stdin)
    lock = Lock.load(lock_path) if lock_path is not None else None
    digests = lock.digests() if lock is not None else None
    rows = component_rows(system, digests)
    report: dict[str, Any] = {
        "platforms": [str(p) for p in system.platforms],
        "images": list(system.image_references()),
        "components": [
            {"stage": stage, "name": name, "role": role, "image": image, "digest": digest}
            for stage, name, role, image, digest in rows
        ],
        "text": system_pretty(system, digests),
    }
    if lock is not None:
        report["lockDifferences"] = list(lock.differences(system))
    return report


def describe_bundle(path: Path) -> dict[str, Any]:
    """What an assembled root filesystem tar holds: boot files, containers, entry count.

    Raises:
        OutputError: the file is not a readable tar.
    """
    boot: dict[str, Any] = {}
    containers: dict[tuple[str, str], dict[str, Any]] = {}
    entries = 0
    size = 0
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                entries += 1
                size += member.size
                _note(tar, member, boot, containers)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise OutputError(f"{path} is not a readable tar: {e}", path=str(path)) from None
    return {
        "path": str(path),
        "entries": entries,
        "contentBytes": size,
        "boot": boot,
        "containers": sorted(
            containers.values(), key=lambda c: (_STAGE_ORDER[c["stage"]], c["directory"])
        ),
    }


_STAGE_ORDER = {"onboot": 0, "onshutdown": 1, "services": 2}


def _note(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    boot: dict[str, Any],
    containers: dict[tuple[str, str], dict[str, Any]],
) -> None:
    name = member.name.removeprefix("./")
    if name in ("boot/kernel", "boot/ucode.cpio"):
        boot[name.removeprefix("boot/")] = member.size
    elif name == "boot/cmdline" and member.size <= _MAX_READ:
        boot["cmdline"] = _read(tar, member).decode("utf-8", "replace")
    match = _CONTAINER_RE.match(name)
    if match is None:
        return
    stage, directory = match.groups()
    info = containers.setdefault(
        (stage, directory),
        {"stage": stage, "directory": f"containers/{stage}/{directory}", "image": None},
    )
    source = member.pax_headers.get("LINUXKIT.source")
    if source and info["image"] is None and not source.startswith("linuxkit."):
        info["image"] = source
    rest = name[match.end() :]
    if rest == "config.json" and member.size <= _MAX_READ:
        config = json.loads(_read(tar, member))
        process = config.get("process") or {}
        info["args"] = process.get("args") or []
        info["readonly"] = bool((config.get("root") or {}).get("readonly"))


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    return f.read() if f is not None else b""


def render_bundle(report: dict[str, Any]) -> str:
    """The bundle report as text."""
    lines = [
        f"Root filesystem: {report['path']}",
        f"Entries:         {report['entries']} ({format_bytes(report['contentBytes'])} of content)",
    ]
    boot = report["boot"]
    if "kernel" in boot:
        lines.append(f"Kernel:          boot/kernel ({format_bytes(boot['kernel'])})")
        lines.append(f"Command line:    {boot.get('cmdline', '').strip()}")
    else:
        lines.append("Kernel:          none")
    if "ucode" in boot:
        lines.append(f"Microcode:       boot/ucode.cpio ({format_bytes(boot['ucode'])})")
    for c in report["containers"]:
        mode = "ro" if c.get("readonly") else "rw"
        args = " ".join(c.get("args") or [])
        lines.append(f"  {c['directory']:<40} {mode}  {c['image'] or '?'}  {args}".rstrip())
    return "\n".join(lines)
