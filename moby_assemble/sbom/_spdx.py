"""A small SPDX 2.3 model and its deterministic JSON writer.

Only what a system SBOM needs: packages, files, relationships and extracted licence texts.
Values we generate have typed fields; fields carried over from an image's own SBOM (licences,
suppliers, copyright …) travel in ``extra`` as canonical JSON text, so the values stay
hashable and compare by content.

The JSON is written with **sorted keys** (not SPDX's field order: sorting needs no table and
cannot drift), two-space indentation, UTF-8 and a trailing newline. Every list is sorted too
(packages by name, version and SPDXID; files by name; relationships by their three ends), so
the same content always gives the same bytes whatever order it was collected in. Element ids
are derived from content with :func:`element_id`, never counted or random.

Example::

    >>> pkg = Package(element_id("Package", "busybox", "1.36"), "busybox", "1.36")
    >>> doc = Document("demo", created=rfc3339(0), packages=(pkg,),
    ...                relationships=(Relationship(DOCUMENT_ID, "DESCRIBES", pkg.spdx_id),))
    >>> write_json(doc).startswith(b'{\\n  "SPDXID": "SPDXRef-DOCUMENT"')
    True
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "DATA_LICENSE",
    "DOCUMENT_ID",
    "NOASSERTION",
    "SPDX_VERSION",
    "Checksum",
    "Document",
    "ExternalRef",
    "ExtractedLicense",
    "File",
    "Package",
    "Relationship",
    "canonical_json",
    "document_namespace",
    "element_id",
    "rfc3339",
    "write_json",
]

SPDX_VERSION = "SPDX-2.3"
#: SPDX documents themselves are always CC0-1.0 (SPDX 2.3 §6.2).
DATA_LICENSE = "CC0-1.0"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
NOASSERTION = "NOASSERTION"
#: Hex digits of SHA-256 in generated ids: 64 bits, so two different elements among even a
#: million in one document share an id with odds below one in ten million.
ID_HASH_LENGTH = 16

_ID_RE = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the form used for hashing and comparing values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(*parts: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``parts``."""
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


def element_id(kind: str, *parts: Any, length: int = ID_HASH_LENGTH) -> str:
    """A content-derived SPDXID: ``SPDXRef-<kind>-<sha256 prefix of parts>``.

    >>> element_id("Package", "busybox", "1.36")
    'SPDXRef-Package-2e488e53213ab79f'
    """
    kind = _ID_UNSAFE.sub("-", kind).strip("-") or "Element"
    return f"SPDXRef-{kind}-{content_hash(*parts)[:length]}"


def check_id(spdx_id: str) -> str:
    if not _ID_RE.fullmatch(spdx_id):
        raise ValueError(f"invalid SPDXID {spdx_id!r} (expected SPDXRef-[A-Za-z0-9.-]+)")
    return spdx_id


def rfc3339(epoch: int) -> str:
    """``SOURCE_DATE_EPOCH`` as SPDX wants dates: UTC, seconds, ``Z`` (0 → 1970-01-01T00:00:00Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def document_namespace(name: str, content_digest: str) -> str:
    """A namespace URI unique to this content: the document name and a hash of the rest.

    The same inputs give the same namespace (no random UUID); any change to the document
    gives another one, as SPDX requires of a new document.
    """
    slug = _ID_UNSAFE.sub("-", name).strip("-") or "system"
    return f"https://spdx.org/spdxdocs/{slug}-{content_digest}"


def _extra(items: Mapping[str, Any] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Extra fields as sorted (name, canonical JSON) pairs; a mapping's values are encoded."""
    if isinstance(items, Mapping):
        return tuple(sorted((k, canonical_json(v)) for k, v in items.items()))
    return tuple(sorted(items))


def _decode(extra: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in extra}


@attrs.frozen
class Checksum:
    """A checksum of a package or file (``algorithm``: ``SHA256``, ``SHA1`` …; hex value)."""

    algorithm: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"algorithm": self.algorithm, "checksumValue": self.value}


@attrs.frozen
class ExternalRef:
    """An external reference: a purl (``PACKAGE-MANAGER``/``purl``), a CPE (``SECURITY``) …"""

    category: str
    type: str
    locator: str
    comment: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {
            "referenceCategory": self.category,
            "referenceType": self.type,
            "referenceLocator": self.locator,
        }
        if self.comment is not None:
            out["comment"] = self.comment
        return out


def _ref_key(ref: ExternalRef) -> tuple[str, str, str, str]:
    return (ref.category, ref.type, ref.locator, ref.comment or "")


def _checksums(items: Iterable[Checksum]) -> tuple[Checksum, ...]:
    return tuple(sorted(set(items), key=lambda c: (c.algorithm, c.value)))


def _refs(items: Iterable[ExternalRef]) -> tuple[ExternalRef, ...]:
    return tuple(sorted(set(items), key=_ref_key))


def _ids(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(items)))


def _valid_id(_instance: object, _attribute: object, value: str) -> None:
    check_id(value)


