"""Referrers: the tag-schema fallback on the real registry (it has no referrers API), and the
API itself against a small peer that implements it."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import referencing
import referencing.jsonschema

from moby_assemble._errors import UnsupportedError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._push import attach_referrer, push_artifact
from moby_assemble.registry._reference import ImageReference
from moby_assemble.registry._referrers import (
    add_referrer,
    referrers,
    referrers_tag,
    remove_referrer,
)
from moby_assemble.testing import Fault, FaultProxy, LocalRegistry
from tests.registry.conftest import TestImage, make_image, push_image, send, serve

SBOM = "application/spdx+json"
SIG = "application/vnd.example.signature"


@pytest.fixture
def proxy(registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as p:
        yield p


@pytest.fixture
def subject(registry: LocalRegistry, request: pytest.FixtureRequest) -> tuple[str, TestImage]:
    """A fresh repository holding one image (each test gets its own)."""
    repo = f"referrers/{request.node.name.replace('_', '-').lower()[:60]}"
    image = make_image(config_extra={"created": repo})  # a distinct digest per test
    push_image(registry.url, repo, "v1", image)
    return repo, image


def subject_desc(image: TestImage) -> Descriptor:
    return Descriptor(image.media_type, image.digest, len(image.data))


def fallback_index(registry: LocalRegistry, repo: str, digest: str) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/v2/{repo}/manifests/{referrers_tag(digest)}",
        headers={"Accept": ", ".join(MediaType.ACCEPT_MANIFESTS)},
    )


def test_referrers_tag_follows_the_spec() -> None:
    hexpart = "ab" * 32
    assert referrers_tag(f"sha256:{hexpart}") == f"sha256-{hexpart}"
    assert referrers_tag("sha512:" + "c" * 128) == "sha512-" + "c" * 64


def test_no_referrers_is_an_empty_list(
    client: RegistryClient, proxy: FaultProxy, subject: tuple[str, TestImage]
) -> None:
    repo, image = subject
    assert referrers(client, ImageReference.parse(f"{proxy.host}/{repo}"), image.digest) == []
    # The API was asked first; its 404 sent us to the fallback tag, also 404.
    assert [(r.method, r.path.split("/")[-2], r.status) for r in proxy.requests] == [
        ("GET", "referrers", 404),
        ("GET", "manifests", 404),
    ]


def test_attached_artifacts_are_listed_back_once(
    client: RegistryClient,
    registry: LocalRegistry,
    subject: tuple[str, TestImage],
    fixtures_dir: Path,
) -> None:
    repo, image = subject
    ref = ImageReference.parse(f"{registry.host}/{repo}")
    sbom = push_artifact(
        client,
        ref,
        {"sbom.spdx.json": b'{"spdxVersion":"SPDX-2.3"}'},
        SBOM,
        annotations={"org.example.kind": "sbom"},
        subject=subject_desc(image),
    )
    sig = push_artifact(client, ref, {"sig": b"signature bytes"}, SIG, subject=subject_desc(image))
    # Attaching the same artifact again must not add a second entry.
    again = push_artifact(
        client,
        ref,
        {"sbom.spdx.json": b'{"spdxVersion":"SPDX-2.3"}'},
        SBOM,
        annotations={"org.example.kind": "sbom"},
        subject=subject_desc(image),
    )
    assert again == sbom

    found = referrers(client, ref, image.digest)
    assert [d.digest for d in found] == [sbom.digest, sig.digest]
    assert [d.artifact_type for d in found] == [SBOM, SIG]
    assert found[0].annotation_dict == {"org.example.kind": "sbom"}
    assert [d.digest for d in referrers(client, ref, image.digest, SIG)] == [sig.digest]

    index = fallback_index(registry, repo, image.digest)
    assert index.headers["Content-Type"] == MediaType.OCI_INDEX
    _image_index_validator(fixtures_dir).validate(index.json())
    # The artifacts are pushed by digest only: the image's tags are untouched.
    tags = httpx.get(f"{registry.url}/v2/{repo}/tags/list").json()["tags"]
    assert sorted(tags) == sorted(["v1", referrers_tag(image.digest)])


def test_attach_referrer_pushes_a_raw_manifest_and_records_it(
    client: RegistryClient, registry: LocalRegistry, subject: tuple[str, TestImage]
) -> None:
    repo, image = subject
    ref = ImageReference.parse(f"{registry.host}/{repo}:v1")
    httpx_put_empty_blob(registry, repo)
    doc = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "config": {"mediaType": SIG, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [{"mediaType": MediaType.OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2}],
        "subject": {"mediaType": image.media_type, "digest": image.digest, "size": len(image.data)},
    }
    data = json.dumps(doc, indent=1).encode()
    desc = attach_referrer(client, ref, data)
    (entry,) = referrers(client, ref, image.digest)
    # No artifactType in the manifest: the config's media type stands in (spec).
    assert (entry.digest, entry.artifact_type, entry.size) == (desc.digest, SIG, len(data))
    # The tag "v1" of the reference was not moved to the referrer.
    assert client.head_manifest(ref).digest == image.digest


EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def httpx_put_empty_blob(registry: LocalRegistry, repo: str) -> None:
    start = httpx.post(f"{registry.url}/v2/{repo}/blobs/uploads/")
    url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": EMPTY_DIGEST})
    assert httpx.put(url, content=b"{}").status_code == 201


def test_referrer_without_subject_is_refused(
    client: RegistryClient, registry: LocalRegistry
) -> None:
    data = json.dumps({"schemaVersion": 2, "layers": []}).encode()
    with pytest.raises(ValueError, match="subject"):
        attach_referrer(client, ImageReference.parse(f"{registry.host}/referrers/x"), data)


def test_remove_referrer_drops_only_that_entry(
    client: RegistryClient, registry: LocalRegistry, subject: tuple[str, TestImage]
) -> None:
    repo, image = subject
    ref = ImageReference.parse(f"{registry.host}/{repo}")
    a = push_artifact(client, ref, {"a": b"a"}, SIG, subject=subject_desc(image))
    b = push_artifact(client, ref, {"b": b"b"}, SIG, subject=subject_desc(image))
    assert remove_referrer(client, ref, image.digest, a.digest) is True
    assert remove_referrer(client, ref, image.digest, a.digest) is False
    assert [d.digest for d in referrers(client, ref, image.digest)] == [b.digest]


def test_a_foreign_tag_under_the_referrers_name_is_not_overwritten(
    client: RegistryClient, registry: LocalRegistry, subject: tuple[str, TestImage]
) -> None:
    repo, image = subject
    squatter = make_image(config_extra={"created": "squatter"})
    push_image(registry.url, repo, referrers_tag(image.digest), squatter)
    ref = ImageReference.parse(f"{registry.host}/{repo}")
    assert referrers(client, ref, image.digest) == []
    entry = Descriptor(MediaType.OCI_MANIFEST, "sha256:" + "e" * 64, 10, artifact_type=SIG)
    with pytest.raises(UnsupportedError, match=referrers_tag(image.digest)):
        add_referrer(client, ref, image.digest, entry)
    assert fallback_index(registry, repo, image.digest).content == squatter.data


def test_registry_confirming_the_subject_keeps_its_own_index(
    client: RegistryClient, proxy: FaultProxy, subject: tuple[str, TestImage]
) -> None:
    repo, image = subject
    # Pretend the registry has the referrers API: it answers manifest PUTs with OCI-Subject.
    proxy.inject(
        Fault.response_headers(
            {"OCI-Subject": image.digest}, method="PUT", path="/manifests/sha256:", times=None
        )
    )
    ref = ImageReference.parse(f"{proxy.host}/{repo}")
    push_artifact(client, ref, {"f": b"x"}, SIG, subject=subject_desc(image))
    assert not proxy.find(path=referrers_tag(image.digest))


# -- the referrers API, from a peer that has it ----------------------------------------------


class ReferrersApi:
    """``GET /v2/<repo>/referrers/<digest>`` answering two pages, filter not applied."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.paths: list[str] = []

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        self.paths.append(handler.path)
        url = urllib.parse.urlsplit(handler.path)
        if "/referrers/" not in url.path:
            send(handler, 404)
            return
        page = 1 if "page=2" in url.query else 0
        body = {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_INDEX,
            "manifests": self.entries[page * 2 : page * 2 + 2],
        }
        headers = {"Content-Type": MediaType.OCI_INDEX}
        if page == 0:
            headers["Link"] = f'<{url.path}?page=2>; rel="next"'
        send(handler, 200, json.dumps(body).encode(), headers)


