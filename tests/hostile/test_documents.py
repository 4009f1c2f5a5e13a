"""Manifests and indexes that lie: rows of :data:`tests.hostile.cases.DOCUMENTS`.

Documents are pushed as exact bytes to the real registry (which stores what it is given)
and pulled through a FaultProxy, whose log shows what the client asked for; a peer the
test runs itself serves what no registry can hold (a cycle).
"""

from __future__ import annotations

import json
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from moby_assemble import Container, MediaType, Platform, System
from moby_assemble._oci import digest_bytes
from moby_assemble.assemble import Assembler
from moby_assemble.registry import ImageReference, Puller, RegistryConfig
from moby_assemble.store import Store
from moby_assemble.testing import Fault, FaultProxy, LocalRegistry
from tests.faults._table import Case
from tests.faults.conftest import client_for, store_is_healthy

from ._blobs import RawLayer
from .cases import DOCUMENTS
from .conftest import (
    Documents,
    image_documents,
    index_documents,
    json_bytes,
    push_documents,
    unique_repo,
)

AMD64 = Platform.parse("linux/amd64")


def small_layer() -> RawLayer:
    """A plain tar of exactly 2,048 bytes (header, 512 bytes of data, end marker)."""
    info = tarfile.TarInfo("etc/motd")
    info.size = 512
    tar = info.tobuf(format=tarfile.USTAR_FORMAT) + b"m" * 512 + bytes(1024)
    assert len(tar) == 2048
    return RawLayer(tar, MediaType.OCI_LAYER, digest_bytes(tar))


def _nested(depth: int) -> Documents:
    docs = index_documents([(image_documents([small_layer()]), {"platform": _amd64()})])
    for _ in range(depth - 1):
        docs = index_documents([(docs, {})])
    return docs


def _amd64() -> dict[str, str]:
    return {"architecture": "amd64", "os": "linux"}


