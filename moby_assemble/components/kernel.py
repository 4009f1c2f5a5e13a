"""Kernel components.

Example::

    >>> from moby_assemble.components import kernel
    >>> kernel.debian_cloud()
    Kernel('localhost:5000/moby-assemble/kernel:6.1-cloud-1', cmdline='console=ttyS0')
"""

from __future__ import annotations

from .._model import Kernel
from ._catalog import image_reference

__all__ = ["debian_cloud"]


def debian_cloud(
    *,
    cmdline: str = "console=ttyS0",
    registry: str | None = None,
    tag: str | None = None,
    image: str | None = None,
) -> Kernel:
    """Debian 12's cloud kernel (``linux-image-cloud-amd64``) in LinuxKit's kernel layout.

    It boots under QEMU (TCG) in about two seconds; serial console, cgroups, namespaces and
    ext4 are built in, virtio, overlay and the rest are modules (moby-init loads them).

    Args:
        cmdline: the kernel command line (moby-init reads ``moby.*`` switches from it).
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).

    Example::

        >>> debian_cloud(cmdline="console=ttyS0 moby.poweroff=5", tag="edge").cmdline
        'console=ttyS0 moby.poweroff=5'
    """
    return Kernel(
        image_reference("kernel", registry=registry, tag=tag, image=image), cmdline=cmdline
    )
