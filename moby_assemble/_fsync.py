"""Durability: a file's (or directory's) data on disk before its name is trusted.

Example::

    fsync_path(work / "rootfs.tar")
    os.replace(work, final)
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_path"]


def fsync_path(path: Path) -> None:
    """``fsync`` what ``path`` names (a regular file, or a directory's entries)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
