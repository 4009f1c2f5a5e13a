"""The token flow against a real distribution registry configured for token auth, and Basic
against the TLS + htpasswd registry.

The registry checks every JWT our TokenServer signs (x5c chain to its rootcertbundle, issuer,
audience, access claims), so a test passes only if the right token reached it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from moby_assemble._errors import AuthenticationError
from moby_assemble.registry._auth import (
    Authenticator,
    repository_scope,
)
from moby_assemble.registry._credentials import Credentials, DockerConfig, StaticCredentials
from moby_assemble.testing import LocalRegistry
from moby_assemble.testing._token_server import TokenServer
from tests.conftest import TEST_PASSWORD, TEST_USER
from tests.registry.conftest import creds_for, pull

WRONG_PASSWORD = "definitely-not-" + TEST_PASSWORD


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    with TokenServer(
        tmp_path_factory.mktemp("token-server"), users={TEST_USER: TEST_PASSWORD}
    ) as server:
        yield server


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, tokens: TokenServer
) -> Iterator[LocalRegistry]:
    with LocalRegistry(
        tmp_path_factory.mktemp("token-registry"), extra_config=tokens.registry_config()
    ) as reg:
        yield reg


@pytest.fixture(autouse=True)
def _fresh_token_server(request: pytest.FixtureRequest) -> None:
    if "tokens" in request.fixturenames:
        server: TokenServer = request.getfixturevalue("tokens")
        server.clear()
        server.fail_with = None
        server.expires_in = 300


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def push(repo: str) -> list[str]:
    return [repository_scope(repo, "pull", "push")]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(
    http: httpx.Client, reg: LocalRegistry, repo: str, auth: httpx.Auth, tag: str = "v1"
) -> str:
    """Push a tiny image (config, one layer, manifest) with ``auth``; return its digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "repo": repo}).encode()
    layer = repo.encode() * 10
    for blob in (config, layer):
        start = http.post(f"{reg.url}/v2/{repo}/blobs/uploads/", auth=auth)
        assert start.status_code == 202, start.text
        location = httpx.URL(reg.url).join(start.headers["Location"])
        done = http.put(
            location.copy_merge_params({"digest": sha256(blob)}), content=blob, auth=auth
        )
        assert done.status_code == 201, done.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = http.put(
        f"{reg.url}/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        auth=auth,
    )
    assert r.status_code == 201, r.text
    return sha256(manifest)


def push_with(http: httpx.Client, reg: LocalRegistry, repo: str, auth: Authenticator) -> str:
    """:func:`push_image` with the push token ``auth`` gets for ``repo``; return its digest."""
    return push_image(http, reg, repo, auth.auth_for(reg.host, reg.host, push(repo)))


def seed_image(http: httpx.Client, tokens: TokenServer, reg: LocalRegistry, repo: str) -> str:
    """Push an image as the test user, then forget its token requests; return its digest."""
    writer = Authenticator(creds_for(reg, Credentials(TEST_USER, TEST_PASSWORD)))
    digest = push_with(http, reg, repo, writer)
    tokens.clear()
    return digest


def token_requests(
    tokens: TokenServer, status: int = 200
) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(r.grant, r.method, r.scopes) for r in tokens.requests if r.status == status]


# --- Bearer tokens ----------------------------------------------------------------------------


