"""Streaming a blob out of a registry: hashed while it arrives, resumed with ``Range``.

Used by :meth:`RegistryClient.fetch_blob`; kept apart because resuming is a small state
machine of its own. Nothing here trusts the registry: the size is enforced while reading
(a registry cannot make us download more than the descriptor says) and the digest is
checked before the caller's ``with store.blob_writer(...)`` block can commit anything.

Each byte is hashed once. A sink that hashes what it holds itself (a
:class:`HashingBlobSink`, such as the store's blob writer, which must verify before it
commits anyway) is asked for its digest; any other sink is shadowed by a hash here.

Example::

    with store.blob_writer(desc) as sink:
        fetch_blob_into(client, ref, desc, sink)
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from .._errors import IntegrityError, RegistryTransportError
from .._oci import Descriptor, new_hasher
from ._reference import ImageReference

if TYPE_CHECKING:
    from ._client import RegistryClient

__all__ = ["BlobSink", "HashingBlobSink", "ProgressFn", "fetch_blob_into", "pull_scope"]

_LOG = logging.getLogger("moby_assemble.registry")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")

#: Called with the number of bytes of the blob received so far.
ProgressFn = Callable[[int], None]


def pull_scope(ref: ImageReference) -> str:
    """The token scope for reading ``ref``'s repository."""
    return f"repository:{ref.repository}:pull"


class BlobSink(Protocol):
    """Where blobs are streamed to (``Store.blob_writer(desc)`` yields one).

    ``offset`` is how many bytes it holds; ``reset()`` empties it.
    """

    @property
    def offset(self) -> int: ...

    def write(self, data: bytes, /) -> Any: ...

    def reset(self) -> None: ...


@runtime_checkable
class HashingBlobSink(BlobSink, Protocol):
    """A :class:`BlobSink` that hashes everything it holds (``Store.blob_writer`` yields one).

    :func:`fetch_blob_into` then checks the sink's digest instead of hashing every byte a
    second time.
    """

    def content_digest(self, algorithm: str) -> str | None:
        """``"<algorithm>:<hex>"`` of the bytes written since the last :meth:`reset`, or
        ``None`` if this sink does not hash with ``algorithm``."""
        ...


class _Hasher(Protocol):
    """Whatever hashes the bytes kept: our own hash object, or the sink itself."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> str: ...


class _OwnHash:
    """Hashes what is streamed into a sink that does not hash for itself."""

    __slots__ = ("_alg", "_hash")

    def __init__(self, digest: str) -> None:
        self._alg = digest.split(":", 1)[0]
        self._hash: Any = new_hasher(digest)

    def update(self, data: bytes, /) -> None:
        self._hash.update(data)

    def digest(self) -> str:
        return f"{self._alg}:{self._hash.hexdigest()}"


class _SinkHash:
    """The sink hashes (and resets its hash with its content): nothing to do per chunk."""

    __slots__ = ("_alg", "_sink")

    def __init__(self, sink: HashingBlobSink, algorithm: str) -> None:
        self._sink = sink
        self._alg = algorithm

    def update(self, data: bytes, /) -> None:
        pass

    def digest(self) -> str:
        actual = self._sink.content_digest(self._alg)
        if actual is None:  # pragma: no cover - checked in _hasher_for
            raise RuntimeError(f"blob sink {self._sink!r} stopped hashing with {self._alg}")
        return actual


def _hasher_for(sink: BlobSink, digest: str) -> _Hasher:
    """A fresh hasher for ``digest``'s algorithm over what ``sink`` will hold from now on."""
    algorithm = digest.split(":", 1)[0]
    if isinstance(sink, HashingBlobSink) and sink.content_digest(algorithm) is not None:
        return _SinkHash(sink, algorithm)
    return _OwnHash(digest)