def test_referrers_api_pages_are_joined_and_filtered() -> None:
    entries = [
        Descriptor(MediaType.OCI_MANIFEST, "sha256:" + c * 64, 100, artifact_type=t).to_json()
        for c, t in (("1", SBOM), ("2", SIG), ("3", SBOM))
    ]
    api = ReferrersApi(entries)
    digest = "sha256:" + "f" * 64
    with serve(api) as host, RegistryClient() as client:
        ref = ImageReference.parse(f"{host}/repo")
        everything = referrers(client, ref, digest)
        sboms = referrers(client, ref, digest, artifact_type=SBOM)
    assert [d.digest[-1] for d in everything] == ["1", "2", "3"]
    assert [d.digest[-1] for d in sboms] == ["1", "3"]
    assert f"/v2/repo/referrers/{digest}?artifactType=application%2Fspdx%2Bjson" in api.paths
    assert not any("/manifests/" in p for p in api.paths)  # no fallback needed


def _image_index_validator(fixtures_dir: Path) -> Any:
    bases = (
        "https://opencontainers.org/schema/",
        "https://opencontainers.org/schema/image/",
        "https://opencontainers.org/schema/descriptor/",
        "https://opencontainers.org/schema/image/descriptor/",
    )
    folder = fixtures_dir / "image-spec-schema"
    registry: referencing.Registry[Any] = referencing.Registry()
    for path in folder.glob("*.json"):
        resource = referencing.Resource.from_contents(
            json.loads(path.read_text()), default_specification=referencing.jsonschema.DRAFT4
        )
        registry = registry.with_resources((base + path.name, resource) for base in bases)
    schema = json.loads((folder / "image-index-schema.json").read_text())
    return jsonschema.Draft4Validator(schema, registry=registry)
