"""What a killed process left behind: temporary files and directories, found and removed safely.

Every temporary name we create in a cache directory starts with ``.`` and is locked by its
writer with ``flock`` for as long as it is in use: a temporary file is locked through its own
descriptor, a temporary directory through a ``.lock`` file inside it. The kernel drops the
lock when the process dies, however it dies (``kill -9`` included), so a later process can
tell a live writer's file (locked) from litter (not locked) without guessing from process
ids, which are meaningless across containers sharing one cache. A short grace period covers
the instant between creating a name and locking it.

Example::

    fd = lock_path(tmp_file)                 # the writer, right after creating it
    ...
    removed = remove_stale(cache / "flat", (".*.tmp",))   # any later process
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "LOCK_NAME",
    "lock_fd",
    "lock_path",
    "remove_stale",
    "remove_stale_groups",
    "replace_file",
    "touch",
]

logger = logging.getLogger("moby_assemble")

#: The lock file inside a temporary directory.
LOCK_NAME = ".lock"
#: Names younger than this are never removed (created, not yet locked).
GRACE_SECONDS = 5.0
#: A temporary directory without a lock file is removed once it is this old.
UNLOCKED_DIR_SECONDS = 3600.0


def touch(path: Path) -> None:
    """Record that ``path`` was used now (its modification time: what the cache's pruning
    goes by); errors are ignored."""
    try:
        os.utime(path)
    except OSError as e:  # read-only cache, or removed meanwhile: only costs its age
        logger.debug("cannot mark %s as used: %s", path, e)


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a locked temporary name beside it
    (``.<name>.<random>.tmp``, litter if the writer dies) renamed over it; not ``fsync``-ed.

    Raises:
        OSError: it cannot be written (the temporary file is removed).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    lock_fd(fd)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def lock_fd(fd: int) -> None:
    """Lock the open file ``fd`` (exclusive ``flock``) until it is closed."""
    fcntl.flock(fd, fcntl.LOCK_EX)


def lock_path(path: Path) -> int:
    """Create (if need be) and lock ``path``; returns the descriptor that holds the lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        lock_fd(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _try_lock(path: Path) -> int | None:
    """A descriptor holding ``path``'s lock, or ``None`` if a live process holds it (or the
    name is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _listing(directory: Path) -> list[str]:
    """The names in ``directory``, sorted; none if it cannot be read."""
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def _age(path: Path, now: float) -> float | None:
    """Seconds since ``path`` was modified, or ``None`` if it is gone."""
    try:
        return now - path.lstat().st_mtime
    except OSError:
        return None


def _discard(path: Path, removed: list[Path]) -> None:
    """Remove ``path`` (a file or a tree) and note it; a failure is logged."""
    try:
        if os.path.isdir(path) and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as e:
        logger.warning("cannot remove %s: %s", path, e)
        return
    removed.append(path)
    logger.info("removed %s, left behind by a process that did not finish", path)


def _release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def remove_stale_groups(
    directory: Path, pattern: re.Pattern[str], lock_name: str, *, now: float | None = None
) -> list[Path]:
    """Remove temporary names of ``directory`` that share an owner with a lock file.

    ``pattern`` matches a temporary name and captures its owner's token as group
    ``token``; ``lock_name`` formats the owner's lock file name from ``token``. A token
    whose lock file exists and is not locked (its owner died) loses its names and its lock
    file; one without a lock file loses names older than :data:`UNLOCKED_DIR_SECONDS`.
    Errors are logged, never raised.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    groups: dict[str, list[Path]] = {}
    for name in _listing(directory):
        match = pattern.fullmatch(name)
        if match is not None:
            groups.setdefault(match.group("token"), []).append(directory / name)
    for token, paths in groups.items():
        lock = directory / lock_name.format(token=token)
        fd = _try_lock(lock)
        if fd is None and lock.exists():
            continue  # its owner is alive
        try:
            for path in paths:
                age = _age(path, now)
                if age is None or age < GRACE_SECONDS:
                    continue
                if fd is None and age < UNLOCKED_DIR_SECONDS:
                    continue
                _discard(path, removed)
            if fd is not None:
                with contextlib.suppress(OSError):
                    lock.unlink()
        finally:
            _release(fd)
    return removed


def remove_stale(
    directory: Path, patterns: Iterable[str], *, now: float | None = None
) -> list[Path]:
    """Remove the temporary entries of ``directory`` matching ``patterns`` whose writer is
    gone (see the module documentation); returns what was removed.

    Errors are logged, never raised: cleaning up must not fail the work that asked for it.
    """
    patterns = tuple(patterns)
    now = time.time() if now is None else now
    removed: list[Path] = []
    for name in _listing(directory):
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        path = directory / name
        age = _age(path, now)
        if age is None or age < GRACE_SECONDS:
            continue
        is_dir = os.path.isdir(path) and not path.is_symlink()
        lock = path / LOCK_NAME if is_dir else path
        if not lock.exists():
            # A directory killed between its creation and its lock file: given an hour.
            if age >= UNLOCKED_DIR_SECONDS:
                _discard(path, removed)
            continue
        fd = _try_lock(lock)
        if fd is None:
            continue  # in use
        try:
            _discard(path, removed)
        finally:
            _release(fd)
    return removed
