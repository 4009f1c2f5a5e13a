"""Service components: long-running containers.

Example::

    >>> from moby_assemble.components import services
    >>> services.getty()
    Container('getty', 'localhost:5000/moby-assemble/getty:1.35.0-1', role='service')
    >>> services.demo(data="/srv/data").binds
    ('/srv/data:/data',)
"""

from __future__ import annotations

import posixpath

from .._errors import ConfigError
from .._model import Container, Role, Runtime
from ._catalog import image_reference

__all__ = ["demo", "getty"]

_DEMO_DATA = "/var/data"


def getty(
    *,
    name: str = "getty",
    registry: str | None = None,
    tag: str | None = None,
    image: str | None = None,
) -> Container:
    """A root shell on every ``console=`` of the kernel command line, without a password.

    It runs in the host's PID, network, IPC and UTS namespaces with every capability (like
    LinuxKit's ``getty`` with ``INSECURE=true``), so ``poweroff`` in it powers the system off
    cleanly. For demos and debugging only.

    Args:
        name: the container name.
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).
    """
    return Container(
        name,
        image_reference("getty", registry=registry, tag=tag, image=image),
        role=Role.SERVICE,
    )


def demo(
    *,
    data: str = _DEMO_DATA,
    name: str = "demo",
    registry: str | None = None,
    tag: str | None = None,
    image: str | None = None,
) -> Container:
    """A small service that proves it reaches the storage and the network.

    It writes a file to ``data`` (bound at ``/data``), prints ``demo: storage ok (...)`` and
    ``demo: network ok (<interface> <address>, gateway ...)`` (or ``FAILED``) and idles.

    Args:
        data: the host directory to use (default ``/var/data``, where
            ``storage.mount(device, "/var/data")`` puts a disk).
        name: the container name.
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).

    Raises:
        ConfigError: ``data`` is not a clean absolute path.
    """
    if not data.startswith("/") or posixpath.normpath(data) != data or data == "/":
        raise ConfigError(f"data must be a clean absolute directory, not {data!r}", path="data")
    extra = {}
    if data != _DEMO_DATA:
        # The label binds /var/data; another directory replaces that bind.
        extra = {"binds": (f"{data}:/data",), "runtime": Runtime(mkdir=(data,))}
    return Container(
        name,
        image_reference("demo", registry=registry, tag=tag, image=image),
        role=Role.SERVICE,
        **extra,  # type: ignore[arg-type]
    )
