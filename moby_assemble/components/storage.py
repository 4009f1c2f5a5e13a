"""Storage components: format and mount block devices (onboot containers).

Example::

    >>> from moby_assemble.components import storage
    >>> storage.format("/dev/vda").command
    ('/usr/bin/moby-format', '/dev/vda', 'ext4')
    >>> m = storage.mount("/dev/vda", "/var/data")
    >>> m.binds_add, m.runtime.mkdir
    (('/var/data:/var/data:rshared,rbind',), ('/var/data',))
"""

from __future__ import annotations

import posixpath

from .._errors import ConfigError
from .._model import Container, Role, Runtime
from ._catalog import image_reference

__all__ = ["format", "mount"]

_FILESYSTEMS = ("ext2", "ext3", "ext4")


def _absolute(value: str, what: str) -> str:
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or posixpath.normpath(value) != value
    ):
        raise ConfigError(f"{what} must be a clean absolute path, not {value!r}", path=what)
    return value


# Named after the component; it shadows the builtin format() only inside this module.
def format(
    device: str,
    *,
    filesystem: str = "ext4",
    label: str | None = None,
    name: str = "format",
    registry: str | None = None,
    tag: str | None = None,
    image: str | None = None,
) -> Container:
    """Make a filesystem on ``device`` unless it already has one (``blkid`` decides).

    Args:
        device: the block device (``/dev/vda``); the container waits up to 10 s for it.
        filesystem: ``ext4`` (default), ``ext3`` or ``ext2``.
        label: a filesystem label.
        name: the container name.
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).

    Raises:
        ConfigError: the device is not an absolute path, or the filesystem is unknown.
    """
    _absolute(device, "device")
    if filesystem not in _FILESYSTEMS:
        raise ConfigError(
            f"filesystem {filesystem!r} is not one of {', '.join(_FILESYSTEMS)}",
            path="filesystem",
        )
    command = ("/usr/bin/moby-format", device, filesystem, *((label,) if label else ()))
    return Container(
        name,
        image_reference("format", registry=registry, tag=tag, image=image),
        role=Role.STORAGE,
        command=command,
    )


def mount(
    device: str,
    path: str,
    *,
    filesystem: str | None = None,
    name: str = "mount",
    registry: str | None = None,
    tag: str | None = None,
    image: str | None = None,
) -> Container:
    """Mount ``device`` at ``path`` of the host, visible to the host and later containers.

    ``path`` is bound into the container with shared propagation (``binds.add``) and
    created by moby-init before the container starts (``runtime.mkdir``), as LinuxKit's
    ``mount`` package does for ``/var``.

    Args:
        device: the block device (``/dev/vda``).
        path: where to mount it (``/var/data``).
        filesystem: the type (default: detected).
        name: the container name.
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).

    Raises:
        ConfigError: the device or path is not a clean absolute path, or the path is ``/``.
    """
    _absolute(device, "device")
    _absolute(path, "path")
    if path == "/":
        raise ConfigError("cannot mount over the root filesystem", path="path")
    command = ("/usr/bin/moby-mount", device, path, *((filesystem,) if filesystem else ()))
    return Container(
        name,
        image_reference("mount", registry=registry, tag=tag, image=image),
        role=Role.STORAGE,
        command=command,
        binds_add=(f"{path}:{path}:rshared,rbind",),
        runtime=Runtime(mkdir=(path,)),
    )
