"""Uploading one blob: a streamed monolithic PUT, or PATCH chunks that survive failures.

Used by :func:`~moby_assemble.registry._push.push_blob` once it knows the blob must really be
sent. The content is read from the caller's source in pieces (never held whole), hashed on
the way, and the piece that completes the blob is only released after the digest matched, so
wrong content never completes an upload.

Upload sessions are a small state machine (distribution spec, "Pushing blobs"):

* ``POST /v2/<repo>/blobs/uploads/`` → 202 + ``Location`` (+ ``OCI-Chunk-Min-Length``);
* monolithic: ``PUT <location>&digest=<d>`` with the whole body → 201;
* chunked: ``PATCH <location>`` with ``Content-Range: <start>-<end>`` → 202 + new
  ``Location`` + ``Range: 0-<end>``; a 416 (or a lost answer) is resolved by
  ``GET <location>`` → 204 + ``Range``, then the upload continues from there; the final
  ``PUT <location>&digest=<d>`` has an empty body.

Registries differ in how well a session survives trouble: distribution 2.8 signs the offset
into the ``Location`` (``_state``), so after a lost answer the last ``Location`` we hold is
stale and asking about it *cancels* the session (404 ``BLOB_UPLOAD_INVALID``); the upload is
then started again in a new session.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from .._errors import IntegrityError, RegistryError, RegistryTransportError
from .._oci import Descriptor, new_hasher
from ._blobs import ProgressFn
from ._reference import ImageReference

if TYPE_CHECKING:
    from ._client import RegistryClient

__all__ = ["DEFAULT_CHUNK_SIZE", "upload_blob"]

_LOG = logging.getLogger("moby_assemble.registry")

#: Chunk size when a chunked upload is needed but none was asked for.
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
#: How much is read from the source at a time.
_READ_SIZE = 1024 * 1024
_RANGE_RE = re.compile(r"^\s*(?:bytes=)?0-(\d+)\s*$")
_OCTET = "application/octet-stream"
_SESSION_LOST = frozenset({"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"})


class _Source:
    """The blob's bytes, re-readable from any offset, verified as they are first read."""

    def __init__(
        self,
        desc: Descriptor,
        open_source: Callable[[], BinaryIO],
        subject: str,
        progress: ProgressFn | None,
    ) -> None:
        self.desc = desc
        self._open = open_source
        self._subject = subject
        self._progress = progress
        self._hasher: Any = new_hasher(desc.digest)
        self._hashed = 0
        self.failure: IntegrityError | None = None

    def body(self, start: int, end: int) -> _Body:
        return _Body(self, start, end)

    def pieces(self, start: int, end: int) -> Iterator[bytes]:
        if start > self._hashed:
            # Resuming past bytes we never read (the registry had them): hash them now.
            self._catch_up(start)
        f = self._open()
        try:
            _seek(f, start)
            pos = start
            while pos < end:
                piece = f.read(min(_READ_SIZE, end - pos))
                if not piece:
                    self._fail(f"source ended after {pos} bytes, descriptor says {self.desc.size}")
                self._account(pos, piece)
                pos += len(piece)
                if self._progress is not None:
                    self._progress(pos)
                yield piece
        finally:
            f.close()

    def _catch_up(self, until: int) -> None:
        for _ in self.pieces(self._hashed, until):
            pass

    def _account(self, pos: int, piece: bytes) -> None:
        fresh = pos + len(piece) - self._hashed
        if fresh <= 0:
            return  # a re-send of bytes already hashed
        self._hasher.update(piece[len(piece) - fresh :])
        self._hashed += fresh
        if self._hashed == self.desc.size:
            actual = f"{self.desc.digest.split(':', 1)[0]}:{self._hasher.hexdigest()}"
            if actual != self.desc.digest:
                self._fail(f"content hashes to {actual}", actual=actual)

    def _fail(self, reason: str, actual: str | None = None) -> None:
        self.failure = IntegrityError(
            f"blob {self._subject}: {reason}; upload abandoned",
            digest=self.desc.digest,
            actual=actual,
            subject=self._subject,
        )
        raise self.failure


