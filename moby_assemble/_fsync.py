"""Durability: a file's (or directory's) data on disk before its name is trusted.

Example::

    fsync_path(work / "rootfs.tar")
    os.replace(work, final)
    fsync_dir(final.parent)
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "fsync_path"]


def fsync_path(path: Path, *, directory: bool = False) -> None:
    """``fsync`` what ``path`` names (a regular file, or a directory's entries); with
    ``directory``, it must be a directory."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside the directory ``path`` durable."""
    fsync_path(path, directory=True)
