"""A squashfs image straight from a tar stream, with ``tar2sqfs`` (squashfs-tools-ng).

``tar2sqfs`` reads the root-filesystem tar on its standard input and needs no root and
no extraction: ownership, device nodes, hard links and extended attributes come from the
tar headers. The output is reproducible: entry times are the tar's (already
``SOURCE_DATE_EPOCH`` for generated entries), implicitly created directories and the
root get ``epoch``, and the block processor keeps block order whatever the number of
jobs.

Example::

    write_squashfs("system.tar", "system.squashfs", compression="zstd", epoch=0)
    # unsquashfs -l system.squashfs
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Literal

from .._errors import OutputError
from ._tools import find_tool, run_tool

__all__ = ["SQUASHFS_COMPRESSIONS", "write_squashfs"]

SquashfsCompression = Literal["gzip", "xz", "zstd", "lz4", "lzo"]
#: The compressions the Linux kernel can read and tar2sqfs can write.
SQUASHFS_COMPRESSIONS: tuple[str, ...] = ("gzip", "xz", "zstd", "lz4", "lzo")
_PACKAGE = "squashfs-tools-ng"


def write_squashfs(
    tar: str | os.PathLike[str] | BinaryIO,
    target: str | os.PathLike[str],
    *,
    compression: SquashfsCompression = "gzip",
    epoch: int = 0,
    block_size: int = 131072,
    format: str = "kernel+squashfs",
) -> None:
    """Write the tar ``tar`` (a file or an open binary stream) as a squashfs at ``target``.

    Args:
        tar: the root-filesystem tar (PAX, GNU or ustar).
        target: the image file to write (replaced if it exists).
        compression: the block compression (gzip is the one every kernel reads).
        epoch: the time of the root and of directories the tar does not list.
        block_size: the data block size, a power of two from 4 KiB to 1 MiB.
        format: the output format named in errors.

    Raises:
        OutputError: ``tar2sqfs`` is missing (naming its Debian package), an option is
            invalid, or the tar cannot be read or converted.
    """
    if compression not in SQUASHFS_COMPRESSIONS:
        raise OutputError(
            f"{format}: squashfs compression {compression!r} is not one of "
            f"{', '.join(SQUASHFS_COMPRESSIONS)}",
            format=format,
        )
    if block_size & (block_size - 1) or not 4096 <= block_size <= 1 << 20:
        raise OutputError(
            f"{format}: squashfs block size {block_size} is not a power of two from 4 KiB to 1 MiB",
            format=format,
        )
    tool = find_tool("tar2sqfs", package=_PACKAGE, format=format)
    args = [
        tool,
        "--quiet",
        "--force",
        "--no-skip",  # a tar record it cannot read is an error, not a silent gap
        "--compressor",
        compression,
        "--block-size",
        str(block_size),
        "--defaults",
        f"uid=0,gid=0,mode=0755,mtime={epoch}",
        os.fspath(target),
    ]
    if isinstance(tar, str | os.PathLike):
        try:
            with open(tar, "rb") as stream:
                run_tool(args, format=format, path=os.fspath(target), stdin=stream)
        except OSError as e:
            raise OutputError(
                f"{format}: cannot read tar {tar}: {e.strerror}", format=format, path=str(tar)
            ) from None
    else:
        run_tool(args, format=format, path=os.fspath(target), stdin=tar)
    if not Path(target).is_file():
        raise OutputError(f"{format}: tar2sqfs wrote no {target}", format=format, path=str(target))
