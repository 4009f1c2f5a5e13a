"""TLS, credentials and redirects: the TLS+htpasswd registry and a pair of tiny servers."""

from __future__ import annotations

import base64
import ssl
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from moby_assemble._errors import AuthenticationError, RegistryTransportError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble._platform import Platform
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._config import RegistryConfig
from moby_assemble.registry._credentials import Credentials, StaticCredentials
from moby_assemble.registry._pull import Puller
from moby_assemble.registry._reference import ImageReference
from moby_assemble.store import Store
from moby_assemble.testing import LocalRegistry
from tests.conftest import TEST_PASSWORD, TEST_USER

from .conftest import MemorySink, make_image, make_layer, push_image, send, serve, sha256

LAYER = make_layer({"etc/tls": b"secure\n"})
IMAGE = make_image("linux/amd64", [LAYER])


@pytest.fixture(scope="module")
def secured(tls_registry: LocalRegistry) -> LocalRegistry:
    assert tls_registry.tls is not None
    http: dict[str, Any] = {
        "verify": ssl.create_default_context(cafile=str(tls_registry.tls.ca_cert)),
        "auth": (TEST_USER, TEST_PASSWORD),
    }
    push_image(tls_registry.url, "tls/app", "1", IMAGE, http)
    return tls_registry


def _creds(host: str, password: str = TEST_PASSWORD) -> StaticCredentials:
    return StaticCredentials({host: Credentials(TEST_USER, password)})


def _ref(registry: LocalRegistry) -> ImageReference:
    return ImageReference.parse(f"{registry.host}/tls/app:1")


def test_tls_registry_with_custom_ca_and_basic_auth(
    secured: LocalRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert secured.tls is not None
    caplog.set_level("DEBUG")
    registries = {secured.host: RegistryConfig(ca_bundle=str(secured.tls.ca_cert))}
    with (
        RegistryClient(credentials=_creds(secured.host), registries=registries) as client,
        Puller(client, Store(tmp_path / "s")) as puller,
    ):
        image = puller.pull(_ref(secured), Platform.parse("linux/amd64"))
        response = client.request("GET", _ref(secured), "", scopes=[], url="/v2/")
    assert image.manifest.digest == IMAGE.digest
    assert image.layers[0].digest == sha256(LAYER)
    assert response.url.scheme == "https"
    # Something was logged (by us, httpx and httpcore), and none of it is a secret.
    assert any(r.name.startswith("moby_assemble") for r in caplog.records)
    assert TEST_PASSWORD not in caplog.text
    assert base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode() not in caplog.text


def test_tls_without_the_ca_fails_verification_and_never_falls_back_to_http(
    secured: LocalRegistry,
) -> None:
    with (
        RegistryClient(credentials=_creds(secured.host)) as client,
        pytest.raises(RegistryTransportError) as info,
    ):
        client.get_manifest(_ref(secured))
    message = str(info.value)
    assert "certificate" in message
    assert secured.host in message
    assert "ca_bundle" in message


def test_insecure_registry_skips_verification(secured: LocalRegistry) -> None:
    registries = {secured.host: RegistryConfig(insecure=True)}
    with RegistryClient(credentials=_creds(secured.host), registries=registries) as client:
        manifest = client.get_manifest(_ref(secured))
    assert manifest.digest == IMAGE.digest


@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_missing_or_wrong_credentials_are_authentication_errors(
    secured: LocalRegistry, password: str | None
) -> None:
    assert secured.tls is not None
    registries = {secured.host: RegistryConfig(ca_bundle=str(secured.tls.ca_cert))}
    creds = _creds(secured.host, password) if password else None
    with (
        RegistryClient(credentials=creds, registries=registries) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.get_manifest(_ref(secured))
    assert info.value.registry == secured.host
    assert info.value.status_code == 401
    assert "wrong-password" not in str(info.value)
    assert TEST_PASSWORD not in str(info.value)


def test_missing_ca_bundle_file_is_a_config_error(tmp_path: Path) -> None:
    from moby_assemble._errors import ConfigError

    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ConfigError) as info:
        RegistryClient(registries={"r.example": RegistryConfig(ca_bundle=missing)})
    assert "r.example" in str(info.value)


def test_redirect_to_another_origin_drops_authorization() -> None:
    blob = b"stored elsewhere" * 100
    digest = sha256(blob)
    seen_a: list[str | None] = []
    seen_b: list[str | None] = []
    expected = "Basic " + base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode()

    def storage(h: BaseHTTPRequestHandler) -> None:
        seen_b.append(h.headers.get("Authorization"))
        send(h, 200, blob)

    with serve(storage) as host_b:

        def registry(h: BaseHTTPRequestHandler) -> None:
            auth = h.headers.get("Authorization")
            seen_a.append(auth)
            if auth != expected:
                send(h, 401, b"", {"WWW-Authenticate": 'Basic realm="test"'})
            else:
                send(h, 307, b"", {"Location": f"http://{host_b}/storage/{digest}?sig=1"})

        with serve(registry) as host_a:
            registries = {h: RegistryConfig(plain_http=True) for h in (host_a, host_b)}
            ref = ImageReference.parse(f"{host_a}/redirect/app:1")
            with RegistryClient(credentials=_creds(host_a), registries=registries) as client:
                sink = MemorySink()
                client.fetch_blob(ref, Descriptor(MediaType.OCI_LAYER, digest, len(blob)), sink)
    assert bytes(sink.data) == blob
    assert expected in seen_a
    assert seen_b == [None]
