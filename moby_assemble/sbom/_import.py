"""Take an image's own SPDX 2.x document apart into elements with content-derived ids.

An attested SBOM (BuildKit's, made by syft or another scanner) has ids that mean something
only inside it (``SPDXRef-Package-python-abc123`` or a counter) and may collide with another
image's. Here every package, file and ``LicenseRef-`` gets a new id derived from what it is,
so the same package found in two images becomes one element, and relationships are rewritten
to the new ids. What a system SBOM cannot carry is left out, each for a reason:

* the document's own header, ``documentDescribes`` and ``DESCRIBES`` relationships (the
  system document describes the images instead);
* snippets and external document references (they point into files and documents we do
  not ship), and the deprecated file fields ``artifactOfs``/``fileDependencies``;
* files without checksums (SPDX 2.3 requires them), relationships whose ends were left out,
  relationship types SPDX 2.3 does not define, and field values of the wrong JSON type, so
  one sloppy scanner cannot make the system document invalid.

Example::

    >>> doc = {"spdxVersion": "SPDX-2.3", "packages": [
    ...     {"SPDXID": "SPDXRef-1", "name": "zlib", "versionInfo": "1.3"}]}
    >>> [p.name for p in import_spdx(doc, where="image").packages]
    ['zlib']
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._errors import UnsupportedError
from ._spdx import (
    DOCUMENT_ID,
    NOASSERTION,
    Checksum,
    ExternalRef,
    ExtractedLicense,
    File,
    Package,
    Relationship,
    content_hash,
    element_id,
)

__all__ = ["ImportedSbom", "import_spdx"]

_LOG = logging.getLogger("moby_assemble.sbom")

_RELATIONSHIP_TYPES = frozenset(
    (
        "VARIANT_OF",
        "COPY_OF",
        "PATCH_FOR",
        "TEST_DEPENDENCY_OF",
        "CONTAINED_BY",
        "DATA_FILE_OF",
        "OPTIONAL_COMPONENT_OF",
        "ANCESTOR_OF",
        "GENERATES",
        "CONTAINS",
        "OPTIONAL_DEPENDENCY_OF",
        "FILE_ADDED",
        "REQUIREMENT_DESCRIPTION_FOR",
        "DEV_DEPENDENCY_OF",
        "DEPENDENCY_OF",
        "BUILD_DEPENDENCY_OF",
        "DESCRIBES",
        "PREREQUISITE_FOR",
        "HAS_PREREQUISITE",
        "PROVIDED_DEPENDENCY_OF",
        "DYNAMIC_LINK",
        "DESCRIBED_BY",
        "METAFILE_OF",
        "DEPENDENCY_MANIFEST_OF",
        "PATCH_APPLIED",
        "RUNTIME_DEPENDENCY_OF",
        "TEST_OF",
        "TEST_TOOL_OF",
        "DEPENDS_ON",
        "SPECIFICATION_FOR",
        "FILE_MODIFIED",
        "DISTRIBUTION_ARTIFACT",
        "AMENDS",
        "DOCUMENTATION_OF",
        "GENERATED_FROM",
        "STATIC_LINK",
        "OTHER",
        "BUILD_TOOL_OF",
        "TEST_CASE_OF",
        "PACKAGE_OF",
        "DESCENDANT_OF",
        "FILE_DELETED",
        "EXPANDED_FROM_ARCHIVE",
        "DEV_TOOL_OF",
        "EXAMPLE_OF",
    )
)
_CHECKSUM_ALGORITHMS = frozenset(
    (
        "SHA1",
        "BLAKE3",
        "SHA3-384",
        "SHA256",
        "SHA384",
        "BLAKE2b-512",
        "BLAKE2b-256",
        "SHA3-512",
        "MD2",
        "ADLER32",
        "MD4",
        "SHA3-256",
        "BLAKE2b-384",
        "SHA512",
        "MD6",
        "MD5",
        "SHA224",
    )
)
_REF_CATEGORIES = frozenset({"OTHER", "PERSISTENT-ID", "SECURITY", "PACKAGE-MANAGER"})
_PURPOSES = frozenset(
    (
        "OTHER",
        "INSTALL",
        "ARCHIVE",
        "FIRMWARE",
        "APPLICATION",
        "FRAMEWORK",
        "LIBRARY",
        "CONTAINER",
        "SOURCE",
        "DEVICE",
        "OPERATING_SYSTEM",
        "FILE",
    )
)
_FILE_TYPES = frozenset(
    (
        "OTHER",
        "DOCUMENTATION",
        "IMAGE",
        "VIDEO",
        "ARCHIVE",
        "SPDX",
        "APPLICATION",
        "SOURCE",
        "BINARY",
        "TEXT",
        "AUDIO",
    )
)
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")
_SPECIAL = frozenset({"NONE", NOASSERTION})


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_annotations(v: Any) -> bool:
    keys = {"annotationDate", "annotationType", "annotator", "comment"}
    return isinstance(v, list) and all(
        isinstance(a, dict)
        and set(a) == keys
        and all(isinstance(a[k], str) for k in keys)
        and a["annotationType"] in ("OTHER", "REVIEW")
        for a in v
    )


def _is_verification_code(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("packageVerificationCodeValue"), str)
        and set(v) <= {"packageVerificationCodeValue", "packageVerificationCodeExcludedFiles"}
        and _is_strs(v.get("packageVerificationCodeExcludedFiles", []))
    )


def _is_file_types(v: Any) -> bool:
    return _is_strs(v) and set(v) <= _FILE_TYPES


def _is_cross_refs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, dict) and _is_str(x.get("url")) for x in v)


Check = Callable[[Any], bool]
#: Package fields carried over as they are (after licence ids are rewritten), with the
#: check their value must pass. Typed fields (name, version, checksums …) are not listed.
_PACKAGE_EXTRA: dict[str, Check] = {
    "annotations": _is_annotations,
    "attributionTexts": _is_strs,
    "builtDate": _is_str,
    "copyrightText": _is_str,
    "description": _is_str,
    "filesAnalyzed": _is_bool,
    "homepage": _is_str,
    "licenseComments": _is_str,
    "licenseConcluded": _is_str,
    "licenseDeclared": _is_str,
    "licenseInfoFromFiles": _is_strs,
    "originator": _is_str,
    "packageFileName": _is_str,
    "packageVerificationCode": _is_verification_code,
    "releaseDate": _is_str,
    "summary": _is_str,
    "supplier": _is_str,
    "validUntilDate": _is_str,
}
_FILE_EXTRA: dict[str, Check] = {
    "annotations": _is_annotations,
    "attributionTexts": _is_strs,
    "comment": _is_str,
    "copyrightText": _is_str,
    "fileContributors": _is_strs,
    "fileTypes": _is_file_types,
    "licenseComments": _is_str,
    "licenseConcluded": _is_str,
    "licenseInfoInFiles": _is_strs,
    "noticeText": _is_str,
}
_LICENSE_EXTRA: dict[str, Check] = {
    "comment": _is_str,
    "crossRefs": _is_cross_refs,
    "name": _is_str,
    "seeAlsos": _is_strs,
}
_LICENSE_FIELDS = frozenset(
    {"licenseConcluded", "licenseDeclared", "licenseInfoFromFiles", "licenseInfoInFiles"}
)


@attrs.frozen
class ImportedSbom:
    """An attested SBOM's elements with new ids.

    Attributes:
        packages, files, relationships, licenses: the elements kept.
        roots: what the image itself contains: every package, and every file no package
            claims (by ``hasFiles`` or ``CONTAINS``).
    """

    packages: tuple[Package, ...] = ()
    files: tuple[File, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    licenses: tuple[ExtractedLicense, ...] = ()
    roots: tuple[str, ...] = ()


class _Importer:
    def __init__(self, where: str) -> None:
        self.where = where
        self.ids: dict[str, str] = {}
        self.license_ids: dict[str, str] = {}

    def fail(self, message: str) -> UnsupportedError:
        return UnsupportedError(f"{self.where}: {message}", reference=self.where)

    def items(self, doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
            raise self.fail(f"{key!r} must be a list of objects")
        return value

    def dropped(self, what: str, why: str) -> None:
        _LOG.debug("%s: left out %s (%s)", self.where, what, why)

    # -- licences -------------------------------------------------------------------------

    def license(self, item: dict[str, Any], i: int) -> ExtractedLicense | None:
        old, text = item.get("licenseId"), item.get("extractedText")
        if not isinstance(old, str) or not _LICENSE_REF.fullmatch(old) or not isinstance(text, str):
            self.dropped(f"hasExtractedLicensingInfos[{i}]", "no LicenseRef- id or no text")
            return None
        # The old name stays readable; the hash keeps texts from different images apart.
        new = f"{old}-{content_hash(text)[:12]}"
        self.license_ids[old] = new
        return ExtractedLicense(new, text, self.carried(item, _LICENSE_EXTRA, f"licence {old}"))

    def expression(self, text: str) -> str:
        if "DocumentRef-" in text:
            # A licence defined in another document we do not carry: unknown here.
            return NOASSERTION
        return _LICENSE_REF.sub(lambda m: self.license_ids.get(m.group(0), m.group(0)), text)

    def carried(self, item: dict[str, Any], allowed: dict[str, Check], what: str) -> dict[str, Any]:
        out = {}
        for key, check in allowed.items():
            if key not in item:
                continue
            value = item[key]
            if not check(value):
                self.dropped(f"{what} field {key}", f"unexpected value {value!r:.80}")
                continue
            if key in _LICENSE_FIELDS:
                value = (
                    self.expression(value)
                    if isinstance(value, str)
                    else sorted({self.expression(v) for v in value})
                )
            out[key] = value
        return out

    # -- elements -------------------------------------------------------------------------

    def checksums(self, item: dict[str, Any], what: str) -> tuple[Checksum, ...]:
        out = []
        for c in item.get("checksums") or ():
            if (
                isinstance(c, dict)
                and c.get("algorithm") in _CHECKSUM_ALGORITHMS
                and isinstance(c.get("checksumValue"), str)
            ):
                out.append(Checksum(c["algorithm"], c["checksumValue"].lower()))
            else:
                self.dropped(f"{what} checksum", f"malformed {c!r:.80}")
        return tuple(sorted(set(out), key=lambda c: (c.algorithm, c.value)))

    def refs(self, item: dict[str, Any], what: str) -> tuple[ExternalRef, ...]:
        out = []
        for r in item.get("externalRefs") or ():
            fields = ("referenceCategory", "referenceType", "referenceLocator")
            if (
                isinstance(r, dict)
                and all(isinstance(r.get(k), str) for k in fields)
                and r["referenceCategory"] in _REF_CATEGORIES
            ):
                comment = r.get("comment") if isinstance(r.get("comment"), str) else None
                out.append(
                    ExternalRef(
                        r["referenceCategory"], r["referenceType"], r["referenceLocator"], comment
                    )
                )
            else:
                self.dropped(f"{what} external reference", f"malformed {r!r:.80}")
        return tuple(out)

    def file(self, item: dict[str, Any], i: int) -> File | None:
        old, name = item.get("SPDXID"), item.get("fileName")
        if not isinstance(old, str) or not isinstance(name, str):
            raise self.fail(f"files[{i}] has no SPDXID or fileName")
        checksums = self.checksums(item, f"file {name}")
        if not checksums:
            self.dropped(f"file {name}", "no checksums")
            return None
        new = element_id("File", name, [attrs.astuple(c) for c in checksums])
        self.ids[old] = new
        return File(new, name, checksums, self.carried(item, _FILE_EXTRA, f"file {name}"))

    def package(self, item: dict[str, Any], i: int) -> tuple[str, dict[str, Any]]:
        old, name = item.get("SPDXID"), item.get("name")
        if not isinstance(old, str) or not isinstance(name, str):
            raise self.fail(f"packages[{i}] has no SPDXID or name")
        version = item.get("versionInfo") if isinstance(item.get("versionInfo"), str) else None
        checksums = self.checksums(item, f"package {name}")
        refs = self.refs(item, f"package {name}")
        purls = sorted(r.locator for r in refs if r.type == "purl")
        # Identity: what the package is, not how a scanner described it (licences and
        # comments may differ between scans of the same package; they are merged).
        new = element_id("Package", name, version, purls, [attrs.astuple(c) for c in checksums])
        self.ids[old] = new
        fields: dict[str, Any] = {
            "spdx_id": new,
            "name": name,
            "version": version,
            "checksums": checksums,
            "external_refs": refs,
        }
        for key, attr in (
            ("downloadLocation", "download_location"),
            ("comment", "comment"),
            ("sourceInfo", "source_info"),
        ):
            if isinstance(item.get(key), str):
                fields[attr] = item[key]
        if item.get("primaryPackagePurpose") in _PURPOSES:
            fields["purpose"] = item["primaryPackagePurpose"]
        return old, fields

    def relationship(self, item: dict[str, Any], i: int) -> Relationship | None:
        a, kind, b = (
            item.get(k) for k in ("spdxElementId", "relationshipType", "relatedSpdxElement")
        )
        if not (isinstance(a, str) and isinstance(kind, str) and isinstance(b, str)):
            raise self.fail(f"relationships[{i}] is missing one of its three fields")
        if kind not in _RELATIONSHIP_TYPES:
            self.dropped(f"relationships[{i}]", f"unknown type {kind}")
            return None
        if DOCUMENT_ID in (a, b):
            return None
        new_a = self.ids.get(a)
        new_b = b if b in _SPECIAL else self.ids.get(b)
        if new_a is None or new_b is None:
            self.dropped(f"relationships[{i}]", "an end was left out")
            return None
        comment = item.get("comment") if isinstance(item.get("comment"), str) else None
        return Relationship(new_a, kind, new_b, comment)


def import_spdx(doc: Mapping[str, Any], *, where: str) -> ImportedSbom:
    """Rewrite an SPDX 2.x JSON document into elements with content-derived ids.

    Args:
        doc: the parsed document (an in-toto statement's ``predicate``).
        where: what it is (image and attestation digest), for messages.

    Raises:
        UnsupportedError: not an SPDX 2 document, or its element lists are malformed
            (elements without ids or names, relationships without ends).
    """
    if not isinstance(doc, Mapping):
        raise UnsupportedError(f"{where}: the SBOM is not a JSON object", reference=where)
    version = doc.get("spdxVersion")
    if not isinstance(version, str) or not version.startswith("SPDX-2."):
        raise UnsupportedError(
            f"{where}: not an SPDX 2 JSON document (spdxVersion {version!r})", reference=where
        )
    imp = _Importer(where)
    licenses = tuple(
        lic
        for i, item in enumerate(imp.items(doc, "hasExtractedLicensingInfos"))
        if (lic := imp.license(item, i)) is not None
    )
    files = tuple(
        f for i, item in enumerate(imp.items(doc, "files")) if (f := imp.file(item, i)) is not None
    )
    raw_packages = [
        (item, *imp.package(item, i)) for i, item in enumerate(imp.items(doc, "packages"))
    ]
    packages = []
    claimed: set[str] = set()
    for item, _old, fields in raw_packages:
        has_files: list[str] = item["hasFiles"] if _is_strs(item.get("hasFiles")) else []
        mapped = {imp.ids[f] for f in has_files if f in imp.ids}
        claimed |= mapped
        extra = imp.carried(item, _PACKAGE_EXTRA, f"package {fields['name']}")
        packages.append(Package(**fields, has_files=tuple(mapped), extra=extra))
    relationships = tuple(
        r
        for i, item in enumerate(imp.items(doc, "relationships"))
        if (r := imp.relationship(item, i)) is not None
    )
    package_ids = {p.spdx_id for p in packages}
    claimed |= {
        r.related for r in relationships if r.type == "CONTAINS" and r.element in package_ids
    }
    claimed |= {
        r.element for r in relationships if r.type == "CONTAINED_BY" and r.related in package_ids
    }
    roots = package_ids | {f.spdx_id for f in files if f.spdx_id not in claimed}
    return ImportedSbom(tuple(packages), files, relationships, licenses, tuple(sorted(roots)))
