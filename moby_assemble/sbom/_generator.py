"""The SBOM generator the assembler's ``sbom`` step calls.

:class:`SpdxGenerator` implements :class:`~moby_assemble.assemble.SbomGenerator`: it groups
the assembly's image uses by image, gathers each image's SPDX attestations and packager
label once, and returns one file, ``sbom.spdx.json`` (LinuxKit's default name and place).

Example::

    from moby_assemble.sbom import SpdxGenerator

    with RegistryClient() as client:
        bundle = asm.assemble(system, lock=lock, sbom=SpdxGenerator("web", client=client))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from ._compose import ImageSbomInput, system_sbom

if TYPE_CHECKING:
    from .._platform import Platform
    from ..assemble import ImageUse
    from ..registry import PulledImage, RegistryClient
    from ..store import Store

__all__ = ["DEFAULT_SBOM_PATH", "SpdxGenerator"]

#: Where LinuxKit writes the SBOM (``linuxkit build --sbom-output``'s default).
DEFAULT_SBOM_PATH = "sbom.spdx.json"


def _sbom_reference(use: ImageUse) -> str:
    # An oci-layout: image is named as the system writes it: the pulled reference carries the
    # layout's absolute path on this machine, which would make the SBOM differ per checkout.
    if use.reference.startswith("oci-layout:"):
        return use.reference
    return str(use.image.reference)


@attrs.frozen
class SpdxGenerator:
    """Write one SPDX 2.3 document for the assembled system.

    Args:
        name: the document (system) name.
        client: fetches SPDX attestations the store does not hold (they are then stored,
            so later offline builds find them). Without one, a missing attestation is an
            :class:`~moby_assemble.OfflineError`: an SBOM that silently lost an image's
            contents would not be the same document for the same inputs.
        path: the file's path in the root filesystem.
    """

    name: str = "system"
    client: RegistryClient | None = attrs.field(default=None, eq=False, repr=False)
    path: str = DEFAULT_SBOM_PATH

    def inputs(self, uses: Sequence[ImageUse], store: Store) -> list[ImageSbomInput]:
        """One :class:`ImageSbomInput` per distinct image, with every location it is used at."""
        locations: dict[tuple[str, str], list[str]] = defaultdict(list)
        images: dict[tuple[str, str], PulledImage] = {}
        for use in uses:
            key = (_sbom_reference(use), use.image.manifest.digest)
            locations[key].append(use.location)
            images[key] = use.image
        return [
            ImageSbomInput.from_image(
                images[key], store, locations=locations[key], client=self.client, reference=key[0]
            )
            for key in sorted(images)
        ]

    def generate(
        self,
        uses: Sequence[ImageUse],
        *,
        store: Store,
        platform: Platform,
        source_date_epoch: int,
    ) -> tuple[tuple[str, bytes], ...]:
        """The SBOM file for these image uses (``platform`` is each image's own already)."""
        data = system_sbom(
            self.inputs(uses, store), name=self.name, source_date_epoch=source_date_epoch
        )
        return ((self.path, data),)
