"""Tag listing: the real registry, and a paginating peer for the ``Link`` walk.

Debian's distribution 2.8 ignores ``n``/``last`` on ``tags/list`` (it always answers every tag,
in storage order, without ``Link``), so pagination is exercised against a small server that
pages the way the distribution spec describes.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from moby_assemble._errors import NotFoundError, RegistryError
from moby_assemble.registry._client import RegistryClient
from moby_assemble.registry._reference import ImageReference
from moby_assemble.registry._tags import list_tags
from moby_assemble.testing import FaultProxy, LocalRegistry
from tests.registry.conftest import make_image, push_image, send, serve

TAGS = ["1.0", "1.1", "2.0", "latest", "z-last"]


@pytest.fixture(scope="module")
def tagged(registry: LocalRegistry) -> str:
    image = make_image()
    for tag in TAGS:
        push_image(registry.url, "tags/five", tag, image)
    return "tags/five"


@pytest.fixture
def proxy(registry: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as p:
        yield p


def test_lists_every_tag_of_the_real_registry(
    client: RegistryClient, proxy: FaultProxy, tagged: str
) -> None:
    ref = ImageReference.parse(f"{proxy.host}/{tagged}:ignored")
    assert sorted(list_tags(client, ref, page_size=2)) == TAGS
    (request,) = proxy.find("GET", "/tags/list")
    assert request.query == {"n": ["2"]}


def test_unknown_repository_is_not_found(client: RegistryClient, registry: LocalRegistry) -> None:
    ref = ImageReference.parse(f"{registry.host}/tags/never-pushed")
    with pytest.raises(NotFoundError, match="tags/never-pushed"):
        list(list_tags(client, ref))


def test_page_size_must_be_positive(client: RegistryClient, registry: LocalRegistry) -> None:
    with pytest.raises(ValueError, match="page_size"):
        list(list_tags(client, ImageReference.parse(f"{registry.host}/x"), page_size=0))


class Pager:
    """A tags/list endpoint that pages by ``n``/``last`` and links the next page (relative
    URL, as distribution 3 and most registries write it)."""

    def __init__(self, tags: list[str], *, loop: bool = False) -> None:
        self.tags = tags
        self.loop = loop
        self.queries: list[dict[str, list[str]]] = []

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        if not url.path.endswith("/tags/list"):
            send(handler, 404)
            return
        query = urllib.parse.parse_qs(url.query)
        self.queries.append(query)
        n = int(query.get("n", ["100"])[0])
        last = query.get("last", [""])[0]
        rest = [t for t in self.tags if t > last]
        page = rest[:n]
        headers = {"Content-Type": "application/json"}
        if len(rest) > n or self.loop:
            nxt = f"{url.path}?n={n}&last={page[-1] if not self.loop else ''}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        body = json.dumps({"name": "p", "tags": page}).encode()
        send(handler, 200, body, headers)


def test_pages_of_two_follow_the_link_header() -> None:
    pager = Pager(TAGS)
    with serve(pager) as host, RegistryClient() as client:
        tags = list(list_tags(client, ImageReference.parse(f"{host}/p"), page_size=2))
    assert tags == TAGS
    assert pager.queries == [
        {"n": ["2"]},
        {"n": ["2"], "last": ["1.1"]},
        {"n": ["2"], "last": ["latest"]},
    ]


def test_listing_is_lazy() -> None:
    pager = Pager(TAGS)
    with serve(pager) as host, RegistryClient() as client:
        tags = list_tags(client, ImageReference.parse(f"{host}/p"), page_size=2)
        assert next(tags) == "1.0"
        assert len(pager.queries) == 1


def test_links_that_loop_are_an_error_not_a_hang() -> None:
    with (
        serve(Pager(TAGS, loop=True)) as host,
        RegistryClient() as client,
        pytest.raises(RegistryError, match="more pages"),
    ):
        list(list_tags(client, ImageReference.parse(f"{host}/p"), page_size=2))
