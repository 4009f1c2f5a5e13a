"""Taking an attested SPDX document apart: new ids, rewritten relationships and licences."""

from __future__ import annotations

from typing import Any

import pytest

from moby_assemble import UnsupportedError
from moby_assemble.sbom import import_spdx

from .conftest import scanned_sbom


def _by_name(imported: Any) -> dict[str, Any]:
    return {p.name: p for p in imported.packages}


def test_ids_come_from_content_so_the_same_package_in_two_scans_is_one_element():
    amd = import_spdx(scanned_sbom("amd64"), where="amd")
    again = import_spdx(scanned_sbom("amd64"), where="again")
    arm = import_spdx(scanned_sbom("arm64"), where="arm")
    assert amd == again
    # zlib1g's purl names its architecture; app's does not.
    assert _by_name(amd)["zlib1g"].spdx_id != _by_name(arm)["zlib1g"].spdx_id
    assert _by_name(amd)["app"].spdx_id == _by_name(arm)["app"].spdx_id
    assert not any("-deb-zlib1g-3" in p.spdx_id for p in amd.packages)


def test_relationships_are_rewritten_and_the_documents_describes_is_dropped():
    imported = import_spdx(scanned_sbom(), where="x")
    pkgs = _by_name(imported)
    files = {f.name: f for f in imported.files}
    got = {(r.element, r.type, r.related) for r in imported.relationships}
    assert got == {
        (pkgs["app"].spdx_id, "CONTAINS", files["/usr/bin/app"].spdx_id),
        (pkgs["app"].spdx_id, "DEPENDS_ON", pkgs["zlib1g"].spdx_id),
    }
    # The image contains every package and the file no package claims.
    assert set(imported.roots) == {p.spdx_id for p in imported.packages} | {
        files["/etc/app.conf"].spdx_id
    }


def test_licence_refs_are_renamed_per_text_and_expressions_follow():
    imported = import_spdx(scanned_sbom(), where="x")
    (lic,) = imported.licenses
    assert lic.license_id.startswith("LicenseRef-app-license-")
    app = _by_name(imported)["app"].to_json()
    assert app["licenseConcluded"] == lic.license_id
    assert app["licenseDeclared"] == f"{lic.license_id} OR MIT"
    other = scanned_sbom()
    other["hasExtractedLicensingInfos"][0]["extractedText"] = "Another text."
    (lic2,) = import_spdx(other, where="y").licenses
    assert lic2.license_id != lic.license_id


def test_what_a_system_sbom_cannot_carry_is_left_out():
    doc = scanned_sbom()
    doc["files"].append({"SPDXID": "SPDXRef-nosum", "fileName": "/x"})
    doc["snippets"] = [{"SPDXID": "SPDXRef-s", "name": "s", "ranges": [], "snippetFromFile": "x"}]
    doc["relationships"] += [
        {"spdxElementId": "SPDXRef-nosum", "relationshipType": "OTHER",
         "relatedSpdxElement": "SPDXRef-Package-binary-app-9"},
        {"spdxElementId": "SPDXRef-Package-binary-app-9", "relationshipType": "INVENTED_TYPE",
         "relatedSpdxElement": "SPDXRef-Package-deb-zlib1g-3"},
        {"spdxElementId": "SPDXRef-Package-binary-app-9", "relationshipType": "DEPENDS_ON",
         "relatedSpdxElement": "NONE"},
    ]  # fmt: skip
    doc["packages"][1]["supplier"] = {"not": "a string"}
    doc["packages"][1]["licenseDeclared"] = "DocumentRef-other:LicenseRef-x"
    doc["packages"][1]["externalRefs"].append({"referenceCategory": "BOGUS"})
    imported = import_spdx(doc, where="x")
    assert "/x" not in {f.name for f in imported.files}
    zlib = _by_name(imported)["zlib1g"].to_json()
    assert "supplier" not in zlib
    assert zlib["licenseDeclared"] == "NOASSERTION"
    assert len(zlib["externalRefs"]) == 2
    types = sorted(r.type for r in imported.relationships)
    assert types == ["CONTAINS", "DEPENDS_ON", "DEPENDS_ON"]
    assert any(r.related == "NONE" for r in imported.relationships)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"spdxVersion": "SPDX-3.0"}, "not an SPDX 2 JSON document"),
        ({"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"}, "spdxVersion None"),
        ({"spdxVersion": "SPDX-2.3", "packages": {}}, "'packages' must be a list"),
        ({"spdxVersion": "SPDX-2.3", "packages": [{"name": "x"}]}, "packages[0] has no SPDXID"),
        ({"spdxVersion": "SPDX-2.2", "relationships": [{"spdxElementId": "a"}]},
         "relationships[0] is missing"),
    ],
)  # fmt: skip
def test_documents_that_are_not_spdx_2_are_refused_naming_where_they_came_from(
    doc: dict[str, Any], message: str
):
    with pytest.raises(UnsupportedError) as info:
        import_spdx(doc, where="SPDX attestation sha256:abc of img")
    assert message in str(info.value)
    assert "sha256:abc of img" in str(info.value)
