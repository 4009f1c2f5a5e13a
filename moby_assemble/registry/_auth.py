"""Registry authentication: the Docker token flow, Basic, and a token cache, as an ``httpx.Auth``.

One :class:`Authenticator` is shared by everything that talks to registries. For each request
the client asks it for an ``httpx.Auth`` bound to a registry and the scopes the request needs::

    auth = Authenticator(DockerConfig())
    with httpx.Client() as client:
        client.get("https://ghcr.io/v2/org/app/tags/list",
                   auth=auth.auth_for("ghcr.io", "ghcr.io", ["repository:org/app:pull"]))

The flow: send with a cached Bearer token (or Basic, when the registry asked for Basic);
on ``401`` parse ``WWW-Authenticate``, fetch a token from the realm *through the same client*
(``GET`` with Basic credentials or anonymously, or the OAuth2 ``POST`` refresh-token grant for
identity tokens), cache it per ``(registry, realm, service, scopes)`` until it expires, and
retry once. A second ``401`` is returned as is. Only token responses are read by this layer:
request and response bodies of blobs stream through untouched.

Tokens and passwords never appear in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Sequence

import attrs
import httpx

from .._errors import AuthenticationError
from .._parse import loads_json
from ._challenge import Challenge, parse_challenges
from ._credentials import CredentialProvider, Credentials, DockerConfig, StaticCredentials

__all__ = [
    "Authenticator",
    "CredentialProvider",
    "Credentials",
    "DockerConfig",
    "RegistryAuth",
    "StaticCredentials",
    "merge_scopes",
    "repository_scope",
]

log = logging.getLogger("moby_assemble.registry.auth")

#: What the token spec says to assume when a token response has no ``expires_in``.
DEFAULT_TOKEN_LIFETIME = 60.0
_CLIENT_ID = "moby-assemble"
# Known to need no authentication: a /v2/ probe answered without a challenge.
_ANONYMOUS = Challenge("anonymous")

_TokenKey = tuple[str, str, str, tuple[str, ...]]


def repository_scope(repository: str, *actions: str) -> str:
    """The token scope for ``actions`` on a repository.

    Example::

        >>> repository_scope("library/alpine", "pull", "push")
        'repository:library/alpine:pull,push'
    """
    return f"repository:{repository}:{','.join(actions or ('pull',))}"


def merge_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes in canonical form: one entry per resource, actions united and sorted.

    The resource name may hold ``host:port``, so the actions are after the *last* colon.

    Example::

        >>> merge_scopes(["repository:a:push", "repository:b:pull", "repository:a:pull"])
        ('repository:a:pull,push', 'repository:b:pull')
    """
    merged: dict[str, set[str]] = {}
    for scope in scopes:
        resource, sep, actions = scope.rpartition(":")
        if not sep or ":" not in resource:
            # Not type:name:actions; keep it verbatim as its own resource.
            merged.setdefault(scope, set())
            continue
        merged.setdefault(resource, set()).update(a for a in actions.split(",") if a)
    return tuple(sorted(f"{r}:{','.join(sorted(a))}" if a else r for r, a in merged.items()))


@attrs.frozen
class _Token:
    value: str = attrs.field(repr=False)
    deadline: float


@attrs.frozen
class _Step:
    """A request the flow wants sent; ``read`` when the flow must see the body."""

    request: httpx.Request
    read: bool = False


