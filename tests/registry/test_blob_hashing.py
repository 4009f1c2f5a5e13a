"""Each downloaded byte is hashed once: by the store's blob writer when it is the sink.

``fetch_blob`` relies on the digest of a :class:`HashingBlobSink` (the store's
``BlobWriter``) instead of hashing again, and hashes itself for any other sink. The
resume paths (``Range`` continuation, a registry that ignores ``Range``) must leave the
writer's hash covering exactly the bytes it keeps, and a bad blob must still fail in
``fetch_blob`` (naming the repository) before the store can commit it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from moby_assemble._errors import IntegrityError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry import HashingBlobSink
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._config import RegistryConfig
from moby_assemble.registry._reference import ImageReference
from moby_assemble.registry._retry import RetryPolicy
from moby_assemble.store import Store
from moby_assemble.testing import Fault, FaultProxy, LocalRegistry

from .conftest import MemorySink, ignores_range, serve, sha256, upload_blob

BLOB = bytes(range(251)) * 4177  # about 1 MiB, not a multiple of any chunk size
FAST = RetryPolicy(attempts=3, backoff=0.01, jitter=False)
REPO = "hashing/blob"


class LyingSink(MemorySink):
    """A hashing sink whose digest is made up: shows whose digest fetch_blob checks."""

    def __init__(self, claim: str | None) -> None:
        super().__init__()
        self.claim = claim

    def content_digest(self, algorithm: str) -> str | None:
        return self.claim


@pytest.fixture(scope="module")
def seeded(registry: LocalRegistry) -> LocalRegistry:
    upload_blob(registry.url, REPO, BLOB)
    return registry


@pytest.fixture
def proxy(seeded: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(seeded.url) as p:
        yield p


def _client(host: str) -> RegistryClient:
    return RegistryClient(registries={host: RegistryConfig(plain_http=True)}, retry=FAST)


def _ref(host: str) -> ImageReference:
    return ImageReference.parse(f"{host}/{REPO}:1")


def _desc() -> Descriptor:
    return Descriptor(MediaType.OCI_LAYER, sha256(BLOB), len(BLOB))


def test_the_store_blob_writer_is_a_hashing_sink(tmp_path: Path) -> None:
    with Store(tmp_path).blob_writer(_desc()) as writer:
        assert isinstance(writer, HashingBlobSink)
        assert writer.content_digest("sha256") == sha256(b"")
        assert writer.content_digest("sha512") is None
        writer.write(BLOB)
        assert writer.content_digest("sha256") == sha256(BLOB)


def test_fetch_trusts_a_hashing_sink_instead_of_hashing_again(seeded: LocalRegistry) -> None:
    host = seeded.host
    # The right bytes arrive, but the sink claims another digest: fetch_blob must have
    # used the sink's digest, so it fails (and names the repository).
    with _client(host) as client, pytest.raises(IntegrityError) as info:
        client.fetch_blob(_ref(host), _desc(), LyingSink(sha256(b"other")))
    assert info.value.actual == sha256(b"other")
    assert REPO in str(info.value)
    # A sink that does not hash with the blob's algorithm gets our own hash.
    sink = LyingSink(None)
    with _client(host) as client:
        client.fetch_blob(_ref(host), _desc(), sink)
    assert bytes(sink.data) == BLOB


def test_resumed_download_into_the_store_commits_the_blob(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.inject(Fault.reset(after_bytes=300_000, path="/blobs/sha256:"))
    store = Store(tmp_path / "store")
    desc = _desc()
    with _client(proxy.host) as client, store.blob_writer(desc) as writer:
        client.fetch_blob(_ref(proxy.host), desc, writer)
    gets = proxy.find("GET", "/blobs/sha256:")
    assert len(gets) == 2
    assert gets[1].status == 206
    assert store.read_blob(desc.digest) == BLOB


def test_registry_ignoring_range_restarts_the_writer_hash_with_its_content(
    tmp_path: Path,
) -> None:
    calls: list[str | None] = []

    store = Store(tmp_path / "store")
    desc = _desc()
    with (
        serve(ignores_range(BLOB, calls)) as host,
        _client(host) as client,
        store.blob_writer(desc) as writer,
    ):
        client.fetch_blob(_ref(host), desc, writer)
    assert calls[1] is not None
    assert store.read_blob(desc.digest) == BLOB


def test_a_sink_with_leftovers_is_emptied_before_hashing(
    seeded: LocalRegistry, tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    desc = _desc()
    with _client(seeded.host) as client, store.blob_writer(desc) as writer:
        writer.write(b"stale bytes from an earlier attempt")
        client.fetch_blob(_ref(seeded.host), desc, writer)
    assert hashlib.sha256(store.read_blob(desc.digest)).hexdigest() == desc.digest[7:]


def test_corrupt_blob_fails_in_fetch_before_the_store_commits(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.inject(Fault.flip_byte(offset=777_777, path="/blobs/sha256:", times=None))
    store = Store(tmp_path / "store")
    desc = _desc()
    with (
        _client(proxy.host) as client,
        pytest.raises(IntegrityError) as info,
        store.blob_writer(desc) as writer,
    ):
        client.fetch_blob(_ref(proxy.host), desc, writer)
    assert REPO in str(info.value)  # raised by fetch_blob, not by the commit
    assert info.value.actual is not None
    assert info.value.actual != desc.digest
    assert not store.has_blob(desc.digest)
    assert not any((tmp_path / "store" / "ingest").iterdir())


def test_embedded_data_goes_through_the_writer_hash(tmp_path: Path) -> None:
    data = b'{"architecture":"amd64"}'
    desc = Descriptor(MediaType.OCI_CONFIG, sha256(data), len(data), data=data)
    store = Store(tmp_path / "store")
    # No request is made for embedded data, so no registry is needed.
    with _client("127.0.0.1:9") as client, store.blob_writer(desc) as writer:
        client.fetch_blob(ImageReference.parse("127.0.0.1:9/embedded/x:1"), desc, writer)
    assert store.read_blob(desc.digest) == data
