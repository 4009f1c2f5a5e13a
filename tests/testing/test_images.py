"""moby_assemble.testing image writer: deterministic blobs, valid OCI layouts and indexes
that real tools (skopeo, a registry) accept."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard

from moby_assemble._oci import MediaType
from moby_assemble.layers import EntryType, TarEntry, flatten_layers
from moby_assemble.testing import Image, ImageIndex, Layer, LocalRegistry

BASE = Layer().dir("etc").file("etc/os-release", b"ID=test\n").symlink("bin", "usr/bin")
APP = Layer(compression="zstd").dir("app").file("app/run", b"#!/bin/sh\n", mode=0o755)

_SCHEMA_URLS = {
    "config-schema.json": ["https://opencontainers.org/schema/image/config"],
    "content-descriptor.json": [
        "https://opencontainers.org/schema/descriptor",
        "https://opencontainers.org/schema/image/content-descriptor.json",
    ],
    "defs-descriptor.json": [
        "https://opencontainers.org/schema/image/descriptor/mediaType",
        "https://opencontainers.org/schema/defs-descriptor.json",
        "https://opencontainers.org/schema/image/defs-descriptor.json",
    ],
    "defs.json": [
        "https://opencontainers.org/schema/defs.json",
        "https://opencontainers.org/schema/image/defs.json",
        "https://opencontainers.org/schema/image/descriptor/defs.json",
    ],
    "image-index-schema.json": ["https://opencontainers.org/schema/image/index"],
    "image-layout-schema.json": ["https://opencontainers.org/schema/image/layout"],
    "image-manifest-schema.json": ["https://opencontainers.org/schema/image/manifest"],
}


@pytest.fixture(scope="module")
def validate(fixtures_dir: Path) -> Any:
    """validate(schema_file, document): the OCI image-spec JSON schemas, offline."""
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    root = fixtures_dir / "image-spec-schema"
    registry: Registry[Any] = Registry()
    for name, urls in _SCHEMA_URLS.items():
        res = Resource.from_contents(
            json.loads((root / name).read_text()), default_specification=DRAFT4
        )
        for url in urls:
            registry = registry.with_resource(url, res)

    def check(schema: str, document: Any) -> None:
        schema_doc = json.loads((root / schema).read_text())
        Draft4Validator(schema_doc, registry=registry).validate(document)

    return check


def test_layers_and_images_are_deterministic() -> None:
    assert (
        BASE.blob()
        == Layer().dir("etc").file("etc/os-release", b"ID=test\n").symlink("bin", "usr/bin").blob()
    )
    first = Image((BASE, APP), labels={"a": "b"}).build()
    second = Image((BASE, APP), labels={"a": "b"}).build()
    assert first.descriptor == second.descriptor
    assert dict(first.blobs) == dict(second.blobs)


def test_gzip_blobs_carry_no_name_or_time_and_zstd_blobs_have_checksums() -> None:
    blob = BASE.blob()
    assert blob[:3] == b"\x1f\x8b\x08"
    assert blob[3] == 0  # no FNAME/FCOMMENT/FEXTRA
    assert blob[4:8] == b"\0\0\0\0"  # mtime 0
    zblob = APP.blob()
    assert zblob[:4] == b"\x28\xb5\x2f\xfd"
    assert zblob[4] & 0x04  # content checksum flag
    tar = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(zblob)).read()
    assert tar == APP.tar() == gzip.decompress(APP.with_compression("gzip").blob())


def test_builders_return_new_values_and_keep_names_verbatim() -> None:
    base = Layer()
    grown = base.file("../hostile", b"x").whiteout("etc/motd").opaque("/opt/")
    assert base.items == ()
    with tarfile.open(fileobj=io.BytesIO(grown.tar())) as t:
        assert t.getnames() == ["../hostile", "etc/.wh.motd", "opt/.wh..wh..opq"]


def test_write_oci_layout_is_schema_valid_and_adds_to_an_existing_index(
    tmp_path: Path, validate: Any
) -> None:
    layout = tmp_path / "layout"
    one = Image((BASE,), config={"Cmd": ["/bin/sh"]}).build()
    two = Image((BASE, APP), platform="linux/arm64/v8").build()
    one.write_oci_layout(layout, "one")
    two.write_oci_layout(layout, "two")
    one.write_oci_layout(layout, "two")  # re-tagging replaces the entry
    validate("image-layout-schema.json", json.loads((layout / "oci-layout").read_text()))
    index = json.loads((layout / "index.json").read_text())
    validate("image-index-schema.json", index)
    refs = [
        (m["annotations"]["org.opencontainers.image.ref.name"], m["digest"])
        for m in index["manifests"]
    ]
    assert refs == [("one", one.descriptor.digest), ("two", one.descriptor.digest)]
    for blob in (layout / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        assert one.blobs.get("sha256:" + blob.name, two.blobs.get("sha256:" + blob.name)) == data
    manifest = two.json()
    validate("image-manifest-schema.json", manifest)
    config = two.json(manifest["config"]["digest"])
    validate("config-schema.json", config)
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        MediaType.OCI_LAYER_GZIP,
        MediaType.OCI_LAYER_ZSTD,
    ]
    assert config["architecture"] == "arm64"
    assert "variant" not in config  # arm64/v8 is normalised to arm64
    assert config["rootfs"]["diff_ids"] == [BASE.blob_info().diff_id, APP.blob_info().diff_id]


def test_multi_platform_index_with_attestations_and_nesting(validate: Any) -> None:
    amd = Image((BASE,), platform="linux/amd64")
    arm = Image((BASE, APP), platform="linux/arm/v7")
    nested = ImageIndex((Image((APP,), platform="linux/riscv64"),))
    built = ImageIndex((amd, arm, nested), attestation=True).build()
    index = built.json()
    validate("image-index-schema.json", index)
    kinds = [
        (
            m["mediaType"],
            m.get("platform", {}).get("architecture"),
            m.get("annotations", {}).get("vnd.docker.reference.type"),
        )
        for m in index["manifests"]
    ]
    assert kinds == [
        (MediaType.OCI_MANIFEST, "amd64", None),
        (MediaType.OCI_MANIFEST, "unknown", "attestation-manifest"),
        (MediaType.OCI_MANIFEST, "arm", None),
        (MediaType.OCI_MANIFEST, "unknown", "attestation-manifest"),
        (MediaType.OCI_INDEX, None, None),
    ]
    assert (
        index["manifests"][1]["annotations"]["vnd.docker.reference.digest"]
        == index["manifests"][0]["digest"]
    )
    arm_names = [e.name for e in flatten_layers(built.layers("linux/arm/v7"))]
    assert arm_names == ["etc", "etc/os-release", "bin", "app", "app/run"]
    assert [e.name for e in flatten_layers(built.layers("linux/riscv64"))] == ["app", "app/run"]
    with pytest.raises(KeyError, match="s390x"):
        built.layers("linux/s390x")
    wrapped = ImageIndex((amd,), nested=True).build()
    (inner,) = wrapped.json()["manifests"]
    assert inner["mediaType"] == MediaType.OCI_INDEX
    assert wrapped.json(inner["digest"]) == ImageIndex((amd,)).build().json()


def test_docker_media_types() -> None:
    built = ImageIndex((Image((BASE,), media_types="docker"),), media_types="docker").build()
    assert built.descriptor.media_type == MediaType.DOCKER_MANIFEST_LIST
    manifest = built.manifest_for("linux/amd64")
    assert manifest["mediaType"] == MediaType.DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == MediaType.DOCKER_CONFIG
    assert manifest["layers"][0]["mediaType"] == MediaType.DOCKER_LAYER_GZIP
    with pytest.raises(ValueError, match="only have gzip"):
        Image((APP,), media_types="docker").build()


def test_streamed_layers_give_the_same_image_as_in_memory_ones(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 5000

    def entries() -> Any:
        yield TarEntry("gen", EntryType.DIRECTORY), None
        for i in range(50):
            yield TarEntry(f"gen/f{i}", size=3), b"%03d" % i

    streamed = Layer().file("big", lambda: io.BytesIO(payload), size=len(payload))
    generated = Layer.generated(entries, compression="zstd")
    in_memory = Layer().file("big", payload)
    image = Image((streamed, generated))
    desc = image.write_oci_layout(tmp_path / "layout", "s")
    assert desc == image.build().descriptor
    assert streamed.blob_info() == in_memory.blob_info()
    names = [e.name for e in flatten_layers(image.build().layers())]
    assert names[:3] == ["big", "gen", "gen/f0"]
    assert len(names) == 52


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_skopeo_reads_the_layout_and_copies_it_to_a_registry_unchanged(
    tmp_path: Path, registry: LocalRegistry
) -> None:
    built = ImageIndex(
        (Image((BASE,), platform="linux/amd64"), Image((BASE, APP), platform="linux/arm64")),
        attestation=True,
    ).build()
    layout = built.write_oci_layout(tmp_path / "layout", "multi")
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{layout}:multi"],
        check=True,
        capture_output=True,
    ).stdout
    assert raw == built.blobs[built.descriptor.digest]
    dest = f"docker://{registry.host}/test/images:multi"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{layout}:multi",
            dest,
        ],
        check=True,
        capture_output=True,
    )
    pushed = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", dest],
        check=True,
        capture_output=True,
    ).stdout
    assert pushed == raw