class _Body:
    """A request body httpx can iterate more than once (an auth retry re-sends it)."""

    def __init__(self, source: _Source, start: int, end: int) -> None:
        self._source = source
        self._start = start
        self._end = end

    def __iter__(self) -> Iterator[bytes]:
        return self._source.pieces(self._start, self._end)


def _seek(f: BinaryIO, offset: int) -> None:
    if offset == 0:
        return
    if f.seekable():
        f.seek(offset)
        return
    remaining = offset
    while remaining > 0:
        skipped = f.read(min(_READ_SIZE, remaining))
        if not skipped:
            return  # too short: the read loop reports it
        remaining -= len(skipped)


def _with_digest(location: str, digest: str) -> str:
    # httpx replaces a URL's query when given params=, and the upload URL's own query
    # (a state token) must survive: merge it by hand.
    return str(httpx.URL(location).copy_merge_params({"digest": digest}))


def _retryable(exc: RegistryError) -> bool:
    return isinstance(exc, RegistryTransportError) or exc.status_code in (429, 500, 502, 503, 504)


class _Upload:
    def __init__(
        self,
        client: RegistryClient,
        ref: ImageReference,
        source: _Source,
        scopes: Sequence[str],
        location: str | None,
    ) -> None:
        self.client = client
        self.ref = ref
        self.source = source
        self.desc = source.desc
        self.scopes = tuple(scopes)
        self.location = location
        self.min_chunk = 0
        self.subject = f"{ref.name}@{source.desc.digest}"

    def _request(self, method: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, self.ref, "", scopes=self.scopes, **kwargs)

    def _follow(self, response: httpx.Response) -> None:
        location = response.headers.get("Location")
        if location:
            self.location = str(httpx.URL(str(response.url)).join(location))

    def start(self) -> None:
        response = self.client.request(
            "POST",
            self.ref,
            "blobs/uploads/",
            scopes=self.scopes,
            idempotent=True,  # no body; a repeat only opens a session that expires unused
            expect=(202,),
        )
        if not response.headers.get("Location"):
            raise RegistryError(
                f"POST blob upload {self.subject}: registry {self.ref.registry} gave no Location",
                registry=self.ref.registry,
                reference=self.subject,
                status_code=response.status_code,
            )
        self._follow(response)
        min_length = response.headers.get("OCI-Chunk-Min-Length", "")
        self.min_chunk = int(min_length) if min_length.isdigit() else 0

    def monolithic(self) -> bool:
        """One PUT with the whole body; False if the registry wants chunks (413)."""
        assert self.location is not None
        size = self.desc.size
        response = self._request(
            "PUT",
            url=_with_digest(self.location, self.desc.digest),
            headers={"Content-Type": _OCTET, "Content-Length": str(size)},
            content=self.source.body(0, size),
            idempotent=False,
            expect=(201, 413),
        )
        if response.status_code == 413:
            _LOG.info(
                "blob %s: registry refused a %d-byte upload; using chunks", self.subject, size
            )
            return False
        return True

    def status(self) -> tuple[int, bool]:
        """Ask the session how many bytes it holds (after a 416 or a lost answer).

        Returns the count and whether it is ambiguous: distribution says ``Range: 0-0``
        both for an empty session and for one holding a single byte.
        """
        assert self.location is not None
        response = self._request("GET", url=self.location, expect=(204,))
        self._follow(response)
        match = _RANGE_RE.match(response.headers.get("Range") or "")
        if match is None:
            return 0, False
        last = int(match.group(1))
        return (0, True) if last == 0 else (last + 1, False)

    def chunked(self, chunk_size: int) -> None:
        assert self.location is not None
        size = self.desc.size
        chunk = max(chunk_size, self.min_chunk, 1)
        policy = self.client.retry_policy
        offset = 0
        setbacks = 0
        rejected: int | None = None  # the offset of the last chunk refused with 416
        while offset < size:
            end = min(offset + chunk, size)
            response: httpx.Response | None = None
            try:
                response = self._request(
                    "PATCH",
                    url=self.location,
                    headers={
                        "Content-Type": _OCTET,
                        "Content-Range": f"{offset}-{end - 1}",
                        "Content-Length": str(end - offset),
                    },
                    content=self.source.body(offset, end),
                    idempotent=False,
                    expect=(202, 416),
                )
            except RegistryError as exc:
                if not _retryable(exc) or setbacks + 1 >= policy.attempts:
                    raise
                _LOG.info(
                    "blob %s: chunk at %d failed (%s); asking the session",
                    self.subject,
                    offset,
                    exc,
                )
            if response is None or response.status_code == 416:
                rejected = offset if response is not None else None
                setbacks += 1
                if setbacks >= policy.attempts:
                    raise RegistryError(
                        f"PATCH blob upload {self.subject}: registry {self.ref.registry} kept "
                        f"refusing or losing the chunk at offset {offset}",
                        registry=self.ref.registry,
                        reference=self.subject,
                        status_code=response.status_code if response is not None else None,
                    )
                time.sleep(policy.delay(setbacks))
                offset, ambiguous = self.status()
                if ambiguous and rejected == 0:
                    offset = 1  # "0-0" and byte 0 was refused: the session holds one byte
                continue
            self._follow(response)
            offset = end
        self.finish()

    def finish(self) -> None:
        assert self.location is not None
        self._request(
            "PUT",
            url=_with_digest(self.location, self.desc.digest),
            headers={"Content-Type": _OCTET, "Content-Length": "0"},
            content=b"",
            idempotent=False,
            expect=(201,),
        )


