"""RegistryClient.request and the manifest/blob helpers against the real registry."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from moby_assemble._errors import IntegrityError, NotFoundError, RegistryError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry._client import RegistryClient, pull_scope, push_scope
from moby_assemble.registry._config import RegistryConfig
from moby_assemble.registry._reference import ImageReference
from moby_assemble.registry._retry import RetryPolicy
from moby_assemble.testing import LocalRegistry

from .conftest import MemorySink, put_manifest, upload_blob


def _ref(registry: LocalRegistry, repo: str, tag: str = "latest") -> ImageReference:
    return ImageReference.parse(f"{registry.host}/{repo}:{tag}")


def _image(registry: LocalRegistry, repo: str, tag: str, payload: bytes) -> tuple[bytes, str]:
    """Upload a one-layer image by hand; return the manifest bytes and digest."""
    layer = upload_blob(registry.url, repo, payload)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    config_digest = upload_blob(registry.url, repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": {
                "mediaType": MediaType.OCI_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [{"mediaType": MediaType.OCI_LAYER, "digest": layer, "size": len(payload)}],
        },
        indent=3,  # unusual formatting: a re-serialised document would hash differently
    ).encode()
    digest = put_manifest(registry.url, repo, tag, manifest, MediaType.OCI_MANIFEST)
    return manifest, digest


def test_unknown_manifest_is_not_found_naming_registry_and_reference(
    client: RegistryClient, registry: LocalRegistry
) -> None:
    ref = _ref(registry, "client/nothing-here", "v1")
    with pytest.raises(NotFoundError) as info:
        client.request("GET", ref, "manifests/v1", scopes=[pull_scope(ref)])
    err = info.value
    assert err.status_code == 404
    assert err.registry == registry.host
    assert err.code in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")
    assert registry.host in str(err)
    assert "client/nothing-here:v1" in str(err)


def test_loopback_registry_without_tls_is_reached_over_plain_http(
    client: RegistryClient, registry: LocalRegistry
) -> None:
    ref = _ref(registry, "client/probe")
    response = client.request("GET", ref, "", scopes=[], url="/v2/")
    assert response.status_code == 200
    assert response.url.scheme == "http"
    assert response.url.netloc.decode() == registry.host


def test_upload_through_request_with_relative_location(
    client: RegistryClient, registry: LocalRegistry
) -> None:
    ref = _ref(registry, "client/upload")
    data = b"pushed through request()\n"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = client.request("POST", ref, "blobs/uploads/", scopes=[push_scope(ref)], expect=(202,))
    location = httpx.URL(start.headers["Location"])
    done = client.request(
        "PUT",
        ref,
        "",
        scopes=[push_scope(ref)],
        url=str(location.copy_merge_params({"digest": digest})),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
        expect=(201,),
    )
    assert done.headers["Docker-Content-Digest"] == digest
    assert client.blob_exists(ref, digest)
    assert not client.blob_exists(ref, "sha256:" + "0" * 64)


def test_get_manifest_keeps_exact_bytes_and_digest(
    client: RegistryClient, registry: LocalRegistry
) -> None:
    data, digest = _image(registry, "client/exact", "1.0", b"layer bytes")
    ref = _ref(registry, "client/exact", "1.0")
    manifest = client.get_manifest(ref)
    assert manifest.data == data
    assert manifest.descriptor == Descriptor(MediaType.OCI_MANIFEST, digest, len(data))
    assert manifest.layers[0].size == len(b"layer bytes")
    by_digest = client.get_manifest(ref.with_digest(digest))
    assert by_digest.data == data


def test_head_manifest_resolves_tag_to_digest(
    client: RegistryClient, registry: LocalRegistry
) -> None:
    data, digest = _image(registry, "client/head", "2.0", b"head me")
    desc = client.head_manifest(_ref(registry, "client/head", "2.0"))
    assert desc == Descriptor(MediaType.OCI_MANIFEST, digest, len(data))


def test_fetch_blob_streams_and_verifies(client: RegistryClient, registry: LocalRegistry) -> None:
    ref = _ref(registry, "client/blob")
    data = bytes(range(256)) * 4096  # 1 MiB: several chunks
    digest = upload_blob(registry.url, "client/blob", data)
    sink = MemorySink()
    seen: list[int] = []
    client.fetch_blob(
        ref, Descriptor(MediaType.OCI_LAYER, digest, len(data)), sink, progress=seen.append
    )
    assert bytes(sink.data) == data
    assert seen[-1] == len(data)


def test_fetch_blob_with_wrong_size_descriptor_is_integrity_error(
    client: RegistryClient, registry: LocalRegistry
) -> None:
    ref = _ref(registry, "client/blob-size")
    data = b"0123456789" * 100
    digest = upload_blob(registry.url, "client/blob-size", data)
    with pytest.raises(IntegrityError) as info:
        client.fetch_blob(ref, Descriptor(MediaType.OCI_LAYER, digest, 10), MemorySink())
    assert digest in str(info.value)


# -- no traffic: scheme rules ------------------------------------------------------------


class _Recorder(httpx.BaseTransport):
    def __init__(self, fail_https: bool = False) -> None:
        self.seen: list[str] = []
        self.fail_https = fail_https

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(str(request.url))
        if self.fail_https and request.url.scheme == "https":
            raise httpx.ConnectError("TLS handshake failed", request=request)
        return httpx.Response(200, request=request)


def test_plain_http_url_to_non_loopback_host_is_refused_before_sending() -> None:
    recorder = _Recorder()
    ref = ImageReference.parse("registry.example/app:1")
    with RegistryClient(transport=recorder) as client, pytest.raises(RegistryError) as info:
        client.request("GET", ref, "", scopes=[], url="http://registry.example/v2/")
    assert recorder.seen == []
    assert "registry.example" in str(info.value)
    assert "plain HTTP" in str(info.value)


def test_https_failure_on_non_loopback_host_never_falls_back_to_http() -> None:
    recorder = _Recorder(fail_https=True)
    ref = ImageReference.parse("registry.example/app:1")
    policy = RetryPolicy(attempts=2, backoff=0)
    with RegistryClient(transport=recorder, retry=policy) as client, pytest.raises(RegistryError):
        client.request("GET", ref, "manifests/1", scopes=[])
    assert len(recorder.seen) == 2
    assert all(url.startswith("https://") for url in recorder.seen)


def test_https_failure_on_insecure_host_falls_back_to_http() -> None:
    recorder = _Recorder(fail_https=True)
    ref = ImageReference.parse("lab.example:5000/app:1")
    registries = {"lab.example:5000": RegistryConfig(insecure=True)}
    with RegistryClient(transport=recorder, registries=registries) as client:
        response = client.request("GET", ref, "manifests/1", scopes=[])
        again = client.request("GET", ref, "manifests/1", scopes=[])
    assert response.url.scheme == "http"
    assert again.url.scheme == "http"
    assert recorder.seen == [
        "https://lab.example:5000/v2/app/manifests/1",
        "http://lab.example:5000/v2/app/manifests/1",
        "http://lab.example:5000/v2/app/manifests/1",
    ]


def test_plain_http_config_never_tries_https() -> None:
    recorder = _Recorder()
    ref = ImageReference.parse("lab.example/app:1")
    registries = {"lab.example": RegistryConfig(plain_http=True)}
    with RegistryClient(transport=recorder, registries=registries) as client:
        client.request("GET", ref, "manifests/1", scopes=[])
    assert recorder.seen == ["http://lab.example/v2/app/manifests/1"]
