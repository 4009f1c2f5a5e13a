from __future__ import annotations

import ssl

import httpx
import pytest

from moby_assemble.testing import LocalRegistry
from tests.conftest import TEST_PASSWORD, TEST_USER


def test_plain_registry_answers_v2(registry: LocalRegistry) -> None:
    r = httpx.get(f"{registry.url}/v2/")
    assert r.status_code == 200
    assert registry.host.startswith("127.0.0.1:")


def test_tls_registry_needs_credentials_and_trusts_only_its_ca(tls_registry: LocalRegistry) -> None:
    assert tls_registry.tls is not None
    trust = ssl.create_default_context(cafile=str(tls_registry.tls.ca_cert))
    url = f"{tls_registry.url}/v2/"
    assert httpx.get(url, verify=trust).status_code == 401
    assert httpx.get(url, verify=trust, auth=(TEST_USER, TEST_PASSWORD)).status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url)
