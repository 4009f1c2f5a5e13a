"""Listing a repository's tags, page by page.

``GET /v2/<repo>/tags/list?n=<page size>`` answers ``{"name": …, "tags": [...]}`` in lexical
order and, when there is more, a ``Link: <…?n=…&last=…>; rel="next"`` header; the next page
is fetched from exactly that link (the spec prefers it to building ``last=`` ourselves).

Example::

    for tag in list_tags(client, ImageReference.parse("127.0.0.1:5000/tools/app")):
        print(tag)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx

from .._errors import RegistryError, UnsupportedError
from .._parse import loads_json
from ._reference import ImageReference

if TYPE_CHECKING:
    from ._client import RegistryClient

__all__ = ["list_tags"]

#: Stop following pages after this many (a registry whose links loop would never end).
_MAX_PAGES = 10_000


def list_tags(
    client: RegistryClient, ref: ImageReference, *, page_size: int | None = None
) -> Iterator[str]:
    """The tags of ``ref``'s repository (its tag and digest are ignored), lazily.

    Args:
        client: the registry client.
        ref: any reference in the repository.
        page_size: ask for pages of this many tags (``n=``); default: the registry's.

    Raises:
        NotFoundError: the repository does not exist.
        UnsupportedError: an answer is not a tag list.
        RegistryError: the registry refused, or its ``Link`` headers loop.
    """
    if page_size is not None and page_size < 1:
        raise ValueError(f"page_size must be positive, got {page_size}")
    scopes = [f"repository:{ref.repository}:pull"]
    params = {"n": str(page_size)} if page_size is not None else None
    url: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        response = client.request(
            "GET",
            ref,
            "tags/list",
            scopes=scopes,
            params=params if url is None else None,
            url=url,
            headers={"Accept": "application/json"},
        )
        yield from _page_tags(response.content, ref)
        nxt = response.links.get("next", {}).get("url")
        if not nxt:
            return
        url = str(httpx.URL(str(response.url)).join(nxt))
        if url in seen:
            break
        seen.add(url)
    raise RegistryError(
        f"tags of {ref.name}: registry {ref.registry} keeps sending more pages; giving up",
        registry=ref.registry,
        reference=ref.name,
    )


def _page_tags(data: bytes, ref: ImageReference) -> list[str]:
    where = f"tags of {ref.name} from registry {ref.registry}"
    try:
        doc = loads_json(data)
    except (ValueError, UnicodeDecodeError):
        raise UnsupportedError(f"{where}: not valid JSON", reference=ref.name) from None
    tags = doc.get("tags") if isinstance(doc, dict) else None
    if tags is None and isinstance(doc, dict):
        return []  # distribution sends "tags": null for a repository without tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise UnsupportedError(f"{where}: 'tags' is not a list of strings", reference=ref.name)
    return tags
