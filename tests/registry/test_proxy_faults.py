"""Push and pull through the FaultProxy: the library against a misbehaving network.

Pull-side faults of the client alone are covered in test_client_faults.py; here the pusher's
recovery paths are exercised, and whole images make the round trip store → faulty network →
registry → faulty network → store.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moby_assemble._errors import IntegrityError, RegistryError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble._platform import Platform
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._config import RegistryConfig
from moby_assemble.registry._pull import Puller
from moby_assemble.registry._push import BlobPushResult, push_blob, push_from_store
from moby_assemble.registry._reference import ImageReference
from moby_assemble.registry._retry import RetryPolicy
from moby_assemble.store import Store
from moby_assemble.testing import Fault, FaultProxy, LocalRegistry
from tests.registry.conftest import TestImage, make_image, make_layer

FAST = RetryPolicy(attempts=4, backoff=0.01, jitter=False)


def data_of(n: int, seed: bytes) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


@pytest.fixture
def proxy(registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as p:
        yield p


@pytest.fixture
def fast_client(proxy: FaultProxy) -> Iterator[RegistryClient]:
    config = {proxy.host: RegistryConfig(plain_http=True)}
    with RegistryClient(registries=config, retry=FAST) as c:
        yield c


def upload(
    client: RegistryClient, proxy: FaultProxy, repo: str, data: bytes, **kwargs: object
) -> Descriptor:
    desc = Descriptor.for_bytes(MediaType.OCI_LAYER, data)
    ref = ImageReference.parse(f"{proxy.host}/{repo}")
    result = push_blob(client, ref, desc, lambda: io.BytesIO(data), **kwargs)  # type: ignore[arg-type]
    assert result is BlobPushResult.UPLOADED
    return desc


def stored(registry: LocalRegistry, repo: str, desc: Descriptor) -> bytes:
    return httpx.get(f"{registry.url}/v2/{repo}/blobs/{desc.digest}").content


# -- uploads -------------------------------------------------------------------------------


def test_chunk_whose_answer_was_lost_still_ends_in_the_right_blob(
    fast_client: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = data_of(300_000, b"lost answer")
    proxy.inject(Fault.drop(method="PATCH", skip=1))  # the registry takes chunk 2, we never hear
    desc = upload(fast_client, proxy, "faults/lost-patch", data, chunk_size=100_000)
    assert stored(registry, "faults/lost-patch", desc) == data
    # distribution 2.8 cancels a session asked about with the stale Location we still hold
    # (its _state token carries the old offset): the pusher asked, then started over.
    status = proxy.find("GET", "/blobs/uploads/")
    assert [r.status for r in status] == [404]
    assert len(proxy.find("POST")) == 2
    ranges = [p.header("Content-Range") for p in proxy.find("PATCH")]
    assert ranges == ["0-99999", "100000-199999", "0-99999", "100000-199999", "200000-299999"]


def test_chunk_cut_off_mid_body_is_resumed_where_the_session_stands(
    fast_client: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = data_of(300_000, b"cut chunk")
    proxy.inject(Fault.reset(after_bytes=30_000, on="request", method="PATCH", skip=1))
    desc = upload(fast_client, proxy, "faults/cut-patch", data, chunk_size=100_000)
    assert stored(registry, "faults/cut-patch", desc) == data
    ranges = [p.header("Content-Range") for p in proxy.find("PATCH")]
    assert ranges[:2] == ["0-99999", "100000-199999"]
    assert ranges[-1].endswith("-299999")


def test_416_is_recovered_by_asking_the_session(
    fast_client: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = data_of(250_000, b"416")
    proxy.inject(Fault.status(416, method="PATCH", skip=1, times=2))
    desc = upload(fast_client, proxy, "faults/416", data, chunk_size=100_000)
    assert stored(registry, "faults/416", desc) == data
    assert [p.status for p in proxy.find("PATCH")] == [202, 416, 416, 202, 202]
    assert len(proxy.find("GET", "/blobs/uploads/")) == 2


def test_chunk_refused_for_ever_ends_in_a_registry_error(
    fast_client: RegistryClient, proxy: FaultProxy
) -> None:
    data = data_of(250_000, b"416 for ever")
    proxy.inject(Fault.status(416, method="PATCH", skip=1, times=None))
    with pytest.raises(RegistryError, match="offset 100000") as info:
        upload(fast_client, proxy, "faults/416-for-ever", data, chunk_size=100_000)
    assert info.value.status_code == 416
    assert len(proxy.find("PATCH")) == 1 + FAST.attempts


def test_monolithic_upload_reset_midway_starts_a_new_session(
    fast_client: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = data_of(500_000, b"mono reset")
    proxy.inject(Fault.reset(after_bytes=200_000, on="request", method="PUT"))
    desc = upload(fast_client, proxy, "faults/mono-reset", data)
    assert stored(registry, "faults/mono-reset", desc) == data
    assert len(proxy.find("POST")) == 2
    assert [r.request_bytes for r in proxy.find("PUT")] == [200_000, 500_000]


def test_lost_answer_to_the_final_put_counts_as_done(
    fast_client: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = data_of(50_000, b"final")
    proxy.inject(Fault.drop(method="PUT"))
    desc = upload(fast_client, proxy, "faults/final-put", data)
    assert stored(registry, "faults/final-put", desc) == data
    assert len(proxy.find("PUT")) == 1  # not uploaded again: a HEAD found it


def test_503_bursts_on_session_start_are_retried(
    fast_client: RegistryClient, proxy: FaultProxy, registry: LocalRegistry
) -> None:
    data = data_of(10_000, b"503")
    proxy.inject(Fault.status(503, method="POST", times=2))
    desc = upload(fast_client, proxy, "faults/503", data)
    assert stored(registry, "faults/503", desc) == data
    assert [r.status for r in proxy.find("POST")] == [503, 503, 202]


def test_429_on_manifest_put_waits_as_asked(
    fast_client: RegistryClient, proxy: FaultProxy, tmp_path: Path
) -> None:
    image = make_image(layers=[make_layer({"r": b"rate"})])
    store = Store(tmp_path / "store")
    desc = _into_store(store, image)
    proxy.inject(Fault.too_many_requests(retry_after=1, method="PUT", path="/manifests/"))
    t0 = time.monotonic()
    push_from_store(fast_client, store, desc, ImageReference.parse(f"{proxy.host}/faults/rate:1"))
    assert time.monotonic() - t0 >= 1.0
    assert [r.status for r in proxy.find("PUT", "/manifests/")] == [429, 201, 201]


def test_persistent_failure_ends_in_a_registry_error_naming_the_blob(
    fast_client: RegistryClient, proxy: FaultProxy
) -> None:
    data = data_of(10_000, b"hopeless")
    proxy.inject(Fault.status(500, method="PUT", times=None))
    with pytest.raises(RegistryError, match="faults/hopeless") as info:
        upload(fast_client, proxy, "faults/hopeless", data)
    assert info.value.status_code == 500
    assert len(proxy.find("PUT")) == FAST.attempts


# -- whole images, both ways -----------------------------------------------------------------


def _into_store(store: Store, image: TestImage) -> Descriptor:
    for blob in image.all_blobs().values():
        store.put_bytes("application/octet-stream", blob)
    for doc in image.all_documents().values():
        store.put_bytes("application/octet-stream", doc)
    return Descriptor(image.media_type, image.digest, len(image.data))


def test_image_survives_a_faulty_network_both_ways(
    fast_client: RegistryClient, proxy: FaultProxy, tmp_path: Path
) -> None:
    big = make_layer({"big": data_of(600_000, b"big layer")})
    image = make_image("linux/amd64", [big, make_layer({"small": b"s"})])
    src = Store(tmp_path / "src")
    desc = _into_store(src, image)
    ref = ImageReference.parse(f"{proxy.host}/faults/roundtrip:1")

    proxy.inject(Fault.status(503, method="HEAD", times=2))
    proxy.inject(Fault.reset(after_bytes=100_000, on="request", method="PATCH", skip=2))
    push_from_store(fast_client, src, desc, ref, chunk_size=256 * 1024)

    digest_of_big = Descriptor.for_bytes(MediaType.OCI_LAYER_GZIP, big).digest
    proxy.inject(Fault.reset(after_bytes=300_000, path=f"/blobs/{digest_of_big}"))
    proxy.inject(Fault.status(502, method="GET", path="/manifests/", times=1))
    dst = Store(tmp_path / "dst")
    with Puller(fast_client, dst) as puller:
        pulled = puller.pull(ref, Platform.parse("linux/amd64"))
    assert pulled.manifest.digest == image.digest
    for layer in pulled.layers:
        assert dst.read_blob(layer.digest) == image.all_blobs()[layer.digest]
    first, resumed = proxy.find("GET", f"/blobs/{digest_of_big}")
    assert first.header("Range") is None
    # A reset also discards what sat unread in the client's socket buffer, so the resume
    # starts somewhere before the 300 000 bytes the proxy sent, but after 0.
    start = int((resumed.header("Range") or "").removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 300_000
    assert resumed.status == 206


def test_flipped_byte_on_pull_is_an_integrity_error_and_nothing_is_stored(
    fast_client: RegistryClient, proxy: FaultProxy, tmp_path: Path
) -> None:
    layer = make_layer({"f": data_of(50_000, b"flip")})
    image = make_image("linux/amd64", [layer])
    src = Store(tmp_path / "src")
    ref = ImageReference.parse(f"{proxy.host}/faults/flip:1")
    push_from_store(fast_client, src, _into_store(src, image), ref)
    layer_digest = Descriptor.for_bytes(MediaType.OCI_LAYER_GZIP, layer).digest
    proxy.inject(Fault.flip_byte(offset=1234, path=f"/blobs/{layer_digest}"))
    dst = Store(tmp_path / "dst")
    with Puller(fast_client, dst) as puller, pytest.raises(IntegrityError, match=layer_digest):
        puller.pull(ref, Platform.parse("linux/amd64"))
    assert not dst.has_blob(layer_digest)
