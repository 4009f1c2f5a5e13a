"""Compose one SPDX 2.3 document for a system from what is known about each of its images.

Each image becomes a ``CONTAINER`` package (id from its reference and manifest digest) that
the document ``DESCRIBES``. The image ``CONTAINS`` the packages (and loose files) of its SPDX
attestations, rewritten by :func:`~moby_assemble.sbom._import.import_spdx`, and the Debian
packages the packager recorded; an image with neither ``CONTAINS NOASSERTION`` (its contents
are unknown, which SPDX says explicitly rather than by silence).

Elements with the same id are one element: the same image used at two locations, the same
``.deb`` in two images, the same scanned package in two attested SBOMs. Where two
descriptions of one element disagree on a field, the merge is order-free: list fields are
united, and for other fields the smallest real value wins over ``NOASSERTION`` and absence.
So permuting the images, or the attestations of an image, gives the same bytes.

Example::

    data = system_sbom([ImageSbomInput.from_image(pulled, store)], name="demo",
                       source_date_epoch=0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

import attrs

from .._parse import loads_json
from .._platform import Platform
from .._version import __version__
from ..registry import DEFAULT_MAX_MANIFEST_SIZE
from ._attestations import SpdxAttestation, find_spdx_attestations
from ._debian import DebianPackage, debian_package, packages_from_config
from ._import import import_spdx
from ._spdx import (
    DOCUMENT_ID,
    NOASSERTION,
    Checksum,
    Document,
    ExternalRef,
    ExtractedLicense,
    File,
    Package,
    Relationship,
    canonical_json,
    element_id,
    rfc3339,
    write_json,
)

if TYPE_CHECKING:
    from ..registry import PulledImage, RegistryClient
    from ..store import Store

__all__ = ["ImageSbomInput", "compose_document", "system_sbom"]

_E = TypeVar("_E", File, ExtractedLicense)
_G = TypeVar("_G")


def _sorted_set(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(items)))


def _attestations(items: Iterable[SpdxAttestation]) -> tuple[SpdxAttestation, ...]:
    return tuple(sorted(set(items), key=lambda a: (a.layer, a.manifest)))


def _debs(items: Iterable[DebianPackage]) -> tuple[DebianPackage, ...]:
    return tuple(
        sorted(
            set(items),
            key=lambda p: (p.name, p.version, p.architecture, p.sha256 or "", p.via or ""),
        )
    )


@attrs.frozen
class ImageSbomInput:
    """What is known about one image of the system, for its part of the SBOM.

    Attributes:
        reference: the image reference, normalised (``127.0.0.1:5000/app:1``); with
            ``digest``, what identifies the image package.
        digest: the image manifest's digest (the platform's image, not the index).
        platform: the image's platform.
        index: the digest of the index the image was chosen from, if any.
        locations: where the system uses it (``init[0]``, ``services[2]`` …).
        attestations: SPDX documents attested for it.
        debian_packages: the ``.deb`` files the packager recorded in its label.
    """

    reference: str
    digest: str
    platform: Platform | None = None
    index: str | None = None
    locations: tuple[str, ...] = attrs.field(default=(), converter=_sorted_set)
    attestations: tuple[SpdxAttestation, ...] = attrs.field(default=(), converter=_attestations)
    debian_packages: tuple[DebianPackage, ...] = attrs.field(default=(), converter=_debs)

    @classmethod
    def from_image(
        cls,
        image: PulledImage,
        store: Store,
        *,
        locations: Iterable[str] = (),
        client: RegistryClient | None = None,
        reference: str | None = None,
    ) -> ImageSbomInput:
        """Gather an image's SPDX attestations and packager label.

        Args:
            image: a pulled image (its documents are in ``store``).
            store: the store (fetched attestations are added to it).
            locations: where the system uses the image.
            client: fetches attestations the store lacks.
            reference: the name to give the image (default: the pulled reference).

        Raises:
            OfflineError, IntegrityError, UnsupportedError: see
                :func:`~moby_assemble.sbom.find_spdx_attestations`.
            ConfigError: the packager label is malformed.
        """
        reference = str(image.reference) if reference is None else reference
        data = store.read_blob(image.manifest.digest, max_size=DEFAULT_MAX_MANIFEST_SIZE)
        manifest = loads_json(data)
        annotations = manifest.get("annotations") if isinstance(manifest, dict) else None
        return cls(
            reference=reference,
            digest=image.manifest.digest,
            platform=image.platform,
            index=image.index.digest if image.index is not None else None,
            locations=tuple(locations),
            attestations=find_spdx_attestations(image, store, client=client),
            debian_packages=packages_from_config(
                image.config,
                annotations if isinstance(annotations, dict) else None,
                image=reference,
            ),
        )

    def _name_and_tag(self) -> tuple[str, str | None]:
        name = self.reference.split("@", 1)[0]
        slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > slash:
            return name[:colon], name[colon + 1 :]
        return name, None

    def package(self) -> Package:
        """The ``CONTAINER`` package for the image itself."""
        name, tag = self._name_and_tag()
        algorithm, _, encoded = self.digest.partition(":")
        # A layout path is not a repository anyone else can reach: no repository_url for it.
        qualifiers = {} if name.startswith("oci-layout:") else {"repository_url": name}
        if tag is not None:
            qualifiers["tag"] = tag
        if self.platform is not None:
            qualifiers["arch"] = self.platform.architecture
            qualifiers["os"] = self.platform.os
            if self.platform.variant:
                qualifiers["variant"] = self.platform.variant
        query = "&".join(f"{k}={quote(v, safe='/:')}" for k, v in sorted(qualifiers.items()))
        purl = f"pkg:oci/{quote(name.rsplit('/', 1)[-1])}@{quote(self.digest, safe='')}?{query}"
        comment = f"image manifest {self.digest}"
        if self.index is not None:
            comment += f" from index {self.index}"
        if self.platform is not None:
            comment += f" for {self.platform}"
        if self.locations:
            comment += f"; used at {', '.join(self.locations)}"
        if not self.attestations and not self.debian_packages:
            comment += "; no SBOM attestation and no package list: contents unknown"
        return Package(
            element_id("Image", self.reference, self.digest),
            name,
            tag or self.digest,
            checksums=(Checksum(algorithm.upper(), encoded),),
            external_refs=(ExternalRef("PACKAGE-MANAGER", "purl", purl),),
            purpose="CONTAINER",
            comment=comment,
        )


def _pick(values: Iterable[str | None]) -> str | None:
    """The merged value of a field: the smallest real value, else NOASSERTION, else None."""
    seen = set(values)
    real = sorted(v for v in seen if v is not None and v != NOASSERTION)
    if real:
        return real[0]
    return NOASSERTION if NOASSERTION in seen else None


def _pick_extra(group: Sequence[tuple[tuple[str, str], ...]]) -> tuple[tuple[str, str], ...]:
    """Carried-over fields merged: per field, the smallest value that is not NOASSERTION."""
    by_key: dict[str, set[str]] = defaultdict(set)
    for extra in group:
        for key, value in extra:
            by_key[key].add(value)
    noassertion = canonical_json(NOASSERTION)
    out = []
    for key, values in by_key.items():
        real = sorted(v for v in values if v != noassertion)
        out.append((key, real[0] if real else noassertion))
    return tuple(sorted(out))


def _merge_packages(group: list[Package]) -> Package:
    """One package from several descriptions with the same id (see the module docstring)."""
    first = group[0]
    if all(p == first for p in group):
        return first
    return attrs.evolve(
        first,
        version=_pick(p.version for p in group),
        download_location=_pick(p.download_location for p in group) or NOASSERTION,
        checksums=[c for p in group for c in p.checksums],
        external_refs=[r for p in group for r in p.external_refs],
        purpose=_pick(p.purpose for p in group),
        comment=_pick(p.comment for p in group),
        source_info=_pick(p.source_info for p in group),
        has_files=[f for p in group for f in p.has_files],
        extra=_pick_extra([p.extra for p in group]),
    )


def _merge(group: list[_E]) -> _E:
    """One file or licence from several descriptions with the same id: their identity
    (name and checksums, id and text) is equal, so only carried-over fields can differ."""
    first = group[0]
    if all(e == first for e in group):
        return first
    return attrs.evolve(first, extra=_pick_extra([e.extra for e in group]))


def _grouped(elements: Iterable[_G], key: Callable[[_G], str]) -> list[list[_G]]:
    groups: dict[str, list[_G]] = defaultdict(list)
    for element in elements:
        groups[key(element)].append(element)
    return [groups[k] for k in sorted(groups)]


def _combined(images: Iterable[ImageSbomInput]) -> list[ImageSbomInput]:
    """One input per image (reference and manifest digest): uses at several locations, and
    what each use knew, united."""
    out = []
    for group in _grouped(images, lambda i: canonical_json([i.reference, i.digest])):
        platforms = sorted({i.platform for i in group if i.platform is not None}, key=str)
        out.append(
            attrs.evolve(
                group[0],
                platform=platforms[0] if platforms else None,
                index=_pick(i.index for i in group),
                locations=[loc for i in group for loc in i.locations],
                attestations=[a for i in group for a in i.attestations],
                debian_packages=[d for i in group for d in i.debian_packages],
            )
        )
    return out


def compose_document(
    images: Sequence[ImageSbomInput],
    *,
    name: str,
    source_date_epoch: int = 0,
    creators: Sequence[str] = (),
) -> Document:
    """The system's SPDX document (see :func:`system_sbom`, which writes it)."""
    packages: list[Package] = []
    files: list[File] = []
    licenses: list[ExtractedLicense] = []
    relationships: list[Relationship] = []
    for image in _combined(images):
        pkg = image.package()
        packages.append(pkg)
        relationships.append(Relationship(DOCUMENT_ID, "DESCRIBES", pkg.spdx_id))
        contained: set[str] = set()
        for deb in image.debian_packages:
            spdx = debian_package(deb)
            packages.append(spdx)
            contained.add(spdx.spdx_id)
        for att in image.attestations:
            imported = import_spdx(
                att.document, where=f"SPDX attestation {att.layer} of {image.reference}"
            )
            packages += imported.packages
            files += imported.files
            licenses += imported.licenses
            relationships += imported.relationships
            contained.update(imported.roots)
        contained.discard(pkg.spdx_id)
        if not image.attestations and not image.debian_packages:
            contained.add(NOASSERTION)
        relationships += (Relationship(pkg.spdx_id, "CONTAINS", c) for c in contained)
    return Document(
        name,
        created=rfc3339(source_date_epoch),
        creators=tuple(creators) or (f"Tool: moby-assemble-{__version__}",),
        packages=tuple(_merge_packages(g) for g in _grouped(packages, lambda p: p.spdx_id)),
        files=tuple(_merge(g) for g in _grouped(files, lambda f: f.spdx_id)),
        relationships=tuple(set(relationships)),
        licenses=tuple(_merge(g) for g in _grouped(licenses, lambda lic: lic.license_id)),
        comment=(
            "Composed by moby-assemble from the SPDX attestations of the system's images "
            "and the Debian packages its packager recorded. Deterministic: the same images "
            "give the same bytes; created is SOURCE_DATE_EPOCH."
        ),
    )


def system_sbom(
    images: Sequence[ImageSbomInput],
    *,
    name: str,
    source_date_epoch: int = 0,
    creators: Sequence[str] = (),
) -> bytes:
    """One SPDX 2.3 JSON document for a system, byte-for-byte reproducible.

    Args:
        images: every image of the system (in any order; repeats are merged).
        name: the document name (the system's name).
        source_date_epoch: ``creationInfo.created`` (0 = 1970-01-01T00:00:00Z).
        creators: ``creationInfo.creators``; default ``Tool: moby-assemble-<version>``.

    Raises:
        UnsupportedError: an attested document is not SPDX 2 or is malformed.

    Example::

        >>> img = ImageSbomInput("127.0.0.1:5000/app:1", "sha256:" + "a" * 64)
        >>> b'"relatedSpdxElement": "NOASSERTION"' in system_sbom([img], name="demo")
        True
    """
    doc = compose_document(
        images, name=name, source_date_epoch=source_date_epoch, creators=creators
    )
    return write_json(doc)
