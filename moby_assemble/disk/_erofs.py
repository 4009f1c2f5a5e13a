"""An EROFS image straight from a tar file, never extracted.

Uncompressed images are written in Python (:mod:`._erofs_image`), so they need no tool
and come out the same on every machine. Compressed images (LZ4) need ``mkfs.erofs
--tar=f``, which reads ownership, device nodes, hard links and extended attributes from
the tar headers: erofs-utils gained ``--tar`` in version 1.7 (Debian 13 "trixie"); Debian
12 ships 1.5, which cannot read tar files, and the error says so. Both are reproducible:
the file-system UUID is derived from a seed and the build time is ``SOURCE_DATE_EPOCH``.

Example::

    write_erofs("system.tar", "system.erofs", seed="my-system", epoch=0)  # no tool needed
    # fsck.erofs system.erofs
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Literal

from .._errors import OutputError
from ._erofs_image import write_erofs_image
from ._tools import find_tool, run_tool

__all__ = ["EROFS_COMPRESSIONS", "erofs_reads_tar", "write_erofs"]

ErofsCompression = Literal["none", "lz4", "lz4hc"]
#: The compressions offered (LZ4 is what every EROFS kernel reads).
EROFS_COMPRESSIONS: tuple[str, ...] = ("none", "lz4", "lz4hc")
_PACKAGE = "erofs-utils"


def erofs_reads_tar(format: str = "kernel+erofs") -> bool:
    """Whether the installed ``mkfs.erofs`` can build an image from a tar (``--tar``).

    Raises:
        OutputError: ``mkfs.erofs`` is not installed at all.
    """
    tool = find_tool("mkfs.erofs", package=_PACKAGE, format=format)
    try:
        usage = run_tool([tool, "--help"], format=format)
    except OutputError as e:  # old versions exit non-zero after printing their usage
        usage = str(e)
    return "--tar" in usage


def write_erofs(
    tar: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    seed: str | bytes = b"",
    epoch: int = 0,
    compression: ErofsCompression = "none",
    format: str = "kernel+erofs",
) -> None:
    """Write the tar file ``tar`` as an EROFS image at ``target``.

    Args:
        tar: the root-filesystem tar file.
        target: the image file to write (replaced if it exists).
        seed: what the file-system UUID is derived from.
        epoch: the build time recorded in the superblock (``SOURCE_DATE_EPOCH``).
        compression: ``"none"`` (written in Python), ``"lz4"`` or ``"lz4hc"`` (with
            ``mkfs.erofs``).
        format: the output format named in errors.

    Raises:
        OutputError: the tar cannot be read or holds what EROFS cannot store; for
            compressed images, ``mkfs.erofs`` is missing or older than 1.7 (naming the
            package version needed), or it fails.
    """
    if compression not in EROFS_COMPRESSIONS:
        raise OutputError(
            f"{format}: EROFS compression {compression!r} is not one of "
            f"{', '.join(EROFS_COMPRESSIONS)}",
            format=format,
        )
    if not os.path.isfile(tar):
        raise OutputError(f"{format}: tar {tar} is not a file", format=format, path=str(tar))
    seed_bytes = seed.encode() if isinstance(seed, str) else seed
    digest = hashlib.sha256(b"moby_assemble erofs\0" + seed_bytes).digest()
    fs_uuid = uuid.UUID(bytes=digest[:16], version=4)
    if compression == "none":
        try:
            with open(target, "wb") as out:
                write_erofs_image(os.fspath(tar), out, uuid_bytes=fs_uuid.bytes, epoch=epoch)
        except OutputError as e:
            raise OutputError(str(e), format=format, path=os.fspath(target)) from None
        except OSError as e:
            raise OutputError(
                f"{format}: cannot write {target}: {e.strerror}",
                format=format,
                path=os.fspath(target),
            ) from None
        return
    if not erofs_reads_tar(format):
        raise OutputError(
            f"{format}: compressed EROFS needs mkfs.erofs --tar, which the installed "
            "mkfs.erofs lacks: erofs-utils 1.7 or newer is needed (Debian 13 'trixie' has "
            "it; Debian 12 ships 1.5); compression='none' needs no tool",
            format=format,
        )
    tool = find_tool("mkfs.erofs", package=_PACKAGE, format=format)
    args = [tool, "--quiet", "--tar=f", f"-U{fs_uuid}", f"-z{compression}"]
    args += [os.fspath(target), os.fspath(tar)]
    run_tool(args, format=format, path=os.fspath(target), env={"SOURCE_DATE_EPOCH": str(epoch)})
