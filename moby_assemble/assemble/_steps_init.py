"""The ``init`` step: init and runtime images unpacked straight into the root filesystem.

Images are written one after another, in order; a later image's file replaces an earlier
one's when the tar is unpacked (LinuxKit's layering). Each passes through LinuxKit's image
filter (:func:`~moby_assemble.assemble._rootfs.copy_image`), with ``etc/resolv.conf`` made a
symlink to ``/run/resolvconf/resolv.conf``. When several init images carry an apk database
(``lib/apk/db/installed``), their union is appended after the last one, as LinuxKit does, so
that every image's packages stay known.

Example::

    init_step(ctx)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._rootfs import ApkDatabases

if TYPE_CHECKING:
    from ._context import BuildContext

__all__ = ["init_step"]


def init_step(ctx: BuildContext) -> bool:
    """Write every init image into the root; no-op without any."""
    if not ctx.system.init:
        return False
    apk = ApkDatabases()
    try:
        for index, init in enumerate(ctx.system.init):
            location = f"init[{index}]"
            ctx.record_use(location, init.image)
            ctx.copy_image(init.image, location, prefix="", kind="init", apk=apk)
        apk.write_union(ctx.writer)
    finally:
        apk.close()
    return True
