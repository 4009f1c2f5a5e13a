"""Credentials and TLS: rows of :data:`tests.hostile.cases.CREDENTIALS`.

Secrets are searched for everywhere a user could see them: log records of every logger at
DEBUG level, exception messages and reprs, the lock file, every file of the cache and of the
outputs. Bearer tokens are the exact values the client sent, recorded by its transport.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from moby_assemble import AuthenticationError, Container, RegistryTransportError, System
from moby_assemble.assemble import Assembler
from moby_assemble.registry import (
    Credentials,
    ImageReference,
    Puller,
    RegistryClient,
    RegistryConfig,
    StaticCredentials,
)
from moby_assemble.store import Store
from moby_assemble.testing import Fault, LocalRegistry
from tests.conftest import TEST_PASSWORD, TEST_USER
from tests.faults.conftest import (
    AMD64,
    REPO,
    Subject,
    TokenSetup,
    push_set,
    subject,  # noqa: F401  (fixture)
    token_setup,  # noqa: F401  (fixture)
)

from .cases import CREDENTIALS

BASIC = base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode()


def _files_containing(root: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s[:8]}…" for s in secrets if s.encode() in data]
    return found


def _assert_no_secret(secrets: list[str], *texts: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.fixture(scope="module")
def tls_image(tls_registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``faults/app:1`` pushed to the TLS + Basic-auth registry."""
    from tests.faults.conftest import make_test_image

    assert tls_registry.tls is not None
    creds = StaticCredentials({tls_registry.host: Credentials(TEST_USER, TEST_PASSWORD)})
    registries = {tls_registry.host: RegistryConfig(ca_bundle=str(tls_registry.tls.ca_cert))}
    ref = ImageReference.parse(f"{tls_registry.host}/{REPO}:1")
    with RegistryClient(credentials=creds, registries=registries) as client:
        push_set(client, make_test_image(), ref, tmp_path_factory.mktemp("tls-push"))
    return str(ref)


def _tls_config(registry: LocalRegistry, **kwargs: object) -> dict[str, RegistryConfig]:
    return {registry.host: RegistryConfig(**kwargs)}  # type: ignore[arg-type]


