"""The client against a misbehaving network: resume, retries, corruption, caps, dedupe.

The FaultProxy sits in front of the real registry; a few cases a real registry cannot
produce (a lying Docker-Content-Digest, a server that ignores Range) use tiny servers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from moby_assemble._errors import (
    IntegrityError,
    RateLimitError,
    RegistryError,
    UnsupportedError,
)
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble._platform import Platform
from moby_assemble.registry._client import RegistryClient, push_scope
from moby_assemble.registry._config import RegistryConfig
from moby_assemble.registry._events import BlobFinished, BlobStarted
from moby_assemble.registry._pull import Puller
from moby_assemble.registry._reference import ImageReference
from moby_assemble.registry._retry import RetryPolicy
from moby_assemble.store import Store
from moby_assemble.testing import Fault, FaultProxy, LocalRegistry

from .conftest import (
    MemorySink,
    ignores_range,
    make_image,
    make_layer,
    push_image,
    send,
    serve,
    sha256,
    upload_blob,
)

AMD64 = Platform.parse("linux/amd64")
BLOB = bytes(range(256)) * 4096  # 1 MiB
FAST = RetryPolicy(attempts=3, backoff=0.01, jitter=False)


@pytest.fixture(scope="module")
def seeded(registry: LocalRegistry) -> LocalRegistry:
    upload_blob(registry.url, "faults/blob", BLOB)
    push_image(
        registry.url, "faults/image", "1", make_image("linux/amd64", [make_layer({"a": b"a"})])
    )
    return registry


@pytest.fixture
def proxy(seeded: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(seeded.url) as p:
        yield p


def _client(*hosts: str, retry: RetryPolicy = FAST, **config: object) -> RegistryClient:
    registries = {h: RegistryConfig(plain_http=True, **config) for h in hosts}  # type: ignore[arg-type]
    return RegistryClient(registries=registries, retry=retry)


def _blob_desc() -> Descriptor:
    return Descriptor(MediaType.OCI_LAYER, sha256(BLOB), len(BLOB))


def _ref(host: str, repo: str, tag: str = "1") -> ImageReference:
    return ImageReference.parse(f"{host}/{repo}:{tag}")


# -- blobs ------------------------------------------------------------------------------------


def test_blob_download_resumes_with_range_after_a_reset(proxy: FaultProxy) -> None:
    proxy.inject(Fault.reset(after_bytes=300_000, path="/blobs/sha256:"))
    sink = MemorySink()
    with _client(proxy.host) as client:
        client.fetch_blob(_ref(proxy.host, "faults/blob"), _blob_desc(), sink)
    assert bytes(sink.data) == BLOB
    assert sink.resets == 0
    gets = proxy.find("GET", "/blobs/sha256:")
    assert len(gets) == 2
    resumed = dict((k.lower(), v) for k, v in gets[1].headers)
    assert resumed["range"].startswith("bytes=")
    assert resumed["range"] != "bytes=0-"
    assert gets[1].status == 206


def test_blob_download_resumes_after_a_short_body(proxy: FaultProxy) -> None:
    proxy.inject(Fault.truncate(after_bytes=100_000, path="/blobs/sha256:"))
    sink = MemorySink()
    with _client(proxy.host) as client:
        client.fetch_blob(_ref(proxy.host, "faults/blob"), _blob_desc(), sink)
    assert bytes(sink.data) == BLOB
    assert len(proxy.find("GET", "/blobs/sha256:")) == 2


def test_registry_ignoring_range_makes_the_download_start_again() -> None:
    calls: list[str | None] = []

    with serve(ignores_range(BLOB, calls)) as host, _client(host) as client:
        sink = MemorySink()
        client.fetch_blob(_ref(host, "faults/norange"), _blob_desc(), sink)
    assert bytes(sink.data) == BLOB
    assert sink.resets == 1
    assert calls[0] is None
    assert calls[1] is not None


def test_corrupted_blob_is_integrity_error_and_never_committed(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.inject(Fault.flip_byte(offset=12345, path="/blobs/sha256:", times=None))
    store = Store(tmp_path / "store")
    desc = _blob_desc()
    with (
        _client(proxy.host) as client,
        pytest.raises(IntegrityError) as info,
        store.blob_writer(desc) as writer,
    ):
        client.fetch_blob(_ref(proxy.host, "faults/blob"), desc, writer)
    assert desc.digest in str(info.value)
    assert info.value.actual is not None
    assert not store.has_blob(desc.digest)
    assert not any((tmp_path / "store" / "ingest").iterdir())


def test_persistent_resets_end_in_a_transport_error(proxy: FaultProxy) -> None:
    proxy.inject(Fault.reset(after_bytes=1000, path="/blobs/sha256:", times=None))
    with _client(proxy.host) as client, pytest.raises(RegistryError) as info:
        client.fetch_blob(_ref(proxy.host, "faults/blob"), _blob_desc(), MemorySink())
    assert "faults/blob" in str(info.value)
    assert len(proxy.find("GET", "/blobs/sha256:")) == FAST.attempts


# -- manifests ----------------------------------------------------------------------------------


def test_corrupted_manifest_by_digest_is_integrity_error(
    proxy: FaultProxy, seeded: LocalRegistry
) -> None:
    with _client(proxy.host) as client:
        good = client.get_manifest(_ref(proxy.host, "faults/image"))
        proxy.inject(Fault.flip_byte(offset=40, path="/manifests/sha256:"))
        pinned = _ref(proxy.host, "faults/image").with_digest(good.digest)
        with pytest.raises(IntegrityError) as info:
            client.get_manifest(pinned)
    assert good.digest in str(info.value)


def test_lying_docker_content_digest_is_integrity_error() -> None:
    body = make_image("linux/amd64").data

    def handle(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, body, {"Content-Type": MediaType.OCI_MANIFEST,
                            "Docker-Content-Digest": "sha256:" + "1" * 64})  # fmt: skip

    with serve(handle) as host, _client(host) as client, pytest.raises(IntegrityError) as info:
        client.get_manifest(_ref(host, "faults/liar"))
    assert info.value.digest == "sha256:" + "1" * 64
    assert info.value.actual == sha256(body)


def test_manifest_over_the_size_cap_is_refused(seeded: LocalRegistry) -> None:
    with _client(seeded.host) as client, pytest.raises(UnsupportedError) as info:
        client.get_manifest(_ref(seeded.host, "faults/image"), max_size=100)
    assert "100 bytes" in str(info.value)
    assert "faults/image:1" in str(info.value)


def test_unbounded_chunked_manifest_is_cut_at_the_cap() -> None:
    sent = []

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", MediaType.OCI_MANIFEST)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for _ in range(1000):  # 64 MiB if nobody stops reading
                chunk = b" " * 65536
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent.append(len(chunk))
        except OSError:
            pass
        h.close_connection = True

    with serve(handle) as host, _client(host) as client, pytest.raises(UnsupportedError):
        client.get_manifest(_ref(host, "faults/huge"), max_size=1024 * 1024)
    assert sum(sent) < 64 * 1024 * 1024


def test_schema1_manifest_is_refused_clearly() -> None:
    body = json.dumps({"schemaVersion": 1, "name": "x", "tag": "1", "fsLayers": []}).encode()

    def handle(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, body, {"Content-Type": MediaType.DOCKER_MANIFEST_V1_SIGNED})

    with serve(handle) as host, _client(host) as client, pytest.raises(UnsupportedError) as info:
        client.get_manifest(_ref(host, "faults/old"))
    assert "schema 1" in str(info.value)


# -- retries ----------------------------------------------------------------------------------


def test_503_is_retried_until_it_succeeds(proxy: FaultProxy) -> None:
    proxy.inject(Fault.status(503, times=2, path="/manifests/"))
    with _client(proxy.host) as client:
        manifest = client.get_manifest(_ref(proxy.host, "faults/image"))
    assert manifest.layers
    assert [r.status for r in proxy.find("GET", "/manifests/")] == [503, 503, 200]


def test_429_retry_after_is_honoured(proxy: FaultProxy) -> None:
    proxy.inject(Fault.too_many_requests(retry_after=1, path="/manifests/"))
    with _client(proxy.host) as client:
        started = time.monotonic()
        client.get_manifest(_ref(proxy.host, "faults/image"))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.9
    assert [r.status for r in proxy.find("GET", "/manifests/")] == [429, 200]


def test_429_asking_for_too_long_a_wait_is_rate_limit_error(proxy: FaultProxy) -> None:
    proxy.inject(Fault.too_many_requests(retry_after=3600, path="/manifests/"))
    with _client(proxy.host) as client, pytest.raises(RateLimitError) as info:
        client.get_manifest(_ref(proxy.host, "faults/image"))
    assert info.value.retry_after == 3600
    assert info.value.code == "TOOMANYREQUESTS"
    assert len(proxy.find("GET", "/manifests/")) == 1


def test_persistent_500_gives_up_after_the_budget(proxy: FaultProxy) -> None:
    proxy.inject(Fault.status(500, times=None, path="/manifests/"))
    with _client(proxy.host) as client, pytest.raises(RegistryError) as info:
        client.get_manifest(_ref(proxy.host, "faults/image"))
    assert info.value.status_code == 500
    assert len(proxy.find("GET", "/manifests/")) == FAST.attempts


def test_post_is_not_retried(proxy: FaultProxy) -> None:
    proxy.inject(Fault.status(503, times=None, path="/blobs/uploads/"))
    ref = _ref(proxy.host, "faults/upload")
    with _client(proxy.host) as client, pytest.raises(RegistryError):
        client.request("POST", ref, "blobs/uploads/", scopes=[push_scope(ref)], expect=(202,))
    assert len(proxy.find("POST", "/blobs/uploads/")) == 1


# -- resolve, warm pulls, concurrency, mirrors -----------------------------------------------------


def test_resolve_uses_head_only(proxy: FaultProxy, tmp_path: Path) -> None:
    with _client(proxy.host) as client, Puller(client, Store(tmp_path / "s")) as puller:
        digest = puller.resolve(_ref(proxy.host, "faults/image"))
    assert [(r.method, r.status) for r in proxy.requests if "/manifests/" in r.path] == [
        ("HEAD", 200)
    ]
    assert digest.startswith("sha256:")


def test_warm_pull_of_a_tag_is_one_head_request(proxy: FaultProxy, tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    ref = _ref(proxy.host, "faults/image")
    with _client(proxy.host) as client, Puller(client, store) as puller:
        first = puller.pull(ref, AMD64)
        proxy.clear_log()
        again = puller.pull(ref, AMD64)
    assert again == first
    assert [(r.method, r.path) for r in proxy.requests] == [
        ("HEAD", "/v2/faults/image/manifests/1")
    ]


def test_pull_many_fetches_shared_layers_once_and_bounds_concurrency(
    proxy: FaultProxy, seeded: LocalRegistry, tmp_path: Path
) -> None:
    shared = make_layer({"shared": b"x" * 10000})
    images = [
        make_image("linux/amd64", [shared, make_layer({f"own{i}": b"%d" % i})]) for i in range(4)
    ]
    for i, img in enumerate(images):
        push_image(seeded.url, f"faults/many{i}", "1", img)
    proxy.inject(Fault.delay(0.15, path="/blobs/sha256:", times=None))
    active = 0
    peak = 0
    lock = threading.Lock()

    def progress(event: object) -> None:
        nonlocal active, peak
        with lock:
            if isinstance(event, BlobStarted):
                active += 1
                peak = max(peak, active)
            elif isinstance(event, BlobFinished) and not event.cached:
                active -= 1

    refs = [_ref(proxy.host, f"faults/many{i}") for i in range(4)]
    with (
        _client(proxy.host) as client,
        Puller(client, Store(tmp_path / "s"), max_concurrency=2, progress=progress) as puller,
    ):
        pulled = puller.pull_many(refs, AMD64)
    assert [p.manifest.digest for p in pulled] == [img.digest for img in images]
    shared_gets = [r for r in proxy.find("GET", "/blobs/") if r.path.endswith(sha256(shared))]
    assert len(shared_gets) == 1
    assert peak == 2


def test_mirror_is_used_first_and_skipped_when_it_fails(
    proxy: FaultProxy, seeded: LocalRegistry
) -> None:
    ref = _ref(seeded.host, "faults/image")
    registries = {
        seeded.host: RegistryConfig(plain_http=True, mirrors=(proxy.host,)),
        proxy.host: RegistryConfig(plain_http=True),
    }
    with RegistryClient(registries=registries, retry=FAST) as client:
        via_mirror = client.get_manifest(ref)
        assert proxy.find("GET", "/manifests/")
        proxy.inject(Fault.status(500, times=None))
        direct = client.get_manifest(ref)
        # Existence checks (used before pushing) never ask a mirror.
        proxy.clear_log()
        assert client.blob_exists(ref, via_mirror.config.digest)
        assert proxy.requests == ()
    assert direct.data == via_mirror.data


def test_registry_warnings_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    body = make_image("linux/amd64").data

    def handle(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, body, {"Content-Type": MediaType.OCI_MANIFEST,
                            "Warning": '299 - "this repository is deprecated"'})  # fmt: skip

    caplog.set_level("WARNING", logger="moby_assemble")
    with serve(handle) as host, _client(host) as client:
        client.get_manifest(_ref(host, "faults/warned"))
        client.get_manifest(_ref(host, "faults/warned"))
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert warnings == [f"registry {host} warns: this repository is deprecated"]
