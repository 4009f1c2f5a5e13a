"""Durability: a file's (or directory's) data on disk before its name is trusted.

:func:`start_writeback` asks Linux to begin writing a range of a file that is still being
written (``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which does not wait), so the
``fsync`` at its end has little left to do; elsewhere it does nothing.

Example::

    fsync_path(work / "rootfs.tar")
    os.replace(work, final)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["fsync_path", "start_writeback"]

_SYNC_FILE_RANGE_WRITE = 2


def fsync_path(path: Path) -> None:
    """``fsync`` what ``path`` names (a regular file, or a directory's entries)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if os.uname().sysname != "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing ``length`` bytes of ``fd`` from ``offset`` to disk, without waiting
    (best effort: errors and other systems are ignored; ``fsync`` still decides)."""
    function = _sync_file_range()
    if function is not None:
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
