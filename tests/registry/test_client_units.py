"""Pure parts of the client: manifest parsing and platform selection, error bodies, retry
timing and host rules (no network)."""

from __future__ import annotations

import datetime
import json

import pytest

from moby_assemble._errors import (
    AuthenticationError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    PlatformError,
    RateLimitError,
    RegistryError,
    UnsupportedError,
)
from moby_assemble._oci import MediaType
from moby_assemble._platform import Platform
from moby_assemble.registry._config import RegistryConfig, is_loopback
from moby_assemble.registry._errors_map import error_for_status, parse_error_body
from moby_assemble.registry._manifest import Manifest
from moby_assemble.registry._retry import RetryPolicy, parse_retry_after

from .conftest import make_attestation, make_image, make_index, make_layer, sha256


def _entry_platforms(*platforms: str) -> Manifest:
    images = [make_image(p, ()) for p in platforms]
    index = make_index([(img, p) for img, p in zip(images, platforms, strict=True)])
    return Manifest.parse(index.data, content_type=index.media_type)


# -- Manifest.parse ---------------------------------------------------------------------------


def test_parse_keeps_bytes_and_hashes_them_as_given() -> None:
    data = b'{ "schemaVersion": 2, "manifests": [] }'
    m = Manifest.parse(data)
    assert m.data == data
    assert m.digest == sha256(data)
    assert m.media_type == MediaType.OCI_INDEX  # told by its shape


def test_parse_rejects_wrong_digest_and_size() -> None:
    data = make_image().data
    with pytest.raises(IntegrityError) as info:
        Manifest.parse(data, digest="sha256:" + "0" * 64, reference="r/x:1")
    assert info.value.actual == sha256(data)
    assert "r/x:1" in str(info.value)
    with pytest.raises(IntegrityError):
        Manifest.parse(data, size=len(data) + 1)


def test_parse_verifies_sha512_digests_with_sha512() -> None:
    import hashlib

    data = make_image().data
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    assert Manifest.parse(data, digest=digest).digest == digest


def test_content_type_contradicting_media_type_is_refused() -> None:
    with pytest.raises(UnsupportedError) as info:
        Manifest.parse(make_image().data, content_type=MediaType.OCI_INDEX + "; charset=utf-8")
    assert "contradicts" in str(info.value)


def test_generic_content_type_is_ignored_in_favour_of_the_body() -> None:
    m = Manifest.parse(make_image(docker=True).data, content_type="application/json")
    assert m.media_type == MediaType.DOCKER_MANIFEST


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(), "schema 1"),
        (json.dumps({"schemaVersion": 2, "mediaType": "text/plain"}).encode(), "unsupported"),
        (json.dumps({"schemaVersion": 2, "manifests": {}}).encode(), "must be a list"),
        (
            json.dumps(
                {
                    "schemaVersion": 2,
                    "config": {"mediaType": "x", "digest": "nope", "size": 1},
                    "layers": [],
                }
            ).encode(),
            "config",
        ),
    ],
)
def test_malformed_documents_are_unsupported_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        Manifest.parse(body, reference="r/x:1")
    assert reason in str(info.value)


def test_image_manifest_exposes_config_and_layers() -> None:
    img = make_image("linux/amd64", [make_layer({"a": b"a"})])
    m = Manifest.parse(img.data)
    assert not m.is_index
    assert m.config.media_type == MediaType.OCI_CONFIG
    assert len(m.layers) == 1
    assert m.manifests == ()


# -- platform selection -----------------------------------------------------------------------


def test_select_platform_is_strict_and_normalised() -> None:
    index = _entry_platforms("linux/amd64", "linux/arm64/v8", "linux/arm/v7")
    assert index.select_platform(Platform.parse("linux/arm64")).platform == Platform.parse(
        "linux/arm64"
    )
    assert index.select_platform(Platform.parse("linux/aarch64")) == index.manifests[1]
    assert index.select_platform(Platform.parse("linux/x86_64")) == index.manifests[0]
    with pytest.raises(PlatformError):
        index.select_platform(Platform.parse("linux/arm/v6"))


