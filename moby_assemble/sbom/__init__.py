"""A deterministic SPDX 2.3 SBOM of an assembled system.

LinuxKit writes ``sbom.spdx.json`` from the SPDX attestations of its images, but with random
ids, namespace and time, so it is left out of reproducible builds. Here the document is a
pure function of its inputs: ids are derived from content, the namespace from a hash of the
document, ``created`` from ``SOURCE_DATE_EPOCH``, keys and lists are sorted. It is composed
from each image's BuildKit SPDX attestations (:func:`find_spdx_attestations`) and, for
catalog components, the Debian packages the packager recorded (``PACKAGES_LABEL``).

Example::

    from moby_assemble.sbom import ImageSbomInput, SpdxGenerator, system_sbom

    bundle = asm.assemble(system, lock=lock, sbom=SpdxGenerator("web", client=client))
    # or, by hand:
    data = system_sbom([ImageSbomInput.from_image(img, store) for img in pulled],
                       name="web", source_date_epoch=0)

.. versionadded:: 0.1
"""

from ._attestations import (
    IN_TOTO_MEDIA_TYPE,
    MAX_STATEMENT_SIZE,
    SPDX_PREDICATE_TYPE,
    SpdxAttestation,
    find_spdx_attestations,
)
from ._compose import ImageSbomInput, compose_document, system_sbom
from ._debian import (
    PACKAGES_LABEL,
    DebianPackage,
    debian_package,
    debian_purl,
    packages_from_config,
    parse_packages_label,
)
from ._generator import DEFAULT_SBOM_PATH, SpdxGenerator
from ._import import ImportedSbom, import_spdx
from ._spdx import (
    Checksum,
    Document,
    ExternalRef,
    ExtractedLicense,
    File,
    Package,
    Relationship,
    element_id,
    write_json,
)

__all__ = [
    "DEFAULT_SBOM_PATH",
    "IN_TOTO_MEDIA_TYPE",
    "MAX_STATEMENT_SIZE",
    "PACKAGES_LABEL",
    "SPDX_PREDICATE_TYPE",
    "Checksum",
    "DebianPackage",
    "Document",
    "ExternalRef",
    "ExtractedLicense",
    "File",
    "ImageSbomInput",
    "ImportedSbom",
    "Package",
    "Relationship",
    "SpdxAttestation",
    "SpdxGenerator",
    "compose_document",
    "debian_package",
    "debian_purl",
    "element_id",
    "find_spdx_attestations",
    "import_spdx",
    "packages_from_config",
    "parse_packages_label",
    "system_sbom",
    "write_json",
]
