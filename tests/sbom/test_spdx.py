"""The SPDX model and writer: content-derived ids, canonical bytes, namespace, dates."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from moby_assemble.sbom import (
    Checksum,
    Document,
    ExternalRef,
    File,
    Package,
    Relationship,
    element_id,
    write_json,
)
from moby_assemble.sbom._spdx import DOCUMENT_ID, document_namespace, rfc3339

from .conftest import check_spdx


def _doc(packages: tuple[Package, ...], relationships: tuple[Relationship, ...]) -> Document:
    return Document("demo", created=rfc3339(0), packages=packages, relationships=relationships)


def test_element_ids_are_derived_from_content_and_valid_spdx_ids():
    a = element_id("Package", "busybox", "1.36")
    assert a == element_id("Package", "busybox", "1.36")
    assert a != element_id("Package", "busybox", "1.37")
    assert a != element_id("File", "busybox", "1.36")
    assert re.fullmatch(r"SPDXRef-Package-[0-9a-f]{16}", a)
    # Characters SPDX ids may not hold are replaced in the kind.
    assert element_id("deb pkg/x", 1).startswith("SPDXRef-deb-pkg-x-")


def test_an_invalid_spdx_id_is_refused():
    with pytest.raises(ValueError, match="invalid SPDXID"):
        Package("SPDXRef-has space", "x")


def test_the_same_content_in_any_order_gives_the_same_bytes(
    spdx_schema: jsonschema.Draft7Validator,
):
    sums = [Checksum("SHA256", "ab" * 32), Checksum("SHA1", "cd" * 20)]
    refs = [
        ExternalRef("SECURITY", "cpe23Type", "cpe:2.3:a:z:z:1.3"),
        ExternalRef("PACKAGE-MANAGER", "purl", "pkg:generic/zlib@1.3"),
    ]
    one = Package(element_id("P", 1), "zlib", "1.3", checksums=sums, external_refs=refs)
    two = Package(element_id("P", 2), "busybox", "1.36")
    rels = (
        Relationship(DOCUMENT_ID, "DESCRIBES", one.spdx_id),
        Relationship(DOCUMENT_ID, "DESCRIBES", two.spdx_id),
    )
    forward = write_json(_doc((one, two), rels))
    swapped = Package(one.spdx_id, "zlib", "1.3", checksums=reversed(one.checksums),
                      external_refs=reversed(one.external_refs))  # fmt: skip
    backward = write_json(_doc((two, swapped), tuple(reversed(rels))))
    assert forward == backward
    doc = check_spdx(forward, spdx_schema)
    assert [p["name"] for p in doc["packages"]] == ["busybox", "zlib"]
    assert [c["algorithm"] for c in doc["packages"][1]["checksums"]] == ["SHA1", "SHA256"]


def test_the_namespace_is_a_hash_of_the_content_not_a_random_uuid():
    pkg = Package(element_id("P", 1), "zlib", "1.3")
    a = json.loads(write_json(_doc((pkg,), ())))["documentNamespace"]
    b = json.loads(write_json(_doc((pkg,), ())))["documentNamespace"]
    other = json.loads(write_json(_doc((Package(pkg.spdx_id, "zlib", "1.4"),), ())))
    assert a == b
    assert re.fullmatch(r"https://spdx\.org/spdxdocs/demo-[0-9a-f]{64}", a)
    assert other["documentNamespace"] != a
    given = Document("demo", created=rfc3339(0), namespace="https://example.invalid/x")
    assert json.loads(write_json(given))["documentNamespace"] == "https://example.invalid/x"
    assert document_namespace("my system!", "00").endswith("/my-system-00")


@pytest.mark.parametrize(
    ("epoch", "text"),
    [(0, "1970-01-01T00:00:00Z"), (1_700_000_000, "2023-11-14T22:13:20Z")],
)
def test_created_comes_from_source_date_epoch_in_utc(epoch: int, text: str):
    assert rfc3339(epoch) == text


def test_carried_over_fields_are_written_and_typed_fields_win_over_them(
    spdx_schema: jsonschema.Draft7Validator,
):
    pkg = Package(
        element_id("P", 1), "zlib", "1.3",
        extra={"licenseDeclared": "Zlib", "name": "ignored", "supplier": "Organization: Z"},
    )  # fmt: skip
    f = File(element_id("F", 1), "/lib/libz.so", [Checksum("SHA256", "ab" * 32)],
             extra={"fileTypes": ["BINARY"]})  # fmt: skip
    data = write_json(
        Document("demo", created=rfc3339(0), packages=(pkg,), files=(f,),
                 relationships=(Relationship(pkg.spdx_id, "CONTAINS", f.spdx_id),))
    )  # fmt: skip
    doc = check_spdx(data, spdx_schema)
    (out,) = doc["packages"]
    assert (out["name"], out["licenseDeclared"], out["supplier"]) == (
        "zlib",
        "Zlib",
        "Organization: Z",
    )
    assert out["filesAnalyzed"] is False
    assert doc["files"][0]["fileTypes"] == ["BINARY"]


def test_keys_are_sorted_and_the_file_ends_with_a_newline():
    data = write_json(_doc((Package(element_id("P", 1), "z"),), ()))
    text = data.decode()
    assert text.startswith('{\n  "SPDXID": "SPDXRef-DOCUMENT",\n  "comment"') or text.startswith(
        '{\n  "SPDXID": "SPDXRef-DOCUMENT",\n  "creationInfo"'
    )
    assert text.endswith("}\n")
