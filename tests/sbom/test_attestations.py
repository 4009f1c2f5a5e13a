"""Finding BuildKit-style SPDX attestations through the real registry and the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moby_assemble import Descriptor, IntegrityError, OfflineError, Platform, UnsupportedError
from moby_assemble.registry import ImageReference, RegistryClient, push_from_store
from moby_assemble.sbom import SPDX_PREDICATE_TYPE, find_spdx_attestations
from moby_assemble.store import Store
from moby_assemble.testing import Image, ImageIndex, ImageSet, Layer, LocalRegistry

from .conftest import SbomImages, pull, scanned_sbom


def test_attestations_are_fetched_through_the_client_and_kept_in_the_store(
    sbom_images: SbomImages, tmp_path: Path
):
    store = Store(tmp_path / "store")
    image = pull(store, sbom_images.attested)
    index = sbom_images.attested_set.json()
    entry = next(
        m for m in index["manifests"]
        if m.get("annotations", {}).get("vnd.docker.reference.digest") == image.manifest.digest
    )  # fmt: skip
    # The puller keeps only the chosen platform's image.
    assert not store.has_blob(entry["digest"])
    with RegistryClient() as client:
        (att,) = find_spdx_attestations(image, store, client=client)
    assert att.subject == image.manifest.digest
    assert att.manifest == entry["digest"]
    assert dict(att.document) == scanned_sbom("amd64")
    assert store.has_blob(att.manifest)
    assert store.has_blob(att.layer)
    # Now the store is enough: no client, same answer.
    (again,) = find_spdx_attestations(image, store)
    assert again == att
    assert dict(again.document) == dict(att.document)


def test_each_platform_gets_its_own_attestation(sbom_images: SbomImages, tmp_path: Path):
    store = Store(tmp_path / "store")
    arm = pull(store, sbom_images.attested, Platform.parse("linux/arm64"))
    with RegistryClient() as client:
        (att,) = find_spdx_attestations(arm, store, client=client)
    assert att.subject == arm.manifest.digest
    assert dict(att.document) == scanned_sbom("arm64")


def test_a_missing_attestation_without_a_client_is_an_offline_error_naming_the_image(
    sbom_images: SbomImages, tmp_path: Path
):
    store = Store(tmp_path / "store")
    image = pull(store, sbom_images.attested)
    with pytest.raises(OfflineError) as info:
        find_spdx_attestations(image, store)
    assert str(sbom_images.attested) in str(info.value)
    assert info.value.reference == str(sbom_images.attested)


def test_images_without_an_index_have_no_attestations(sbom_images: SbomImages, tmp_path: Path):
    store = Store(tmp_path / "store")
    for ref in (sbom_images.plain, sbom_images.catalog):
        image = pull(store, ref)
        assert image.index is None
        assert find_spdx_attestations(image, store) == ()


def test_a_statement_bigger_than_the_cap_is_refused_before_download(
    sbom_images: SbomImages, tmp_path: Path
):
    store = Store(tmp_path / "store")
    image = pull(store, sbom_images.attested)
    with RegistryClient() as client, pytest.raises(UnsupportedError, match="more than the 100"):
        find_spdx_attestations(image, store, client=client, max_size=100)
    layers = [
        layer
        for digest, data in sbom_images.attested_set.blobs.items()
        if store.has_blob(digest) and b"in-toto" in data
        for layer in json.loads(data).get("layers", [])
    ]
    assert layers  # the attestation manifest was read ...
    assert not any(store.has_blob(layer["digest"]) for layer in layers)  # ... its blob was not


def _swap_subjects(built: ImageSet) -> ImageSet:
    """The index with its two attestations pointing at each other's image."""
    index = built.json()
    atts = [m for m in index["manifests"] if "annotations" in m]
    a, b = (m["annotations"]["vnd.docker.reference.digest"] for m in atts)
    atts[0]["annotations"]["vnd.docker.reference.digest"] = b
    atts[1]["annotations"]["vnd.docker.reference.digest"] = a
    data = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    desc = Descriptor.for_bytes(built.descriptor.media_type, data)
    return ImageSet(desc, {**built.blobs, desc.digest: data})


def test_a_statement_about_another_image_is_an_integrity_error(
    registry: LocalRegistry, tmp_path: Path
):
    two = ImageIndex(
        (
            Image((Layer().file("a", b"a"),), sbom=scanned_sbom("amd64")),
            Image((Layer().file("b", b"b"),), platform="linux/arm64", sbom=scanned_sbom("arm64")),
        ),
        attestation=True,
    ).build()
    tampered = _swap_subjects(two)
    tampered.write_oci_layout(tmp_path / "layout", "image")
    ref = ImageReference.parse(f"{registry.host}/sbom/tampered:1")
    with RegistryClient() as client:
        source = Store(tmp_path / "layout")
        push_from_store(client, source, source.resolve("image"), ref)
        store = Store(tmp_path / "store")
        image = pull(store, ref)
        with pytest.raises(IntegrityError) as info:
            find_spdx_attestations(image, store, client=client)
    assert f"not about image manifest {image.manifest.digest}" in str(info.value)
    assert info.value.digest == image.manifest.digest


def test_the_writer_puts_the_sbom_in_a_buildkit_shaped_statement():
    built = ImageIndex((Image(sbom={"spdxVersion": "SPDX-2.3"}),), attestation=True).build()
    index = built.json()
    image_entry, att_entry = index["manifests"]
    assert att_entry["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert att_entry["annotations"] == {
        "vnd.docker.reference.digest": image_entry["digest"],
        "vnd.docker.reference.type": "attestation-manifest",
    }
    (layer,) = built.json(att_entry["digest"])["layers"]
    assert layer["mediaType"] == "application/vnd.in-toto+json"
    assert layer["annotations"] == {"in-toto.io/predicate-type": SPDX_PREDICATE_TYPE}
    statement = built.json(layer["digest"])
    assert statement["predicate"] == {"spdxVersion": "SPDX-2.3"}
    assert statement["subject"][0]["digest"]["sha256"] == image_entry["digest"].split(":")[1]
