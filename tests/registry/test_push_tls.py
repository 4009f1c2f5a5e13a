"""Pushing to the TLS registry with htpasswd Basic auth (custom CA, StaticCredentials)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from moby_assemble._errors import AuthenticationError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._config import RegistryConfig
from moby_assemble.registry._credentials import Credentials, StaticCredentials
from moby_assemble.registry._push import push_blob, push_from_store
from moby_assemble.registry._reference import ImageReference
from moby_assemble.registry._tags import list_tags
from moby_assemble.store import Store
from moby_assemble.testing import LocalRegistry
from tests.conftest import TEST_PASSWORD, TEST_USER
from tests.registry.conftest import make_image, make_layer, sha256


def _client(reg: LocalRegistry, password: str = TEST_PASSWORD) -> RegistryClient:
    assert reg.tls is not None
    return RegistryClient(
        credentials=StaticCredentials({reg.host: Credentials(TEST_USER, password)}),
        registries={reg.host: RegistryConfig(ca_bundle=str(reg.tls.ca_cert))},
    )


@pytest.fixture
def secure_client(tls_registry: LocalRegistry) -> Iterator[RegistryClient]:
    with _client(tls_registry) as c:
        yield c


def test_image_pushed_with_basic_auth_is_what_skopeo_sees(
    secure_client: RegistryClient,
    tls_registry: LocalRegistry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="moby_assemble")
    layers = [make_layer({"secure/a": b"a" * 5000}), make_layer({"secure/b": b"b"})]
    image = make_image("linux/arm64", layers)
    store = Store(tmp_path / "store")
    for data in [*image.all_blobs().values(), image.data]:
        store.put_bytes("application/octet-stream", data)
    desc = Descriptor(image.media_type, image.digest, len(image.data))
    ref = ImageReference.parse(f"{tls_registry.host}/secure/app:1")
    push_from_store(secure_client, store, desc, ref, chunk_size=4096)
    # ... and again into a second repository, mounting every blob.
    push_from_store(
        secure_client, store, desc, ref.in_repository("secure/copy"), mount_from=["secure/app"]
    )

    assert tls_registry.tls is not None
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(tls_registry.tls.ca_cert.read_bytes())
    for repo in ("secure/app", "secure/copy"):
        out = subprocess.run(
            [
                "skopeo", "inspect", "--cert-dir", str(certs),
                "--creds", f"{TEST_USER}:{TEST_PASSWORD}",
                f"docker://{tls_registry.host}/{repo}:1",
            ],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        info = json.loads(out.stdout)
        assert info["Digest"] == image.digest
        assert info["Layers"] == [sha256(x) for x in layers]
    assert sorted(list_tags(secure_client, ref)) == ["1"]
    assert TEST_PASSWORD not in caplog.text


def test_wrong_password_is_an_authentication_error_without_the_password(
    tls_registry: LocalRegistry,
) -> None:
    data = b"never stored"
    desc = Descriptor.for_bytes(MediaType.OCI_LAYER, data)
    ref = ImageReference.parse(f"{tls_registry.host}/secure/denied")
    with (
        _client(tls_registry, "not-the-password") as client,
        pytest.raises(AuthenticationError) as info,
    ):
        push_blob(client, ref, desc, lambda: io.BytesIO(data))
    assert "not-the-password" not in str(info.value)
    assert tls_registry.host in str(info.value)
