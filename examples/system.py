"""The example system, written with the builder API (the same system as ``system.yml``).

A Debian cloud kernel; moby-init and runc; at boot DHCP on the first network interface, then
the virtio disk ``/dev/vda`` formatted (only if it has no filesystem yet) and mounted at
``/var/data``; a root shell on the serial console and the demo service, which writes to the
disk and keeps a journal of boots there; at power off, the demo's shutdown record.

Every image comes from the component catalog (``components/``), named
``<registry>/moby-assemble/<component>:<version>``. The default registry, ``localhost:5000``,
is the name ``system.yml`` uses too; ``examples/main.py`` serves the catalog from a registry
on a random port and tells the assembler to pull ``localhost:5000`` through it (a mirror), so
the system keeps its names and its outputs stay byte-identical from run to run.

Example::

    >>> from system import build_system
    >>> system = build_system()
    >>> system.services[1].image
    'localhost:5000/moby-assemble/demo:0.1.0'
    >>> build_system(registry="127.0.0.1:5001").kernel.image
    '127.0.0.1:5001/moby-assemble/kernel:6.1-cloud-1'

Run it to print the system as LinuxKit YAML (``python examples/system.py``): the output is
``system.yml`` without its comments.
"""

from __future__ import annotations

import sys

import moby_assemble as ma
from moby_assemble.components import (
    image_reference,
    init,
    kernel,
    network,
    runtime,
    services,
    storage,
)

__all__ = ["DISK", "NAMESPACE", "build_system"]

#: Where the catalog's images live in a registry.
NAMESPACE = "moby-assemble"
#: The disk the system formats and mounts (QEMU's first virtio disk).
DISK = "/dev/vda"


def build_system(registry: str = "localhost:5000") -> ma.System:
    """The example system, with every image pulled from ``registry``.

    Args:
        registry: the registry host (``host[:port]``) serving the catalog under
            ``moby-assemble/``.

    Returns:
        The system; ``build_system().to_yaml()`` is ``system.yml`` without its comments.
    """
    where = f"{registry}/{NAMESPACE}"
    return (
        ma.System()
        .with_kernel(kernel.debian_cloud(cmdline="console=ttyS0", registry=where))
        .with_init(init.base(registry=where), runtime.runc(registry=where))
        .with_onboot(
            network.dhcp(registry=where),
            storage.format(DISK, registry=where),
            storage.mount(DISK, "/var/data", registry=where),
        )
        .with_service(services.getty(registry=where), services.demo(registry=where))
        .with_onshutdown(
            # The demo image's other command: record a clean shutdown in the journal on the
            # disk, which the next boot's demo service reports.
            ma.Container(
                "demo-shutdown",
                image_reference("demo", registry=where),
                command=("/usr/bin/moby-demo", "shutdown"),
            )
        )
        .with_file(ma.File("etc/hostname", contents="example\n", mode=0o644))
    )


if __name__ == "__main__":
    sys.stdout.write(build_system(*sys.argv[1:2]).to_yaml())
