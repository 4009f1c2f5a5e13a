"""Inter-process locks on a store directory, built on ``fcntl.flock``.

Two lock files, two jobs:

* ``<store>/.lock`` (exclusive) serialises read-modify-write of ``index.json`` and garbage
  collection. It is re-entrant within one :class:`FileLock` object, so a caller may hold it
  around several store calls that take it again.
* ``<store>/.lease`` (shared/exclusive) protects new content from garbage collection: every
  blob write, and any caller that writes blobs and then tags them, holds it *shared*; ``gc``
  takes it *exclusive*, so it waits until no write is in flight and no writer is between
  "blob committed" and "tag written".

``flock`` locks belong to an open file description, so two objects in one process exclude
each other like two processes do, and the kernel drops them when a process dies (``kill -9``
leaves no stale lock behind).

Example::

    lock = FileLock(store_dir / ".lock")
    with lock:
        ...  # read index.json, change it, write it back
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from .._errors import StoreError

__all__ = ["FileLock", "exclusive_lock", "shared_lock"]

_POLL_SECONDS = 0.05


def _open_lock_file(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise StoreError(f"cannot open lock file {path}: {e.strerror}", path=str(path)) from None


def _flock(fd: int, operation: int, path: Path, timeout: float | None) -> None:
    if timeout is None:
        fcntl.flock(fd, operation)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"store is busy: could not lock {path} within {timeout:g}s", path=str(path)
                ) from None
            time.sleep(_POLL_SECONDS)


class FileLock:
    """A re-entrant exclusive inter-process lock on one file.

    Threads of one process are serialised by an ``RLock``; the first acquisition opens the
    file and takes ``LOCK_EX``, the last release closes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def acquire(self, timeout: float | None = None) -> None:
        """Block until the lock is held (or ``timeout`` seconds pass: StoreError)."""
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else timeout):
            raise StoreError(
                f"store is busy: could not lock {self.path} within {timeout:g}s",
                path=str(self.path),
            )
        try:
            if self._depth == 0:
                fd = _open_lock_file(self.path)
                try:
                    _flock(fd, fcntl.LOCK_EX, self.path, timeout)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        """Release one level; the file lock goes with the last one."""
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._thread_lock.release()

    @contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock for a with-block, waiting at most ``timeout`` seconds for it."""
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@contextmanager
def shared_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold ``LOCK_SH`` on ``path`` (on a fresh file description) for the with-block."""
    fd = _open_lock_file(path)
    try:
        _flock(fd, fcntl.LOCK_SH, path, timeout)
        yield
    finally:
        os.close(fd)  # closing the description releases the lock


@contextmanager
def exclusive_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold ``LOCK_EX`` on ``path`` (on a fresh file description) for the with-block."""
    fd = _open_lock_file(path)
    try:
        _flock(fd, fcntl.LOCK_EX, path, timeout)
        yield
    finally:
        os.close(fd)
