"""Reading signature material that is not trusted yet: capped fetches, strict decoding.

Everything a registry hands us before a signature has been checked is hostile input: sizes
are checked against caps *before* anything is downloaded, blobs are verified against their
digests while they stream, JSON with duplicate keys is refused (two parsers could read two
different documents), and base64 must be well formed.

Example::

    data = fetch_blob(client, ref, desc, max_size=MAX_PAYLOAD_SIZE, what="payload")
    doc = strict_json(data, what="payload")
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from .._oci import Descriptor

if TYPE_CHECKING:
    from ..registry import ImageReference, RegistryClient

__all__ = [
    "MAX_PAYLOAD_SIZE",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_MANIFEST_SIZE",
    "Rejection",
    "decode_base64",
    "fetch_blob",
    "strict_json",
]

#: cosign's cap on signature payloads and attachments (COSIGN_MAX_ATTACHMENT_SIZE).
MAX_PAYLOAD_SIZE = 128 * 1024 * 1024
#: Signature manifests and bundle referrers are a few KiB; 1 MiB holds thousands of
#: signatures and keeps a hostile registry from making us parse much more.
MAX_SIGNATURE_MANIFEST_SIZE = 1024 * 1024
#: At most this many signatures (layers or referrers) are checked for one image.
MAX_SIGNATURES = 100

_B64_STD = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_B64_URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


class Rejection(Exception):  # noqa: N818 (internal signal, never escapes the package)
    """A signature candidate that does not count, and why (collected into the
    :class:`SignatureError` when nothing verifies)."""


class _MemorySink:
    """A ``BlobSink`` in memory for small, capped blobs."""

    def __init__(self) -> None:
        self.data = bytearray()

    @property
    def offset(self) -> int:
        return len(self.data)

    def write(self, data: bytes, /) -> None:
        self.data += data

    def reset(self) -> None:
        self.data.clear()


def fetch_blob(
    client: RegistryClient, ref: ImageReference, desc: Descriptor, *, max_size: int, what: str
) -> bytes:
    """Download a blob of at most ``max_size`` bytes, verified against ``desc``.

    Raises:
        Rejection: the descriptor announces more than ``max_size`` bytes (nothing is
            downloaded).
        IntegrityError: the registry sent other bytes than the digest names.
        RegistryError: the registry refused.
    """
    if desc.size > max_size:
        raise Rejection(f"{what} {desc.digest} is {desc.size} bytes, over the {max_size} cap")
    sink = _MemorySink()
    client.fetch_blob(ref, desc, sink)
    return bytes(sink.data)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def strict_json(data: bytes, *, what: str) -> dict[str, Any]:
    """Parse a JSON object, refusing duplicate keys.

    Raises:
        Rejection: not UTF-8 JSON, not an object, or a key appears twice.
    """
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise Rejection(f"{what} is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise Rejection(f"{what} is not a JSON object")
    return doc


def decode_base64(text: object, *, what: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not (protobuf JSON and Go's DSSE
    libraries accept all four); anything else is refused.

    Raises:
        Rejection: not a string of base64.
    """
    if not isinstance(text, str):
        raise Rejection(f"{what} is not a base64 string")
    url = _B64_URL.fullmatch(text) is not None and _B64_STD.fullmatch(text) is None
    if not url and _B64_STD.fullmatch(text) is None:
        raise Rejection(f"{what} is not valid base64")
    padded = text.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    try:
        if url:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise Rejection(f"{what} is not valid base64") from None