@attrs.frozen
class Package:
    """An SPDX package.

    Attributes:
        spdx_id: ``SPDXRef-…`` (see :func:`element_id`).
        name, version: ``name`` and ``versionInfo``.
        download_location: a URL, ``NONE`` or ``NOASSERTION``.
        checksums, external_refs: kept sorted.
        purpose: ``primaryPackagePurpose`` (``CONTAINER`` for images).
        comment, source_info: free text.
        has_files: ids of files in the package (``hasFiles``).
        extra: other SPDX 2.3 package fields carried over from an image's SBOM, as
            (field, canonical JSON) pairs; the typed fields above win over them.
    """

    spdx_id: str = attrs.field(validator=_valid_id)
    name: str
    version: str | None = None
    download_location: str = NOASSERTION
    checksums: tuple[Checksum, ...] = attrs.field(default=(), converter=_checksums)
    external_refs: tuple[ExternalRef, ...] = attrs.field(default=(), converter=_refs)
    purpose: str | None = None
    comment: str | None = None
    source_info: str | None = None
    has_files: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    extra: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_extra)

    def to_json(self) -> dict[str, Any]:
        out = _decode(self.extra)
        out.update(
            {
                "SPDXID": self.spdx_id,
                "name": self.name,
                "downloadLocation": self.download_location,
            }
        )
        # A package that lists no files was not analysed file by file (SPDX 2.3 §7.8).
        out.setdefault("filesAnalyzed", bool(self.has_files))
        optional: dict[str, Any] = {
            "versionInfo": self.version,
            "primaryPackagePurpose": self.purpose,
            "comment": self.comment,
            "sourceInfo": self.source_info,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.checksums:
            out["checksums"] = [c.to_json() for c in self.checksums]
        if self.external_refs:
            out["externalRefs"] = [r.to_json() for r in self.external_refs]
        if self.has_files:
            out["hasFiles"] = list(self.has_files)
        return out


@attrs.frozen
class File:
    """An SPDX file: its path (``fileName``), checksums, and carried-over ``extra`` fields."""

    spdx_id: str = attrs.field(validator=_valid_id)
    name: str
    checksums: tuple[Checksum, ...] = attrs.field(converter=_checksums)
    extra: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_extra)

    def to_json(self) -> dict[str, Any]:
        out = _decode(self.extra)
        out.update(
            {
                "SPDXID": self.spdx_id,
                "fileName": self.name,
                "checksums": [c.to_json() for c in self.checksums],
            }
        )
        return out


@attrs.frozen
class Relationship:
    """``element`` ``type`` ``related`` (``related`` may be ``NONE`` or ``NOASSERTION``)."""

    element: str
    type: str
    related: str
    comment: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {
            "spdxElementId": self.element,
            "relationshipType": self.type,
            "relatedSpdxElement": self.related,
        }
        if self.comment is not None:
            out["comment"] = self.comment
        return out

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.element, self.type, self.related, self.comment or "")


@attrs.frozen
class ExtractedLicense:
    """A licence that is not on the SPDX list: ``LicenseRef-…`` and its text."""

    license_id: str
    text: str
    extra: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_extra)

    def to_json(self) -> dict[str, Any]:
        out = _decode(self.extra)
        out.update({"licenseId": self.license_id, "extractedText": self.text})
        return out


@attrs.frozen
class Document:
    """An SPDX 2.3 document.

    Attributes:
        name: the document name (the system's).
        created: ``creationInfo.created`` (see :func:`rfc3339`).
        creators: ``Tool: …``, ``Organization: …`` entries.
        namespace: ``documentNamespace``; ``None`` derives it from the content
            (:func:`document_namespace`).
        comment: the document comment.
    """

    name: str
    created: str
    creators: tuple[str, ...] = ("Tool: moby-assemble",)
    packages: tuple[Package, ...] = ()
    files: tuple[File, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    licenses: tuple[ExtractedLicense, ...] = ()
    namespace: str | None = None
    comment: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The document as JSON values, every list in its canonical order."""
        out: dict[str, Any] = {
            "spdxVersion": SPDX_VERSION,
            "dataLicense": DATA_LICENSE,
            "SPDXID": DOCUMENT_ID,
            "name": self.name,
            "creationInfo": {"created": self.created, "creators": sorted(set(self.creators))},
            "packages": [
                p.to_json()
                for p in sorted(self.packages, key=lambda p: (p.name, p.version or "", p.spdx_id))
            ],
            "relationships": [
                r.to_json() for r in sorted(set(self.relationships), key=Relationship.sort_key)
            ],
        }
        if self.files:
            out["files"] = [
                f.to_json() for f in sorted(self.files, key=lambda f: (f.name, f.spdx_id))
            ]
        if self.licenses:
            out["hasExtractedLicensingInfos"] = [
                lic.to_json() for lic in sorted(self.licenses, key=lambda lic: lic.license_id)
            ]
        if self.comment is not None:
            out["comment"] = self.comment
        namespace = self.namespace
        if namespace is None:
            namespace = document_namespace(self.name, content_hash(out))
        out["documentNamespace"] = namespace
        return out


def write_json(doc: Document) -> bytes:
    """The document's bytes: sorted keys, two-space indent, UTF-8, trailing newline."""
    text = json.dumps(doc.to_json(), sort_keys=True, indent=2, ensure_ascii=False)
    return text.encode() + b"\n"