class Authenticator:
    """Authentication state shared by all requests: challenges seen, tokens, credentials.

    Args:
        credentials: where credentials come from (default: none, anonymous only). Asked
            at most once per registry until :meth:`invalidate`.
        clock: monotonic seconds, for token expiry.
        client_id: the OAuth2 ``client_id`` sent with refresh-token requests.

    Thread-safe: one instance may serve a client used from many threads. Two threads
    missing the same token at once may both fetch it; the later one wins the cache.

    Example::

        >>> auth = Authenticator(StaticCredentials({"localhost:5000": Credentials("u", "p")}))
        >>> flow = auth.auth_for("localhost:5000", "localhost:5000",
        ...                      [repository_scope("app", "pull")])
    """

    def __init__(
        self,
        credentials: CredentialProvider | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        client_id: str = _CLIENT_ID,
    ) -> None:
        self._provider = credentials
        self._clock = clock
        self._client_id = client_id
        self._lock = threading.Lock()
        self._tokens: dict[_TokenKey, _Token] = {}
        self._challenges: dict[str, Challenge] = {}
        self._credentials: dict[str, Credentials | None] = {}

    def __repr__(self) -> str:
        with self._lock:
            registries = sorted(self._challenges)
            tokens = len(self._tokens)
        return f"Authenticator(registries={registries!r}, cached_tokens={tokens})"

    def auth_for(self, registry: str, api_host: str, scopes: Sequence[str]) -> RegistryAuth:
        """An ``httpx.Auth`` for requests to ``registry`` (served at ``api_host``).

        Args:
            registry: the registry name as in references (``docker.io``), which selects
                credentials and keys the caches.
            api_host: the host serving its API (``registry-1.docker.io``), for logs.
            scopes: token scopes the request needs, e.g. ``repository:app:pull,push``
                (see :func:`repository_scope`).
        """
        return RegistryAuth(self, registry, api_host, merge_scopes(scopes))

    def invalidate(self, registry: str) -> None:
        """Forget tokens, the challenge and the credentials of ``registry``.

        The next request starts over (and asks the credential provider again).
        """
        with self._lock:
            for key in [k for k in self._tokens if k[0] == registry]:
                del self._tokens[key]
            self._challenges.pop(registry, None)
            self._credentials.pop(registry, None)

    # -- state, under the lock -------------------------------------------------------------

    def _challenge(self, registry: str) -> Challenge | None:
        with self._lock:
            return self._challenges.get(registry)

    def _remember_challenge(self, registry: str, challenge: Challenge) -> None:
        with self._lock:
            self._challenges[registry] = challenge

    def _cached_token(self, key: _TokenKey) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is None:
                return None
            if token.deadline <= self._clock():
                del self._tokens[key]
                return None
            return token.value

    def _store_token(self, key: _TokenKey, value: str, lifetime: float) -> None:
        with self._lock:
            self._tokens[key] = _Token(value, self._clock() + lifetime)

    def _drop_token(self, key: _TokenKey) -> None:
        with self._lock:
            self._tokens.pop(key, None)

    def _credentials_for(self, registry: str) -> Credentials | None:
        with self._lock:
            if registry in self._credentials:
                return self._credentials[registry]
        # Outside the lock: a credential helper is a subprocess.
        creds = self._provider.get(registry) if self._provider is not None else None
        with self._lock:
            self._credentials[registry] = creds
        return creds

    def _replace_identity_token(self, registry: str, old: Credentials, token: str) -> None:
        # A token endpoint may rotate the refresh token; keep using the newest in memory.
        with self._lock:
            if self._credentials.get(registry) is old:
                self._credentials[registry] = attrs.evolve(old, identity_token=token)


