"""Interoperability with real peers: skopeo reads what we push and writes what we pull;
oras-py pulls the artifacts we push, and we pull what oras-py pushes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from moby_assemble._oci import EMPTY_DESCRIPTOR, Descriptor, MediaType
from moby_assemble._platform import Platform
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._pull import Puller
from moby_assemble.registry._push import ORAS_TITLE, push_artifact, push_from_store
from moby_assemble.registry._reference import ImageReference
from moby_assemble.registry._referrers import referrers
from moby_assemble.store import Store
from moby_assemble.testing import LocalRegistry
from tests.registry.conftest import (
    MemorySink,
    make_image,
    make_index,
    make_layer,
    sha256,
    skopeo_push,
    write_layout,
)

oras_provider = pytest.importorskip("oras.provider")


@pytest.fixture(autouse=True)
def _no_user_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """oras-py reads ~/.docker/config.json: keep the user's credentials out of these tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)


NOTES = "application/vnd.example.notes"


def test_skopeo_copy_in_then_pull_with_the_client(
    client: RegistryClient, registry: LocalRegistry, tmp_path: Path
) -> None:
    layers = [make_layer({"usr/bin/tool": b"#!/bin/sh\n"}), make_layer({"etc/conf": b"x=1\n"})]
    amd = make_image("linux/amd64", layers)
    arm = make_image("linux/arm64", layers[:1])
    index = make_index([(amd, "linux/amd64"), (arm, "linux/arm64")])
    layout = write_layout(tmp_path / "layout", "v1", index)
    skopeo_push(layout, "v1", f"{registry.host}/interop/skopeo-in:v1", all_images=True)

    ref = ImageReference.parse(f"{registry.host}/interop/skopeo-in:v1")
    top = client.get_manifest(ref)
    assert top.descriptor.digest == index.digest  # --preserve-digests kept the exact bytes
    store = Store(tmp_path / "store")
    with Puller(client, store) as puller:
        pulled = puller.pull(ref, Platform.parse("linux/arm64"))
    assert pulled.manifest.digest == arm.digest
    assert [d.digest for d in pulled.layers] == [sha256(layers[0])]
    assert store.read_blob(sha256(layers[0])) == layers[0]

    # ... and push it on from the store, then let skopeo copy it back out to a layout.
    target = ImageReference.parse(f"{registry.host}/interop/skopeo-out:v1")
    push_from_store(client, store, pulled.manifest, target)
    out = tmp_path / "out"
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--preserve-digests",
         f"docker://{target}", f"oci:{out}:v1"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    copied = json.loads((out / "index.json").read_text())["manifests"][0]
    assert copied["digest"] == arm.digest


def test_oras_py_pulls_the_artifact_we_pushed(
    client: RegistryClient, registry: LocalRegistry, tmp_path: Path
) -> None:
    files = {"readme.txt": b"hello from moby_assemble\n", "data.json": b'{"n": 1}'}
    ref = ImageReference.parse(f"{registry.host}/interop/notes:v1")
    desc = push_artifact(client, ref, files, NOTES, annotations={"org.example": "yes"})

    manifest = client.get_manifest(ref)
    assert manifest.descriptor.digest == desc.digest
    assert manifest.json["artifactType"] == NOTES
    assert manifest.json["config"] == {
        "mediaType": MediaType.OCI_EMPTY,
        "digest": EMPTY_DESCRIPTOR.digest,
        "size": 2,
    }

    oras = oras_provider.Registry(registry.host, insecure=True)
    out = tmp_path / "pulled"
    paths = oras.pull(target=f"{registry.host}/interop/notes:v1", outdir=str(out))
    assert sorted(Path(p).name for p in paths) == sorted(files)
    for name, content in files.items():
        assert (out / name).read_bytes() == content


def test_we_pull_what_oras_py_pushed(
    client: RegistryClient, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "model.bin").write_bytes(bytes(range(256)) * 40)
    (work / "notes.md").write_text("# notes\n")
    monkeypatch.chdir(work)  # oras-py only pushes files below the working directory
    oras = oras_provider.Registry(registry.host, insecure=True)
    oras.push(
        target=f"{registry.host}/interop/from-oras:v1",
        files=["model.bin", "notes.md"],
        manifest_annotations={"made.by": "oras-py"},
        quiet=True,
    )

    ref = ImageReference.parse(f"{registry.host}/interop/from-oras:v1")
    manifest = client.get_manifest(ref)
    assert manifest.json["annotations"] == {"made.by": "oras-py"}
    got = {}
    for layer in manifest.layers:
        sink = MemorySink()
        client.fetch_blob(ref, layer, sink)  # verified against the layer's digest and size
        got[layer.annotation_dict[ORAS_TITLE]] = bytes(sink.data)
    assert got == {
        "model.bin": (work / "model.bin").read_bytes(),
        "notes.md": b"# notes\n",
    }


def test_artifact_with_subject_is_found_as_a_referrer_of_the_image(
    client: RegistryClient, registry: LocalRegistry, tmp_path: Path
) -> None:
    image = make_image("linux/amd64", [make_layer({"app": b"1"})])
    store = Store(tmp_path / "store")
    for data in [*image.all_blobs().values(), image.data]:
        store.put_bytes("application/octet-stream", data)
    ref = ImageReference.parse(f"{registry.host}/interop/with-sbom:v1")
    subject = push_from_store(
        client, store, Descriptor(image.media_type, image.digest, len(image.data)), ref
    )
    sbom = push_artifact(
        client, ref, {"sbom.json": b"{}"}, "application/spdx+json", subject=subject
    )
    assert [d.digest for d in referrers(client, ref, subject.digest)] == [sbom.digest]
    # oras-py can fetch the referrer by digest like any artifact.
    oras = oras_provider.Registry(registry.host, insecure=True)
    paths = oras.pull(
        target=f"{registry.host}/interop/with-sbom@{sbom.digest}", outdir=str(tmp_path / "o")
    )
    assert [Path(p).read_bytes() for p in paths] == [b"{}"]
