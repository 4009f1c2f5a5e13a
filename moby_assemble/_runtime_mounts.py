"""The ``mounts`` of ``config.json`` and the root-filesystem mounts of ``runtime.json``.

``config.json`` mounts are built as LinuxKit's ``ConfigToOCI`` builds them: five defaults
(``/proc``, ``/dev``, ``/dev/pts``, ``/sys``, ``/sys/fs/cgroup``; ``/dev`` and ``/sys`` read-only
for a read-only container), then ``tmpfs`` entries, then ``binds``, then ``mounts``, each keyed by
destination (a later one replaces an earlier one) and finally sorted by destination.

Example:
    >>> rootfs_mounts("containers/services/a", lower="containers/services/a/lower",
    ...               readonly=False)[0]
    {'destination': '/containers/services/a/tmp', 'type': 'tmpfs', 'source': 'tmpfs'}
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._precedence import Sources

__all__ = [
    "VOLUMES_DIR",
    "container_mounts",
    "id_mappings",
    "mount_object",
    "rootfs_mounts",
    "volume_source",
]

#: Where named volumes live in the assembled root filesystem (LinuxKit's ``allVolumesBaseDir``).
VOLUMES_DIR = "/containers/volumes"

_VOLUME_NAME = re.compile(r"[a-z0-9_-]+")

# Docker's default options; LinuxKit has no /dev/shm and no /dev/mqueue by default.
_DEFAULT_MOUNTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/proc", "proc", ("nosuid", "nodev", "noexec", "relatime")),
    ("/dev", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
    ("/dev/pts", "devpts", ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")),
    ("/sys", "sysfs", ("nosuid", "noexec", "nodev")),
    ("/sys/fs/cgroup", "cgroup", ("nosuid", "noexec", "nodev", "relatime", "ro")),
)
_TYPE_FROM_SOURCE = frozenset({"mqueue", "devpts", "proc", "sysfs", "cgroup"})
_DEFAULT_DESTINATION = {
    "proc": "/proc",
    "devpts": "/dev/pts",
    "sysfs": "/sys",
    "cgroup": "/sys/fs/cgroup",
    "mqueue": "/dev/mqueue",
}


def mount_object(
    destination: str,
    type_: str,
    source: str,
    options: Sequence[str] | None,
    uid_mappings: Any = None,
    gid_mappings: Any = None,
) -> dict[str, Any]:
    """A runtime-spec ``Mount`` object, empty fields left out as Go's ``omitempty`` does."""
    mount: dict[str, Any] = {"destination": destination}
    if type_:
        mount["type"] = type_
    if source:
        mount["source"] = source
    if options:
        mount["options"] = list(options)
    if uid_mappings:
        mount["uidMappings"] = id_mappings(uid_mappings)
    if gid_mappings:
        mount["gidMappings"] = id_mappings(gid_mappings)
    return mount


def id_mappings(mappings: Iterable[Any]) -> list[dict[str, int]]:
    return [{"containerID": m.container_id, "hostID": m.host_id, "size": m.size} for m in mappings]


