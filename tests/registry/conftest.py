"""Fixtures of the registry tests: an in-memory blob sink and raw upload helpers.

The upload helpers speak the distribution API directly (no moby_assemble code), so the
client and puller tests do not depend on the pusher they would otherwise be testing.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from moby_assemble._oci import MediaType
from moby_assemble.registry._auth import repository_scope
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._credentials import Credentials, StaticCredentials
from moby_assemble.testing import LocalRegistry


class MemorySink:
    """A BlobSink in memory: what Store.blob_writer yields, without a store."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.resets = 0

    @property
    def offset(self) -> int:
        return len(self.data)

    def write(self, data: bytes) -> None:
        self.data += data

    def reset(self) -> None:
        self.data.clear()
        self.resets += 1


def upload_blob(
    base_url: str, repo: str, data: bytes, http: Mapping[str, Any] | None = None
) -> str:
    """Monolithic upload of ``data`` to ``repo`` at ``base_url``; returns its digest.

    ``http`` are extra ``httpx.Client`` arguments (``verify``, ``auth``)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(**(http or {})) as c:
        start = c.post(f"{base_url}/v2/{repo}/blobs/uploads/")
        assert start.status_code == 202, start.text
        location = httpx.URL(base_url).join(start.headers["Location"])
        done = c.put(location.copy_merge_params({"digest": digest}), content=data)
        assert done.status_code == 201, done.text
    return digest


def put_manifest(
    base_url: str,
    repo: str,
    reference: str,
    data: bytes,
    media_type: str,
    http: Mapping[str, Any] | None = None,
) -> str:
    """PUT the exact manifest bytes under ``reference``; returns their digest."""
    with httpx.Client(**(http or {})) as c:
        r = c.put(
            f"{base_url}/v2/{repo}/manifests/{reference}",
            content=data,
            headers={"Content-Type": media_type},
        )
        assert r.status_code == 201, r.text
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(files: Mapping[str, bytes]) -> bytes:
    """A deterministic gzip-compressed tar layer holding ``files``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


@attrs.frozen
class TestImage:
    """A manifest or index with every blob and child document it needs, ready to push.

    ``blobs`` maps digests of configs and layers to their bytes; ``children`` are the
    documents an index lists (pushed by digest before it).
    """

    __test__ = False  # not a pytest test class

    media_type: str
    data: bytes
    blobs: Mapping[str, bytes] = attrs.field(factory=dict)
    children: tuple[TestImage, ...] = ()

    @property
    def digest(self) -> str:
        return sha256(self.data)

    def descriptor(
        self,
        platform: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
        }
        if platform is not None:
            out["platform"] = dict(platform)
        if annotations:
            out["annotations"] = dict(annotations)
        return out

    def all_blobs(self) -> dict[str, bytes]:
        """Every blob of this image and its children (configs and layers)."""
        out = dict(self.blobs)
        for child in self.children:
            out.update(child.all_blobs())
        return out

    def all_documents(self) -> dict[str, bytes]:
        """This document and every child document, by digest."""
        out = {self.digest: self.data}
        for child in self.children:
            out.update(child.all_documents())
        return out


def make_image(
    platform: str = "linux/amd64",
    layers: Sequence[bytes] = (),
    *,
    docker: bool = False,
    config_extra: Mapping[str, Any] | None = None,
    layer_media_type: str | None = None,
) -> TestImage:
    """An image manifest for ``platform`` (``os/arch[/variant]``) with these layer blobs."""
    parts = platform.split("/")
    config_doc: dict[str, Any] = {
        "architecture": parts[1],
        "os": parts[0],
        "rootfs": {"type": "layers", "diff_ids": [sha256(gzip.decompress(x)) for x in layers]},
        "config": {"Env": ["PATH=/bin"]},
    }
    if len(parts) == 3:
        config_doc["variant"] = parts[2]
    config_doc.update(config_extra or {})
    config = json.dumps(config_doc, sort_keys=True).encode()
    layer_type = layer_media_type or (
        MediaType.DOCKER_LAYER_GZIP if docker else MediaType.OCI_LAYER_GZIP
    )
    manifest_type = MediaType.DOCKER_MANIFEST if docker else MediaType.OCI_MANIFEST
    doc = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {
            "mediaType": MediaType.DOCKER_CONFIG if docker else MediaType.OCI_CONFIG,
            "digest": sha256(config),
            "size": len(config),
        },
        "layers": [{"mediaType": layer_type, "digest": sha256(x), "size": len(x)} for x in layers],
    }
    blobs = {sha256(config): config, **{sha256(x): x for x in layers}}
    return TestImage(manifest_type, json.dumps(doc, indent=2).encode(), blobs)


def platform_json(text: str) -> dict[str, str]:
    parts = text.split("/")
    out = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        out["variant"] = parts[2]
    return out


