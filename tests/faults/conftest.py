"""Fixtures of the fault tests: a test image in the real registries, proxies in front of them.

The image is one uncompressed layer of exactly 1 MiB of incompressible bytes, so byte
offsets and sizes in the case tables are exact. It is pushed to the session's plain
registry and to a token-auth registry whose token server sits behind its own FaultProxy.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from moby_assemble import Platform
from moby_assemble.registry import (
    Credentials,
    ImageReference,
    RegistryClient,
    RegistryConfig,
    RetryPolicy,
    StaticCredentials,
    push_from_store,
)
from moby_assemble.store import Store
from moby_assemble.testing import FaultProxy, Image, ImageSet, Layer, LocalRegistry, TokenServer
from tests.conftest import TEST_PASSWORD, TEST_USER

AMD64 = Platform.parse("linux/amd64")
#: Retries quickly: fault tests wait for the budget to run out, not for backoff.
FAST = RetryPolicy(attempts=3, backoff=0.01, jitter=False)
REPO = "faults/app"
LAYER_SIZE = 1 << 20


def make_test_image() -> ImageSet:
    # 512-byte header + 1,047,040 bytes of data + 1,024-byte end marker = exactly 1 MiB.
    payload = random.Random(7).randbytes(LAYER_SIZE - 1536)
    layer = Layer(compression=None).file("data/blob", payload)
    built = Image((layer,), config={"Cmd": ["/bin/true"]}).build()
    manifest = built.json()
    assert manifest["layers"][0]["size"] == LAYER_SIZE
    return built


def push_set(client: RegistryClient, built: ImageSet, ref: ImageReference, work: Path) -> None:
    """Push ``built`` to ``ref`` with the project's pusher (tested elsewhere)."""
    layout = work / "layout"
    built.write_oci_layout(layout, "image")
    store = Store(layout)
    push_from_store(client, store, store.resolve("image"), ref)


@attrs.frozen
class Subject:
    """The pushed test image and where it is."""

    built: ImageSet
    layer: str
    config: str
    manifest: str

    def layer_bytes(self) -> bytes:
        return self.built.blobs[self.layer]


@pytest.fixture(scope="session")
def subject() -> Subject:
    built = make_test_image()
    manifest = built.json()
    return Subject(
        built,
        manifest["layers"][0]["digest"],
        manifest["config"]["digest"],
        built.descriptor.digest,
    )


@pytest.fixture(scope="session")
def seeded(
    registry: LocalRegistry, subject: Subject, tmp_path_factory: pytest.TempPathFactory
) -> LocalRegistry:
    """The session registry, holding ``faults/app:1``."""
    with RegistryClient() as client:
        ref = ImageReference.parse(f"{registry.host}/{REPO}:1")
        push_set(client, subject.built, ref, tmp_path_factory.mktemp("push"))
    return registry


@pytest.fixture
def proxy(seeded: LocalRegistry) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the seeded registry, with no rules yet."""
    with FaultProxy(seeded.url, timeout=10) as p:
        yield p


@attrs.frozen
class TokenSetup:
    """A token-auth registry behind ``proxy``; tokens come through ``token_proxy``."""

    tokens: TokenServer
    token_proxy: FaultProxy
    proxy: FaultProxy


@pytest.fixture(scope="session")
def token_setup(subject: Subject, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenSetup]:
    with (
        TokenServer(tmp_path_factory.mktemp("tokens"), users={TEST_USER: TEST_PASSWORD}) as tokens,
        FaultProxy(tokens.url) as token_proxy,
        LocalRegistry(
            tmp_path_factory.mktemp("token-registry"), extra_config=tokens.registry_config()
        ) as reg,
        FaultProxy(reg.url, rewrite={tokens.url: token_proxy.url}) as proxy,
    ):
        creds = StaticCredentials({proxy.host: Credentials(TEST_USER, TEST_PASSWORD)})
        with RegistryClient(credentials=creds) as client:
            ref = ImageReference.parse(f"{proxy.host}/{REPO}:1")
            push_set(client, subject.built, ref, tmp_path_factory.mktemp("push-token"))
        yield TokenSetup(tokens, token_proxy, proxy)


@pytest.fixture
def token_env(token_setup: TokenSetup) -> TokenSetup:
    for p in (token_setup.proxy, token_setup.token_proxy):
        p.clear_faults()
        p.clear_log()
    token_setup.tokens.clear()
    return token_setup


def client_for(host: str, *, timeout: float | None = None, **kwargs: object) -> RegistryClient:
    """A client speaking plain HTTP to ``host`` with the FAST retry policy."""
    extra: dict[str, object] = {"retry": FAST, **kwargs}
    if timeout is not None:
        extra["timeout"] = timeout
    return RegistryClient(
        registries={host: RegistryConfig(plain_http=True)},
        **extra,  # type: ignore[arg-type]
    )


def closed_port_host() -> str:
    """``127.0.0.1:PORT`` where nothing listens (a registry that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


def store_is_healthy(store: Store) -> None:
    """The store verifies clean and holds no temporary file of a write in progress."""
    assert store.verify() == ()
    ingest = store.path / "ingest"
    assert not ingest.exists() or list(ingest.iterdir()) == []