def test_basic_secrets_never_leak(
    tls_registry: LocalRegistry,
    tls_image: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = CREDENTIALS["basic-secrets-never-leak"]
    assert case.error is None
    caplog.set_level(logging.DEBUG)
    assert tls_registry.tls is not None
    credentials = StaticCredentials({tls_registry.host: Credentials(TEST_USER, TEST_PASSWORD)})
    registries = _tls_config(tls_registry, ca_bundle=str(tls_registry.tls.ca_cert))
    system = System().with_service(Container("app", tls_image, command=("/bin/true",)))
    cache, out = tmp_path / "cache", tmp_path / "out"
    with Assembler(
        cache, platform="linux/amd64", credentials=credentials, registries=registries
    ) as asm:
        lock = asm.resolve(system)
        lock_file = lock.save(tmp_path / "system.lock.json")
        bundle = asm.assemble(system, lock=lock)
        bundle.write(out, formats=["tar"], name="sys")
        reprs = [repr(asm), repr(asm.store), repr(credentials), repr(bundle), repr(lock)]
    reprs.append(repr(credentials.get(tls_registry.host)))

    assert (out / "sys.tar").stat().st_size > 0
    assert any(r.name.startswith("moby_assemble") for r in caplog.records)
    secrets = [TEST_PASSWORD, BASIC]
    _assert_no_secret(secrets, caplog.text, *reprs, lock_file.read_text())
    assert _files_containing(cache, secrets) == []
    assert _files_containing(out, secrets) == []


def test_wrong_password(
    tls_registry: LocalRegistry, tls_image: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    case = CREDENTIALS["wrong-password"]
    assert case.error is AuthenticationError
    caplog.set_level(logging.DEBUG)
    assert tls_registry.tls is not None
    wrong = "not-" + TEST_PASSWORD
    credentials = StaticCredentials({tls_registry.host: Credentials(TEST_USER, wrong)})
    registries = _tls_config(tls_registry, ca_bundle=str(tls_registry.tls.ca_cert))
    with (
        RegistryClient(credentials=credentials, registries=registries) as client,
        Puller(client, Store(tmp_path / "store")) as puller,
        pytest.raises(AuthenticationError) as info,
    ):
        puller.pull(ImageReference.parse(tls_image), AMD64)
    assert tls_registry.host in str(info.value)
    secrets = [wrong, TEST_PASSWORD, base64.b64encode(f"{TEST_USER}:{wrong}".encode()).decode()]
    _assert_no_secret(secrets, str(info.value), repr(info.value), caplog.text)
    assert _files_containing(tmp_path, secrets) == []


class RecordingTransport(httpx.HTTPTransport):
    """A real transport that remembers the ``Authorization`` headers it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.authorizations: list[str] = []
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        value = request.headers.get("Authorization")
        if value is not None:
            self.authorizations.append(value)
        return super().handle_request(request)

    @property
    def tokens(self) -> list[str]:
        return [v.split(" ", 1)[1] for v in self.authorizations if v.startswith("Bearer ")]


@pytest.fixture
def token_env(token_setup: TokenSetup) -> TokenSetup:  # noqa: F811
    for p in (token_setup.proxy, token_setup.token_proxy):
        p.clear_faults()
        p.clear_log()
    return token_setup


def _token_pull(env: TokenSetup, store: Store, transport: RecordingTransport) -> None:
    credentials = StaticCredentials({env.proxy.host: Credentials(TEST_USER, TEST_PASSWORD)})
    with (
        RegistryClient(credentials=credentials, transport=transport) as client,
        Puller(client, store) as puller,
    ):
        puller.pull(ImageReference.parse(f"{env.proxy.host}/{REPO}:1"), AMD64)


def test_bearer_tokens_never_leak(
    token_env: TokenSetup, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    case = CREDENTIALS["bearer-tokens-never-leak"]
    assert case.error is None
    caplog.set_level(logging.DEBUG)
    transport = RecordingTransport()
    store = Store(tmp_path / "store")
    _token_pull(token_env, store, transport)
    tokens = sorted(set(transport.tokens))
    assert tokens, "no Bearer token was used: the registry did not ask for one"
    assert all(t.startswith("eyJ") for t in tokens)
    secrets = [*tokens, TEST_PASSWORD, BASIC]
    _assert_no_secret(secrets, caplog.text, repr(store))
    assert _files_containing(store.path, secrets) == []


@pytest.fixture
def blob_host(subject: Subject) -> Iterator[tuple[str, list[str | None]]]:  # noqa: F811
    """Another origin (127.0.0.1, another port) serving the layer, like blob storage behind
    a registry's redirect; records the Authorization header of each request."""
    seen: list[str | None] = []
    body = subject.layer_bytes()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_bearer_not_sent_cross_origin(
    token_env: TokenSetup,
    subject: Subject,  # noqa: F811
    blob_host: tuple[str, list[str | None]],
    tmp_path: Path,
) -> None:
    case = CREDENTIALS["bearer-not-sent-cross-origin"]
    assert case.error is None
    host, seen = blob_host
    location = f"http://{host}/storage/{subject.layer}?signature=abc"
    token_env.proxy.inject(Fault.redirect(location, path=f"/blobs/{subject.layer}"))
    transport = RecordingTransport()
    store = Store(tmp_path / "store")
    _token_pull(token_env, store, transport)
    assert store.has_blob(subject.layer)
    assert seen == [None]
    redirected = token_env.proxy.find("GET", f"/blobs/{subject.layer}")
    assert [r.status for r in redirected] == [307]
    assert redirected[0].header("Authorization") == "<redacted>"  # it was sent there


def test_tls_verified_by_default(
    tls_registry: LocalRegistry, tls_image: str, tmp_path: Path
) -> None:
    case = CREDENTIALS["tls-verified-by-default"]
    assert case.error is RegistryTransportError
    credentials = StaticCredentials({tls_registry.host: Credentials(TEST_USER, TEST_PASSWORD)})
    transport = RecordingTransport()
    store = Store(tmp_path / "store")
    with (
        RegistryClient(credentials=credentials, transport=transport) as client,
        Puller(client, store) as puller,
        pytest.raises(RegistryTransportError) as info,
    ):
        puller.pull(ImageReference.parse(tls_image), AMD64)
    message = str(info.value)
    assert "not trusted" in message
    assert "ca_bundle" in message
    assert tls_registry.host in message
    # Only HTTPS was tried, and no credential was ever sent.
    assert transport.urls
    assert {u.scheme for u in transport.urls} == {"https"}
    assert transport.authorizations == []
    assert store.verify() == ()


@pytest.mark.parametrize("how", ["tls-ca-bundle", "tls-insecure-opt-in"])
def test_tls_opt_ins(how: str, tls_registry: LocalRegistry, tls_image: str, tmp_path: Path) -> None:
    case = CREDENTIALS[how]
    assert case.error is None
    assert tls_registry.tls is not None
    config = (
        {"ca_bundle": str(tls_registry.tls.ca_cert)}
        if how == "tls-ca-bundle"
        else {"insecure": True}
    )
    credentials = StaticCredentials({tls_registry.host: Credentials(TEST_USER, TEST_PASSWORD)})
    store = Store(tmp_path / "store")
    with (
        RegistryClient(
            credentials=credentials, registries=_tls_config(tls_registry, **config)
        ) as c,
        Puller(c, store) as puller,
    ):
        image = puller.pull(ImageReference.parse(tls_image), AMD64)
    assert store.has_blob(image.layers[0].digest)
    assert store.verify() == ()
