"""The root-filesystem tar as an initramfs: a newc cpio archive, gzip or zstd compressed.

What goes in (LinuxKit's ``CopySplitTar`` made exact):

- every entry of the root tar, in order, except what is under ``boot/``: the kernel,
  command line and microcode travel beside the initrd, not inside it (the ``boot``
  directory itself stays);
- a name that occurs several times (init images and ``files`` overriding earlier
  entries) is written once, as its *last* occurrence; directories are always kept, since
  a later directory entry only changes ownership and mode and the kernel needs the first
  one before their children. This also keeps the kernel from truncating a file that
  another name hard-links to when a later entry reuses the name;
- hard links stay hard links (LinuxKit turns them into symlinks): the members of a link
  group share one inode number and ``nlink``, and the data goes on the last member. A
  link to a symlink, device or FIFO becomes a copy of that entry.

Two passes over the root tar (a local file): the first reads headers only and plans
which entries are written and which form link groups; the second writes. Memory grows
with the number of names, never with file sizes: link-group data waits in a spooled
temporary file.

Compression is deterministic and uses every core: gzip (no name, mtime 0) in fixed 1 MiB
blocks joined into one member, as ``pigz`` does, and zstd with its worker threads; neither
output depends on the number of cores. The microcode cpio, if any, is prepended
uncompressed (the kernel's early loader only looks there).

Example::

    with open("initrd.img", "wb") as f:
        write_initrd(bundle, f, compression="gzip", ucode=bundle.ucode)
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, Literal

import zstandard

from .._errors import OutputError
from .._pgzip import ParallelGzipWriter
from ..layers import EntryType, TarEntry, read_tar
from ._cpio import CpioWriter
from ._format import RootTar, open_root_tar, root_tar_name

__all__ = [
    "COMPRESSIONS",
    "Compression",
    "check_compression",
    "initrd_compressor",
    "write_cpio",
    "write_initrd",
]

Compression = Literal["gzip", "zstd", "none"]
#: The compressions an initrd can have.
COMPRESSIONS: tuple[str, ...] = ("gzip", "zstd", "none")
_GZIP_LEVEL = 6
_ZSTD_LEVEL = 9
_SPOOL_IN_MEMORY = 1 << 20
_CHUNK = 1 << 20


def _skipped(name: str) -> bool:
    return name.startswith("boot/")


class _Plan:
    """What the header pass learned: which entries to write, and the hard-link groups."""

    def __init__(self, root_tar: RootTar, format: str) -> None:
        self.format = format
        self.types: list[EntryType] = []
        # link entry index -> index of the entry it finally points at (never itself a link)
        self.link_source: dict[int, int] = {}
        names, last = self._scan(root_tar)
        self._emitted = [
            not _skipped(name) and (etype is EntryType.DIRECTORY or last[name] == i)
            for i, (name, etype) in enumerate(zip(names, self.types, strict=True))
        ]
        # group source index -> its emitted members in order (the source first if emitted)
        self.groups: dict[int, list[int]] = {}
        # sources that are symlinks, devices or FIFOs: their links become copies
        self.copy_sources: set[int] = set()
        for link, source in sorted(self.link_source.items()):
            if not self._emitted[link]:
                continue
            if self.types[source] is EntryType.FILE:
                members = self.groups.setdefault(source, [source] if self._emitted[source] else [])
                members.append(link)
            else:
                self.copy_sources.add(source)

    def _scan(self, root_tar: RootTar) -> tuple[list[str], dict[str, int]]:
        names: list[str] = []
        current: dict[str, int] = {}
        with open_root_tar(root_tar) as f:
            for i, entry in enumerate(read_tar(f, layer=root_tar_name(root_tar))):
                self.types.append(entry.type)
                names.append(entry.name)
                if entry.type is EntryType.HARDLINK:
                    self.link_source[i] = self._source(entry, current.get(entry.linkname), root_tar)
                current[entry.name] = i
        return names, current

    def _source(self, link: TarEntry, target: int | None, root_tar: RootTar) -> int:
        if target is None:
            raise OutputError(
                f"{self.format}: hard link {link.name!r} points at {link.linkname!r}, which is "
                f"not earlier in {root_tar_name(root_tar)}",
                format=self.format,
                path=link.name,
            )
        source = self.link_source.get(target, target)
        if self.types[source] is EntryType.DIRECTORY:
            raise OutputError(
                f"{self.format}: hard link {link.name!r} points at the directory {link.linkname!r}",
                format=self.format,
                path=link.name,
            )
        return source

    def emitted(self, index: int) -> bool:
        return self._emitted[index]


class _Converter:
    """The writing pass: entries in, cpio members out (see the module docs)."""

    def __init__(self, plan: _Plan, writer: CpioWriter, dir_mtime: int) -> None:
        self.plan = plan
        self.writer = writer
        self.dir_mtime = dir_mtime
        self.dirs: set[str] = set()
        self.inodes: dict[int, int] = {}
        self.spools: dict[int, tuple[IO[bytes], int]] = {}
        self.sources: dict[int, TarEntry] = {}

    def close(self) -> None:
        for data, _ in self.spools.values():
            data.close()
        self.spools.clear()

    def _emit(self, entry: TarEntry, data: IO[bytes] | None = None, **header: int) -> None:
        # The kernel creates no missing parent directory (tar extractors do): add them.
        missing = []
        parent = entry.name.rpartition("/")[0]
        while parent and parent not in self.dirs:
            missing.append(parent)
            parent = parent.rpartition("/")[0]
        for name in reversed(missing):
            self.writer.add(TarEntry(name, EntryType.DIRECTORY, mtime=self.dir_mtime))
            self.dirs.add(name)
        if entry.type is EntryType.DIRECTORY:
            self.dirs.add(entry.name)
        self.writer.add(entry, data, **header)

    def add(self, i: int, entry: TarEntry) -> None:
        plan = self.plan
        members = plan.groups.get(i)
        if members is not None:
            # The source of a hard-link group: its data waits for the group's last member.
            spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
            self.spools[i] = (spool, entry.size)
            shutil.copyfileobj(entry.open(), spool, _CHUNK)
            self.inodes[i] = self.writer.new_inode()
            self.sources[i] = entry
            if members[0] == i:
                self._emit(entry, ino=self.inodes[i], nlink=len(members), size=0)
            return
        if i in plan.copy_sources:
            self.sources[i] = entry
        if not plan.emitted(i):
            return
        if entry.type is not EntryType.HARDLINK:
            self._emit(entry)
            return
        source = plan.link_source[i]
        header = self.sources[source].evolve(name=entry.name)
        group = plan.groups.get(source)
        if group is None:  # a link to a symlink, device or FIFO: a copy of it
            self._emit(header)
        elif group[-1] != i:
            self._emit(header, ino=self.inodes[source], nlink=len(group), size=0)
        else:
            data, size = self.spools.pop(source)
            with data:
                data.seek(0)
                self._emit(header, data, ino=self.inodes[source], nlink=len(group), size=size)


def write_cpio(
    root_tar: RootTar, out: BinaryIO, *, dir_mtime: int = 0, format: str = "kernel+initrd"
) -> None:
    """Write the root tar's entries (minus ``boot/*``) to ``out`` as an uncompressed newc cpio.

    Args:
        root_tar: the root filesystem tar.
        out: where the archive goes.
        dir_mtime: the mtime of parent directories the tar lacks and the cpio must have
            (the kernel does not create them): ``source_date_epoch``.
        format: the output format, named in errors.

    Raises:
        OutputError: a file of 4 GiB or more, a dangling hard link, or a hard link to a
            directory (naming the entry).
        LayerError: the root tar is malformed.
    """
    converter = _Converter(_Plan(root_tar, format), CpioWriter(out, format=format), dir_mtime)
    try:
        with open_root_tar(root_tar) as f:
            for i, entry in enumerate(read_tar(f, layer=root_tar_name(root_tar))):
                converter.add(i, entry)
        converter.writer.close()
    finally:
        converter.close()


def check_compression(compression: str, format: str = "kernel+initrd") -> None:
    """Raise :class:`OutputError` unless ``compression`` is one of :data:`COMPRESSIONS`."""
    if compression not in COMPRESSIONS:
        raise OutputError(
            f"{format}: unknown initrd compression {compression!r} "
            f"(use one of {', '.join(COMPRESSIONS)})",
            format=format,
        )


@contextmanager
def initrd_compressor(
    out: BinaryIO, compression: str = "gzip", level: int | None = None
) -> Iterator[BinaryIO]:
    """A stream that compresses into ``out`` deterministically (``out`` stays open).

    Args:
        out: where the compressed bytes go.
        compression: ``"gzip"`` (no file name, mtime 0; compressed in 1 MiB blocks on
            every core, the bytes independent of how many), ``"zstd"`` (zstd's workers on
            every core, likewise; no content size), or ``"none"``.
        level: compression level (default 6 for gzip, 9 for zstd).

    Raises:
        OutputError: an unknown compression.
    """
    if compression == "gzip":
        # One member, compressed on every core; the bytes do not depend on how many.
        with ParallelGzipWriter(out, level=_GZIP_LEVEL if level is None else level) as gz:
            yield gz  # type: ignore[misc]
    elif compression == "zstd":
        # zstd's workers: the output is the same for any number of them (>= 1), though not
        # the same as its single-threaded mode's, so the bytes do not depend on the machine.
        zstd_level = _ZSTD_LEVEL if level is None else level
        cctx = zstandard.ZstdCompressor(level=zstd_level, threads=-1)
        with cctx.stream_writer(out, closefd=False) as zw:
            yield zw
    else:
        check_compression(compression)
        yield out


def write_initrd(
    root_tar: RootTar,
    out: BinaryIO,
    *,
    compression: str = "gzip",
    level: int | None = None,
    ucode: Path | None = None,
    dir_mtime: int = 0,
    format: str = "kernel+initrd",
) -> None:
    """Write a bootable initrd of ``root_tar`` to ``out``: the microcode cpio (if any),
    then the compressed newc cpio of the root filesystem.

    Raises:
        OutputError: see :func:`write_cpio`; an unknown compression.
    """
    check_compression(compression, format)
    if ucode is not None:
        with open(ucode, "rb") as u:
            shutil.copyfileobj(u, out, _CHUNK)
    with initrd_compressor(out, compression, level) as stream:
        write_cpio(root_tar, stream, dir_mtime=dir_mtime, format=format)
