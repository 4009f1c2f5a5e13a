"""Network components (onboot containers in the host network namespace).

Example::

    >>> from moby_assemble.components import network
    >>> network.dhcp()
    Container('dhcp', 'localhost:5000/moby-assemble/dhcp:1.35.0-1', role='network')
    >>> network.dhcp("eth1").command
    ('/usr/bin/moby-dhcp', 'eth1')
"""

from __future__ import annotations

from .._errors import ConfigError
from .._model import Container, Role
from ._catalog import image_reference

__all__ = ["dhcp"]


def dhcp(
    interface: str | None = None,
    *,
    name: str = "dhcp",
    registry: str | None = None,
    tag: str | None = None,
    image: str | None = None,
) -> Container:
    """DHCP (busybox ``udhcpc``) on one interface, then exit: an onboot container.

    It sets the address and the default route and writes ``/run/resolvconf/resolv.conf``
    (moby-init's ``/etc/resolv.conf`` points there). The lease is not renewed.

    Args:
        interface: the interface (default: the first Ethernet interface the kernel
            registered).
        name: the container name.
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).
    """
    command = None
    if interface is not None:
        if not interface or "/" in interface or " " in interface:
            raise ConfigError(f"{interface!r} is not a network interface name", path="interface")
        command = ("/usr/bin/moby-dhcp", interface)
    return Container(
        name,
        image_reference("dhcp", registry=registry, tag=tag, image=image),
        role=Role.NETWORK,
        command=command,
    )
