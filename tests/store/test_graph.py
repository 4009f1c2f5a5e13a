"""What a manifest or index references."""

from __future__ import annotations

import json

import pytest

from moby_assemble._errors import UnsupportedError
from moby_assemble._oci import Descriptor, MediaType, digest_bytes
from moby_assemble._platform import Platform
from moby_assemble.store import referenced_descriptors, sniff_media_type


def _desc(media_type: str, content: bytes, **kw: object) -> Descriptor:
    return Descriptor.for_bytes(media_type, content, **kw)  # type: ignore[arg-type]


CONFIG = _desc(MediaType.OCI_CONFIG, b"{}")
LAYERS = [_desc(MediaType.OCI_LAYER_GZIP, b"l1"), _desc(MediaType.OCI_LAYER_ZSTD, b"l2")]


def _doc(**fields: object) -> bytes:
    return json.dumps({"schemaVersion": 2, **fields}).encode()


def test_manifest_children_are_config_then_layers_in_order() -> None:
    data = _doc(
        mediaType=MediaType.OCI_MANIFEST,
        config=CONFIG.to_json(),
        layers=[d.to_json() for d in LAYERS],
        subject=_desc(MediaType.OCI_MANIFEST, b"other").to_json(),
    )
    assert referenced_descriptors(MediaType.OCI_MANIFEST, data) == [CONFIG, *LAYERS]


def test_docker_manifest_and_manifest_list_are_understood() -> None:
    cfg = _desc(MediaType.DOCKER_CONFIG, b"{}")
    layer = _desc(MediaType.DOCKER_LAYER_GZIP, b"l")
    manifest = _doc(
        mediaType=MediaType.DOCKER_MANIFEST, config=cfg.to_json(), layers=[layer.to_json()]
    )
    assert referenced_descriptors(MediaType.DOCKER_MANIFEST, manifest) == [cfg, layer]
    entry = _desc(MediaType.DOCKER_MANIFEST, manifest, platform=Platform.parse("linux/arm/v7"))
    listing = _doc(mediaType=MediaType.DOCKER_MANIFEST_LIST, manifests=[entry.to_json()])
    children = referenced_descriptors(MediaType.DOCKER_MANIFEST_LIST, listing)
    assert children == [entry]
    assert str(children[0].platform) == "linux/arm/v7"


def test_index_without_media_type_field_is_read_by_its_descriptor_type() -> None:
    entry = _desc(MediaType.OCI_MANIFEST, b"m")
    assert referenced_descriptors(MediaType.OCI_INDEX, _doc(manifests=[entry.to_json()])) == [entry]


def test_blobs_of_other_types_have_no_children() -> None:
    for media_type in (MediaType.OCI_LAYER_GZIP, MediaType.OCI_CONFIG, "application/x-unknown"):
        assert referenced_descriptors(media_type, b"\x00 not json") == []


def test_a_document_that_claims_another_media_type_is_refused() -> None:
    data = _doc(mediaType=MediaType.OCI_INDEX, manifests=[])
    with pytest.raises(UnsupportedError, match="declares mediaType"):
        referenced_descriptors(MediaType.OCI_MANIFEST, data, subject="sha256:abc")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (json.dumps({"schemaVersion": 1, "layers": []}).encode(), "schemaVersion 1"),
        (_doc(config=CONFIG.to_json(), layers={}), "'layers' must be a list"),
        (_doc(config={"mediaType": "x"}, layers=[]), "config"),
        (_doc(config=CONFIG.to_json(), layers=[{"digest": "sha256:zz"}]), r"layers\[0\]"),
    ],
)
def test_malformed_manifests_are_unsupported_errors_naming_subject(
    data: bytes, message: str
) -> None:
    subject = digest_bytes(data)
    with pytest.raises(UnsupportedError, match=message) as info:
        referenced_descriptors(MediaType.OCI_MANIFEST, data, subject=subject)
    assert subject in str(info.value)


def test_sniff_media_type_uses_the_declared_type_or_the_shape() -> None:
    assert sniff_media_type(_doc(mediaType=MediaType.DOCKER_MANIFEST)) == MediaType.DOCKER_MANIFEST
    assert sniff_media_type(_doc(manifests=[])) == MediaType.OCI_INDEX
    assert sniff_media_type(_doc(config={}, layers=[])) == MediaType.OCI_MANIFEST
    with pytest.raises(UnsupportedError):
        sniff_media_type(b'{"hello": 1}')
