from __future__ import annotations

import ssl

import httpx

from moby_assemble.testing import LocalRegistry
from tests.conftest import TEST_PASSWORD, TEST_USER


def test_plain_registry_answers_v2(registry: LocalRegistry) -> None:
    r = httpx.get(f"{registry.url}/v2/")
    assert r.status_code == 200
    assert registry.host.startswith("127.0.0.1:")


def test_tls_registry_needs_credentials_and_trusts_only_its_ca(tls_registry: LocalRegistry) -> None:
    assert tls_registry.tls is not None
    ca = str(tls_registry.tls.ca_cert)
    assert httpx.get(f"{tls_registry.url}/v2/", verify=ssl.create_default_context(cafile=ca)).status_code == 401
    ok = httpx.get(f"{tls_registry.url}/v2/", verify=ssl.create_default_context(cafile=ca), auth=(TEST_USER, TEST_PASSWORD))
    assert ok.status_code == 200
    try:
        httpx.get(f"{tls_registry.url}/v2/")
    except httpx.ConnectError as e:
        assert "CERTIFICATE_VERIFY_FAILED" in str(e)
    else:  # pragma: no cover
        raise AssertionError("self-signed registry was trusted without its CA")
