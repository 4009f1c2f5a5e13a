"""A plain ISO 9660 + Rock Ridge image of a root file system, from a tar, with xorriso.

``xorriso`` cannot read a tar, and :func:`moby_assemble.disk.write_iso` grafts regular
files only, so this drives xorriso's own commands: file data is staged in a scratch
directory under numbered names (never at its path: nothing of the root is extracted),
and each entry of the tar becomes commands that place it at its path with its mode,
owner and date — ``-map``, ``-mkdir``, ``-lns``, ``-chmod``, ``-chown``, ``-alter_date``.
The commands go through a file, every argument double-quoted with non-ASCII, quotes and
control characters as ``\\xHH``, so any name survives. Hard links stay hard links.

xorriso cannot create device nodes or FIFOs: they are left out (logged). A Linux root
gets its ``/dev`` from devtmpfs, which is what LinuxKit's init mounts.

Example::

    write_rootfs_iso(Path("unique.tar"), Path("root.iso"), volume_id="WEB", epoch=0,
                     workdir=Path("scratch"), format="kernel+iso")
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
from pathlib import Path

from ..disk._tools import find_tool, run_tool
from ..layers import EntryType, read_tar

__all__ = ["write_rootfs_iso"]

logger = logging.getLogger("moby_assemble.outputs")
_CHUNK = 1 << 20
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,=@~")


def _quote(text: str) -> str:
    raw = text.encode("utf-8", "surrogateescape")
    return '"' + "".join(chr(b) if b in _PLAIN else f"\\x{b:02x}" for b in raw) + '"'


def _iso_path(name: str) -> str:
    return "/" if name == "." else "/" + name


def _timestring(epoch: int | float) -> str:
    moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.UTC)
    return moment.strftime("%Y%m%d%H%M%S") + "00"


def write_rootfs_iso(
    tar: Path, target: Path, *, volume_id: str, epoch: int, workdir: Path, format: str
) -> None:
    """Write the entries of ``tar`` (each name once) as an ISO image at ``target``.

    Args:
        tar: a tar with each name once (see :func:`._rootfs_tar.write_unique_tar`).
        target: the image to write.
        volume_id: the volume label (``A-Z0-9_``, at most 32).
        epoch: the volume dates (``SOURCE_DATE_EPOCH``).
        workdir: an empty scratch directory for the staged file data.
        format: the output format, named in errors.

    Raises:
        OutputError: xorriso is missing (naming the Debian package) or fails.
    """
    tool = find_tool("xorriso", package="xorriso", format=format)
    data = workdir / "data"
    data.mkdir()
    staged: dict[str, Path] = {}
    lines = [f"-volid {_quote(volume_id)}", f"-volume_date uuid {_timestring(epoch)}"]
    dated: list[tuple[str, int | float]] = []
    owned: list[tuple[str, int, int]] = []
    left_out = []
    with open(tar, "rb") as f:
        for index, entry in enumerate(read_tar(f, layer=str(tar))):
            path = _iso_path(entry.name)
            if entry.type is EntryType.DIRECTORY:
                if path != "/":
                    lines.append(f"-mkdir {_quote(path)}")
            elif entry.type is EntryType.FILE:
                source = data / str(index)
                with open(source, "wb") as out:
                    shutil.copyfileobj(entry.open(), out, _CHUNK)
                staged[entry.name] = source
                lines.append(f"-map {_quote(str(source))} {_quote(path)}")
            elif entry.type is EntryType.HARDLINK and entry.linkname in staged:
                # The same staged file twice: xorriso records the two names as one inode.
                staged[entry.name] = staged[entry.linkname]
                lines.append(f"-map {_quote(str(staged[entry.name]))} {_quote(path)}")
            elif entry.type is EntryType.SYMLINK:
                lines.append(f"-lns {_quote(entry.linkname)} {_quote(path)}")
            else:
                left_out.append(entry.name)
                continue
            if entry.type is not EntryType.SYMLINK:
                lines.append(f"-chmod 0{entry.mode:o} {_quote(path)} --")
            owned.append((path, entry.uid, entry.gid))
            dated.append((path, entry.mtime))
    # Staged files belong to whoever runs this: set every owner, root's in one go.
    lines += ["-chown_r 0 / --", "-chgrp_r 0 / --"]
    for path, uid, gid in owned:
        if uid:
            lines.append(f"-chown {uid} {_quote(path)} --")
        if gid:
            lines.append(f"-chgrp {gid} {_quote(path)} --")
    lines.append(f"-alter_date_r b-c ={int(epoch)} / --")
    for path, mtime in dated:
        if int(mtime) != int(epoch):
            lines.append(f"-alter_date b-c ={int(mtime)} {_quote(path)} --")
    if left_out:
        logger.warning(
            "%s: %d device nodes or FIFOs left out of the ISO (xorriso cannot create them), "
            "e.g. %s",
            format,
            len(left_out),
            left_out[0],
        )
    commands = workdir / "xorriso.commands"
    commands.write_text("\n".join(lines) + "\n", encoding="ascii")
    if target.exists():
        target.unlink()
    run_tool(
        [
            tool,
            "-abort_on", "FAILURE",
            "-return_with", "SORRY", "32",
            "-report_about", "SORRY",
            "-backslash_codes", "in_double_quotes",
            "-outdev", f"stdio:{os.fspath(target)}",
            "-rockridge", "on",
            "-joliet", "off",
            # "on" numbers inodes after the staged files' disk inodes, which differ from
            # run to run; "off" still stores a hard link once, with its link count.
            "-hardlinks", "off",
            "-options_from_file", os.fspath(commands),
            "-commit",
            "-end",
        ],
        format=format,
        path=os.fspath(target),
        env={"SOURCE_DATE_EPOCH": str(epoch)},
    )  # fmt: skip
