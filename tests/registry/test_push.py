"""Pushing blobs, manifests and whole images to the real test registry."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import referencing
import referencing.jsonschema

from moby_assemble._errors import IntegrityError, NotFoundError, StoreError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._push import (
    BlobPushResult,
    push_blob,
    push_bytes,
    push_from_store,
    push_manifest,
    push_scopes,
)
from moby_assemble.registry._reference import ImageReference
from moby_assemble.store import Store
from moby_assemble.testing import Fault, FaultProxy, LocalRegistry
from tests.registry.conftest import TestImage, make_image, make_index, make_layer, sha256


def ref_in(registry: LocalRegistry | FaultProxy, name: str) -> ImageReference:
    return ImageReference.parse(f"{registry.host}/{name}")


def store_image(store: Store, image: TestImage, name: str | None = None) -> Descriptor:
    """Put ``image`` (every blob and document) into ``store``; tag it as ``name``."""
    for data in image.all_blobs().values():
        store.put_bytes("application/octet-stream", data)
    for data in image.all_documents().values():
        store.put_bytes("application/octet-stream", data)
    desc = Descriptor(image.media_type, image.digest, len(image.data))
    if name:
        store.tag(name, desc)
    return desc


def skopeo_inspect(reference: str, *, raw: bool = False) -> Any:
    cmd = ["skopeo", "inspect", "--tls-verify=false"]
    if raw:
        cmd.append("--raw")
    out = subprocess.run(
        [*cmd, f"docker://{reference}"], check=True, capture_output=True, text=True, timeout=60
    )
    return json.loads(out.stdout)


# The image-spec schemas carry draft-04 "id"s under several bases; relative $refs resolve
# against whichever applies, so every file is registered under each of them.
_SCHEMA_BASES = (
    "https://opencontainers.org/schema/",
    "https://opencontainers.org/schema/image/",
    "https://opencontainers.org/schema/descriptor/",
    "https://opencontainers.org/schema/image/descriptor/",
)


@pytest.fixture(scope="module")
def schemas(fixtures_dir: Path) -> dict[str, Any]:
    """Validators for the image-spec manifest and index schemas."""
    folder = fixtures_dir / "image-spec-schema"
    registry: referencing.Registry[Any] = referencing.Registry()
    for path in folder.glob("*.json"):
        resource = referencing.Resource.from_contents(
            json.loads(path.read_text()), default_specification=referencing.jsonschema.DRAFT4
        )
        registry = registry.with_resources((base + path.name, resource) for base in _SCHEMA_BASES)
    out = {}
    for name in ("image-manifest-schema.json", "image-index-schema.json"):
        schema = json.loads((folder / name).read_text())
        out[name] = jsonschema.Draft4Validator(schema, registry=registry)
    return out


@pytest.fixture
def rclient() -> Iterator[RegistryClient]:
    with RegistryClient() as c:
        yield c


@pytest.fixture
def proxy(registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as p:
        yield p


def blob(n: int, seed: bytes = b"") -> bytes:
    """``n`` pseudo-random bytes (distinct per seed)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n])


def desc_of(data: bytes, media_type: str = MediaType.OCI_LAYER_GZIP) -> Descriptor:
    return Descriptor.for_bytes(media_type, data)


# -- blobs ---------------------------------------------------------------------------------


def test_push_scopes_ask_pull_on_mount_sources_only_once() -> None:
    ref = ImageReference.parse("r.example/team/app:1")
    assert push_scopes(ref, ["team/base", "team/app", "team/base"]) == (
        "repository:team/app:pull,push",
        "repository:team/base:pull",
    )


def test_monolithic_upload_streams_the_blob_and_is_verified_by_the_registry(
    rclient: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = blob(3 * 1024 * 1024 + 17, b"mono")
    desc = desc_of(data)
    ref = ref_in(proxy, "push/mono")
    assert push_bytes(rclient, ref, desc, data) is BlobPushResult.UPLOADED
    got = httpx.get(f"{registry.url}/v2/push/mono/blobs/{desc.digest}")
    assert got.content == data
    puts = proxy.find("PUT", "/blobs/uploads/")
    assert len(puts) == 1
    assert puts[0].request_bytes == len(data)
    assert puts[0].header("Content-Length") == str(len(data))
    assert not proxy.find("PATCH")


def test_existing_blob_is_skipped_after_one_head(
    rclient: RegistryClient, proxy: FaultProxy
) -> None:
    data = b"already there"
    desc = desc_of(data)
    ref = ref_in(proxy, "push/exists")
    push_bytes(rclient, ref, desc, data)
    proxy.clear_log()

    def never() -> io.BytesIO:
        raise AssertionError("the source must not be opened for an existing blob")

    assert push_blob(rclient, ref, desc, never) is BlobPushResult.EXISTS
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 200)]


