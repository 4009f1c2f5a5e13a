"""Pulling through a misbehaving network: one test per row of :data:`tests.faults.cases.REGISTRY`.

Each row says what goes wrong and what the user must see; this runs the pull through a
FaultProxy in front of a real registry and checks exactly that, plus what every row
promises: the store stays valid, nothing half-written is committed, and the same pull
succeeds once the network behaves.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import pytest

from moby_assemble import IntegrityError, RateLimitError, RegistryError
from moby_assemble.registry import ImageReference, Puller, RegistryClient
from moby_assemble.store import Store
from moby_assemble.testing import Fault, FaultProxy

from ._table import Case
from .cases import REGISTRY
from .conftest import (
    AMD64,
    REPO,
    Subject,
    TokenSetup,
    client_for,
    closed_port_host,
    store_is_healthy,
)


def _resolve(fault: Fault, subject: Subject) -> Fault:
    return attrs.evolve(fault, path=fault.path.format(layer=subject.layer, config=subject.config))


def _pull(client: RegistryClient, store: Store, host: str) -> Any:
    with Puller(client, store) as puller:
        return puller.pull(ImageReference.parse(f"{host}/{REPO}:1"), AMD64)


def _check_pulled(store: Store, subject: Subject) -> None:
    with store.open_blob(subject.layer) as f:
        assert f.read() == subject.layer_bytes()
    assert store.resolve_digest(subject.manifest).digest == subject.manifest
    store_is_healthy(store)


@pytest.mark.parametrize("case", REGISTRY.params())
def test_registry_fault(
    case: Case,
    subject: Subject,
    proxy: FaultProxy,
    request: pytest.FixtureRequest,
    tmp_path: Any,
) -> None:
    token: TokenSetup | None = None
    front = proxy
    if case.param("token_faults") is not None:
        token = request.getfixturevalue("token_env")
        front = token.proxy
        for fault in case.param("token_faults"):
            token.token_proxy.inject(fault)
    rules = [front.inject(_resolve(fault, subject)) for fault in case.param("faults")]
    host = closed_port_host() if case.param("down") else front.host
    store = Store(tmp_path / "store")
    names = {
        "layer": subject.layer,
        "config": subject.config,
        "registry": host,
        "realm": token.token_proxy.host if token is not None else "",
    }

    started = time.monotonic()
    with client_for(host, timeout=case.param("timeout")) as client:
        if case.error is None:
            image = _pull(client, store, host)
            assert image.manifest.digest == subject.manifest
        else:
            with pytest.raises(case.error) as info:
                _pull(client, store, host)
    elapsed = time.monotonic() - started

    if case.param("min_seconds") is not None:
        assert elapsed >= case.param("min_seconds")
    if case.param("max_seconds") is not None:
        assert elapsed < case.param("max_seconds")
    if case.param("resumed"):
        ranged = [r for r in front.find("GET", subject.layer) if r.header("Range")]
        assert ranged, "the download was not resumed with Range"
        assert ranged[0].status == 206
        assert ranged[0].header("Range") != "bytes=0-"

    if case.error is None:
        _check_pulled(store, subject)
        return

    error = info.value
    message = str(error)
    for fragment in case.param("message", ()):
        assert fragment.format(**names) in message
    if case.param("status_code") is not None:
        assert isinstance(error, RegistryError)
        assert error.status_code == case.param("status_code")
    if case.param("retry_after") is not None:
        assert isinstance(error, RateLimitError)
        assert error.retry_after == case.param("retry_after")
    if case.param("code") is not None:
        assert isinstance(error, RegistryError)
        assert error.code == case.param("code")
    if case.param("actual"):
        assert isinstance(error, IntegrityError)
        assert error.actual is not None
        assert error.actual != error.digest
    if case.param("attempts") is not None:
        # Rules that fire every time count the tries (a delayed try may still be running,
        # so not logged yet); a one-off rule cannot, and the log has every try by now.
        if all(rule.fault.times is None for rule in rules):
            tries = sum(rule.fired for rule in rules)
        else:
            tries = len(front.find("GET", subject.layer))
        assert tries == case.param("attempts")
    if token is not None:
        assert token.proxy.find("GET", "/blobs/") == []
    assert store.names() == ()
    # Nothing half-fetched was committed, and the store is still a valid layout.
    assert not store.has_blob(subject.layer)
    store_is_healthy(store)

    # Once the network behaves, the same pull into the same store succeeds.
    front.clear_faults()
    if token is not None:
        token.token_proxy.clear_faults()
    with client_for(front.host) as client:
        _pull(client, store, front.host)
    _check_pulled(store, subject)