def _documents(case: Case) -> Documents:
    layer = small_layer()
    if case.param("layer_size") is not None:
        return image_documents([layer], layer_overrides={"size": case.param("layer_size")})
    if case.param("layer_media_type") is not None:
        return image_documents(
            [layer], layer_overrides={"mediaType": case.param("layer_media_type")}
        )
    if case.param("config_size_delta") is not None:
        probe = image_documents([layer])
        config = json.loads(probe.manifests[0][1])["config"]
        size = config["size"] + case.param("config_size_delta")
        return image_documents([layer], config_overrides={"size": size})
    if case.param("config_size") is not None:
        return image_documents([layer], config_overrides={"size": case.param("config_size")})
    if case.param("entry_size") is not None:
        image = image_documents([layer])
        return index_documents([(image, {"size": case.param("entry_size"), "platform": _amd64()})])
    if case.param("entry_media_type") is not None:
        image = image_documents([layer])
        overrides = {"mediaType": case.param("entry_media_type"), "platform": _amd64()}
        arm = image_documents([layer], config_extra={"architecture": "arm64"})
        return index_documents(
            [(image, overrides), (arm, {"platform": {"architecture": "arm64", "os": "linux"}})]
        )
    if case.param("annotation_bytes") is not None:
        big = {"annotations": {"filler": "x" * case.param("annotation_bytes")}}
        return image_documents([layer], manifest_extra=big)
    if case.param("depth") is not None:
        return _nested(case.param("depth"))
    if case.param("entries") is not None:
        children = []
        for arch in ("arm64", "ppc64le", "s390x"):
            child = image_documents([layer], config_extra={"architecture": arch})
            children.append((child, {"platform": {"architecture": arch, "os": "linux"}}))
        docs = index_documents(children * (case.param("entries") // 3))
        assert len(docs.manifests[-1][1]) < 4 * 1024 * 1024
        # Each child once in the push order, the index last.
        unique = dict(docs.manifests)
        return Documents(docs.top, docs.blobs, tuple(unique.items()))
    return image_documents([layer])


@pytest.fixture
def proxy(registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url, timeout=10) as p:
        yield p


def _pull(host: str, repo: str, store: Store) -> Any:
    with client_for(host) as client, Puller(client, store) as puller:
        return puller.pull(ImageReference.parse(f"{host}/{repo}:1"), AMD64)


@pytest.mark.parametrize("case", DOCUMENTS.params(where=lambda c: c.param("peer") is None))
def test_lying_documents(
    case: Case, registry: LocalRegistry, proxy: FaultProxy, tmp_path: Path
) -> None:
    docs = _documents(case)
    repo = unique_repo(case.id)
    push_documents(registry.url, repo, "1", docs)
    if case.param("content_type") is not None:
        proxy.inject(
            Fault.response_headers(
                {"Content-Type": case.param("content_type")}, method="GET", path="/manifests/"
            )
        )
    store = Store(tmp_path / "store")
    blobs = sorted(docs.blobs)

    if case.param("layer_media_type") is not None:
        # The pull itself is fine: the blob is what the manifest says, whatever its type.
        _pull(proxy.host, repo, store)
        store_is_healthy(store)
        system = System().with_service(Container("x", f"{proxy.host}/{repo}:1"))
        registries = {proxy.host: RegistryConfig(plain_http=True)}
        with (
            Assembler(tmp_path / "cache", platform="linux/amd64", registries=registries) as asm,
            pytest.raises(case.error) as info,  # type: ignore[arg-type]
        ):
            asm.assemble(system)
        assert case.param("layer_media_type") in str(info.value)
        return

    if case.error is None:
        image = _pull(proxy.host, repo, store)
        assert image.platform == AMD64
        assert all(store.has_blob(d) for d in blobs)
        store_is_healthy(store)
        return

    started = time.monotonic()
    with pytest.raises(case.error) as info:
        _pull(proxy.host, repo, store)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert repo in message
    store_is_healthy(store)
    layer = small_layer()
    if case.param("layer_size") is not None:
        assert digest_bytes(layer.blob) in message
        assert not store.has_blob(digest_bytes(layer.blob))
    if case.param("config_size") is not None or case.param("config_size_delta") is not None:
        config = json.loads(docs.manifests[0][1])["config"]["digest"]
        assert config in message
        assert not store.has_blob(config)
        if case.param("config_size") is not None:
            assert proxy.find("GET", f"/blobs/{config}") == []
    if case.param("entries") is not None:
        for arch in ("arm64", "ppc64le", "s390x"):
            assert message.count(f"linux/{arch}") == 1
    if case.param("depth") is not None:
        assert "nested" in message


# -- peers serving what no registry stores -------------------------------------------------------


class Peer:
    """A registry-like HTTP peer on 127.0.0.1 answering manifest requests from a table:
    path suffix → (headers, body); anything else is a 404."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[dict[str, str], bytes]] = {}
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                found = next((v for k, v in peer.routes.items() if self.path.endswith(k)), None)
                headers, body = found if found is not None else ({}, b"")
                self.send_response(200 if found is not None else 404)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    try:
        yield p
    finally:
        p.close()


def _serve_cycle(peer: Peer) -> None:
    """``:1`` is an index naming a nested index by a digest for which the same index is
    served again (with honest digests no cycle can exist)."""
    nested = digest_bytes(b"the nested index that is really the top one")
    entry = {"mediaType": MediaType.OCI_INDEX, "digest": nested, "size": 0}
    doc = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [entry]}
    for _ in range(3):  # the entry's size must be the size of what is served for it
        entry["size"] = len(json_bytes(doc))
    index = json_bytes(doc)
    assert len(index) == entry["size"]
    headers = {"Content-Type": MediaType.OCI_INDEX}
    top = {**headers, "Docker-Content-Digest": digest_bytes(index)}
    peer.routes["/manifests/1"] = peer.routes[f"/manifests/{digest_bytes(index)}"] = (top, index)
    peer.routes[f"/manifests/{nested}"] = (headers, index)


def _serve_enormous(peer: Peer, size: int) -> None:
    docs = image_documents([small_layer()], manifest_extra={"annotations": {"x": "x" * size}})
    desc, data = docs.manifests[0]
    answer = ({"Content-Type": desc.media_type, "Docker-Content-Digest": desc.digest}, data)
    peer.routes["/manifests/1"] = peer.routes[f"/manifests/{desc.digest}"] = answer


@pytest.mark.parametrize("case", DOCUMENTS.params(where=lambda c: c.param("peer") is not None))
def test_documents_from_a_peer(case: Case, peer: Peer, tmp_path: Path) -> None:
    if case.param("peer") == "cycle":
        _serve_cycle(peer)
    else:
        _serve_enormous(peer, case.param("annotation_bytes"))
    store = Store(tmp_path / "store")
    with pytest.raises(case.error) as info:  # type: ignore[arg-type]
        _pull(peer.host, "hostile/peer", store)
    message = str(info.value)
    assert "hostile/peer" in message
    if case.param("annotation_bytes") is not None:
        assert "4194304" in message
    store_is_healthy(store)