def _range_start(response: httpx.Response) -> int | None:
    match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def fetch_blob_into(
    client: RegistryClient,
    ref: ImageReference,
    desc: Descriptor,
    sink: BlobSink,
    *,
    progress: ProgressFn | None = None,
) -> None:
    """Download ``desc`` from ``ref``'s repository into ``sink`` and verify it.

    Raises:
        IntegrityError: the content is larger or smaller than ``desc.size`` or hashes to
            another digest.
        NotFoundError: the registry does not have the blob.
        RegistryTransportError: the connection kept failing.
    """
    subject = f"{ref.name}@{desc.digest}"
    if desc.data is not None:
        # Embedded data was verified when the descriptor was parsed: no request needed.
        if sink.offset:
            sink.reset()
        hasher = _hasher_for(sink, desc.digest)
        sink.write(desc.data)
        hasher.update(desc.data)
        done = len(desc.data)
    else:
        done, hasher = _stream(client, ref, desc, sink, progress, subject)
    if done != desc.size:
        raise IntegrityError(
            f"blob {subject}: received {done} bytes, expected {desc.size}",
            digest=desc.digest,
            subject=subject,
        )
    actual = hasher.digest()
    if actual != desc.digest:
        raise IntegrityError(
            f"blob {subject}: content hashes to {actual}",
            digest=desc.digest,
            actual=actual,
            subject=subject,
        )


def _stream(
    client: RegistryClient,
    ref: ImageReference,
    desc: Descriptor,
    sink: BlobSink,
    progress: ProgressFn | None,
    subject: str,
) -> tuple[int, _Hasher]:
    """Stream into ``sink``; return the byte count and the hasher of what was written."""
    if sink.offset:
        # We can only vouch for bytes that were hashed as they arrived from this request.
        sink.reset()
    hasher = _hasher_for(sink, desc.digest)
    policy = client.retry_policy
    done = 0
    failures = 0
    while True:
        # identity: a transfer encoding would make byte ranges ambiguous.
        headers = {"Accept-Encoding": "identity"}
        if done:
            headers["Range"] = f"bytes={done}-"
        response = client.request(
            "GET",
            ref,
            f"blobs/{desc.digest}",
            scopes=[pull_scope(ref)],
            headers=headers,
            stream=True,
            expect=(200, 206),
            use_mirrors=True,
        )
        try:
            if response.status_code == 206 and _range_start(response) != done:
                _LOG.info("blob %s: unusable Content-Range, starting again", subject)
                sink.reset()
                hasher = _hasher_for(sink, desc.digest)
                done = 0
                continue
            if response.status_code == 200 and done:
                _LOG.info("blob %s: registry ignored Range, starting again", subject)
                sink.reset()
                hasher = _hasher_for(sink, desc.digest)
                done = 0
            length = response.headers.get("Content-Length", "")
            if response.status_code == 200 and length.isdigit() and int(length) != desc.size:
                raise IntegrityError(
                    f"blob {subject}: registry announces {length} bytes, expected {desc.size}",
                    digest=desc.digest,
                    subject=subject,
                )
            # No re-chunking: whatever arrived before a failure is kept and not re-fetched.
            for chunk in response.iter_bytes():
                if done + len(chunk) > desc.size:
                    raise IntegrityError(
                        f"blob {subject}: more than the expected {desc.size} bytes",
                        digest=desc.digest,
                        subject=subject,
                    )
                hasher.update(chunk)
                sink.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done)
            return done, hasher
        except httpx.TransportError as exc:
            failures += 1
            if done == desc.size:
                return done, hasher
            if failures >= policy.attempts:
                raise RegistryTransportError(
                    f"GET blob {subject} on registry {ref.registry} failed after "
                    f"{failures} interrupted transfers: {type(exc).__name__}: {exc}",
                    registry=ref.registry,
                    reference=subject,
                ) from None
            delay = policy.delay(failures)
            _LOG.info(
                "blob %s: transfer interrupted at %d of %d bytes (%s); resuming in %.1f s",
                subject, done, desc.size, type(exc).__name__, delay,
            )  # fmt: skip
            time.sleep(delay)
        finally:
            response.close()
