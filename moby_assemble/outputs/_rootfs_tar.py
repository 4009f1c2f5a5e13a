"""The root tar as a file system image wants it: every name once, ``boot/`` left out.

The assembled root tar is a sequence of layers written one after the other (init images,
then ``files``), so a name can occur several times and the last occurrence is what the
system has, as when the tar is extracted. Image builders such as ``tar2sqfs`` refuse a
name twice. :func:`write_unique_tar` writes the tar they need:

- ``boot/*`` is left out (the kernel and command line travel beside the image, as in
  LinuxKit's ``kernel+squashfs``); the ``boot`` directory itself stays;
- each name is written once: a file, link or device at its last occurrence; a directory
  at its first occurrence (before its children) with the ownership and mode of its last;
- hard links keep pointing at the data they were made for: when that name is replaced
  later (or is under ``boot/``), the first link carries the data itself and the other
  links point at it.

Two passes over the tar file, headers only in the first; the data a link group needs is
spooled to a temporary file only in the rare case just described.

Example::

    with open("unique.tar", "wb") as out:
        write_unique_tar(bundle, out, format="kernel+squashfs")
"""

from __future__ import annotations

import shutil
import tempfile
from typing import BinaryIO, cast

from .._errors import OutputError
from ..layers import EntryType, TarEntry, TarWriter, read_tar
from ._format import RootTar, open_root_tar, root_tar_name

__all__ = ["write_unique_tar"]

_CHUNK = 1 << 20
_SPOOL_IN_MEMORY = 1 << 20


def _skipped(name: str) -> bool:
    return name.startswith("boot/")


class _Plan:
    """What the header pass learns (see the module docs)."""

    def __init__(self, root_tar: RootTar, format: str) -> None:
        self.types: list[EntryType] = []
        self.names: list[str] = []
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.headers: dict[int, TarEntry] = {}  # the last directory entry of each name
        self.source: dict[int, int] = {}  # hard link -> the entry that holds its data
        with open_root_tar(root_tar) as f:
            for i, entry in enumerate(read_tar(f, layer=root_tar_name(root_tar))):
                self.types.append(entry.type)
                self.names.append(entry.name)
                self.first.setdefault(entry.name, i)
                if entry.type is EntryType.HARDLINK:
                    target = self.last.get(entry.linkname)
                    if target is None:
                        raise OutputError(
                            f"{format}: hard link {entry.name!r} points at {entry.linkname!r}, "
                            f"which is not earlier in {root_tar_name(root_tar)}",
                            format=format,
                            path=entry.name,
                        )
                    target = self.source.get(target, target)
                    if self.types[target] is EntryType.DIRECTORY:
                        raise OutputError(
                            f"{format}: hard link {entry.name!r} points at the directory "
                            f"{entry.linkname!r}",
                            format=format,
                            path=entry.name,
                        )
                    self.source[i] = target
                self.last[entry.name] = i
                if entry.type is EntryType.DIRECTORY:
                    self.headers[i] = entry.evolve(_payload=None)
        # Sources whose own entry is not written: their first written link carries them.
        self.carrier: dict[int, int] = {}
        for link, source in sorted(self.source.items()):
            if self.written(link) and not self.written(source):
                self.carrier.setdefault(source, link)

    def written(self, i: int) -> bool:
        name = self.names[i]
        if _skipped(name):
            return False
        last = self.last[name]
        if self.types[i] is EntryType.DIRECTORY:
            return self.types[last] is EntryType.DIRECTORY and self.first[name] == i
        return last == i


def write_unique_tar(root_tar: RootTar, out: BinaryIO, *, format: str) -> None:
    """Write ``root_tar`` to ``out`` with every name once and without ``boot/*``.

    Raises:
        OutputError: a hard link to nothing earlier or to a directory (naming it).
        LayerError: the root tar is malformed.
    """
    plan = _Plan(root_tar, format)
    spools: dict[int, tuple[BinaryIO, TarEntry]] = {}
    link_name: dict[int, str] = {}  # source -> the name its written links point at
    try:
        with open_root_tar(root_tar) as f, TarWriter(out) as writer:
            for i, entry in enumerate(read_tar(f, layer=root_tar_name(root_tar))):
                if i in plan.carrier:
                    # Closed when its carrier link is written, or at the end.
                    spooled = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
                    spool = cast(BinaryIO, spooled)
                    if entry.type is EntryType.FILE:
                        shutil.copyfileobj(entry.open(), spool, _CHUNK)
                    spools[i] = (spool, entry.evolve(_payload=None))
                if not plan.written(i):
                    continue
                if entry.type is EntryType.DIRECTORY:
                    last = plan.headers[plan.last[entry.name]]
                    writer.add(last.evolve(name=entry.name))
                elif entry.type is not EntryType.HARDLINK:
                    writer.add(entry)
                    link_name.setdefault(i, entry.name)
                else:
                    source = plan.source[i]
                    if source in link_name:
                        writer.add(entry.evolve(linkname=link_name[source]))
                    else:  # this link carries the data of a source that is not written
                        data, header = spools.pop(source)
                        with data:
                            data.seek(0)
                            # A link to a symlink or device is a copy of it (no data).
                            carried = header.evolve(name=entry.name)
                            is_file = header.type is EntryType.FILE
                            writer.add(carried, data if is_file else None)
                        link_name[source] = entry.name
    finally:
        for data, _ in spools.values():
            data.close()
