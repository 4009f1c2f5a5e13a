"""Fixtures of the hostile-input tests: pushing images made of arbitrary (hostile) blobs and
documents to the real registry, and checking that a cache was left clean.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx

from moby_assemble import Descriptor, MediaType
from moby_assemble._oci import digest_bytes

from ._blobs import RawLayer

_COUNTER = itertools.count()


def unique_repo(prefix: str) -> str:
    """A repository name no other test uses (tests share the session registry)."""
    return f"hostile/{prefix}-{next(_COUNTER)}"


def json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@attrs.frozen
class Documents:
    """An image (or index) as exact bytes: what a registry would store.

    Attributes:
        top: the descriptor of the image manifest or index at the top.
        blobs: configs and layers by digest.
        manifests: ``(descriptor, bytes)`` of every manifest and index, children first.
    """

    top: Descriptor
    blobs: Mapping[str, bytes]
    manifests: tuple[tuple[Descriptor, bytes], ...]


def image_documents(
    layers: Sequence[RawLayer],
    *,
    config_extra: Mapping[str, Any] | None = None,
    manifest_extra: Mapping[str, Any] | None = None,
    layer_overrides: Mapping[str, Any] | None = None,
    config_overrides: Mapping[str, Any] | None = None,
) -> Documents:
    """A linux/amd64 image with these layers; fields may be overridden to make it lie."""
    config_doc: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [raw.diff_id for raw in layers]},
        **(config_extra or {}),
    }
    config = json_bytes(config_doc)
    config_desc = Descriptor.for_bytes(MediaType.OCI_CONFIG, config).to_json()
    config_desc.update(config_overrides or {})
    layer_descs = []
    for raw in layers:
        desc = Descriptor.for_bytes(raw.media_type, raw.blob).to_json()
        desc.update(layer_overrides or {})
        layer_descs.append(desc)
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
        **(manifest_extra or {}),
    }
    manifest = json_bytes(manifest_doc)
    blobs = {digest_bytes(config): config}
    blobs.update({digest_bytes(raw.blob): raw.blob for raw in layers})
    top = Descriptor.for_bytes(MediaType.OCI_MANIFEST, manifest)
    return Documents(top, blobs, ((top, manifest),))


def index_documents(
    children: Sequence[tuple[Documents, Mapping[str, Any]]],
) -> Documents:
    """An index over ``(documents, descriptor fields to set)`` children."""
    entries = []
    blobs: dict[str, bytes] = {}
    manifests: list[tuple[Descriptor, bytes]] = []
    for child, overrides in children:
        desc = child.top.to_json()
        desc.update(overrides)
        entries.append(desc)
        blobs.update(child.blobs)
        manifests.extend(child.manifests)
    data = json_bytes({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": entries})
    top = Descriptor.for_bytes(MediaType.OCI_INDEX, data)
    return Documents(top, blobs, (*manifests, (top, data)))


def push_documents(base_url: str, repo: str, tag: str, docs: Documents) -> str:
    """Push exact bytes with raw HTTP (no moby_assemble code, which would refuse to push a
    lying document): blobs, every manifest and index by digest, then the top one by tag.
    Returns ``host/repo:tag``."""
    with httpx.Client(timeout=30) as http:
        for digest, data in docs.blobs.items():
            start = http.post(f"{base_url}/v2/{repo}/blobs/uploads/")
            assert start.status_code == 202, start.text
            location = httpx.URL(base_url).join(start.headers["Location"])
            done = http.put(location.copy_merge_params({"digest": digest}), content=data)
            assert done.status_code == 201, done.text
        for desc, data in docs.manifests:
            references = [desc.digest] + ([tag] if desc.digest == docs.top.digest else [])
            for reference in references:
                answer = http.put(
                    f"{base_url}/v2/{repo}/manifests/{reference}",
                    content=data,
                    headers={"Content-Type": desc.media_type},
                )
                assert answer.status_code == 201, answer.text
    return f"{httpx.URL(base_url).netloc.decode()}/{repo}:{tag}"


def leftovers(cache: Path) -> list[str]:
    """Files an assembly left in a cache besides complete store blobs and tags: bundles,
    flat-cache entries, temporary files."""
    out = []
    for path in cache.rglob("*"):
        rel = path.relative_to(cache).as_posix()
        if path.is_dir() or rel.startswith("store/"):
            continue
        out.append(rel)
    out += [p.relative_to(cache).as_posix() for p in (cache / "store" / "ingest").glob("*")]
    return sorted(out)
