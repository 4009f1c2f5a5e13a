"""Fixtures for the SBOM tests: the SPDX 2.3 schema plus the checks it cannot make, scanned
SBOMs shaped like BuildKit's, and three images pushed to the real local registry: one with
SPDX attestations, one built by the real packager from .deb files made with dpkg-deb, and
one with neither."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

from moby_assemble import Platform
from moby_assemble.pkg import build
from moby_assemble.registry import (
    ImageReference,
    PulledImage,
    Puller,
    RegistryClient,
    push_from_store,
)
from moby_assemble.store import Store
from moby_assemble.testing import Image, ImageIndex, ImageSet, Layer, LocalRegistry

DATA = Path(__file__).resolve().parent / "data"
AMD64 = Platform.parse("linux/amd64")
_ID = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="session")
def spdx_schema() -> jsonschema.Draft7Validator:
    schema = json.loads((DATA / "spdx-schema-2.3.json").read_bytes())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def check_spdx(data: bytes, validator: jsonschema.Draft7Validator) -> dict[str, Any]:
    """Parse an SBOM and check it against the schema and the SPDX rules the schema omits."""
    assert data.endswith(b"\n")
    doc: dict[str, Any] = json.loads(data)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["documentNamespace"].startswith("https://")
    assert "#" not in doc["documentNamespace"]
    assert _CREATED.fullmatch(doc["creationInfo"]["created"])
    ids = [e["SPDXID"] for e in doc.get("packages", []) + doc.get("files", [])]
    assert len(ids) == len(set(ids)), "SPDXIDs are not unique"
    assert all(_ID.fullmatch(i) for i in ids)
    known = {*ids, "SPDXRef-DOCUMENT"}
    for rel in doc["relationships"]:
        assert rel["spdxElementId"] in known
        assert rel["relatedSpdxElement"] in known | {"NONE", "NOASSERTION"}
    for pkg in doc.get("packages", []):
        assert set(pkg.get("hasFiles", [])) <= known
    defined = {lic["licenseId"] for lic in doc.get("hasExtractedLicensingInfos", [])}
    for element in doc.get("packages", []) + doc.get("files", []):
        for key in ("licenseConcluded", "licenseDeclared"):
            used = set(re.findall(r"LicenseRef-[A-Za-z0-9.-]+", element.get(key, "")))
            assert used <= defined, f"{element['SPDXID']} {key} uses undefined {used - defined}"
    # The writer's canonical form: sorted keys, two-space indent.
    assert data == (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
    return doc


ZLIB_CPE = "cpe:2.3:a:zlib1g:zlib1g:1\\:1.2.13.dfsg-1:*:*:*:*:*:*:*"
ZLIB_PURL = "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1"


def scanned_sbom(arch: str = "amd64", *, extra_package: bool = False) -> dict[str, Any]:
    """An SPDX 2.3 document shaped like the ones BuildKit's scanner attaches: the scanned
    image as a root package, OS packages with purls and CPEs, files, a LicenseRef."""
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "sbom",
        "documentNamespace": "https://example.invalid/scan/5f1c0d7a",
        "creationInfo": {"created": "2025-01-02T03:04:05Z", "creators": ["Tool: scanner-1"]},
        "packages": [
            {
                "SPDXID": "SPDXRef-DocumentRoot-Directory-.",
                "name": "/run/src/core/sbom",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "primaryPackagePurpose": "FILE",
            },
            {
                "SPDXID": "SPDXRef-Package-deb-zlib1g-3",
                "name": "zlib1g",
                "versionInfo": "1:1.2.13.dfsg-1",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "supplier": "Person: Mark Brown <broonie@debian.org>",
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "Zlib",
                "copyrightText": "NOASSERTION",
                "sourceInfo": "acquired package info from DPKG DB: /var/lib/dpkg/status",
                "externalRefs": [
                    {
                        "referenceCategory": "SECURITY",
                        "referenceType": "cpe23Type",
                        "referenceLocator": ZLIB_CPE,
                    },
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": f"{ZLIB_PURL}?arch={arch}&distro=debian-12",
                    },
                ],
            },
            {
                "SPDXID": "SPDXRef-Package-binary-app-9",
                "name": "app",
                "versionInfo": "2.0",
                "downloadLocation": "https://example.invalid/app-2.0.tar.gz",
                "filesAnalyzed": False,
                "licenseConcluded": "LicenseRef-app-license",
                "licenseDeclared": "LicenseRef-app-license OR MIT",
                "copyrightText": "Copyright 2025 App Authors",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:generic/app@2.0",
                    }
                ],
            },
        ],
        "files": [
            {
                "SPDXID": "SPDXRef-File-usr-bin-app-1",
                "fileName": "/usr/bin/app",
                "checksums": [{"algorithm": "SHA256", "checksumValue": "ab" * 32}],
                "licenseConcluded": "NOASSERTION",
                "fileTypes": ["BINARY"],
            },
            {
                "SPDXID": "SPDXRef-File-etc-app-conf-2",
                "fileName": "/etc/app.conf",
                "checksums": [{"algorithm": "SHA1", "checksumValue": "cd" * 20}],
            },
        ],
        "hasExtractedLicensingInfos": [
            {"licenseId": "LicenseRef-app-license", "extractedText": "App may be used freely."}
        ],
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": "SPDXRef-DocumentRoot-Directory-.",
            },
            {
                "spdxElementId": "SPDXRef-Package-binary-app-9",
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": "SPDXRef-File-usr-bin-app-1",
            },
            {
                "spdxElementId": "SPDXRef-Package-binary-app-9",
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": "SPDXRef-Package-deb-zlib1g-3",
            },
        ],
    }
    if extra_package:
        doc["packages"].append(
            {
                "SPDXID": "SPDXRef-Package-python-requests-4",
                "name": "requests",
                "versionInfo": "2.31.0",
                "downloadLocation": "NOASSERTION",
                "licenseDeclared": "Apache-2.0",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:pypi/requests@2.31.0",
                    }
                ],
            }
        )
    return copy.deepcopy(doc)


def push_set(registry: LocalRegistry, client: RegistryClient, built: ImageSet, name: str,
             work: Path) -> ImageReference:  # fmt: skip
    """Push a built image (or index) through our client; the reference, tagged."""
    layout = work / ("layout-" + name.replace("/", "_").replace(":", "_"))
    built.write_oci_layout(layout, "image")
    store = Store(layout)
    ref = ImageReference.parse(f"{registry.host}/{name}")
    push_from_store(client, store, store.resolve("image"), ref)
    return ref


def attested_index(*, extra_package: bool = False) -> ImageSet:
    """A two-platform index with a BuildKit-style SPDX attestation per image."""
    app = Layer().dir("usr/bin").file("usr/bin/app", b"\x7fELF app", mode=0o755)
    amd = scanned_sbom("amd64", extra_package=extra_package)
    cmd = {"Cmd": ["/usr/bin/app"]}
    return ImageIndex(
        (
            Image((app,), cmd, platform="linux/amd64", sbom=amd),
            Image((app,), cmd, platform="linux/arm64", sbom=scanned_sbom("arm64")),
        ),
        attestation=True,
    ).build()


def _deb(pool: Path, name: str, version: str, files: dict[str, bytes], depends: str = "") -> None:
    root = pool / f"build-{name}"
    (root / "DEBIAN").mkdir(parents=True)
    control = (
        f"Package: {name}\nVersion: {version}\nArchitecture: amd64\n"
        "Maintainer: Tests <tests@example.invalid>\nDescription: an SBOM test package\n"
        " made by the moby_assemble SBOM tests\n"
    )
    if depends:
        control += f"Depends: {depends}\n"
    (root / "DEBIAN" / "control").write_text(control)
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    out = pool / f"{name}_{version.replace(':', '%3a')}_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    shutil.rmtree(root)


CATALOG_RECIPE = """
name = "hello"
version = "2.3"
role = "service"
stage = "services"

