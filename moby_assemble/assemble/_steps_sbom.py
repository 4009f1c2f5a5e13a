"""The ``sbom`` step: a hook for a software bill of materials, off by default.

LinuxKit consolidates the SPDX attestations of every image into one ``sbom.spdx.json`` at the
root. Here the step calls an :class:`~moby_assemble.assemble.SbomGenerator` with every image
use of the assembly and writes the files it returns (``LINUXKIT.source`` =
``linuxkit.sbom``). Without a generator (``assemble(..., sbom=None)``, the default) the step
is skipped: no SBOM is ever invented.

Example::

    sbom_step(ctx)   # False: nothing to do without a generator
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._context import BuildContext

__all__ = ["SBOM_SOURCE", "sbom_step"]

#: ``LINUXKIT.source`` of the SBOM files.
SBOM_SOURCE = "linuxkit.sbom"


def sbom_step(ctx: BuildContext) -> bool:
    """Write what the SBOM generator returns; skipped without one."""
    if ctx.sbom is None:
        return False
    files = ctx.sbom.generate(
        tuple(ctx.uses),
        store=ctx.store,
        platform=ctx.platform,
        source_date_epoch=ctx.source_date_epoch,
    )
    for path, data in files:
        name = path.lstrip("/")
        parent = name.rpartition("/")[0]
        if parent:
            ctx.writer.mkdirs(parent, source=SBOM_SOURCE, location="sbom")
        ctx.writer.file(name, data, source=SBOM_SOURCE, location="sbom")
    return True
