"""Referrers: the manifests whose ``subject`` points at a given manifest (signatures, SBOMs).

Registries that implement distribution-spec 1.1 answer ``GET /v2/<repo>/referrers/<digest>``
with an image index. Older registries answer 404; for them, clients keep that index
themselves under the *referrers tag* ``<alg>-<hex>`` of the subject (the "tag schema"
fallback). This module reads both and writes the fallback index.

Example::

    for desc in referrers(client, ref, image_digest, artifact_type="application/spdx+json"):
        print(desc.digest, desc.artifact_type, desc.annotation_dict)

The fallback index is read, changed and written back without a lock: two clients attaching
referrers to the same subject at the same moment can lose one entry (the spec allows, but
does not require, conditional requests here, and distribution ignores ``If-Match``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import RegistryError, UnsupportedError
from .._oci import Descriptor, MediaType, validate_digest
from .._parse import loads_json
from ._reference import ImageReference

if TYPE_CHECKING:
    from ._client import RegistryClient

__all__ = [
    "add_referrer",
    "referrer_entry",
    "referrers",
    "referrers_tag",
    "remove_referrer",
]

_LOG = logging.getLogger("moby_assemble.registry")
#: Largest referrers index we read (the spec's manifest size floor).
_MAX_INDEX = 4 * 1024 * 1024
_TAG_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]")


def referrers_tag(digest: str) -> str:
    """The fallback tag of ``digest``'s referrers index: ``sha256-<hex>``.

    As in the distribution spec: the algorithm truncated to 32 characters, the encoded part
    to 64, and characters not allowed in tags replaced by ``-``.

    Example::

        >>> referrers_tag("sha256:" + "ab" * 32)[:12]
        'sha256-ababa'
    """
    algorithm, encoded = validate_digest(digest).split(":", 1)
    return _TAG_UNSAFE.sub("-", f"{algorithm[:32]}-{encoded[:64]}")


def referrer_entry(desc: Descriptor, manifest: bytes) -> Descriptor:
    """The index entry describing a referrer manifest: its descriptor plus ``artifactType``
    (the manifest's, else its config's media type) and the manifest's annotations.

    Raises:
        UnsupportedError: ``manifest`` is not a JSON object.
    """
    doc = _json_object(manifest, f"referrer {desc.digest}")
    artifact_type = doc.get("artifactType")
    if not isinstance(artifact_type, str):
        config = doc.get("config")
        artifact_type = config.get("mediaType") if isinstance(config, dict) else None
    annotations = doc.get("annotations")
    return Descriptor(
        media_type=desc.media_type,
        digest=desc.digest,
        size=desc.size,
        annotations=annotations if isinstance(annotations, dict) else None,
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
    )


def referrers(
    client: RegistryClient,
    ref: ImageReference,
    digest: str,
    artifact_type: str | None = None,
) -> list[Descriptor]:
    """The referrers of manifest ``digest`` in ``ref``'s repository.

    Uses the referrers API (following ``Link`` pagination); when the registry answers 404,
    reads the fallback index under :func:`referrers_tag`. ``artifact_type`` is sent to the
    registry and also applied here (registries may ignore it; ``OCI-Filters-Applied``).

    Raises:
        RegistryError: the registry refused (other than "no referrers API").
        UnsupportedError: the registry's referrers answer is not an image index.
    """
    validate_digest(digest)
    found = _from_api(client, ref, digest, artifact_type)
    if found is None:
        found = list(_fallback_entries(client, ref, digest))
    if artifact_type is not None:
        found = [d for d in found if d.artifact_type == artifact_type]
    return found


def _from_api(
    client: RegistryClient, ref: ImageReference, digest: str, artifact_type: str | None
) -> list[Descriptor] | None:
    scopes = [f"repository:{ref.repository}:pull"]
    url: str | None = None
    params = {"artifactType": artifact_type} if artifact_type else None
    out: list[Descriptor] = []
    while True:
        response = client.request(
            "GET",
            ref,
            f"referrers/{digest}",
            scopes=scopes,
            headers={"Accept": MediaType.OCI_INDEX},
            params=params if url is None else None,
            url=url,
            expect=(200, 404),
        )
        if response.status_code == 404:
            if url is not None:
                raise RegistryError(
                    f"referrers of {ref.name}@{digest}: registry {ref.registry} lost a page "
                    "of results (404 on a Link it gave)",
                    registry=ref.registry,
                    reference=f"{ref.name}@{digest}",
                    status_code=404,
                )
            _LOG.debug("registry %s has no referrers API; using the tag fallback", ref.registry)
            return None
        where = f"referrers of {ref.name}@{digest} from registry {ref.registry}"
        out.extend(_index_entries(response.content, where))
        nxt = response.links.get("next", {}).get("url")
        if not nxt:
            return out
        url = str(httpx.URL(str(response.url)).join(nxt))


def _json_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        doc = loads_json(data)
    except (ValueError, UnicodeDecodeError):
        raise UnsupportedError(f"{where}: not valid JSON", reference=where) from None
    if not isinstance(doc, dict):
        raise UnsupportedError(f"{where}: not a JSON object", reference=where)
    return doc


def _index_entries(data: bytes, where: str) -> list[Descriptor]:
    doc = _json_object(data, where)
    manifests = doc.get("manifests")
    if doc.get("mediaType", MediaType.OCI_INDEX) != MediaType.OCI_INDEX or not isinstance(
        manifests, list
    ):
        raise UnsupportedError(f"{where}: not an OCI image index", reference=where)
    try:
        return [
            Descriptor.from_json(m, where=f"{where} manifests[{i}]")
            for i, m in enumerate(manifests)
        ]
    except ValueError as e:
        raise UnsupportedError(str(e), reference=where) from None


def _fetch_fallback(
    client: RegistryClient, ref: ImageReference, digest: str, scopes: list[str]
) -> tuple[dict[str, Any] | None, bool]:
    """The fallback index document (``None`` if absent) and whether the tag exists but holds
    something else."""
    tag = referrers_tag(digest)
    response = client.request(
        "GET",
        ref,
        f"manifests/{tag}",
        scopes=scopes,
        # Accept everything: a registry hides a manifest of a type we did not accept
        # (404), and we must see a foreign tag so as not to overwrite it.
        headers={"Accept": ", ".join(MediaType.ACCEPT_MANIFESTS)},
        expect=(200, 404),
    )
    if response.status_code == 404:
        return None, False
    if len(response.content) > _MAX_INDEX:
        raise UnsupportedError(
            f"{ref.name}:{tag}: referrers index larger than {_MAX_INDEX} bytes",
            registry=ref.registry,
            reference=f"{ref.name}:{tag}",
        )
    try:
        doc = loads_json(response.content)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if (
        not isinstance(doc, dict)
        or doc.get("mediaType") != MediaType.OCI_INDEX
        or not isinstance(doc.get("manifests"), list)
    ):
        # The spec: a tag of that name that is not an index means "no referrers"; it
        # is someone else's tag, so we must not overwrite it either.
        _LOG.warning("%s:%s is not an image index; ignoring it as referrers index", ref.name, tag)
        return None, True
    return doc, False


def _fallback_entries(
    client: RegistryClient, ref: ImageReference, digest: str
) -> Iterator[Descriptor]:
    doc, _ = _fetch_fallback(client, ref, digest, [f"repository:{ref.repository}:pull"])
    if doc is None:
        return
    where = f"{ref.name}:{referrers_tag(digest)}"
    for i, raw in enumerate(doc["manifests"]):
        try:
            yield Descriptor.from_json(raw, where=f"{where} manifests[{i}]")
        except ValueError as e:
            _LOG.warning("skipping malformed referrers entry: %s", e)


def _put_index(
    client: RegistryClient, ref: ImageReference, digest: str, doc: dict[str, Any], scopes: list[str]
) -> None:
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    client.request(
        "PUT",
        ref,
        f"manifests/{referrers_tag(digest)}",
        scopes=scopes,
        headers={"Content-Type": MediaType.OCI_INDEX},
        content=data,
        expect=(201,),
    )


def add_referrer(
    client: RegistryClient, ref: ImageReference, subject_digest: str, entry: Descriptor
) -> bool:
    """Add ``entry`` to the fallback referrers index of ``subject_digest`` (tag schema).

    Only for registries without the referrers API (see :func:`referrers`); the pusher calls
    this when a manifest with a ``subject`` is accepted without an ``OCI-Subject`` header.
    Existing entries are kept byte-for-byte; an entry with the same digest is not added
    twice.

    Returns:
        ``True`` if the index changed, ``False`` if the entry was already there.

    Raises:
        UnsupportedError: the referrers tag exists but holds something that is not an index
            (it is not ours to overwrite).
    """
    scopes = [f"repository:{ref.repository}:pull,push"]
    doc, foreign = _fetch_fallback(client, ref, subject_digest, scopes)
    tag = f"{ref.name}:{referrers_tag(subject_digest)}"
    if foreign:
        raise UnsupportedError(
            f"{tag} exists and is not an image index; cannot record referrer {entry.digest}",
            registry=ref.registry,
            reference=tag,
        )
    if doc is None:
        doc = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": []}
    if any(isinstance(m, dict) and m.get("digest") == entry.digest for m in doc["manifests"]):
        return False
    doc["manifests"].append(entry.to_json())
    _put_index(client, ref, subject_digest, doc, scopes)
    _LOG.info("recorded referrer %s of %s in %s", entry.digest, subject_digest, tag)
    return True


def remove_referrer(
    client: RegistryClient, ref: ImageReference, subject_digest: str, digest: str
) -> bool:
    """Remove the entry for ``digest`` from the fallback referrers index of ``subject_digest``
    (after deleting a referrer manifest). Returns ``True`` if the index changed."""
    scopes = [f"repository:{ref.repository}:pull,push"]
    doc, _ = _fetch_fallback(client, ref, subject_digest, scopes)
    if doc is None:
        return False
    kept = [m for m in doc["manifests"] if not (isinstance(m, dict) and m.get("digest") == digest)]
    if len(kept) == len(doc["manifests"]):
        return False
    doc["manifests"] = kept
    _put_index(client, ref, subject_digest, doc, scopes)
    return True
