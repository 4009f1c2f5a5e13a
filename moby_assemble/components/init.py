"""Init components: what is unpacked at the root of the system before anything runs.

Example::

    >>> from moby_assemble.components import init
    >>> init.base()
    InitImage('localhost:5000/moby-assemble/init:0.1.0')
"""

from __future__ import annotations

from .._model import InitImage, Role
from ._catalog import image_reference

__all__ = ["base"]


def base(
    *, registry: str | None = None, tag: str | None = None, image: str | None = None
) -> InitImage:
    """moby-init: busybox init and the scripts that bring the system up.

    At boot it moves the root from the initramfs into a tmpfs (so runc can pivot_root),
    mounts the pseudo-filesystems and cgroup2, loads kernel modules, runs every
    ``containers/onboot/*`` in order to completion with runc, starts every
    ``containers/services/*`` detached, and at power off runs ``containers/onshutdown/*``.
    Each step is logged on the console as ``moby-init: ...``. It needs a runtime
    (:func:`moby_assemble.components.runtime.runc`).

    Args:
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).
    """
    return InitImage(
        image_reference("init", registry=registry, tag=tag, image=image), role=Role.INIT
    )