def test_select_platform_fallback_follows_preference_order() -> None:
    index = _entry_platforms("linux/arm/v5", "linux/arm/v6")
    chosen = index.select_platform(Platform.parse("linux/arm/v7"), fallback=True)
    assert chosen.platform == Platform.parse("linux/arm/v6")


def test_first_matching_entry_wins() -> None:
    a = make_image("linux/amd64", (), config_extra={"author": "a"})
    b = make_image("linux/amd64", (), config_extra={"author": "b"})
    index = Manifest.parse(make_index([(a, "linux/amd64"), (b, "linux/amd64")]).data)
    assert index.select_platform(Platform.parse("linux/amd64")).digest == a.digest


def test_attestations_are_neither_chosen_nor_listed() -> None:
    img = make_image("linux/amd64", ())
    index = Manifest.parse(make_index([make_attestation(img), (img, "linux/amd64")]).data)
    assert index.platforms() == (Platform.parse("linux/amd64"),)
    with pytest.raises(PlatformError) as info:
        index.select_platform(Platform("unknown", "unknown"))
    assert info.value.available == ("linux/amd64",)


def test_platform_error_lists_what_exists() -> None:
    index = _entry_platforms("linux/amd64", "linux/arm/v7", "linux/amd64")
    with pytest.raises(PlatformError) as info:
        index.select_platform(Platform.parse("windows/amd64"), reference="r/x:1")
    assert info.value.available == ("linux/amd64", "linux/arm/v7")
    assert str(info.value) == (
        "r/x:1: no image for platform windows/amd64; available: linux/amd64, linux/arm/v7"
    )


# -- error bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "UNAUTHORIZED", AuthenticationError),
        (403, "DENIED", PermissionDeniedError),
        (404, "MANIFEST_UNKNOWN", NotFoundError),
        (404, "BLOB_UNKNOWN", NotFoundError),
        (400, "NAME_UNKNOWN", NotFoundError),
        (429, "TOOMANYREQUESTS", RateLimitError),
        (405, "UNSUPPORTED", UnsupportedError),
        (400, "MANIFEST_INVALID", RegistryError),
        (502, None, RegistryError),
    ],
)
def test_status_and_spec_code_choose_the_error_type(
    status: int, code: str | None, cls: type[RegistryError]
) -> None:
    body = json.dumps({"errors": [{"code": code, "message": "m"}]}).encode() if code else b""
    err = error_for_status(status, body, registry="r.io", reference="r.io/a:1", action="GET x")
    assert type(err) is cls
    assert err.code == code
    assert err.status_code == status
    assert "r.io/a:1" in str(err)
    assert "r.io" in str(err)


def test_error_body_is_parsed_defensively() -> None:
    assert parse_error_body(b"<html>bad gateway</html>") == ()
    assert parse_error_body(b'{"errors": "x"}') == ()
    assert parse_error_body(b'{"errors": [{"code": 1}, "x", {"message": "m"}]}') == (
        ("", ""),
        ("", "m"),
    )


def test_rate_limit_error_carries_retry_after() -> None:
    err = error_for_status(429, b"", registry="r", reference="r/a:1", action="GET", retry_after=7)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 7
    assert "7 s" in str(err)


# -- retry timing and hosts ---------------------------------------------------------------------


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("later") is None
    assert parse_retry_after(None) is None


def test_backoff_doubles_up_to_the_cap_and_retry_after_wins() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=3.0, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    assert policy.delay(1, retry_after=9.0) == 9.0
    jittered = RetryPolicy(backoff=1.0)
    assert all(0.5 <= jittered.delay(1) <= 1.0 for _ in range(50))
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("[::1]:5000", True),
        ("localhost:5000", True),
        ("localhost", True),
        ("registry.example", False),
        ("10.0.0.1:5000", False),
        ("127.0.0.1.nip.io", False),
        ("[::2]:5000", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_client_cert_must_be_a_pair() -> None:
    with pytest.raises(ValueError, match="pair"):
        RegistryConfig(client_cert=("only-one",))  # type: ignore[arg-type]
