"""Deeply nested documents at every parser the library exposes: rows of
:data:`tests.hostile.cases.NESTING`.

Each document is a few kilobytes; the point is the nesting depth, which recursive parsers
turn into a Python ``RecursionError`` unless they bound it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from moby_assemble import Container, Descriptor, System
from moby_assemble._lock import Lock
from moby_assemble._oci import digest_bytes
from moby_assemble.assemble import Assembler
from moby_assemble.registry import ImageReference, RegistryClient, RegistryConfig
from moby_assemble.store import Store
from moby_assemble.testing import Image, Layer, LocalRegistry
from tests.faults._table import Case
from tests.faults.conftest import push_set

from .cases import NESTING
from .conftest import Documents, image_documents, push_documents, unique_repo
from .test_documents import _pull, small_layer


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def _with_deep_field(document: bytes, depth: int) -> bytes:
    """``document`` (a JSON object) with an extra field nested ``depth`` levels deep."""
    assert document.endswith(b"}")
    return document[:-1] + b',"zz":' + nested_json(depth).encode() + b"}"


# Each helper writes or pushes the document and returns what to call, and a text the
# error must contain (the file, image or store involved).
Prepared = tuple[Callable[[], object], str]


def _yaml(tmp_path: Path, registry: LocalRegistry) -> Prepared:
    path = tmp_path / "system.yml"
    path.write_text("services: " + nested_json(1000) + "\n")
    return (lambda: System.from_yaml(path)), str(path)


def _yaml_block(tmp_path: Path, registry: LocalRegistry) -> Prepared:
    path = tmp_path / "system.yml"
    lines = ["files:"] + [" " * (2 * i + 2) + "a:" for i in range(1000)]
    path.write_text("\n".join(lines) + "\n")
    return (lambda: System.from_yaml(path)), str(path)


def _toml(tmp_path: Path, registry: LocalRegistry) -> Prepared:
    path = tmp_path / "system.toml"
    path.write_text("services = " + nested_json(3000) + "\n")
    return (lambda: System.from_toml(path)), str(path)


def _label(tmp_path: Path, registry: LocalRegistry) -> Prepared:
    label = '{"command": ' + nested_json(3000) + "}"
    image = Image(
        (Layer().file("bin/x", b"x"),),
        config={"Cmd": ["/bin/x"]},
        labels={"org.mobyproject.config": label},
    )
    repo = unique_repo("label")
    ref = ImageReference.parse(f"{registry.host}/{repo}:1")
    with RegistryClient() as client:
        push_set(client, image.build(), ref, tmp_path)
    system = System().with_service(Container("x", str(ref)))
    registries = {registry.host: RegistryConfig(plain_http=True)}

    def assemble() -> object:
        with Assembler(tmp_path / "cache", platform="linux/amd64", registries=registries) as a:
            return a.assemble(system)

    return assemble, repo


def _manifest(tmp_path: Path, registry: LocalRegistry) -> Prepared:
    docs = image_documents([small_layer()])
    desc, data = docs.manifests[0]
    deep = _with_deep_field(data, 5000)
    top = Descriptor.for_bytes(desc.media_type, deep)
    repo = unique_repo("manifest")
    push_documents(registry.url, repo, "1", Documents(top, docs.blobs, ((top, deep),)))
    return (lambda: _pull(registry.host, repo, Store(tmp_path / "store"))), repo


def _config(tmp_path: Path, registry: LocalRegistry) -> Prepared:
    marker = "MARKER-DEEP"
    plain = image_documents([small_layer()], config_extra={"zz": marker})
    config_digest = json.loads(plain.manifests[0][1])["config"]["digest"]
    deep = plain.blobs[config_digest].replace(f'"{marker}"'.encode(), nested_json(5000).encode())
    docs = image_documents(
        [small_layer()],
        config_extra={"zz": marker},
        config_overrides={"digest": digest_bytes(deep), "size": len(deep)},
    )
    blobs = {k: v for k, v in docs.blobs.items() if k != config_digest}
    blobs[digest_bytes(deep)] = deep
    repo = unique_repo("config")
    push_documents(registry.url, repo, "1", Documents(docs.top, blobs, docs.manifests))
    return (lambda: _pull(registry.host, repo, Store(tmp_path / "store"))), repo


def _store(tmp_path: Path, registry: LocalRegistry) -> Prepared:
    store = Store(tmp_path / "store")
    store.put_bytes("application/octet-stream", b"x")
    text = json.dumps({"schemaVersion": 2, "manifests": [], "zz": "MARK"})
    (store.path / "index.json").write_text(text.replace('"MARK"', nested_json(5000)))

    def use() -> object:
        problems = store.verify()
        assert any(p.path.endswith("index.json") for p in problems)
        return store.names()

    return use, "index.json"


def _lock(tmp_path: Path, registry: LocalRegistry) -> Prepared:
    path = tmp_path / "system.lock.json"
    path.write_text('{"version": 1, "zz": ' + nested_json(5000) + "}\n")
    return (lambda: Lock.load(path)), str(path)


_ENTRIES: dict[str, Callable[[Path, LocalRegistry], Prepared]] = {
    "yaml": _yaml,
    "yaml-block": _yaml_block,
    "toml": _toml,
    "label": _label,
    "manifest": _manifest,
    "config": _config,
    "store": _store,
    "lock": _lock,
}


@pytest.mark.parametrize("case", NESTING.params())
def test_deeply_nested_document(case: Case, tmp_path: Path, registry: LocalRegistry) -> None:
    action, names = _ENTRIES[case.param("entry")](tmp_path, registry)
    with pytest.raises(case.error) as info:  # type: ignore[arg-type]
        action()
    message = str(info.value)
    assert names in message
    assert "nest" in message or "deep" in message