def test_cross_repository_mount_sends_no_bytes(
    rclient: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = blob(100_000, b"mount")
    desc = desc_of(data)
    push_bytes(rclient, ref_in(proxy, "push/mount-src"), desc, data)
    proxy.clear_log()
    target = ref_in(proxy, "push/mount-dst")
    result = push_blob(
        rclient, target, desc, lambda: io.BytesIO(data), mount_from=["push/mount-src"]
    )
    assert result is BlobPushResult.MOUNTED
    post = proxy.find("POST")
    assert len(post) == 1
    assert post[0].query == {"mount": [desc.digest], "from": ["push/mount-src"]}
    assert post[0].status == 201
    assert not proxy.find("PUT")
    assert not proxy.find("PATCH")
    got = httpx.get(f"{registry.url}/v2/push/mount-dst/blobs/{desc.digest}")
    assert got.content == data


def test_declined_mount_uploads_into_the_session_the_registry_opened(
    rclient: RegistryClient, proxy: FaultProxy
) -> None:
    data = blob(5000, b"declined")
    desc = desc_of(data)
    target = ref_in(proxy, "push/declined")
    result = push_blob(rclient, target, desc, lambda: io.BytesIO(data), mount_from=["push/nowhere"])
    assert result is BlobPushResult.UPLOADED
    assert [r.status for r in proxy.find("POST")] == [202]  # no second session
    assert [r.status for r in proxy.find("PUT")] == [201]


def test_mount_sources_are_tried_in_order_and_declined_sessions_cancelled(
    rclient: RegistryClient, proxy: FaultProxy
) -> None:
    data = blob(7000, b"second source")
    desc = desc_of(data)
    push_bytes(rclient, ref_in(proxy, "push/src-two"), desc, data)
    proxy.clear_log()
    result = push_blob(
        rclient,
        ref_in(proxy, "push/dst-two"),
        desc,
        lambda: io.BytesIO(data),
        mount_from=["push/src-none", "push/src-two"],
    )
    assert result is BlobPushResult.MOUNTED
    assert [(r.method, r.status) for r in proxy.requests] == [
        ("HEAD", 404),
        ("POST", 202),
        ("DELETE", 204),
        ("POST", 201),
    ]


def test_forced_chunked_upload_patches_in_order_and_follows_locations(
    rclient: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = blob(250_000, b"chunks")
    desc = desc_of(data)
    ref = ref_in(proxy, "push/chunked")
    result = push_blob(rclient, ref, desc, lambda: io.BytesIO(data), chunk_size=100_000)
    assert result is BlobPushResult.UPLOADED
    patches = proxy.find("PATCH")
    assert [p.header("Content-Range") for p in patches] == [
        "0-99999",
        "100000-199999",
        "200000-249999",
    ]
    # Each PATCH went to the Location of the previous answer.
    locations = [dict(p.response_headers)["Location"] for p in patches]
    assert [p.target for p in patches[1:]] == [
        httpx.URL(loc).raw_path.decode() for loc in locations[:-1]
    ]
    final = proxy.find("PUT")
    assert len(final) == 1
    assert final[0].request_bytes == 0
    assert final[0].status == 201
    assert httpx.get(f"{registry.url}/v2/push/chunked/blobs/{desc.digest}").content == data


def test_registry_refusing_a_monolithic_upload_gets_chunks(
    rclient: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = blob(40_000, b"413")
    desc = desc_of(data)
    proxy.inject(Fault.status(413, method="PUT", path="/blobs/uploads/"))
    push_blob(rclient, ref_in(proxy, "push/too-large"), desc, lambda: io.BytesIO(data))
    assert [r.status for r in proxy.find("PUT")] == [413, 201]
    assert len(proxy.find("PATCH")) == 1
    assert httpx.get(f"{registry.url}/v2/push/too-large/blobs/{desc.digest}").content == data


def test_unseekable_sources_are_read_forward(rclient: RegistryClient, proxy: FaultProxy) -> None:
    data = blob(30_000, b"pipe")
    desc = desc_of(data)

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    proxy.inject(Fault.status(416, method="PATCH", skip=1))
    push_blob(rclient, ref_in(proxy, "push/pipe"), desc, lambda: Pipe(), chunk_size=10_000)  # type: ignore[arg-type,return-value]
    assert [p.status for p in proxy.find("PATCH")] == [202, 416, 202, 202]


def test_source_with_other_content_fails_before_the_upload_completes(
    rclient: RegistryClient, registry: LocalRegistry
) -> None:
    data = blob(20_000, b"good")
    desc = desc_of(data)
    bad = data[:-1] + b"\x00"
    ref = ref_in(registry, "push/corrupt-source")
    with pytest.raises(IntegrityError, match=desc.digest):
        push_blob(rclient, ref, desc, lambda: io.BytesIO(bad))
    with pytest.raises(IntegrityError, match="source ended"):
        push_blob(rclient, ref, desc, lambda: io.BytesIO(data[:-5]), chunk_size=8000)
    assert (
        httpx.head(f"{registry.url}/v2/push/corrupt-source/blobs/{desc.digest}").status_code == 404
    )


def test_empty_blob_uploads(rclient: RegistryClient, registry: LocalRegistry) -> None:
    desc = desc_of(b"")
    push_blob(rclient, ref_in(registry, "push/empty"), desc, lambda: io.BytesIO(b""), chunk_size=10)
    assert httpx.head(f"{registry.url}/v2/push/empty/blobs/{desc.digest}").status_code == 200


# -- manifests -----------------------------------------------------------------------------


def test_manifest_is_pushed_by_digest_then_tag_with_its_exact_bytes(
    rclient: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    image = make_image(layers=[make_layer({"etc/hello": b"hi\n"})])
    ref = ref_in(proxy, "push/manifest:v1")
    for data in image.all_blobs().values():
        push_bytes(rclient, ref, desc_of(data), data)
    proxy.clear_log()
    desc = push_manifest(rclient, ref, image.data, image.media_type)
    assert desc == Descriptor(MediaType.OCI_MANIFEST, image.digest, len(image.data))
    puts = proxy.find("PUT")
    assert [p.path.rsplit("/", 1)[1] for p in puts] == [image.digest, "v1"]
    assert all(p.header("Content-Type") == MediaType.OCI_MANIFEST for p in puts)
    got = httpx.get(
        f"{registry.url}/v2/push/manifest/manifests/v1", headers={"Accept": MediaType.OCI_MANIFEST}
    )
    assert got.content == image.data  # indent=2 JSON kept byte for byte


def test_pinned_reference_must_match_the_manifest(
    rclient: RegistryClient, registry: LocalRegistry
) -> None:
    image = make_image()
    ref = ref_in(registry, f"push/pinned@sha256:{'0' * 64}")
    with pytest.raises(IntegrityError, match="hashes to"):
        push_manifest(rclient, ref, image.data, image.media_type)


def test_manifest_with_missing_blobs_is_refused_by_name(
    rclient: RegistryClient, registry: LocalRegistry
) -> None:
    image = make_image(layers=[make_layer({"missing": b"x"})])
    with pytest.raises(Exception, match="push/missing-blobs") as info:
        push_manifest(
            rclient, ref_in(registry, "push/missing-blobs:v1"), image.data, image.media_type
        )
    assert "MANIFEST_BLOB_UNKNOWN" in str(info.value) or "BLOB_UNKNOWN" in str(info.value)


# -- images from the store -----------------------------------------------------------------


def test_image_from_store_is_what_skopeo_sees(
    rclient: RegistryClient, registry: LocalRegistry, tmp_path: Path, schemas: dict[str, Any]
) -> None:
    layers = [make_layer({"bin/a": b"a" * 1000}), make_layer({"bin/b": b"b" * 2000})]
    image = make_image("linux/amd64", layers)
    store = Store(tmp_path / "store")
    desc = store_image(store, image, "app:1")
    pushed = push_from_store(rclient, store, store.resolve("app:1"), ref_in(registry, "push/app:1"))
    assert pushed.digest == desc.digest
    info = skopeo_inspect(f"{registry.host}/push/app:1")
    assert info["Digest"] == image.digest
    assert info["Layers"] == [sha256(x) for x in layers]
    assert info["Architecture"] == "amd64"
    schemas["image-manifest-schema.json"].validate(json.loads(image.data))


def test_two_platform_index_round_trips_through_the_client(
    rclient: RegistryClient, proxy: FaultProxy, tmp_path: Path, schemas: dict[str, Any]
) -> None:
    shared = make_layer({"shared": b"same in both"})
    amd = make_image("linux/amd64", [shared, make_layer({"amd": b"1"})])
    arm = make_image("linux/arm64/v8", [shared, make_layer({"arm": b"2"})])
    index = make_index([(amd, "linux/amd64"), (arm, "linux/arm64/v8")])
    store = Store(tmp_path / "store")
    desc = store_image(store, index, "multi")
    ref = ref_in(proxy, "push/multi:v2")
    push_from_store(rclient, store, desc, ref)

    # Children before the index, the index by digest before the tag; the shared layer once.
    manifest_puts = [p.path.rsplit("/", 1)[1] for p in proxy.find("PUT", "/manifests/")]
    assert manifest_puts[-2:] == [index.digest, "v2"]
    assert set(manifest_puts[:2]) == {amd.digest, arm.digest}
    assert len(proxy.find("HEAD", sha256(shared))) == 1

    got = rclient.get_manifest(ref)
    assert got.data == index.data
    assert got.is_index
    for child in (amd, arm):
        m = rclient.get_manifest(ref.with_digest(child.digest))
        assert m.data == child.data
        for layer in m.layers:
            assert rclient.blob_exists(ref, layer.digest)
    schemas["image-index-schema.json"].validate(json.loads(index.data))
    info = skopeo_inspect(f"{proxy.host}/push/multi:v2", raw=True)
    assert [m["digest"] for m in info["manifests"]] == [amd.digest, arm.digest]


def test_pushing_again_only_checks(
    rclient: RegistryClient, proxy: FaultProxy, tmp_path: Path
) -> None:
    image = make_image(layers=[make_layer({"x": b"again"})])
    store = Store(tmp_path / "store")
    desc = store_image(store, image)
    ref = ref_in(proxy, "push/again:1")
    push_from_store(rclient, store, desc, ref)
    proxy.clear_log()
    push_from_store(rclient, store, desc, ref)
    methods = {(r.method, r.status) for r in proxy.requests}
    assert methods == {("HEAD", 200), ("PUT", 201)}  # blob checks, manifest by digest + tag


def test_mount_from_store_push(rclient: RegistryClient, proxy: FaultProxy, tmp_path: Path) -> None:
    image = make_image(layers=[make_layer({"m": b"mounted layer"})])
    store = Store(tmp_path / "store")
    desc = store_image(store, image)
    push_from_store(rclient, store, desc, ref_in(proxy, "push/base:1"))
    proxy.clear_log()
    push_from_store(rclient, store, desc, ref_in(proxy, "push/derived:1"), mount_from=["push/base"])
    assert {r.status for r in proxy.find("POST")} == {201}
    assert len(proxy.find("POST")) == len(image.all_blobs())
    assert not proxy.find("PUT", "/blobs/")


def test_partial_index_in_store_is_a_store_error_naming_the_child(
    rclient: RegistryClient, registry: LocalRegistry, tmp_path: Path
) -> None:
    amd = make_image("linux/amd64")
    arm = make_image("linux/arm64")
    index = make_index([(amd, "linux/amd64"), (arm, "linux/arm64")])
    store = Store(tmp_path / "store")
    store_image(store, amd)
    store.put_bytes("application/octet-stream", index.data)
    desc = Descriptor(index.media_type, index.digest, len(index.data))
    with pytest.raises(StoreError, match=arm.digest):
        push_from_store(rclient, store, desc, ref_in(registry, "push/partial:1"))
    with pytest.raises(NotFoundError):
        rclient.get_manifest(ref_in(registry, "push/partial:1"))


def test_docker_schema2_image_is_pushed_with_its_media_types(
    rclient: RegistryClient, registry: LocalRegistry, tmp_path: Path
) -> None:
    image = make_image("linux/amd64", [make_layer({"d": b"docker"})], docker=True)
    store = Store(tmp_path / "store")
    desc = store_image(store, image)
    ref = ref_in(registry, "push/docker:1")
    push_from_store(rclient, store, desc, ref)
    got = rclient.get_manifest(ref)
    assert got.descriptor.media_type == MediaType.DOCKER_MANIFEST
    assert got.data == image.data
    assert skopeo_inspect(f"{registry.host}/push/docker:1")["Digest"] == image.digest


def test_corrupted_blob_in_the_store_is_never_uploaded(
    rclient: RegistryClient, registry: LocalRegistry, tmp_path: Path
) -> None:
    layer = make_layer({"c": blob(10_000, b"corrupt")})
    image = make_image("linux/amd64", [layer])
    store = Store(tmp_path / "store")
    desc = store_image(store, image)
    path = store.blob_path(sha256(layer))
    damaged = bytearray(path.read_bytes())
    damaged[100] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(damaged))
    with pytest.raises(IntegrityError, match=sha256(layer)):
        push_from_store(rclient, store, desc, ref_in(registry, "push/corrupt:1"))
    assert not rclient.blob_exists(ref_in(registry, "push/corrupt"), sha256(layer))


def test_big_blob_upload_memory_stays_flat(
    rclient: RegistryClient, registry: LocalRegistry, tmp_path: Path
) -> None:
    size = 48 * 1024 * 1024
    source = tmp_path / "big.bin"
    hasher = hashlib.sha256()
    with source.open("wb") as f:
        piece = blob(1024 * 1024, b"big")
        for _ in range(size // len(piece)):
            f.write(piece)
            hasher.update(piece)
    desc = Descriptor(MediaType.OCI_LAYER, "sha256:" + hasher.hexdigest(), size)
    seen: list[int] = []
    tracemalloc.start()
    try:
        push_blob(
            rclient,
            ref_in(registry, "push/big"),
            desc,
            lambda: source.open("rb"),
            progress=seen.append,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while uploading {size}"
    assert seen[-1] == size
    assert rclient.blob_exists(ref_in(registry, "push/big"), desc.digest)
