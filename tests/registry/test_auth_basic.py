"""Basic authentication against the TLS + htpasswd registry, scope helpers, and the cases
only a fake peer can produce (non-loopback realms)."""

from __future__ import annotations

import httpx
import pytest

from moby_assemble._errors import AuthenticationError
from moby_assemble.registry._auth import (
    Authenticator,
    RegistryAuth,
    merge_scopes,
    repository_scope,
)
from moby_assemble.registry._credentials import Credentials, StaticCredentials
from moby_assemble.testing import LocalRegistry
from tests.conftest import TEST_PASSWORD, TEST_USER
from tests.registry.conftest import creds_for, pull

WRONG_PASSWORD = "definitely-not-" + TEST_PASSWORD


# --- Basic (TLS + htpasswd registry) ----------------------------------------------------------


def test_basic_registry_gets_basic_after_challenge_then_directly(
    tls_registry: LocalRegistry, tls_http: httpx.Client
) -> None:
    auth = Authenticator(creds_for(tls_registry, Credentials(TEST_USER, TEST_PASSWORD)))
    flow = auth.auth_for(tls_registry.host, tls_registry.host, pull("basic/x"))
    first = tls_http.get(f"{tls_registry.url}/v2/", auth=flow)
    assert first.status_code == 200
    assert [h.status_code for h in first.history] == [401]
    second = tls_http.get(f"{tls_registry.url}/v2/basic/x/tags/list", auth=flow)
    assert second.status_code == 404
    assert second.history == []  # Basic sent up front once the registry is known to want it


def test_basic_with_wrong_password_returns_the_second_401(
    tls_registry: LocalRegistry, tls_http: httpx.Client
) -> None:
    auth = Authenticator(creds_for(tls_registry, Credentials(TEST_USER, WRONG_PASSWORD)))
    r = tls_http.get(
        f"{tls_registry.url}/v2/",
        auth=auth.auth_for(tls_registry.host, tls_registry.host, ()),
    )
    assert r.status_code == 401
    assert [h.status_code for h in r.history] == [401]


def test_basic_without_credentials_is_not_retried(
    tls_registry: LocalRegistry, tls_http: httpx.Client
) -> None:
    r = tls_http.get(
        f"{tls_registry.url}/v2/",
        auth=Authenticator().auth_for(tls_registry.host, tls_registry.host, ()),
    )
    assert r.status_code == 401
    assert r.history == []


def test_registry_auth_is_an_httpx_auth() -> None:
    flow = Authenticator().auth_for("docker.io", "registry-1.docker.io", pull("library/alpine"))
    assert isinstance(flow, RegistryAuth)
    assert isinstance(flow, httpx.Auth)
    assert flow.scopes == ("repository:library/alpine:pull",)


def test_repository_scope_defaults_to_pull() -> None:
    assert repository_scope("a/b") == "repository:a/b:pull"
    assert repository_scope("a/b", "pull", "push") == "repository:a/b:pull,push"


def test_merge_scopes_unites_actions_per_resource() -> None:
    assert merge_scopes(
        ["repository:a:push", "repository:b:pull", "repository:a:pull", "repository:a:pull"]
    ) == ("repository:a:pull,push", "repository:b:pull")


def test_merge_scopes_keeps_host_port_in_resource_names() -> None:
    assert merge_scopes(["repository:localhost:5000/x:pull", "registry:catalog:*"]) == (
        "registry:catalog:*",
        "repository:localhost:5000/x:pull",
    )


# --- cases no real peer here can produce (non-loopback hosts): httpx.MockTransport ------------


def _fake_registry(realm: str, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "registry.test":
            if request.headers.get("authorization", "").startswith("Bearer "):
                return httpx.Response(200, json={})
            return httpx.Response(
                401,
                headers={"WWW-Authenticate": f'Basic realm="x", Bearer realm="{realm}",service=s'},
            )
        return httpx.Response(200, json={"token": "t0k3n-value", "expires_in": 300})

    return httpx.MockTransport(handle)


def test_credentials_are_never_sent_to_a_plain_http_realm_from_https() -> None:
    seen: list[httpx.Request] = []
    auth = Authenticator(StaticCredentials({"registry.test": Credentials("u", "p")}))
    http = httpx.Client(transport=_fake_registry("http://auth.test/token", seen))
    with http, pytest.raises(AuthenticationError, match="over plain HTTP") as info:
        http.get(
            "https://registry.test/v2/", auth=auth.auth_for("registry.test", "registry.test", ())
        )
    assert "auth.test" in str(info.value)
    assert [r.url.host for r in seen] == ["registry.test"]


def test_bearer_is_preferred_when_basic_is_also_offered() -> None:
    seen: list[httpx.Request] = []
    auth = Authenticator()
    with httpx.Client(transport=_fake_registry("https://auth.test/token", seen)) as http:
        r = http.get(
            "https://registry.test/v2/a/tags/list",
            auth=auth.auth_for("registry.test", "registry.test", pull("a")),
        )
    assert r.status_code == 200
    token_request = seen[1]
    assert token_request.url.host == "auth.test"
    assert token_request.url.params.get_list("scope") == ["repository:a:pull"]
    assert token_request.url.params["service"] == "s"
    assert "authorization" not in token_request.headers  # anonymous
