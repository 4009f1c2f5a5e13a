"""OCI layouts as image sources: the puller copies one platform's blobs from a layout into
the store, verified, with no registry client at all (``Puller(None, ...)``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from moby_assemble import IntegrityError, Platform, PlatformError, StoreError
from moby_assemble.registry import BlobFinished, BlobStarted, Puller
from moby_assemble.store import LayoutReference, Store, parse_layout_reference
from moby_assemble.testing import Image, ImageIndex, ImageSet, Layer

from .conftest import require_tool

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")


def _image(text: bytes, platform: str = "linux/amd64") -> Image:
    return Image([Layer().file("hello.txt", text)], platform=platform)


def _multi() -> ImageSet:
    """amd64 and arm64 images plus a BuildKit attestation for each."""
    return ImageIndex((_image(b"amd64"), _image(b"arm64", "linux/arm64")), attestation=True).build()


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def _layer_digest(built: ImageSet, platform: str) -> str:
    return str(built.manifest_for(platform)["layers"][0]["digest"])


@pytest.fixture
def cache(tmp_path: Path) -> Store:
    """An offline cache store: nothing may be fetched into it from a registry."""
    return Store(tmp_path / "cache", offline=True)


def test_pull_copies_only_the_requested_platform_into_the_store(
    tmp_path: Path, cache: Store
) -> None:
    built = _multi()
    layout = built.write_oci_layout(tmp_path / "oci", "multi:1")
    with Puller(None, cache) as puller:
        image = puller.pull(parse_layout_reference(f"oci-layout:{layout}:multi:1"), AMD64)
    assert image.index is not None
    assert image.index.digest == built.descriptor.digest
    amd64 = next(e for e in built.json()["manifests"] if e["platform"]["architecture"] == "amd64")
    assert image.manifest.digest == amd64["digest"]
    assert image.platform == AMD64
    assert [d.digest for d in image.layers] == [_layer_digest(built, "linux/amd64")]
    assert cache.has_blob(_layer_digest(built, "linux/amd64"))
    assert not cache.has_blob(_layer_digest(built, "linux/arm64"))
    layer = image.layers[0].digest
    assert cache.read_blob(layer) == _blob(layout, layer).read_bytes()
    assert cache.verify() == ()
    # The layout is the source: it is read, never written to.
    assert sorted(p.name for p in layout.iterdir()) == ["blobs", "index.json", "oci-layout"]


def test_the_pulled_image_names_its_layout_and_pins_to_the_index(
    tmp_path: Path, cache: Store
) -> None:
    built = _multi()
    layout = built.write_oci_layout(tmp_path / "oci", "multi:1")
    ref = parse_layout_reference(f"oci-layout:{layout}:multi:1")
    with Puller(None, cache) as puller:
        image = puller.pull(ref, ARM64)
    assert isinstance(image.source, LayoutReference)
    assert str(image.reference) == f"oci-layout:{layout}:multi:1"
    assert image.digest == built.descriptor.digest
    assert str(image.pinned) == f"oci-layout:{layout}:multi:1@{built.descriptor.digest}"
    assert image.config["architecture"] == "arm64"


def test_attestations_of_the_chosen_manifest_come_along(tmp_path: Path, cache: Store) -> None:
    built = _multi()
    layout = built.write_oci_layout(tmp_path / "oci", "multi:1")
    with Puller(None, cache) as puller:
        image = puller.pull(parse_layout_reference(f"oci-layout:{layout}:multi:1"), AMD64)
    entries = built.json()["manifests"]
    about = {
        e["annotations"]["vnd.docker.reference.digest"]: e["digest"]
        for e in entries
        if e.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"
    }
    assert cache.has_blob(about[image.manifest.digest])
    arm = next(d for d in about if d != image.manifest.digest)
    assert not cache.has_blob(about[arm])


def test_a_layout_pull_reports_progress_per_blob(tmp_path: Path, cache: Store) -> None:
    layout = _image(b"x").build().write_oci_layout(tmp_path / "oci", "x")
    events: list[object] = []
    with Puller(None, cache, progress=events.append) as puller:
        image = puller.pull(parse_layout_reference(f"oci-layout:{layout}:x"), AMD64)
    started = [e.digest for e in events if isinstance(e, BlobStarted)]
    finished = [e.digest for e in events if isinstance(e, BlobFinished) and not e.cached]
    assert set(started) == set(finished) == {image.config_descriptor.digest, image.layers[0].digest}


def test_a_pinned_layout_image_in_the_store_needs_no_layout(tmp_path: Path, cache: Store) -> None:
    layout = _image(b"kept").build().write_oci_layout(tmp_path / "oci", "x")
    ref = parse_layout_reference(f"oci-layout:{layout}:x")
    with Puller(None, cache) as puller:
        first = puller.pull(ref, AMD64)
    for blob in (layout / "blobs" / "sha256").iterdir():
        blob.unlink()
    with Puller(None, cache) as puller:
        again = puller.pull(ref.with_digest(first.digest), AMD64)
    assert again.manifest == first.manifest
    assert again.layers == first.layers


def test_pull_and_resolve_by_digest_and_by_only_entry(tmp_path: Path, cache: Store) -> None:
    built = _image(b"one").build()
    layout = built.write_oci_layout(tmp_path / "oci")  # no tag at all
    digest = built.descriptor.digest
    with Puller(None, cache) as puller:
        assert puller.resolve(parse_layout_reference(f"oci-layout:{layout}")) == digest
        assert puller.resolve(parse_layout_reference(f"oci-layout:{layout}"), AMD64) == digest
        image = puller.pull(parse_layout_reference(f"oci-layout:{layout}@{digest}"), AMD64)
    assert image.manifest.digest == digest


def test_a_relative_layout_path_is_relative_to_the_current_directory(
    tmp_path: Path, cache: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _image(b"rel").build().write_oci_layout(tmp_path / "work" / "oci", "x")
    monkeypatch.chdir(tmp_path / "work")
    with Puller(None, cache) as puller:
        image = puller.pull(parse_layout_reference("oci-layout:oci:x"), AMD64)
    assert str(image.reference) == f"oci-layout:{tmp_path / 'work' / 'oci'}:x"


def test_resolve_with_a_platform_the_layout_lacks_lists_what_it_has(
    tmp_path: Path, cache: Store
) -> None:
    layout = _multi().write_oci_layout(tmp_path / "oci", "multi:1")
    ref = parse_layout_reference(f"oci-layout:{layout}:multi:1")
    with Puller(None, cache) as puller, pytest.raises(PlatformError) as info:
        puller.resolve(ref, Platform.parse("linux/riscv64"))
    assert info.value.available == ("linux/amd64", "linux/arm64")
    assert str(layout) in str(info.value)


def test_a_missing_tag_names_the_layout_and_lists_its_tags(tmp_path: Path, cache: Store) -> None:
    layout = _image(b"a").build().write_oci_layout(tmp_path / "oci", "app:1")
    _image(b"b").build().write_oci_layout(layout, "app:2")
    with Puller(None, cache) as puller, pytest.raises(StoreError) as info:
        puller.pull(parse_layout_reference(f"oci-layout:{layout}:app:3"), AMD64)
    message = str(info.value)
    assert f"no tag 'app:3' in the OCI layout {layout}" in message
    assert "its tags: 'app:1', 'app:2'" in message
    assert info.value.path == str(layout)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(lambda p: None, "there is no OCI image layout at", id="no-directory"),
        pytest.param(lambda p: p.mkdir(), "is not an OCI image layout", id="not-a-layout"),
    ],
)
def test_a_missing_layout_is_a_store_error_naming_it(
    tmp_path: Path, cache: Store, setup: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "absent"
    setup(path)
    with Puller(None, cache) as puller, pytest.raises(StoreError, match=message) as info:
        puller.pull(parse_layout_reference(f"oci-layout:{path}:x"), AMD64)
    assert str(path) in str(info.value)
    assert not path.exists() or list(path.iterdir()) == []  # nothing was created there


def test_a_corrupt_layer_in_the_layout_is_an_integrity_error_and_is_not_stored(
    tmp_path: Path, cache: Store
) -> None:
    built = _image(b"good content").build()
    layout = built.write_oci_layout(tmp_path / "oci", "x")
    digest = _layer_digest(built, "linux/amd64")
    blob = _blob(layout, digest)
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF  # same size, other bytes
    blob.write_bytes(bytes(data))
    with Puller(None, cache) as puller, pytest.raises(IntegrityError) as info:
        puller.pull(parse_layout_reference(f"oci-layout:{layout}:x"), AMD64)
    assert info.value.digest == digest
    assert f"blob {digest} in the OCI layout {layout} is corrupt" in str(info.value)
    assert not cache.has_blob(digest)


@pytest.mark.parametrize("change", ["truncated", "longer"])
def test_a_layer_of_the_wrong_size_is_an_integrity_error(
    tmp_path: Path, cache: Store, change: str
) -> None:
    built = _image(b"sized").build()
    layout = built.write_oci_layout(tmp_path / "oci", "x")
    digest = _layer_digest(built, "linux/amd64")
    blob = _blob(layout, digest)
    data = blob.read_bytes()
    blob.write_bytes(data[:-1] if change == "truncated" else data + b"\0")
    with Puller(None, cache) as puller, pytest.raises(IntegrityError, match=str(layout)):
        puller.pull(parse_layout_reference(f"oci-layout:{layout}:x"), AMD64)
    assert not cache.has_blob(digest)


def test_a_corrupt_manifest_in_the_layout_is_an_integrity_error(
    tmp_path: Path, cache: Store
) -> None:
    built = _image(b"m").build()
    layout = built.write_oci_layout(tmp_path / "oci", "x")
    manifest = _blob(layout, built.descriptor.digest)
    manifest.write_bytes(manifest.read_bytes().replace(b'"schemaVersion"', b'"schemaversion"'))
    with Puller(None, cache) as puller, pytest.raises(IntegrityError) as info:
        puller.pull(parse_layout_reference(f"oci-layout:{layout}:x"), AMD64)
    assert info.value.digest == built.descriptor.digest
    assert str(layout) in str(info.value)
    assert not cache.has_blob(built.descriptor.digest)


def test_a_blob_missing_from_the_layout_is_named(tmp_path: Path, cache: Store) -> None:
    built = _image(b"gone").build()
    layout = built.write_oci_layout(tmp_path / "oci", "x")
    digest = _layer_digest(built, "linux/amd64")
    _blob(layout, digest).unlink()
    with Puller(None, cache) as puller, pytest.raises(StoreError) as info:
        puller.pull(parse_layout_reference(f"oci-layout:{layout}:x"), AMD64)
    assert f"blob {digest}" in str(info.value)
    assert f"missing from the OCI layout {layout}" in str(info.value)


def test_a_layout_skopeo_wrote_is_a_source(tmp_path: Path, cache: Store) -> None:
    skopeo = require_tool("skopeo")
    built = _multi()
    src = built.write_oci_layout(tmp_path / "src", "multi")
    dest = tmp_path / "copied"
    subprocess.run(
        [skopeo, "copy", "--all", "--preserve-digests", f"oci:{src}:multi", f"oci:{dest}:m:1"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Puller(None, cache) as puller:
        image = puller.pull(parse_layout_reference(f"oci-layout:{dest}:m:1"), ARM64)
    assert image.digest == built.descriptor.digest
    assert [d.digest for d in image.layers] == [_layer_digest(built, "linux/arm64")]
    assert cache.verify() == ()
    # skopeo wrote the tag as the ref.name annotation, as the layout spec says.
    entry = json.loads((dest / "index.json").read_text())["manifests"][0]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "m:1"


def test_an_evolved_reference_keeps_its_tag_when_pinned(tmp_path: Path) -> None:
    ref = parse_layout_reference(f"oci-layout:{tmp_path}:app:v1")
    digest = "sha256:" + "a" * 64
    assert ref.with_digest(digest) == attrs.evolve(ref, digest=digest)
    assert str(ref.with_digest(digest)) == f"oci-layout:{tmp_path}:app:v1@{digest}"
    assert ref.anchored("/elsewhere") == ref  # already absolute
    assert parse_layout_reference("oci-layout:rel:t").anchored("/base").path == Path("/base/rel")
