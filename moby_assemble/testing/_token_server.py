"""A real Docker token server (``auth: token:`` of distribution) for tests.

It signs ES256 JWTs with a throw-away key whose certificate chains to a throw-away CA; the
registry trusts that CA through ``rootcertbundle``. Both the Docker token ``GET`` (Basic or
anonymous) and the OAuth2 ``POST`` (``grant_type=password`` / ``refresh_token``) are served::

    with TokenServer(tmp_path / "auth", users={"alice": "pw"}) as tokens:
        with LocalRegistry(tmp_path / "reg", extra_config=tokens.registry_config()) as reg:
            ...                       # reg answers 401 with a Bearer challenge pointing here
        tokens.requests               # what was asked, by whom (never the secrets)

Known users get every action they ask for; anonymous callers get ``pull`` only. Tests can
shorten ``expires_in``, make the endpoint fail (``fail_with = 500``), and rotate the key.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import secrets
import threading
import time
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import attrs

from ._certs import TestCA
from ._service import Service

__all__ = ["TokenRequest", "TokenServer"]

log = logging.getLogger("moby_assemble.testing.token_server")

_ALL_ACTIONS = ("pull", "push", "delete", "*")


@attrs.frozen
class TokenRequest:
    """One request the token server answered (secrets left out).

    Attributes:
        method: ``GET`` (Docker token protocol) or ``POST`` (OAuth2).
        grant: ``anonymous``, ``basic`` (GET with a password), ``password`` or
            ``refresh_token`` (POST).
        user: who was authenticated, if anyone.
        service: the ``service`` parameter.
        scopes: the scopes asked for, in order.
        status: the HTTP status answered.
    """

    method: str
    grant: str
    user: str | None
    service: str | None
    scopes: tuple[str, ...]
    status: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Keys:
    """A CA (the registry's ``rootcertbundle``) and a signing key certified by it."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization

        ca = TestCA.new("moby_assemble token CA", path_length=0)
        self.key, leaf = ca.issue("token signer")
        self.ca_pem = ca.cert.public_bytes(serialization.Encoding.PEM)
        # x5c is standard base64 DER, leaf first (distribution's parseAndVerifyCertChain).
        self.x5c = [base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()]

    def sign(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        # JWS ES256 wants the raw 32-byte r and s, not DER.
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class TokenServer(Service):
    """A token server on 127.0.0.1 (random port), in a thread, stopped on exit.

    Args:
        directory: where the root certificate bundle is written.
        users: ``{user: password}`` accepted with Basic (GET) or ``grant_type=password``.
        service: the ``service`` the registry names in its challenges (the JWT audience).
        issuer: the JWT issuer the registry is configured to trust.
        expires_in: lifetime in seconds told to clients (``None``: leave it out, so
            clients assume 60 s). The JWT itself is valid at least 5 minutes so the
            registry accepts it while the client decides when to refresh.

    Attributes:
        fail_with: when set (e.g. 500), every token request gets this status.
        expires_in: may be changed while running.
    """

    def __init__(
        self,
        directory: Path,
        *,
        users: Mapping[str, str] | None = None,
        service: str = "moby-assemble-registry",
        issuer: str = "moby-assemble-token-server",
        expires_in: int | None = 300,
    ) -> None:
        self.directory = Path(directory)
        self.users = dict(users or {})
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.fail_with: int | None = None
        self._keys = _Keys()
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._refresh_tokens: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("token server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def realm(self) -> str:
        """The token endpoint (``…/token``)."""
        return f"{self.url}/token"

    @property
    def root_cert_bundle(self) -> Path:
        return self.directory / "token-ca.pem"

    def registry_config(self) -> str:
        """The ``auth: token:`` YAML section for :class:`LocalRegistry`'s ``extra_config``."""
        return (
            "auth:\n"
            "  token:\n"
            f"    realm: {self.realm}\n"
            f"    service: {self.service}\n"
            f"    issuer: {self.issuer}\n"
            f"    rootcertbundle: {self.root_cert_bundle}\n"
        )

    def rotate_key(self) -> None:
        """Sign with a new key under a new CA and rewrite the bundle.

        A registry restarted afterwards rejects every token issued before.
        """
        keys = _Keys()
        with self._lock:
            self._keys = keys
        self.root_cert_bundle.write_bytes(keys.ca_pem)

    def issue_refresh_token(self, user: str) -> str:
        """An identity (refresh) token for ``user``, as ``docker login`` would store."""
        if user not in self.users:
            raise KeyError(user)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = user
        return token

    # -- observations ----------------------------------------------------------------------

    @property
    def requests(self) -> tuple[TokenRequest, ...]:
        """Every request answered so far, oldest first."""
        with self._lock:
            return tuple(self._requests)

    def issued(self) -> int:
        """How many tokens were handed out (status 200)."""
        return sum(1 for r in self.requests if r.status == 200)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.root_cert_bundle.write_bytes(self._keys.ca_pem)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="token-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    # -- the protocol ----------------------------------------------------------------------

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _grant(self, user: str | None, scopes: tuple[str, ...]) -> list[dict[str, Any]]:
        access: list[dict[str, Any]] = []
        for scope in scopes:
            # "repository:host:5000/name:pull,push": the actions are after the last ':'.
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if not kind or not name:
                continue
            wanted = [a for a in actions.split(",") if a in _ALL_ACTIONS]
            allowed = wanted if user is not None else [a for a in wanted if a == "pull"]
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        return access

    def _token(self, user: str | None, scopes: tuple[str, ...]) -> dict[str, Any]:
        issued = time.time()
        now = int(issued)
        with self._lock:
            keys = self._keys
            expires_in = self.expires_in
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + max(expires_in or 60, 300),
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": self._grant(user, scopes),
        }
        token = keys.sign({"typ": "JWT", "alg": "ES256", "x5c": keys.x5c}, claims)
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "issued_at": datetime.datetime.fromtimestamp(issued, datetime.UTC).isoformat(),
        }
        if expires_in is not None:
            body["expires_in"] = expires_in
        return body

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """Answer one request: ``(status, JSON body)``."""
        parsed = urllib.parse.urlsplit(target)
        if parsed.path != "/token":
            return 404, {"errors": [{"code": "NOT_FOUND", "message": parsed.path}]}
        query = urllib.parse.parse_qs(parsed.query)
        if method == "GET":
            return self._handle_get(query, headers)
        if method == "POST":
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            return self._handle_post(form)
        return 405, {"errors": [{"code": "UNSUPPORTED", "message": method}]}

    def _fail(
        self,
        method: str,
        grant: str,
        user: str | None,
        service: str | None,
        scopes: tuple[str, ...],
        status: int,
        code: str,
    ) -> tuple[int, dict[str, Any]]:
        self._record(TokenRequest(method, grant, user, service, scopes, status))
        return status, {"errors": [{"code": code, "message": code.lower().replace("_", " ")}]}

    def _handle_get(
        self, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        service = _first(query, "service")
        scopes = tuple(s for value in query.get("scope", []) for s in value.split())
        user = None
        grant = "anonymous"
        auth = headers.get("authorization", "")
        if auth:
            grant = "basic"
            scheme, _, encoded = auth.partition(" ")
            try:
                name, _, password = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                name, password = "", ""
            if scheme.lower() != "basic" or not _same(self.users.get(name), password):
                return self._fail("GET", grant, None, service, scopes, 401, "UNAUTHORIZED")
            user = name
        if self.fail_with is not None:
            return self._fail("GET", grant, user, service, scopes, self.fail_with, "UNAVAILABLE")
        if service != self.service:
            return self._fail("GET", grant, user, service, scopes, 400, "INVALID_SERVICE")
        body = self._token(user, scopes)
        if user is not None and (query.get("offline_token") or [""])[0] == "true":
            body["refresh_token"] = self.issue_refresh_token(user)
        self._record(TokenRequest("GET", grant, user, service, scopes, 200))
        return 200, body

    def _handle_post(self, form: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def field(name: str) -> str | None:
            return _first(form, name)

        service = field("service")
        scopes = tuple((field("scope") or "").split())
        grant = field("grant_type") or ""
        user: str | None = None
        if grant == "refresh_token":
            with self._lock:
                user = self._refresh_tokens.get(field("refresh_token") or "")
        elif grant == "password":
            name = field("username") or ""
            if _same(self.users.get(name), field("password") or ""):
                user = name
        else:
            return self._fail("POST", grant, None, service, scopes, 400, "UNSUPPORTED_GRANT_TYPE")
        if user is None:
            return self._fail("POST", grant, None, service, scopes, 401, "INVALID_GRANT")
        if self.fail_with is not None:
            return self._fail("POST", grant, user, service, scopes, self.fail_with, "UNAVAILABLE")
        if service != self.service or not field("client_id"):
            return self._fail("POST", grant, user, service, scopes, 400, "INVALID_REQUEST")
        token = self._token(user, scopes)
        body: dict[str, Any] = {
            "access_token": token["access_token"],
            "scope": " ".join(scopes),
            "issued_at": token["issued_at"],
        }
        if "expires_in" in token:
            body["expires_in"] = token["expires_in"]
        if grant == "password" and field("access_type") == "offline":
            body["refresh_token"] = self.issue_refresh_token(user)
        self._record(TokenRequest("POST", grant, user, service, scopes, 200))
        return 200, body


def _first(values: Mapping[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[0] if found else None


def _same(expected: str | None, given: str) -> bool:
    if expected is None:
        return False
    return secrets.compare_digest(
        hashlib.sha256(expected.encode()).digest(), hashlib.sha256(given.encode()).digest()
    )


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = server.handle(self.command, self.path, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer  # noqa: N815 - http.server's naming
        do_POST = _answer  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            # The request line holds no secret (credentials travel in headers and bodies).
            log.debug("token server: " + format, *args)

    return Handler
