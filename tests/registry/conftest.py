"""Fixtures of the registry tests: an in-memory blob sink and raw upload helpers.

The upload helpers speak the distribution API directly (no moby_assemble code), so the
client and puller tests do not depend on the pusher they would otherwise be testing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from moby_assemble.registry._client import RegistryClient


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


def upload_blob(base_url: str, repo: str, data: bytes) -> str:
    """Monolithic upload of ``data`` to ``repo`` at ``base_url``; returns its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client() as c:
        start = c.post(f"{base_url}/v2/{repo}/blobs/uploads/")
        assert start.status_code == 202, start.text
        location = httpx.URL(base_url).join(start.headers["Location"])
        done = c.put(location.copy_merge_params({"digest": digest}), content=data)
        assert done.status_code == 201, done.text
    return digest


def put_manifest(base_url: str, repo: str, reference: str, data: bytes, media_type: str) -> str:
    """PUT the exact manifest bytes under ``reference``; returns their digest."""
    with httpx.Client() as c:
        r = c.put(
            f"{base_url}/v2/{repo}/manifests/{reference}",
            content=data,
            headers={"Content-Type": media_type},
        )
        assert r.status_code == 201, r.text
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    """A RegistryClient with default settings (HTTPS first, loopback may fall back)."""
    with RegistryClient() as c:
        yield c
