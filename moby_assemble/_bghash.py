"""A hash computed on a worker thread, so hashing overlaps the work that produces the bytes.

hashlib releases the GIL while it hashes buffers of 2 KiB or more, so a SHA-256 of the
root filesystem tar, or of a layer's uncompressed stream, costs no time on the thread that
parses and writes tars when a second core is free. With one CPU (``taskset``, a cpuset) it
hashes in place: a thread would only add hand-overs. Bytes are handed over by reference: a
caller must not modify a buffer after passing it to :meth:`BackgroundHash.update` (the
tar writer never does: it hands over a buffer and starts a new one). Small updates are
batched, so the queue sees about one item per 256 KiB; it is bounded, so memory stays
bounded when hashing is slower than writing.

Example::

    with BackgroundHash() as h:
        h.update(b"hello ")
        h.update(b"world")
        digest = h.hexdigest()   # waits for the worker
"""

from __future__ import annotations

import hashlib
import queue
import threading
from types import TracebackType
from typing import Any

from ._cpus import usable_cpus

__all__ = ["BackgroundHash"]

_BATCH = 256 << 10
_DEPTH = 4


class BackgroundHash:
    """A ``hashlib`` hash (``sha256`` by default) fed on a worker thread.

    Args:
        name: the hashlib algorithm.

    Call :meth:`hexdigest` (or :meth:`digest`) once the last update is in; :meth:`close`
    (also on errors) stops the worker. Both are idempotent; after either, :meth:`update`
    is refused.
    """

    def __init__(self, name: str = "sha256") -> None:
        self.name = name
        self._hash = hashlib.new(name)
        self._queue: queue.Queue[Any] = queue.Queue(_DEPTH)
        self._pending = bytearray()
        self._result: bytes | None = None
        self._error: BaseException | None = None
        # One CPU: a thread would only add hand-overs; hash where the bytes are (no thread).
        self._thread: threading.Thread | None = None
        if usable_cpus() >= 2:
            self._thread = threading.Thread(
                target=self._run, name="moby-assemble-hash", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        hash_ = self._hash
        get = self._queue.get
        try:
            while (data := get()) is not None:
                hash_.update(data)
        except BaseException as e:  # pragma: no cover - hashlib does not fail on bytes
            self._error = e
            while get() is not None:
                pass

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` (not copied when large: do not modify it afterwards)."""
        if self._result is not None:
            raise ValueError("BackgroundHash is finished")
        if self._thread is None:
            self._hash.update(data)
        elif len(data) >= _BATCH:
            if self._pending:
                self._queue.put(self._pending)
                self._pending = bytearray()
            self._queue.put(data)
        else:
            self._pending += data
            if len(self._pending) >= _BATCH:
                self._queue.put(self._pending)
                self._pending = bytearray()

    def _finish(self) -> None:
        if self._result is not None:
            return
        if self._thread is not None:
            if self._pending:
                self._queue.put(self._pending)
                self._pending = bytearray()
            self._queue.put(None)
            self._thread.join()
            if self._error is not None:  # pragma: no cover - see _run
                raise self._error
        self._result = self._hash.digest()

    def digest(self) -> bytes:
        """The digest of everything passed to :meth:`update` (waits for the worker)."""
        self._finish()
        assert self._result is not None
        return self._result

    def hexdigest(self) -> str:
        """:meth:`digest` in hexadecimal."""
        return self.digest().hex()

    def close(self) -> None:
        """Stop the worker (what was queued is still hashed; the result is kept)."""
        self._finish()

    def __enter__(self) -> BackgroundHash:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