def test_credentialed_push_gets_a_pull_push_token(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    auth = Authenticator(creds_for(token_registry, Credentials(TEST_USER, TEST_PASSWORD)))
    push_with(http, token_registry, "team/pushed", auth)
    assert token_requests(tokens) == [("basic", "GET", ("repository:team/pushed:pull,push",))]
    assert {r.user for r in tokens.requests} == {TEST_USER}


def test_anonymous_pull_gets_a_pull_token(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    digest = seed_image(http, tokens, token_registry, "public/app")
    anonymous = Authenticator()
    r = http.get(
        f"{token_registry.url}/v2/public/app/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        auth=anonymous.auth_for(token_registry.host, token_registry.host, pull("public/app")),
    )
    assert r.status_code == 200
    assert sha256(r.content) == digest
    assert token_requests(tokens) == [("anonymous", "GET", ("repository:public/app:pull",))]


def test_anonymous_push_is_refused_after_one_retry(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    auth = Authenticator().auth_for(token_registry.host, token_registry.host, push("anon/x"))
    r = http.post(f"{token_registry.url}/v2/anon/x/blobs/uploads/", auth=auth)
    # The token only grants pull: the registry says 401 again, and that answer comes back.
    assert r.status_code == 401
    assert len(r.history) == 2  # the first 401 and the token response
    assert len(tokens.requests) == 1


def test_tokens_are_cached_per_scope(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    auth = Authenticator()
    for repo in ("cache/a", "cache/b", "cache/a", "cache/b", "cache/a"):
        r = http.get(
            f"{token_registry.url}/v2/{repo}/tags/list",
            auth=auth.auth_for(token_registry.host, token_registry.host, pull(repo)),
        )
        assert r.status_code == 404  # authorised; the repository does not exist
    assert token_requests(tokens) == [
        ("anonymous", "GET", ("repository:cache/a:pull",)),
        ("anonymous", "GET", ("repository:cache/b:pull",)),
    ]


def test_known_challenge_fetches_token_before_the_request(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    auth = Authenticator()
    first = http.get(
        f"{token_registry.url}/v2/pre/a/tags/list",
        auth=auth.auth_for(token_registry.host, token_registry.host, pull("pre/a")),
    )
    second = http.get(
        f"{token_registry.url}/v2/pre/b/tags/list",
        auth=auth.auth_for(token_registry.host, token_registry.host, pull("pre/b")),
    )
    assert [h.status_code for h in first.history] == [401, 200]
    # The realm is known: the token is fetched first, the registry never says 401.
    assert [h.status_code for h in second.history] == [200]
    assert second.status_code == 404


def test_token_is_refreshed_after_expires_in(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    now = [1000.0]
    auth = Authenticator(clock=lambda: now[0])
    flow = auth.auth_for(token_registry.host, token_registry.host, pull("expiry/a"))
    url = f"{token_registry.url}/v2/expiry/a/tags/list"
    assert http.get(url, auth=flow).status_code == 404
    now[0] += 250
    assert http.get(url, auth=flow).status_code == 404
    assert len(token_requests(tokens)) == 1
    now[0] += 60  # past expires_in=300
    assert http.get(url, auth=flow).status_code == 404
    assert len(token_requests(tokens)) == 2


def test_missing_expires_in_means_sixty_seconds(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    tokens.expires_in = None
    now = [0.0]
    auth = Authenticator(clock=lambda: now[0])
    flow = auth.auth_for(token_registry.host, token_registry.host, pull("expiry/b"))
    url = f"{token_registry.url}/v2/expiry/b/tags/list"
    http.get(url, auth=flow)
    now[0] += 45
    http.get(url, auth=flow)
    assert len(token_requests(tokens)) == 1
    now[0] += 20
    http.get(url, auth=flow)
    assert len(token_requests(tokens)) == 2


def test_short_lived_token_expires_in_real_time(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    tokens.expires_in = 1
    flow = Authenticator().auth_for(token_registry.host, token_registry.host, pull("expiry/c"))
    url = f"{token_registry.url}/v2/expiry/c/tags/list"
    http.get(url, auth=flow)
    time.sleep(1.1)
    http.get(url, auth=flow)
    assert len(token_requests(tokens)) == 2


def test_rejected_cached_token_is_dropped_and_fetched_again(
    tmp_path: Path, http: httpx.Client
) -> None:
    with (
        TokenServer(tmp_path / "ts", users={TEST_USER: TEST_PASSWORD}) as ts,
        LocalRegistry(tmp_path / "reg", extra_config=ts.registry_config()) as reg,
    ):
        auth = Authenticator(creds_for(reg, Credentials(TEST_USER, TEST_PASSWORD)))
        flow = auth.auth_for(reg.host, reg.host, push("rotate/x"))
        digest = push_image(http, reg, "rotate/x", flow)
        before = ts.issued()
        # The token service rotates its key; the registry, restarted, trusts only the new one,
        # so the token still in our cache is now refused.
        ts.rotate_key()
        reg.restart()
        r = http.get(
            f"{reg.url}/v2/rotate/x/manifests/{digest}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            auth=flow,
        )
        assert r.status_code == 200
        assert [h.status_code for h in r.history] == [401, 200]
        assert ts.issued() == before + 1


def test_rejected_token_on_unreplayable_body_returns_401_then_recovers(
    tmp_path: Path, http: httpx.Client
) -> None:
    with (
        TokenServer(tmp_path / "ts", users={TEST_USER: TEST_PASSWORD}) as ts,
        LocalRegistry(tmp_path / "reg", extra_config=ts.registry_config()) as reg,
    ):
        auth = Authenticator(creds_for(reg, Credentials(TEST_USER, TEST_PASSWORD)))
        flow = auth.auth_for(reg.host, reg.host, push("rotate/y"))
        start = http.post(f"{reg.url}/v2/rotate/y/blobs/uploads/", auth=flow)
        assert start.status_code == 202
        ts.rotate_key()
        reg.restart()
        blob = b"once only"
        location = httpx.URL(reg.url).join(start.headers["Location"])
        r = http.put(
            location.copy_merge_params({"digest": sha256(blob)}), content=iter([blob]), auth=flow
        )
        # The body cannot be sent twice: the 401 comes back, and the stale token is gone.
        assert r.status_code == 401
        assert r.history == []
        again = http.post(f"{reg.url}/v2/rotate/y/blobs/uploads/", auth=flow)
        assert again.status_code == 202
        assert [h.status_code for h in again.history] == [200]  # fresh token, no 401


def test_wrong_password_is_an_authentication_error_without_the_password(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    auth = Authenticator(creds_for(token_registry, Credentials(TEST_USER, WRONG_PASSWORD)))
    with pytest.raises(AuthenticationError) as info:
        http.get(
            f"{token_registry.url}/v2/x/tags/list",
            auth=auth.auth_for(token_registry.host, token_registry.host, pull("x")),
        )
    message = str(info.value)
    assert token_registry.host in message
    assert tokens.url.removeprefix("http://") in message  # the realm host
    assert "rejected the credentials" in message
    assert WRONG_PASSWORD not in message
    assert WRONG_PASSWORD not in repr(info.value.args)
    assert info.value.registry == token_registry.host
    assert info.value.status_code == 401


def test_token_endpoint_failure_is_an_authentication_error(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    tokens.fail_with = 500
    with pytest.raises(AuthenticationError, match="answered HTTP 500") as info:
        http.get(
            f"{token_registry.url}/v2/x/tags/list",
            auth=Authenticator().auth_for(token_registry.host, token_registry.host, pull("x")),
        )
    assert token_registry.host in str(info.value)
    assert info.value.status_code == 500


def test_identity_token_uses_the_oauth2_refresh_grant(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    refresh = tokens.issue_refresh_token(TEST_USER)
    auth = Authenticator(creds_for(token_registry, Credentials(identity_token=refresh)))
    push_with(http, token_registry, "oauth/app", auth)
    assert token_requests(tokens) == [
        ("refresh_token", "POST", ("repository:oauth/app:pull,push",))
    ]
    assert {r.user for r in tokens.requests} == {TEST_USER}


def test_unknown_identity_token_is_an_authentication_error(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    bogus = "not-a-refresh-token-123"
    auth = Authenticator(creds_for(token_registry, Credentials(identity_token=bogus)))
    with pytest.raises(AuthenticationError, match="rejected the credentials") as info:
        http.get(
            f"{token_registry.url}/v2/x/tags/list",
            auth=auth.auth_for(token_registry.host, token_registry.host, pull("x")),
        )
    assert bogus not in str(info.value)


def test_unreplayable_body_probes_v2_first(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    creds = creds_for(token_registry, Credentials(TEST_USER, TEST_PASSWORD))
    starter = Authenticator(creds).auth_for(
        token_registry.host, token_registry.host, push("stream/x")
    )
    start = http.post(f"{token_registry.url}/v2/stream/x/blobs/uploads/", auth=starter)
    assert start.status_code == 202
    blob = b"streamed blob " * 1000
    location = httpx.URL(token_registry.url).join(start.headers["Location"])
    # A fresh authenticator knows nothing about the registry; the body is an iterator
    # that can be sent only once, so the challenge must be learnt before sending it.
    fresh = Authenticator(creds).auth_for(
        token_registry.host, token_registry.host, push("stream/x")
    )
    r = http.put(
        location.copy_merge_params({"digest": sha256(blob)}),
        content=iter([blob[:5000], blob[5000:]]),
        auth=fresh,
    )
    assert r.status_code == 201, r.text
    assert [(h.request.method, h.request.url.path) for h in r.history] == [
        ("GET", "/v2/"),
        ("GET", "/token"),
    ]


def test_flow_works_with_async_client(tokens: TokenServer, token_registry: LocalRegistry) -> None:
    auth = Authenticator()

    async def run() -> int:
        async with httpx.AsyncClient() as client:
            r = await client.get(
                f"{token_registry.url}/v2/async/x/tags/list",
                auth=auth.auth_for(token_registry.host, token_registry.host, pull("async/x")),
            )
            return r.status_code

    assert asyncio.run(run()) == 404
    assert len(token_requests(tokens)) == 1


def test_one_authenticator_serves_many_threads(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    auth = Authenticator()
    url = f"{token_registry.url}/v2/threads/x/tags/list"

    def get(_: int) -> int:
        flow = auth.auth_for(token_registry.host, token_registry.host, pull("threads/x"))
        return http.get(url, auth=flow).status_code

    assert get(0) == 404
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(get, range(32))) == {404}
    assert len(token_requests(tokens)) == 1


def test_invalidate_forgets_tokens_and_credentials(
    tokens: TokenServer, token_registry: LocalRegistry, http: httpx.Client
) -> None:
    auth = Authenticator()
    url = f"{token_registry.url}/v2/inv/x/tags/list"
    flow = auth.auth_for(token_registry.host, token_registry.host, pull("inv/x"))
    http.get(url, auth=flow)
    auth.invalidate(token_registry.host)
    r = http.get(url, auth=flow)
    assert [h.status_code for h in r.history] == [401, 200]
    assert len(token_requests(tokens)) == 2


# --- Docker config and credential helpers, end to end ----------------------------------------


def test_docker_config_cred_helper_end_to_end(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: TokenServer,
    token_registry: LocalRegistry,
    http: httpx.Client,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    helper = bin_dir / "docker-credential-mytest"
    helper.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(sys.stdin.read() + '\\n')\n"
        f"print(json.dumps({{'Username': {TEST_USER!r}, 'Secret': {TEST_PASSWORD!r}}}))\n"
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"credHelpers": {token_registry.host: "mytest"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config.parent))

    auth = Authenticator(DockerConfig())
    for repo in ("helper/a", "helper/b"):
        push_with(http, token_registry, repo, auth)
    # Asked once per registry, with the registry as server URL.
    assert calls.read_text().split() == [token_registry.host]
    assert [g for g, _, _ in token_requests(tokens)] == ["basic", "basic"]


# --- no secrets anywhere ---------------------------------------------------------------------


def test_no_secret_in_logs_or_reprs(
    caplog: pytest.LogCaptureFixture,
    tokens: TokenServer,
    token_registry: LocalRegistry,
    tls_registry: LocalRegistry,
    tls_http: httpx.Client,
) -> None:
    sent: list[str] = []

    def record(request: httpx.Request) -> None:
        if "authorization" in request.headers:
            sent.append(request.headers["authorization"].split(" ", 1)[1])

    refresh = tokens.issue_refresh_token(TEST_USER)
    secrets = [TEST_PASSWORD, WRONG_PASSWORD, refresh]
    creds = StaticCredentials(
        {
            token_registry.host: Credentials(TEST_USER, TEST_PASSWORD),
            tls_registry.host: Credentials(TEST_USER, TEST_PASSWORD),
        }
    )
    auth = Authenticator(creds)
    oauth = Authenticator(creds_for(token_registry, Credentials(identity_token=refresh)))
    wrong = Authenticator(creds_for(token_registry, Credentials(TEST_USER, WRONG_PASSWORD)))
    with caplog.at_level(logging.DEBUG), httpx.Client(event_hooks={"request": [record]}) as http:
        tls_http.event_hooks["request"].append(record)
        push_with(http, token_registry, "secret/a", auth)
        push_with(http, token_registry, "secret/b", oauth)
        tls_http.get(
            f"{tls_registry.url}/v2/", auth=auth.auth_for(tls_registry.host, tls_registry.host, ())
        )
        with pytest.raises(AuthenticationError) as info:
            http.get(
                f"{token_registry.url}/v2/x/tags/list",
                auth=wrong.auth_for(token_registry.host, token_registry.host, pull("x")),
            )
    bearer_tokens = [s for s in sent if s.count(".") == 2]
    assert bearer_tokens, "no Bearer token was sent"
    assert len(sent) > len(bearer_tokens), "no Basic credentials were sent"
    secrets += sent
    texts = {
        "log": caplog.text,
        "error": str(info.value) + repr(info.value.args),
        "authenticator": repr(auth) + repr(oauth) + repr(wrong),
        "flow": repr(auth.auth_for(token_registry.host, token_registry.host, pull("x"))),
        "credentials": repr(creds) + repr(Credentials(TEST_USER, TEST_PASSWORD, refresh)),
    }
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into the {where}"
    assert "fetching" in caplog.text  # the DEBUG lines were captured at all


# --- through the RegistryClient ---------------------------------------------------------------


def test_registry_client_authenticates_with_tokens_and_basic(
    tokens: TokenServer,
    token_registry: LocalRegistry,
    tls_registry: LocalRegistry,
    http: httpx.Client,
) -> None:
    from moby_assemble.registry._client import RegistryClient
    from moby_assemble.registry._config import RegistryConfig
    from moby_assemble.registry._reference import ImageReference

    digest = seed_image(http, tokens, token_registry, "client/app")
    assert tls_registry.tls is not None
    creds = StaticCredentials(
        {
            token_registry.host: Credentials(TEST_USER, TEST_PASSWORD),
            tls_registry.host: Credentials(TEST_USER, TEST_PASSWORD),
        }
    )
    registries = {
        token_registry.host: RegistryConfig(plain_http=True),
        tls_registry.host: RegistryConfig(ca_bundle=str(tls_registry.tls.ca_cert)),
    }
    with RegistryClient(credentials=creds, registries=registries) as client:
        ref = ImageReference.parse(f"{token_registry.host}/client/app:v1")
        assert client.get_manifest(ref).descriptor.digest == digest
        assert client.head_manifest(ref).digest == digest
        missing = ImageReference.parse(f"{tls_registry.host}/client/none:v1")
        assert not client.blob_exists(missing, "sha256:" + "0" * 64)
    # One token for both manifest requests: the client's flows share the cache.
    assert [(r.grant, r.user) for r in tokens.requests] == [("basic", TEST_USER)]
