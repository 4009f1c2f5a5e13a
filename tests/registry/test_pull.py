"""Puller against the real registry: platform selection, store contents, offline use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from moby_assemble._errors import OfflineError, PlatformError
from moby_assemble._oci import MediaType
from moby_assemble._platform import Platform
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._events import BlobFinished, BlobProgress, BlobStarted
from moby_assemble.registry._pull import Puller
from moby_assemble.registry._reference import ImageReference
from moby_assemble.store import Store
from moby_assemble.testing import LocalRegistry

from .conftest import (
    TestImage,
    make_attestation,
    make_image,
    make_index,
    make_layer,
    push_image,
    skopeo_push,
    write_layout,
)

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def puller(client: RegistryClient, store: Store) -> Iterator[Puller]:
    with Puller(client, store) as p:
        yield p


def _ref(registry: LocalRegistry, repo: str, tag: str) -> ImageReference:
    return ImageReference.parse(f"{registry.host}/{repo}:{tag}")


def _layer(name: str) -> bytes:
    return make_layer({f"etc/{name}": f"{name}\n".encode()})


def _multi() -> tuple[TestImage, TestImage, TestImage]:
    amd = make_image("linux/amd64", [_layer("amd")])
    arm = make_image("linux/arm64/v8", [_layer("arm")])
    return make_index([(amd, "linux/amd64"), (arm, "linux/arm64/v8")]), amd, arm


@pytest.fixture(scope="module")
def skopeo_images(registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A single-platform image and a two-platform index, pushed with skopeo."""
    base = tmp_path_factory.mktemp("layouts")
    single = make_image("linux/amd64", [_layer("one"), _layer("two")])
    skopeo_push(
        write_layout(base / "single", "v1", single), "v1", f"{registry.host}/pull/single:v1"
    )
    index, amd, arm = _multi()
    skopeo_push(
        write_layout(base / "multi", "v1", index),
        "v1",
        f"{registry.host}/pull/multi:v1",
        all_images=True,
    )
    return {"single": single, "index": index, "amd": amd, "arm": arm}


def test_single_platform_pull_stores_manifest_config_layers_and_tags(
    puller: Puller, store: Store, registry: LocalRegistry, skopeo_images: dict
) -> None:
    single: TestImage = skopeo_images["single"]
    ref = _ref(registry, "pull/single", "v1")
    image = puller.pull(ref, AMD64)
    assert image.index is None
    assert image.manifest.digest == single.digest
    assert image.platform == AMD64
    assert image.config["architecture"] == "amd64"
    assert [d.digest for d in image.layers] == [
        json.loads(single.data)["layers"][i]["digest"] for i in range(2)
    ]
    for digest in single.all_blobs():
        assert store.has_blob(digest)
    assert store.read_blob(single.digest) == single.data
    assert store.resolve(f"{registry.host}/pull/single:v1").digest == single.digest
    assert store.resolve(f"{registry.host}/pull/single@{single.digest}").digest == single.digest


def test_multi_platform_pull_fetches_only_the_requested_platform(
    puller: Puller, store: Store, registry: LocalRegistry, skopeo_images: dict
) -> None:
    index, amd, arm = (skopeo_images[k] for k in ("index", "amd", "arm"))
    image = puller.pull(_ref(registry, "pull/multi", "v1"), ARM64)
    assert image.index is not None
    assert image.index.digest == index.digest
    assert image.manifest.digest == arm.digest
    assert image.manifest.platform == ARM64
    assert image.digest == index.digest
    assert store.read_blob(index.digest) == index.data
    for digest in arm.all_blobs():
        assert store.has_blob(digest)
    for digest in amd.all_blobs():
        assert not store.has_blob(digest)
    assert not store.has_blob(amd.digest)


def test_arm64_v8_and_arm64_are_the_same_platform(puller: Puller, registry: LocalRegistry) -> None:
    plain = make_image("linux/arm64", [_layer("plain-arm")])
    push_image(registry.url, "pull/arm-plain", "1", make_index([(plain, "linux/arm64")]))
    image = puller.pull(_ref(registry, "pull/arm-plain", "1"), Platform.parse("linux/arm64/v8"))
    assert image.manifest.digest == plain.digest


def test_missing_platform_lists_the_platforms_that_exist(
    puller: Puller, registry: LocalRegistry, skopeo_images: dict
) -> None:
    with pytest.raises(PlatformError) as info:
        puller.pull(_ref(registry, "pull/multi", "v1"), Platform.parse("linux/s390x"))
    err = info.value
    assert err.available == ("linux/amd64", "linux/arm64")
    assert err.wanted == "linux/s390x"
    assert "linux/amd64, linux/arm64" in str(err)
    assert "pull/multi:v1" in str(err)


def test_nested_index_is_searched(puller: Puller, registry: LocalRegistry) -> None:
    amd = make_image("linux/amd64", [_layer("nested-amd")])
    arm = make_image("linux/arm/v7", [_layer("nested-arm")])
    inner = make_index([(arm, "linux/arm/v7")])
    outer = make_index([(amd, "linux/amd64"), (inner, None)])
    push_image(registry.url, "pull/nested", "1", outer)
    image = puller.pull(_ref(registry, "pull/nested", "1"), Platform.parse("linux/arm/v7"))
    assert image.manifest.digest == arm.digest
    assert image.index is not None
    assert image.index.digest == outer.digest
    with pytest.raises(PlatformError) as info:
        puller.pull(_ref(registry, "pull/nested", "1"), Platform.parse("linux/riscv64"))
    assert info.value.available == ("linux/amd64", "linux/arm/v7")


