"""``index.json`` and ``oci-layout``: parsing, tag entries, deterministic serialisation.

The layout's ``index.json`` is an OCI image index whose entries name images with the
``org.opencontainers.image.ref.name`` annotation (a *tag* in this store). Entries are kept as
the raw JSON objects they were read as, so rewriting the index of a layout another tool made
never drops fields this library does not model. Pure: no I/O.

Example::

    >>> doc = with_entry(empty_index(), "app:v1", desc)            # doctest: +SKIP
    >>> [e.name for e in index_entries(doc, "index.json")]          # doctest: +SKIP
    ['app:v1']
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from .._errors import ImageReferenceError, StoreError
from .._oci import Descriptor, MediaType
from .._parse import loads_json

__all__ = [
    "CONTAINERD_NAME_ANNOTATION",
    "LAYOUT_VERSION",
    "REF_NAME_ANNOTATION",
    "StoreEntry",
    "dump_json",
    "empty_index",
    "entry_name",
    "index_entries",
    "layout_bytes",
    "parse_index",
    "parse_layout_file",
    "validate_ref_name",
    "with_entry",
    "without_entry",
]

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name"
LAYOUT_VERSION = "1.0.0"

# The image-layout spec's ref.name grammar (components of alphanumerics joined by
# [-._:@+] or "--", separated by "/"), plus Docker's "__" so repository names round-trip.
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--|__)[A-Za-z0-9]+)*"
_REF_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


@attrs.frozen
class StoreEntry:
    """One entry of the store's ``index.json``.

    Attributes:
        name: the ``org.opencontainers.image.ref.name`` annotation (the tag), or ``None``
            for an entry another tool wrote without one.
        descriptor: the manifest or index the entry points at (with its annotations).

    Example::

        >>> store.entries()                                  # doctest: +SKIP
        (StoreEntry(name='app:v1', descriptor=Descriptor(...)),)
    """

    name: str | None
    descriptor: Descriptor


def validate_ref_name(name: str) -> str:
    """Return ``name`` if it is a valid layout tag, else raise ImageReferenceError."""
    if not isinstance(name, str) or not _REF_NAME_RE.match(name):
        raise ImageReferenceError(
            str(name),
            "not a valid OCI layout ref.name (alphanumeric components joined by one of "
            "'-._:@+' or '--', separated by '/')",
        )
    return name


def dump_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, 2-space indent, trailing newline."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def layout_bytes() -> bytes:
    """The content of ``oci-layout``."""
    return dump_json({"imageLayoutVersion": LAYOUT_VERSION})


def parse_layout_file(data: bytes, where: str) -> None:
    """Check the content of an ``oci-layout`` file (StoreError naming ``where``)."""
    try:
        doc = loads_json(data)
    except (ValueError, UnicodeDecodeError):
        raise StoreError(f"{where}: not valid JSON", path=where) from None
    version = doc.get("imageLayoutVersion") if isinstance(doc, dict) else None
    if version != LAYOUT_VERSION:
        raise StoreError(
            f"{where}: unsupported imageLayoutVersion {version!r} (expected {LAYOUT_VERSION!r})",
            path=where,
        )


def empty_index() -> dict[str, Any]:
    """A new, empty ``index.json`` document."""
    return {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": []}


def parse_index(data: bytes, where: str) -> dict[str, Any]:
    """Parse and check ``index.json`` bytes; every entry must be a valid descriptor.

    Raises:
        StoreError: naming ``where`` (and the entry) when anything is malformed.
    """
    try:
        doc = loads_json(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise StoreError(f"{where}: not valid JSON ({e})", path=where) from None
    if not isinstance(doc, dict):
        raise StoreError(f"{where}: expected a JSON object", path=where)
    if doc.get("schemaVersion") != 2:
        raise StoreError(
            f"{where}: unsupported schemaVersion {doc.get('schemaVersion')!r}", path=where
        )
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise StoreError(f"{where}: 'manifests' must be a list", path=where)
    for i, raw in enumerate(manifests):
        _entry_descriptor(raw, f"{where}: manifests[{i}]")
    return doc


def _entry_descriptor(raw: Any, where: str) -> Descriptor:
    try:
        return Descriptor.from_json(raw, where=where)
    except ValueError as e:
        raise StoreError(str(e), path=where.split(":", 1)[0]) from None


def entry_name(raw: dict[str, Any]) -> str | None:
    """The tag of a raw ``index.json`` entry (its ref.name annotation), if any."""
    annotations = raw.get("annotations")
    if isinstance(annotations, dict):
        name = annotations.get(REF_NAME_ANNOTATION)
        if isinstance(name, str) and name:
            return name
    return None


def index_entries(doc: dict[str, Any], where: str) -> tuple[StoreEntry, ...]:
    """The entries of a parsed index, in file order."""
    return tuple(
        StoreEntry(entry_name(raw), _entry_descriptor(raw, f"{where}: manifests[{i}]"))
        for i, raw in enumerate(doc["manifests"])
    )


def _sorted(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Named entries by name, then unnamed ones by digest: one order whatever the history.
    def key(raw: dict[str, Any]) -> tuple[bool, str, str]:
        name = entry_name(raw)
        return (name is None, name or "", str(raw.get("digest", "")))

    return sorted(manifests, key=key)


def with_entry(doc: dict[str, Any], name: str | None, desc: Descriptor) -> dict[str, Any]:
    """A copy of ``doc`` where ``name`` points at ``desc`` (replacing any entry of that name).

    With ``name=None`` the descriptor is added untagged unless an untagged entry with the
    same digest exists.
    """
    if name is None:
        keep = [
            r
            for r in doc["manifests"]
            if entry_name(r) is not None or r.get("digest") != desc.digest
        ]
        new = desc.to_json()
    else:
        keep = [r for r in doc["manifests"] if entry_name(r) != name]
        new = desc.with_annotations(**{REF_NAME_ANNOTATION: name}).to_json()
    return {**doc, "manifests": _sorted([*keep, new])}


def without_entry(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A copy of ``doc`` without the entry ``name``, or None if there is no such entry."""
    keep = [r for r in doc["manifests"] if entry_name(r) != name]
    if len(keep) == len(doc["manifests"]):
        return None
    return {**doc, "manifests": _sorted(keep)}
