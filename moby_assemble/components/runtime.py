"""Runtime components: container runtimes unpacked into the root like init images.

Example::

    >>> from moby_assemble.components import runtime
    >>> runtime.runc(registry="127.0.0.1:5000/ci")
    InitImage('127.0.0.1:5000/ci/runc:1.1.5-1', role='runtime')
"""

from __future__ import annotations

from .._model import InitImage, Role
from ._catalog import image_reference

__all__ = ["runc"]


def runc(
    *, registry: str | None = None, tag: str | None = None, image: str | None = None
) -> InitImage:
    """runc (Debian's, 1.1) with the shared libraries it needs, at ``/usr/sbin/runc``.

    Args:
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).
    """
    return InitImage(
        image_reference("runc", registry=registry, tag=tag, image=image), role=Role.RUNTIME
    )