def test_attestation_entries_are_skipped(
    puller: Puller, store: Store, registry: LocalRegistry
) -> None:
    amd = make_image("linux/amd64", [_layer("attested")])
    attestation = make_attestation(amd)
    # The attestation comes first: a naive "first entry" choice would take it.
    index = make_index([attestation, (amd, "linux/amd64")])
    push_image(registry.url, "pull/attested", "1", index)
    image = puller.pull(_ref(registry, "pull/attested", "1"), AMD64)
    assert image.manifest.digest == amd.digest
    assert not store.has_blob(attestation[0].digest)
    with pytest.raises(PlatformError) as info:
        puller.pull(_ref(registry, "pull/attested", "1"), ARM64)
    assert info.value.available == ("linux/amd64",)


def test_docker_schema2_manifest_list(
    puller: Puller, store: Store, registry: LocalRegistry
) -> None:
    amd = make_image("linux/amd64", [_layer("docker-amd")], docker=True)
    arm = make_image("linux/arm/v7", [_layer("docker-arm")], docker=True)
    index = make_index([(amd, "linux/amd64"), (arm, "linux/arm/v7")], docker=True)
    push_image(registry.url, "pull/docker", "1", index)
    image = puller.pull(_ref(registry, "pull/docker", "1"), Platform.parse("linux/arm/v7"))
    assert image.index is not None
    assert image.index.media_type == MediaType.DOCKER_MANIFEST_LIST
    assert image.manifest.media_type == MediaType.DOCKER_MANIFEST
    assert image.layers[0].media_type == MediaType.DOCKER_LAYER_GZIP
    assert image.config_descriptor.media_type == MediaType.DOCKER_CONFIG
    assert image.config["variant"] == "v7"
    assert store.has_blob(image.layers[0].digest)


def test_single_platform_image_for_another_platform_is_refused(
    puller: Puller, registry: LocalRegistry, skopeo_images: dict
) -> None:
    with pytest.raises(PlatformError) as info:
        puller.pull(_ref(registry, "pull/single", "v1"), ARM64)
    assert info.value.available == ("linux/amd64",)


def test_fallback_accepts_a_compatible_platform(puller: Puller, registry: LocalRegistry) -> None:
    v6 = make_image("linux/arm/v6", [_layer("armv6")])
    push_image(registry.url, "pull/armv6", "1", make_index([(v6, "linux/arm/v6")]))
    ref = _ref(registry, "pull/armv6", "1")
    with pytest.raises(PlatformError):
        puller.pull(ref, Platform.parse("linux/arm/v7"))
    image = puller.pull(ref, Platform.parse("linux/arm/v7"), fallback=True)
    assert image.platform == Platform.parse("linux/arm/v6")


def test_progress_events_report_downloads_and_cache_hits(
    client: RegistryClient, store: Store, registry: LocalRegistry
) -> None:
    img = make_image("linux/amd64", [_layer("progress")])
    push_image(registry.url, "pull/progress", "1", img)
    events: list[object] = []
    ref = _ref(registry, "pull/progress", "1")
    with Puller(client, store, progress=events.append) as puller:
        puller.pull(ref, AMD64)
        first = list(events)
        events.clear()
        puller.pull(ref, AMD64)
    started = {e.digest for e in first if isinstance(e, BlobStarted)}
    assert started == set(img.all_blobs())
    assert any(isinstance(e, BlobProgress) for e in first)
    assert {e.digest for e in first if isinstance(e, BlobFinished) and not e.cached} == started
    assert all(isinstance(e, BlobFinished) and e.cached for e in events)
    assert {e.digest for e in events if isinstance(e, BlobFinished)} == started


# -- offline --------------------------------------------------------------------------------


def test_offline_pull_from_a_warm_store_needs_no_client(
    puller: Puller, store: Store, registry: LocalRegistry, skopeo_images: dict
) -> None:
    ref = _ref(registry, "pull/multi", "v1")
    online = puller.pull(ref, ARM64)
    offline_store = Store(store.path, offline=True)
    with Puller(None, offline_store) as offline:
        assert offline.offline
        again = offline.pull(ref, ARM64)
        assert again == online
        assert offline.resolve(ref) == online.digest
        pinned = offline.pull(ref.with_digest(online.digest), ARM64)
        assert pinned.manifest == online.manifest
        with pytest.raises(OfflineError) as info:
            offline.pull(ref, AMD64)  # index cached, amd64 manifest not
    assert str(ref) in str(info.value)


def test_offline_pull_from_a_cold_store_names_the_image(tmp_path: Path) -> None:
    ref = ImageReference.parse("registry.example/team/app:2.1")
    for store in (Store(tmp_path / "a", offline=True), Store(tmp_path / "b")):
        with Puller(None, store) as puller, pytest.raises(OfflineError) as info:
            puller.pull(ref, AMD64)
        assert info.value.reference == str(ref)
        assert "registry.example/team/app:2.1" in str(info.value)


def test_pinned_reference_in_store_is_pulled_without_network(
    puller: Puller, store: Store, registry: LocalRegistry, skopeo_images: dict
) -> None:
    ref = _ref(registry, "pull/single", "v1")
    first = puller.pull(ref, AMD64)
    # A client whose every request fails: any network use would raise.
    with RegistryClient(registries={}, transport=_Refuse()) as dead, Puller(dead, store) as p:
        again = p.pull(first.pinned, AMD64)
    assert again.manifest == first.manifest


class _Refuse:
    def handle_request(self, request: object) -> object:
        raise AssertionError(f"unexpected request {request}")

    def close(self) -> None:
        pass
