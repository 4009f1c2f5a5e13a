"""Composing the system SBOM: images with attestations, with the packager's label, with
neither; schema validity; same inputs, same bytes; duplicates merged."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

from moby_assemble import UnsupportedError
from moby_assemble.registry import RegistryClient
from moby_assemble.sbom import (
    DebianPackage,
    ImageSbomInput,
    SpdxAttestation,
    system_sbom,
)
from moby_assemble.store import Store

from .conftest import ZLIB_PURL, SbomImages, check_spdx, pull, scanned_sbom

SHA = "ab" * 32
CONTAINER = "CONTAINER"


def gather(images: SbomImages, cache: Path) -> list[ImageSbomInput]:
    """The three test images, pulled into a fresh store and read back through the client."""
    store = Store(cache)
    with RegistryClient() as client:
        return [
            ImageSbomInput.from_image(pull(store, ref), store, locations=[loc], client=client)
            for ref, loc in (
                (images.attested, "services[0]"),
                (images.catalog, "services[1]"),
                (images.plain, "onboot[0]"),
            )
        ]


@pytest.fixture(scope="module")
def inputs(
    sbom_images: SbomImages, tmp_path_factory: pytest.TempPathFactory
) -> list[ImageSbomInput]:
    return gather(sbom_images, tmp_path_factory.mktemp("compose") / "store")


def _contains(doc: dict[str, Any], element: str) -> set[str]:
    return {
        r["relatedSpdxElement"]
        for r in doc["relationships"]
        if r["spdxElementId"] == element and r["relationshipType"] == "CONTAINS"
    }


def _names(doc: dict[str, Any], ids: set[str]) -> set[str]:
    return {p["name"] for p in doc["packages"] if p["SPDXID"] in ids}


def _package(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in doc["packages"] if p["name"] == name]
    return found


def test_the_system_sbom_describes_each_image_and_what_each_contains(
    inputs: list[ImageSbomInput], sbom_images: SbomImages,
    spdx_schema: jsonschema.Draft7Validator,
):  # fmt: skip
    doc = check_spdx(system_sbom(inputs, name="demo", source_date_epoch=0), spdx_schema)
    assert doc["name"] == "demo"
    assert doc["creationInfo"]["created"] == "1970-01-01T00:00:00Z"
    assert doc["creationInfo"]["creators"][0].startswith("Tool: moby-assemble-")
    images = {p["name"]: p for p in doc["packages"] if p.get("primaryPackagePurpose") == CONTAINER}
    assert set(images) == {
        sbom_images.attested.name, sbom_images.catalog.name, sbom_images.plain.name
    }  # fmt: skip
    rels = doc["relationships"]
    described = {r["relatedSpdxElement"] for r in rels if r["relationshipType"] == "DESCRIBES"}
    assert described == {p["SPDXID"] for p in images.values()}

    attested = images[sbom_images.attested.name]
    assert attested["versionInfo"] == "1"
    assert "used at services[0]" in attested["comment"]
    digest = inputs[0].digest
    assert attested["checksums"] == [{"algorithm": "SHA256", "checksumValue": digest[7:]}]
    assert attested["externalRefs"][0]["referenceLocator"] == (
        f"pkg:oci/attested@sha256%3A{digest[7:]}?arch=amd64&os=linux"
        f"&repository_url={sbom_images.attested.name}&tag=1"
    )
    scanned = _names(doc, _contains(doc, attested["SPDXID"]))
    assert scanned == {"/run/src/core/sbom", "zlib1g", "app"}
    zlib = _package(doc, "zlib1g")
    assert zlib["licenseDeclared"] == "Zlib"
    assert f"{ZLIB_PURL}?arch=amd64&distro=debian-12" in {
        r["referenceLocator"] for r in zlib["externalRefs"]
    }
    app = _package(doc, "app")
    assert _contains(doc, app["SPDXID"]) == {doc["files"][1]["SPDXID"]}  # /usr/bin/app
    assert doc["hasExtractedLicensingInfos"][0]["licenseId"] == app["licenseConcluded"]

    catalog = images[sbom_images.catalog.name]
    inside = _contains(doc, catalog["SPDXID"])
    debs = {p["name"]: p for p in doc["packages"] if p["SPDXID"] in inside}
    assert set(debs) == {"hello-tool", "libhello1"}
    assert debs["hello-tool"]["versionInfo"] == "1:2.3+ds-1"
    assert debs["hello-tool"]["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:deb/debian/hello-tool@1%3A2.3%2Bds-1?arch=amd64",
        }
    ]
    assert debs["libhello1"]["checksums"][0]["algorithm"] == "SHA256"

    plain = images[sbom_images.plain.name]
    assert _contains(doc, plain["SPDXID"]) == {"NOASSERTION"}
    assert "contents unknown" in plain["comment"]


def test_the_same_images_give_the_same_bytes_in_any_order(
    inputs: list[ImageSbomInput], sbom_images: SbomImages, tmp_path: Path
):
    first = system_sbom(inputs, name="demo", source_date_epoch=0)
    for order in itertools.permutations(inputs):
        assert system_sbom(order, name="demo", source_date_epoch=0) == first
    # Pulled again into another cache, on a fresh client: still the same bytes.
    assert system_sbom(gather(sbom_images, tmp_path / "other"), name="demo") == first


def test_source_date_epoch_sets_created_and_so_the_namespace(inputs: list[ImageSbomInput]):
    zero = json.loads(system_sbom(inputs, name="demo", source_date_epoch=0))
    later = json.loads(system_sbom(inputs, name="demo", source_date_epoch=1_700_000_000))
    assert later["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    assert later["documentNamespace"] != zero["documentNamespace"]
    assert later["packages"] == zero["packages"]
    assert later["relationships"] == zero["relationships"]


def test_one_image_used_twice_is_one_package_listing_both_locations(
    inputs: list[ImageSbomInput], spdx_schema: jsonschema.Draft7Validator
):
    twice = attrs.evolve(inputs[2], locations=["services[3]"])
    doc = check_spdx(system_sbom([inputs[2], twice], name="demo"), spdx_schema)
    (image,) = doc["packages"]
    assert image["comment"].endswith("used at onboot[0], services[3]; no SBOM attestation and "
                                     "no package list: contents unknown")  # fmt: skip
    together = attrs.evolve(inputs[2], locations=["onboot[0]", "services[3]"])
    assert system_sbom([together], name="demo") == system_sbom([inputs[2], twice], name="demo")


def test_a_deb_in_two_images_is_one_package_contained_by_both(
    spdx_schema: jsonschema.Draft7Validator,
):
    deb = DebianPackage("libc6", "2.36-9", "amd64", SHA)
    a = ImageSbomInput("127.0.0.1:5000/a:1", "sha256:" + "1" * 64, debian_packages=[deb])
    b = ImageSbomInput("127.0.0.1:5000/b:1", "sha256:" + "2" * 64,
                       debian_packages=[attrs.evolve(deb, via="libc-meta=1")])  # fmt: skip
    doc = check_spdx(system_sbom([a, b], name="demo"), spdx_schema)
    (libc,) = [p for p in doc["packages"] if p["name"] == "libc6"]
    holders = {r["spdxElementId"] for r in doc["relationships"]
               if r["relatedSpdxElement"] == libc["SPDXID"]}  # fmt: skip
    assert len(holders) == 2
    # The one description with a comment wins over the one without, in either order.
    assert libc["comment"] == "pulled in by the metapackage libc-meta=1"
    assert system_sbom([b, a], name="demo") == system_sbom([a, b], name="demo")


def _attested(doc: dict[str, Any], layer: str) -> ImageSbomInput:
    digest = "sha256:" + "3" * 64
    att = SpdxAttestation(digest, "sha256:" + "4" * 64, layer, doc)
    return ImageSbomInput("127.0.0.1:5000/c:1", digest, attestations=[att])


def test_disagreeing_scans_of_one_package_merge_the_same_way_in_any_order(
    spdx_schema: jsonschema.Draft7Validator,
):
    vague = scanned_sbom()
    vague["packages"][1]["licenseDeclared"] = "NOASSERTION"
    del vague["packages"][1]["supplier"]
    precise = scanned_sbom(extra_package=True)
    one = _attested(vague, "sha256:" + "5" * 64)
    two = _attested(precise, "sha256:" + "6" * 64)
    both = attrs.evolve(one, attestations=[*one.attestations, *two.attestations])
    flipped = attrs.evolve(one, attestations=[*two.attestations, *one.attestations])
    data = system_sbom([both], name="demo")
    assert system_sbom([flipped], name="demo") == data
    doc = check_spdx(data, spdx_schema)
    zlib = _package(doc, "zlib1g")
    assert zlib["licenseDeclared"] == "Zlib"
    assert zlib["supplier"].startswith("Person: ")
    assert {p["name"] for p in doc["packages"]} >= {"requests", "zlib1g", "app"}


def test_an_attested_document_that_is_not_spdx_2_is_refused_naming_image_and_blob():
    layer = "sha256:" + "7" * 64
    with pytest.raises(UnsupportedError) as info:
        system_sbom([_attested({"spdxVersion": "SPDX-3.0"}, layer)], name="demo")
    assert layer in str(info.value)
    assert "127.0.0.1:5000/c:1" in str(info.value)