def make_index(
    entries: Sequence[tuple[TestImage, str | None] | tuple[TestImage, str | None, dict[str, str]]],
    *,
    docker: bool = False,
) -> TestImage:
    """An index (or Docker manifest list) of ``(document, "os/arch[/variant]" or None[,
    annotations])`` entries, in order."""
    media_type = MediaType.DOCKER_MANIFEST_LIST if docker else MediaType.OCI_INDEX
    manifests = []
    for entry in entries:
        child, platform = entry[0], entry[1]
        annotations = entry[2] if len(entry) == 3 else None  # type: ignore[misc]
        manifests.append(
            child.descriptor(platform_json(platform) if platform else None, annotations)
        )
    doc = {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
    return TestImage(
        media_type, json.dumps(doc, indent=2).encode(), children=tuple(e[0] for e in entries)
    )


def make_attestation(subject: TestImage) -> tuple[TestImage, str, dict[str, str]]:
    """A BuildKit-style attestation entry for ``subject`` (for :func:`make_index`)."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1"}).encode()
    att = make_image("unknown/unknown", ())
    doc = json.loads(att.data)
    doc["layers"] = [
        {"mediaType": "application/vnd.in-toto+json", "digest": sha256(statement),
         "size": len(statement)}
    ]  # fmt: skip
    data = json.dumps(doc, indent=2).encode()
    image = TestImage(MediaType.OCI_MANIFEST, data, {**att.blobs, sha256(statement): statement})
    annotations = {
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": subject.digest,
    }
    return image, "unknown/unknown", annotations


def push_image(
    base_url: str, repo: str, tag: str, image: TestImage, http: Mapping[str, Any] | None = None
) -> str:
    """Push ``image`` (blobs, children by digest, then itself by tag) with raw HTTP."""
    for data in image.all_blobs().values():
        upload_blob(base_url, repo, data, http)

    def push_doc(doc: TestImage, reference: str) -> None:
        for child in doc.children:
            push_doc(child, child.digest)
        put_manifest(base_url, repo, reference, doc.data, doc.media_type, http)

    push_doc(image, tag)
    return image.digest


def write_layout(path: Path, tag: str, image: TestImage) -> Path:
    """Write ``image`` as an OCI image layout (for skopeo) with ``tag`` as ref.name."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for digest, data in {**image.all_blobs(), **image.all_documents()}.items():
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entry = image.descriptor(annotations={"org.opencontainers.image.ref.name": tag})
    index = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": [entry]}
    (path / "index.json").write_text(json.dumps(index))
    return path


def skopeo_push(layout: Path, tag: str, dest: str, *, all_images: bool = False) -> None:
    """``skopeo copy`` a layout to a plain-HTTP registry, digests preserved."""
    cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"]
    if all_images:
        cmd.append("--all")
    subprocess.run(
        [*cmd, f"oci:{layout}:{tag}", f"docker://{dest}"],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture
def tls_http(tls_registry: LocalRegistry) -> Iterator[httpx.Client]:
    """An httpx client that trusts the TLS registry's throw-away CA."""
    assert tls_registry.tls is not None
    ctx = ssl.create_default_context(cafile=str(tls_registry.tls.ca_cert))
    with httpx.Client(verify=ctx, timeout=30) as client:
        yield client


def pull(repo: str) -> list[str]:
    """The token scopes to pull ``repo``."""
    return [repository_scope(repo, "pull")]


def creds_for(reg: LocalRegistry, creds: Credentials) -> StaticCredentials:
    """``creds`` for ``reg`` and nothing else."""
    return StaticCredentials({reg.host: creds})


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    """A RegistryClient with default settings (HTTPS first, loopback may fall back)."""
    with RegistryClient() as c:
        yield c


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextlib.contextmanager
def serve(handle: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1 calling ``handle(request_handler)`` for every request;
    yields its ``host:port``. For peers that misbehave in ways a real registry cannot."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            handle(self)

        def do_HEAD(self) -> None:
            handle(self)

        def do_PUT(self) -> None:
            handle(self)

        def do_POST(self) -> None:
            handle(self)

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer with ``status``, ``headers`` (Content-Length added) and ``body``."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if not any(k.lower() == "content-length" for k in headers or {}):
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def ignores_range(
    blob: bytes, ranges: list[str | None]
) -> Callable[[BaseHTTPRequestHandler], None]:
    """A handler for :func:`serve`: the first GET is cut off after 5,000 bytes of ``blob``,
    and every later one gets the whole blob with 200, whatever its ``Range`` asked. Each
    request's ``Range`` header (or None) is appended to ``ranges``."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        ranges.append(h.headers.get("Range"))
        if len(ranges) == 1:
            h.send_response(200)
            h.send_header("Content-Length", str(len(blob)))
            h.end_headers()
            h.wfile.write(blob[:5000])
            h.wfile.flush()
            h.close_connection = True
            return
        send(h, 200, blob)

    return handle
