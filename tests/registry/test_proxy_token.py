"""A token-auth registry with its token server behind a second FaultProxy.

The registry proxy rewrites the challenge's realm so that clients fetch tokens through the
token proxy, where the token endpoint can then fail or be slow on command.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest

from moby_assemble._errors import AuthenticationError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._credentials import Credentials, StaticCredentials
from moby_assemble.registry._push import BlobPushResult, push_blob, push_bytes
from moby_assemble.registry._reference import ImageReference
from moby_assemble.testing import Fault, FaultProxy, LocalRegistry, TokenServer
from tests.conftest import TEST_PASSWORD, TEST_USER


class Setup:
    def __init__(self, tokens: TokenServer, token_proxy: FaultProxy, proxy: FaultProxy) -> None:
        self.tokens = tokens
        self.token_proxy = token_proxy
        self.proxy = proxy

    def client(self) -> RegistryClient:
        creds = StaticCredentials({self.proxy.host: Credentials(TEST_USER, TEST_PASSWORD)})
        return RegistryClient(credentials=creds)

    def ref(self, repo: str) -> ImageReference:
        return ImageReference.parse(f"{self.proxy.host}/{repo}")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with (
        TokenServer(tmp_path_factory.mktemp("tokens"), users={TEST_USER: TEST_PASSWORD}) as tokens,
        FaultProxy(tokens.url) as token_proxy,
        LocalRegistry(
            tmp_path_factory.mktemp("token-reg"), extra_config=tokens.registry_config()
        ) as reg,
        FaultProxy(reg.url, rewrite={tokens.url: token_proxy.url}) as proxy,
    ):
        yield Setup(tokens, token_proxy, proxy)


@pytest.fixture
def env(setup: Setup) -> Setup:
    for p in (setup.proxy, setup.token_proxy):
        p.clear_faults()
        p.clear_log()
    setup.tokens.clear()
    return setup


def test_mount_asks_one_token_for_both_repositories(env: Setup) -> None:
    data = b"layer shared by two repositories"
    desc = Descriptor.for_bytes(MediaType.OCI_LAYER, data)
    with env.client() as client:
        push_bytes(client, env.ref("tok/src"), desc, data)
        result = push_blob(
            client, env.ref("tok/dst"), desc, lambda: io.BytesIO(data), mount_from=["tok/src"]
        )
    assert result is BlobPushResult.MOUNTED
    scopes = [r.scopes for r in env.tokens.requests if r.status == 200]
    assert ("repository:tok/dst:pull,push", "repository:tok/src:pull") in [
        tuple(sorted(s)) for s in scopes
    ]
    # Tokens came through the token proxy, credentials redacted in its log.
    token_calls = env.token_proxy.find("GET", "/token")
    assert token_calls
    assert all(r.header("Authorization") == "<redacted>" for r in token_calls)


def test_failing_token_endpoint_is_an_authentication_error_naming_the_realm(
    env: Setup,
) -> None:
    env.token_proxy.inject(Fault.status(500, path="/token", times=None))
    data = b"cannot get a token"
    desc = Descriptor.for_bytes(MediaType.OCI_LAYER, data)
    with env.client() as client, pytest.raises(AuthenticationError) as info:
        push_bytes(client, env.ref("tok/failing"), desc, data)
    message = str(info.value)
    assert env.token_proxy.host in message
    assert TEST_PASSWORD not in message
    assert env.proxy.find("PUT") == []  # nothing was uploaded without a token


def test_slow_token_endpoint_still_works(env: Setup) -> None:
    env.token_proxy.inject(Fault.delay(0.3, path="/token"))
    data = b"patience"
    desc = Descriptor.for_bytes(MediaType.OCI_LAYER, data)
    t0 = time.monotonic()
    with env.client() as client:
        assert push_bytes(client, env.ref("tok/slow"), desc, data) is BlobPushResult.UPLOADED
    assert time.monotonic() - t0 >= 0.3