def upload_blob(
    client: RegistryClient,
    ref: ImageReference,
    desc: Descriptor,
    open_source: Callable[[], BinaryIO],
    *,
    scopes: Sequence[str],
    location: str | None = None,
    chunk_size: int | None = None,
    progress: ProgressFn | None = None,
) -> None:
    """Upload ``desc``'s bytes from ``open_source`` into ``ref``'s repository.

    Args:
        location: an upload session the registry already opened (a declined mount).
        chunk_size: force a chunked upload with chunks of this size.

    A monolithic upload that fails on the way is started again in a new session (the
    client's retry budget decides how often); a chunked one asks its session where it
    stands and goes on from there. If the answer to the final request was lost but the
    blob is there, that counts as done.

    Raises:
        IntegrityError: the source does not match ``desc``.
        RegistryError: the registry refused, or kept failing.
    """
    subject = f"{ref.name}@{desc.digest}"
    source = _Source(desc, open_source, subject, progress)
    policy = client.retry_policy
    attempt = 0
    while True:
        attempt += 1
        upload = _Upload(client, ref, source, scopes, location)
        try:
            if upload.location is None:
                upload.start()
            if chunk_size is None and upload.monolithic():
                return
            if chunk_size is None:
                upload.location = None
                upload.start()
            upload.chunked(chunk_size or DEFAULT_CHUNK_SIZE)
            return
        except IntegrityError:
            raise
        except RegistryError as exc:
            if source.failure is not None:
                raise source.failure from None
            # A session the registry forgot or refuses to resume (distribution 2.8 cancels
            # one asked about with an upload-state token older than its content) is not
            # the end: start a fresh one.
            retry = _retryable(exc) or exc.code in _SESSION_LOST
            if _exists(client, ref, desc, scopes):
                _LOG.info("blob %s: upload answer lost, but the blob is there", subject)
                return
            if not retry or attempt >= policy.attempts:
                raise
            delay = policy.delay(attempt)
            _LOG.info("blob %s: upload failed (%s); starting again in %.1f s", subject, exc, delay)
            time.sleep(delay)
            location = None


def _exists(
    client: RegistryClient, ref: ImageReference, desc: Descriptor, scopes: Sequence[str]
) -> bool:
    try:
        response = client.request(
            "HEAD", ref, f"blobs/{desc.digest}", scopes=scopes, expect=(200, 404)
        )
    except RegistryError:
        return False
    return response.status_code == 200
