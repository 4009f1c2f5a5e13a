"""Fixtures of the trust tests: a registry client, one key of each type, and images pushed
to the real test registry (each test gets its own repository and digest)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry import ImageReference, RegistryClient
from moby_assemble.registry._push import push_bytes, push_manifest
from moby_assemble.testing import Image, ImageIndex, ImageSet, Layer, LocalRegistry
from moby_assemble.trust import KeyKind, PrivateKey

DATA = Path(__file__).parent / "data"
KINDS: tuple[KeyKind, ...] = ("ecdsa-p256", "ecdsa-p384", "rsa", "ed25519")


@pytest.fixture(scope="session")
def client() -> Iterator[RegistryClient]:
    with RegistryClient() as c:
        yield c


@pytest.fixture(scope="session")
def keys() -> dict[str, PrivateKey]:
    """One signing key per supported type (RSA at the 2048-bit minimum, for speed)."""
    out: dict[str, PrivateKey] = {
        k: PrivateKey.generate(k, name=f"{k}.pem") for k in KINDS if k != "rsa"
    }
    out["rsa"] = PrivateKey(rsa.generate_private_key(65537, 2048), name="rsa.pem")
    return out


@pytest.fixture(scope="session")
def other_key() -> PrivateKey:
    """A key no policy in these tests trusts."""
    return PrivateKey.generate("ecdsa-p256", name="stranger.pem")


def push_set(client: RegistryClient, ref: ImageReference, images: ImageSet) -> Descriptor:
    """Push an image or index (children first), tagged as ``ref``; return its descriptor."""
    repo = attrs.evolve(ref, tag=None, digest=None)

    def push(desc: Descriptor, tag: str | None) -> Descriptor:
        data = images.blobs[desc.digest]
        doc = json.loads(data)
        if desc.media_type in MediaType.INDEXES:
            for child in doc["manifests"]:
                push(Descriptor.from_json(child), None)
        else:
            for raw in [doc["config"], *doc["layers"]]:
                blob = Descriptor.from_json(raw)
                push_bytes(client, repo, blob, images.blobs[blob.digest])
        return push_manifest(client, repo, data, desc.media_type, tag=tag)

    return push(images.descriptor, ref.tag)


PushImage = Callable[..., tuple[ImageReference, Descriptor]]


@pytest.fixture
def push_image(
    registry: LocalRegistry, client: RegistryClient, request: pytest.FixtureRequest
) -> PushImage:
    """``push_image(name="app", multi_arch=False)`` pushes a fresh image (a digest of its
    own) to ``<registry>/trust/<test>/<name>:1`` and returns its reference and descriptor."""
    full = request.node.nodeid
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    test = f"{slug}-{hashlib.sha256(full.encode()).hexdigest()[:10]}"

    def make(name: str = "app", *, multi_arch: bool = False) -> tuple[ImageReference, Descriptor]:
        ref = ImageReference.parse(f"{registry.host}/trust/{test}/{name}:1")
        layer = Layer().file("etc/id", f"{test}/{name}\n".encode())
        if multi_arch:
            images = ImageIndex(
                [Image([layer], platform=p) for p in ("linux/amd64", "linux/arm64")]
            ).build()
        else:
            images = Image([layer], config={"Env": [f"TEST={test}"]}).build()
        return ref, push_set(client, ref, images)

    return make