def container_mounts(
    src: Sources, readonly: bool, volumes: Mapping[str, bool] | None
) -> list[dict[str, Any]]:
    """Defaults, then ``tmpfs``, then ``binds``, then ``mounts``; keyed by destination, sorted."""
    table: dict[str, dict[str, Any]] = {}
    for destination, type_, defaults in _DEFAULT_MOUNTS:
        options: list[str] | None = list(defaults)
        if readonly and destination in ("/dev", "/sys"):
            options = [*defaults, "ro"]
        table[destination] = mount_object(destination, type_, type_, options)

    tmpfs, origin = src.pick("tmpfs")
    for index, entry in enumerate(tmpfs or ()):
        path = f"tmpfs[{index}]"
        parts = entry.split(":")
        if len(parts) > 2:
            raise src.error(path, f"{entry!r} has more than one ':'", origin)
        if not parts[0].startswith("/"):
            raise src.error(path, f"{entry!r}: the destination is not absolute", origin)
        options = parts[1].split(",") if len(parts) == 2 else None
        table[parts[0]] = mount_object(parts[0], "tmpfs", "tmpfs", options)

    base, extra, origin = src.pick_add("binds", "binds_add")
    binds = [(f"binds[{i}]", entry, origin) for i, entry in enumerate(base or ())]
    binds += [
        (f"binds.add[{i}]", entry, "container")
        for i, entry in enumerate(extra or ())
        if entry not in (base or ())  # LinuxKit would list it twice
    ]
    for path, entry, origin in binds:
        parts = entry.split(":")
        if len(parts) < 2:
            raise src.error(path, f"{entry!r} is not 'source:destination[:options]'", origin)
        if len(parts) > 3:
            raise src.error(path, f"{entry!r} has more than two ':'", origin)
        source, destination = parts[0], parts[1]
        if not source or not destination.startswith("/"):
            raise src.error(path, f"{entry!r} needs a source and an absolute destination", origin)
        bind_options = ["rw", "rbind", "rshared"]  # LinuxKit's default
        if len(parts) == 3:
            bind_options = [*parts[2].split(","), "rbind"]
        source = volume_source(src, source, bind_options, path, origin, volumes)
        table[destination] = mount_object(destination, "bind", source, bind_options)

    mounts, origin = src.pick("mounts")
    for index, m in enumerate(mounts or ()):
        path = f"mounts[{index}]"
        type_, source, destination = m.type or "", m.source or "", m.destination or ""
        if not type_ and source in _TYPE_FROM_SOURCE:
            type_ = source
        if not type_ and destination == "/dev":
            type_ = "tmpfs"
        if not type_:
            raise src.error(path, f"the mount on {destination or '?'} has no type", origin)
        source = source or type_
        destination = destination or _DEFAULT_DESTINATION.get(type_, "")
        if not destination.startswith("/"):
            raise src.error(path, f"the {type_} mount needs an absolute destination", origin)
        mount_options = list(m.options or ())
        if type_ == "bind":
            source = volume_source(src, source, mount_options, path, origin, volumes)
        table[destination] = mount_object(
            destination, type_, source, mount_options, m.uid_mappings, m.gid_mappings
        )
    # Sorted by destination: deterministic, and /dev is mounted before /dev/pts.
    return [table[destination] for destination in sorted(table)]


def volume_source(
    src: Sources,
    source: str,
    options: Sequence[str],
    path: str,
    origin: str,
    volumes: Mapping[str, bool] | None,
) -> str:
    """A bind source not starting with ``/`` names a volume: use the volume's merged dir."""
    if source.startswith("/"):
        return source
    if not _VOLUME_NAME.fullmatch(source):
        raise src.error(path, f"source {source!r} is neither absolute nor a volume name", origin)
    if volumes is not None:
        if source not in volumes:
            raise src.error(path, f"there is no volume named {source!r}", origin)
        writable = next((o == "rw" for o in options if o in ("rw", "ro")), True)
        if volumes[source] and writable:
            raise src.error(path, f"volume {source!r} is read-only: bind it with 'ro'", origin)
    return f"{VOLUMES_DIR}/{source}/merged"


def rootfs_mounts(bundle: str, *, lower: str, readonly: bool) -> list[dict[str, Any]]:
    """The mounts LinuxKit's ``service`` tool makes before it starts a container.

    Read-only: a bind of ``lower`` onto ``<bundle>/rootfs`` (onto itself when not
    de-duplicated: runc wants the root to be a mount point). Read-write: a ``tmpfs`` on
    ``<bundle>/tmp``, remounted private, and an overlay of ``lower`` with upper and work
    directories in that tmpfs on ``<bundle>/rootfs``.

    Paths may be given with or without the leading ``/``; the result is absolute.

    Example:
        >>> rootfs_mounts("containers/onboot/000-a", lower="containers/onboot/000-a/rootfs",
        ...               readonly=True)
        [{'destination': '/containers/onboot/000-a/rootfs', 'source': '/containers/onboot/000-a/rootfs', 'options': ['bind']}]
    """  # noqa: E501
    root = posixpath.join("/", bundle.strip("/"))
    lower = posixpath.join("/", lower.strip("/"))
    target = posixpath.join(root, "rootfs")
    if readonly:
        return [{"destination": target, "source": lower, "options": ["bind"]}]
    tmp = posixpath.join(root, "tmp")
    return [
        {"destination": tmp, "type": "tmpfs", "source": "tmpfs"},
        # private: nothing outside should see the container's temporary layers
        {"destination": tmp, "options": ["remount", "private"]},
        {
            "destination": target,
            "type": "overlay",
            "source": "overlay",
            "options": [
                f"lowerdir={lower}",
                f"upperdir={tmp}/upper",
                f"workdir={tmp}/work",
            ],
        },
    ]