[[packages]]
name = "hello-tool"

[[packages]]
name = "libhello1"

[image]
cmd = ["/usr/bin/hello"]
"""


@attrs.frozen
class SbomImages:
    """References of the pushed images (all tagged, none pinned)."""

    attested: ImageReference
    catalog: ImageReference
    plain: ImageReference
    attested_set: ImageSet


@pytest.fixture(scope="session")
def sbom_images(
    registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SbomImages]:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not available")
    work = tmp_path_factory.mktemp("sbom-images")
    pool = work / "pool"
    pool.mkdir()
    _deb(pool, "hello-tool", "1:2.3+ds-1", {"usr/bin/hello": b"#!/bin/sh\necho hi\n"})
    _deb(pool, "libhello1", "2.3-1", {"usr/lib/libhello.so.1": b"\x7fELF lib"})
    recipe = work / "hello"
    recipe.mkdir()
    (recipe / "recipe.toml").write_text(CATALOG_RECIPE)
    attested = attested_index()
    plain = Image((Layer().dir("srv").file("srv/data", b"plain\n"),), {"Cmd": ["/srv/run"]})
    with RegistryClient() as client:
        build(recipe, debs_dir=pool, apt=False, push=f"{registry.host}/sbom/hello", client=client)
        yield SbomImages(
            attested=push_set(registry, client, attested, "sbom/attested:1", work),
            catalog=ImageReference.parse(f"{registry.host}/sbom/hello:2.3"),
            plain=push_set(registry, client, plain.build(), "sbom/plain:1", work),
            attested_set=attested,
        )


def pull(store: Store, ref: ImageReference, platform: Platform = AMD64) -> PulledImage:
    """Pull ``ref`` into ``store`` through a fresh client (images only, as the puller does)."""
    with RegistryClient() as client, Puller(client, store) as puller:
        return puller.pull(ref, platform)