class RegistryAuth(httpx.Auth):
    """The ``httpx.Auth`` :meth:`Authenticator.auth_for` returns (one registry, one scope set).

    A request whose body cannot be sent twice (an iterator) is never retried: when
    nothing is known about the registry yet, a ``GET /v2/`` probe learns the challenge
    first; a ``401`` on such a request drops the cached token and is returned.
    """

    # Bodies are never read here: blobs stream. Token responses are read explicitly.
    requires_request_body = False
    requires_response_body = False

    def __init__(
        self, authenticator: Authenticator, registry: str, api_host: str, scopes: tuple[str, ...]
    ) -> None:
        self._auth = authenticator
        self.registry = registry
        self.api_host = api_host
        self.scopes = scopes

    def __repr__(self) -> str:
        return f"RegistryAuth(registry={self.registry!r}, scopes={self.scopes!r})"

    # -- httpx entry points ----------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow(request)
        step = next(flow)
        while True:
            response = yield step.request
            if step.read:
                response.read()
            try:
                step = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow(request)
        step = next(flow)
        while True:
            response = yield step.request
            if step.read:
                await response.aread()
            try:
                step = flow.send(response)
            except StopIteration:
                return

    # -- the flow --------------------------------------------------------------------------

    def _flow(self, request: httpx.Request) -> Generator[_Step, httpx.Response, None]:
        replayable = isinstance(request.stream, httpx.ByteStream)
        challenge = self._auth._challenge(self.registry)
        if challenge is None and not replayable:
            challenge = yield from self._probe(request)
        sent = yield from self._authorize(request, challenge, self.scopes)
        response = yield _Step(request)
        if response.status_code != 401:
            return
        if isinstance(sent, tuple):
            self._auth._drop_token(sent)
        fresh = _pick(parse_challenges(response.headers.get_list("www-authenticate")))
        if fresh is None:
            log.debug("%s answered 401 without a usable challenge", self.api_host)
            return
        self._auth._remember_challenge(self.registry, fresh)
        if not replayable or (sent == "basic" and fresh.scheme == "basic"):
            return
        scopes = merge_scopes(self.scopes + fresh.scopes) if fresh.scheme == "bearer" else ()
        again = yield from self._authorize(request, fresh, scopes, force=True)
        if again is None:
            return
        log.debug(
            "retrying %s %s with fresh %s credentials",
            request.method,
            request.url.path,
            fresh.scheme,
        )
        yield _Step(request)

    def _probe(self, request: httpx.Request) -> Generator[_Step, httpx.Response, Challenge | None]:
        """Learn the registry's challenge with ``GET /v2/`` (the body can't be replayed)."""
        headers = {}
        if "user-agent" in request.headers:
            headers["User-Agent"] = request.headers["user-agent"]
        probe = httpx.Request(
            "GET", request.url.copy_with(path="/v2/", query=None), headers=headers
        )
        response = yield _Step(probe, read=True)
        if response.status_code == 401:
            found = _pick(parse_challenges(response.headers.get_list("www-authenticate")))
        else:
            found = _ANONYMOUS
        if found is not None:
            self._auth._remember_challenge(self.registry, found)
        return found

    def _authorize(
        self,
        request: httpx.Request,
        challenge: Challenge | None,
        scopes: tuple[str, ...],
        *,
        force: bool = False,
    ) -> Generator[_Step, httpx.Response, _TokenKey | str | None]:
        """Put credentials on ``request`` for ``challenge``; say what was sent.

        Returns the token cache key (Bearer), ``"basic"``, or ``None`` (nothing sent).
        """
        if challenge is None or challenge.scheme == _ANONYMOUS.scheme:
            return None
        if challenge.scheme == "basic":
            basic = _basic(self._auth._credentials_for(self.registry))
            if basic is None:
                return None
            request.headers["Authorization"] = basic
            return "basic"
        realm = challenge.get("realm")
        if not realm:
            raise AuthenticationError(
                f"registry {self.registry} sent a Bearer challenge without a realm",
                registry=self.registry,
                status_code=401,
            )
        key: _TokenKey = (self.registry, realm, challenge.get("service") or "", scopes)
        token = None if force else self._auth._cached_token(key)
        if token is None:
            token = yield from self._fetch_token(request, challenge, realm, scopes, key)
        request.headers["Authorization"] = f"Bearer {token}"
        return key

    def _fetch_token(
        self,
        request: httpx.Request,
        challenge: Challenge,
        realm: str,
        scopes: tuple[str, ...],
        key: _TokenKey,
    ) -> Generator[_Step, httpx.Response, str]:
        realm_url = request.url.join(realm)
        where = realm_url.netloc.decode("ascii", "replace")
        if realm_url.scheme not in ("http", "https"):
            raise AuthenticationError(
                f"registry {self.registry} names a token realm that is not HTTP(S) (host {where})",
                registry=self.registry,
            )
        creds = self._auth._credentials_for(self.registry)
        if creds is not None and not (creds.identity_token or creds.has_password):
            creds = None
        if (
            creds is not None
            and realm_url.scheme == "http"
            and request.url.scheme == "https"
            and not _is_loopback(realm_url.host)
        ):
            raise AuthenticationError(
                f"refusing to send credentials for registry {self.registry} to token endpoint "
                f"{where} over plain HTTP",
                registry=self.registry,
            )
        service = challenge.get("service")
        headers = {}
        if "user-agent" in request.headers:
            headers["User-Agent"] = request.headers["user-agent"]
        if creds is not None and creds.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": self._auth._client_id,
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            token_request = httpx.Request("POST", realm_url, data=form, headers=headers)
            how = "refresh token"
        else:
            params: list[tuple[str, str | int | float | bool | None]] = list(
                realm_url.params.multi_items()
            )
            if service:
                params.append(("service", service))
            params += [("scope", s) for s in scopes]
            basic = _basic(creds)
            if basic is not None:
                headers["Authorization"] = basic
            token_request = httpx.Request(
                "GET", realm_url.copy_with(params=httpx.QueryParams(params)), headers=headers
            )
            how = "password" if creds is not None else "anonymous"
        log.debug("fetching %s token for %s from %s, scopes %s", how, self.registry, where, scopes)
        response = yield _Step(token_request, read=True)
        if response.status_code != 200:
            if response.status_code in (400, 401, 403) and creds is not None:
                reason = f"rejected the credentials (HTTP {response.status_code})"
            else:
                reason = f"answered HTTP {response.status_code}"
            raise AuthenticationError(
                f"token endpoint {where} for registry {self.registry} {reason}",
                registry=self.registry,
                status_code=response.status_code,
            )
        try:
            body = loads_json(response.content)
        except ValueError:
            body = None
        value = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise AuthenticationError(
                f"token endpoint {where} for registry {self.registry} sent no token",
                registry=self.registry,
            )
        assert isinstance(body, dict)
        lifetime = _lifetime(body)
        refresh = body.get("refresh_token")
        if creds is not None and creds.identity_token and isinstance(refresh, str) and refresh:
            self._auth._replace_identity_token(self.registry, creds, refresh)
        self._auth._store_token(key, value, lifetime)
        log.debug("token for %s valid for %.0f s", self.registry, lifetime)
        return value


def _pick(challenges: Sequence[Challenge]) -> Challenge | None:
    """The challenge to answer: Bearer (with a realm) before Basic; others are unsupported."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme and (scheme == "basic" or challenge.get("realm")):
                return challenge
    return None


def _basic(creds: Credentials | None) -> str | None:
    """The ``Authorization`` value for Basic, if ``creds`` hold a user and password."""
    if creds is None or not creds.username or creds.password is None:
        return None
    pair = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _lifetime(body: dict[str, object]) -> float:
    """Seconds to keep a token: ``expires_in`` less the age ``issued_at`` says it has,
    with a small margin so it is not used at the very last moment."""
    raw = body.get("expires_in")
    lifetime = (
        float(raw)
        if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0
        else DEFAULT_TOKEN_LIFETIME
    )
    issued = body.get("issued_at")
    if isinstance(issued, str):
        try:
            at = datetime.datetime.fromisoformat(issued)
        except ValueError:
            at = None
        if at is not None and at.tzinfo is not None:
            age = time.time() - at.timestamp()
            # Trust issued_at only within plausible clock skew.
            if 0 < age < lifetime:
                lifetime -= age
    return lifetime - min(5.0, lifetime * 0.1)
