"""The root filesystem tar: PAX provenance records, directories, and LinuxKit's image filter.

:class:`RootfsWriter` wraps a :class:`~moby_assemble.layers.TarWriter`. Every entry it writes
carries LinuxKit's PAX records ``LINUXKIT.source`` (the image reference, or
``linuxkit.files``, ``linuxkit.volumes``, ``LINUXKIT.apkinit``) and ``LINUXKIT.location``
(``kernel``, ``init[0]``, ``onboot[1]``, ``files[3]`` …), exactly as LinuxKit's build does, so
tools written for LinuxKit's tars (its ``tarheaders.py`` test, ``--input-tar``) read ours. It
remembers which directories and symlinks exist, so the ``files`` step can leave existing
parents alone.

:func:`copy_image` applies what LinuxKit's ``ImageTar`` does to every image on its way into
the root filesystem:

- *exclude*: ``.dockerenv``, ``Dockerfile``, ``dev/console``, ``etc/hostname``, and
  ``dev/pts``/``dev/shm`` unless they are directories (LinuxKit compares tar names, in which
  directories end with ``/``, so it keeps those directories);
- *replace*: ``etc/hosts`` gets a fixed localhost file; ``etc/resolv.conf`` becomes
  ``# no resolv.conf configured`` in containers, and a symlink to
  ``/run/resolvconf/resolv.conf`` for init and volume images (so a DHCP client that binds
  ``/run/resolvconf`` can write it). LinuxKit writes both replacements twice (once in place,
  once again at the end with root ownership and mode ``0644``); the second one wins on
  extraction, so here they are written once, in the second form;
- *touch*: ``dev/``, ``dev/pts/``, ``dev/shm/``, ``etc/``, ``etc/mtab`` → ``/proc/mounts``,
  ``proc/``, ``sys/`` are created (in that order, after the image) when the image lacks them;
  the image's own get the build time as mtime.

Hard links to a dropped or replaced path are dropped too (they would dangle). Every other
entry keeps its metadata, including its mtime (pinned images give the same bytes).
Generated entries get the build's ``SOURCE_DATE_EPOCH``.

Example::

    with RootfsWriter(out, mtime=0) as w:
        w.mkdirs("containers/onboot/000-dhcpcd", source=ref, location="onboot[0]")
        w.file("containers/onboot/000-dhcpcd/config.json", config, source=ref,
               location="onboot[0]")
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import IO, BinaryIO

from ..layers import EntryType, TarEntry, TarWriter
from ..layers._entry import relocate
from ..layers._tar_writer import pax_records
from ._parts import PartsSink
from ._segments import SectionInfo, Segment

__all__ = [
    "APK_DB",
    "APK_SOURCE",
    "HOSTS",
    "LOCATION",
    "NO_RESOLV_CONF",
    "RESOLV_SYMLINK",
    "SOURCE",
    "ApkDatabases",
    "RootfsWriter",
    "admitted",
    "copy_image",
    "copy_image_section",
]

#: PAX record naming where an entry came from (an image reference or a section).
SOURCE = "LINUXKIT.source"
#: PAX record naming the place in the system (``services[0]``).
LOCATION = "LINUXKIT.location"
#: LinuxKit's ``etc/hosts`` for every image.
HOSTS = (
    b"127.0.0.1       localhost\n"
    b"::1     localhost ip6-localhost ip6-loopback\n"
    b"fe00::0 ip6-localnet\n"
    b"ff00::0 ip6-mcastprefix\n"
    b"ff02::1 ip6-allnodes\n"
    b"ff02::2 ip6-allrouters\n"
)
#: LinuxKit's ``etc/resolv.conf`` inside containers.
NO_RESOLV_CONF = b"\n# no resolv.conf configured\n"
#: Where ``etc/resolv.conf`` of init and volume images points.
RESOLV_SYMLINK = "/run/resolvconf/resolv.conf"
#: The apk database LinuxKit merges across init images.
APK_DB = "lib/apk/db/installed"
#: ``LINUXKIT.source`` of the merged apk database.
APK_SOURCE = "LINUXKIT.apkinit"

logger = logging.getLogger("moby_assemble.assemble")

_D, _F, _L = EntryType.DIRECTORY, EntryType.FILE, EntryType.SYMLINK
_EXCLUDE = frozenset({".dockerenv", "Dockerfile", "dev/console", "etc/hostname"})
_EXCLUDE_UNLESS_DIR = frozenset({"dev/pts", "dev/shm"})
_REPLACED = frozenset({"etc/hosts", "etc/resolv.conf"})
# LinuxKit's ``touch`` table, in its sorted order ("dev/" < "dev/pts/" < … < "sys/"):
# (name, type, mode, symlink target).
_TOUCH: tuple[tuple[str, EntryType, int, str], ...] = (
    ("dev", _D, 0o755, ""),
    ("dev/pts", _D, 0o755, ""),
    ("dev/shm", _D, 0o755, ""),
    ("etc", _D, 0o755, ""),
    ("etc/hosts", _F, 0o644, ""),
    ("etc/mtab", _L, 0o755, "/proc/mounts"),
    ("etc/resolv.conf", _F, 0o644, ""),
    ("proc", _D, 0o755, ""),
    ("sys", _D, 0o755, ""),
)
_TOUCH_DIRS = frozenset(name for name, kind, _, _ in _TOUCH if kind is _D)
_L_HARD = EntryType.HARDLINK
_NOT_COPIED = _EXCLUDE | _REPLACED | _EXCLUDE_UNLESS_DIR


def _parents(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]


class RootfsWriter:
    """The root filesystem tar being written (see the module documentation).

    Args:
        out: where the tar goes (never closed here).
        mtime: the mtime of generated entries (``SOURCE_DATE_EPOCH``).

    Attributes:
        entries: entries written so far.
    """

    def __init__(self, out: BinaryIO | PartsSink, *, mtime: int) -> None:
        self._out = out
        self._tar = TarWriter(out)  # type: ignore[arg-type]
        self.mtime = mtime
        self.entries = 0
        # Directories and symlinks written so far: what a path's parents are in the tree.
        self._kinds: dict[str, EntryType] = {}
        #: When a list, every entry written appends ``(name, kind)`` (see :meth:`replay`).
        self.journal: list[tuple[str, str]] | None = None
        self._section_entries = 0
        # The encoded provenance records last written: location, source, bytes.
        self._provenance: tuple[str, str, bytes] | None = None
        self._reused = 0  # bytes of stored sections appended (not written here)

    @property
    def bytes_written(self) -> int:
        """Bytes of tar produced so far (after :meth:`flush`, all of them)."""
        return self._tar.bytes_written + self._reused

    def flush(self) -> None:
        self._tar.flush()

    def close(self) -> None:
        """Write the end-of-archive blocks and flush."""
        self._tar.close()

    def __enter__(self) -> RootfsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.flush()

    def kind(self, name: str) -> EntryType | None:
        """``DIRECTORY`` or ``SYMLINK`` if that is what the last entry called ``name`` was."""
        return self._kinds.get(name)

    def add(
        self,
        entry: TarEntry,
        data: BinaryIO | IO[bytes] | bytes | None = None,
        *,
        source: str,
        location: str,
        prefix: str = "",
    ) -> None:
        """Write ``entry`` (data as for :meth:`TarWriter.add`) with the provenance records,
        moved under ``prefix`` if one is given (see :meth:`TarEntry.relocated`)."""
        # This runs for every entry of the system: the entry is written under its new name
        # with its new records as it is (not copied), and the records of an entry without
        # its own are encoded once per image.
        if entry.pax:
            own = [kv for kv in entry.pax if not kv[0].startswith("LINUXKIT.")]
            extra = pax_records(tuple(sorted([*own, (LOCATION, location), (SOURCE, source)])))
        elif (last := self._provenance) is not None and last[0] == location and last[1] == source:
            extra = last[2]
        else:
            extra = pax_records(((LOCATION, location), (SOURCE, source)))  # in order
            self._provenance = (location, source, extra)
        name = entry.name
        link = entry.linkname
        kind = entry.type
        if prefix:
            name, link = relocate(name, link, kind, prefix)
        self._tar._add_as(entry, data, name, link, extra)  # type: ignore[arg-type]
        self.entries += 1
        if kind is _D or kind is _L:
            self._kinds[name] = kind
        elif self._kinds:
            self._kinds.pop(name, None)
        if self.journal is not None:
            self.journal.append((name, "d" if kind is _D else "l" if kind is _L else ""))

    def _sink(self) -> PartsSink:
        if not isinstance(self._out, PartsSink):
            raise TypeError("sections need a RootfsWriter over a PartsSink")
        return self._out

    def begin_section(self) -> None:
        """Write what follows to a section file of its own (until :meth:`end_section`),
        recording the names written."""
        self._tar.flush()
        self._sink().start_section()
        self._section_entries = self.entries
        self.journal = []

    def end_section(
        self,
        key: str,
        *,
        count: int,
        apk: bytes | None = None,
        origin: Mapping[str, str] | None = None,
    ) -> Segment:
        """Publish what was written since :meth:`begin_section` as the section ``key``,
        ``count`` of whose entries are the image's own (``apk``: its apk database)."""
        self._tar.flush()
        journal, self.journal = self.journal or [], None
        return self._sink().end_section(
            key,
            SectionInfo(self.entries - self._section_entries, count, journal, apk, origin),
        )

    def add_section(self, segment: Segment) -> None:
        """Append a stored section (written by an earlier assembly) as it is."""
        self._tar.flush()
        self._sink().add_section(segment)
        self._reused += segment.length
        self.replay(segment.journal, segment.entries)

    def splice(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes of whole entries written by another writer of this kind (account
        for them with :meth:`replay`)."""
        self._tar.splice(data)

    def account(self, name: str, kind: str) -> None:
        """Count one entry appended with :meth:`splice` inside a section (its name and
        kind go to the section's journal, as :meth:`add` records them)."""
        self.entries += 1
        if self.journal is not None:
            self.journal.append((name, kind))

    def replay(self, journal: Iterable[tuple[str, str]], entries: int) -> None:
        """Account for ``entries`` entries appended with :meth:`splice`, whose names and
        kinds are ``journal`` (as recorded in :attr:`journal` when they were written)."""
        kinds = self._kinds
        for name, kind in journal:
            if kind == "d":
                kinds[name] = _D
            elif kind == "l":
                kinds[name] = _L
            elif kinds:
                kinds.pop(name, None)
        self.entries += entries

    def directory(
        self,
        name: str,
        *,
        source: str,
        location: str,
        mode: int = 0o755,
        uid: int = 0,
        gid: int = 0,
    ) -> None:
        """Write one generated directory entry."""
        self.add(
            TarEntry(name, _D, mode, uid, gid, mtime=self.mtime), source=source, location=location
        )

    def mkdirs(self, path: str, *, source: str, location: str) -> None:
        """Write ``path`` and its parents as ``0755 root`` directories, skipping those already
        written in this build (LinuxKit writes them again for every image; once is enough)."""
        for name in (*_parents(path), path):
            if self._kinds.get(name) is not _D:
                self.directory(name, source=source, location=location)

    def file(
        self,
        name: str,
        data: bytes,
        *,
        source: str,
        location: str,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
    ) -> None:
        """Write one generated regular file."""
        entry = TarEntry(name, _F, mode, uid, gid, size=len(data), mtime=self.mtime)
        self.add(entry, data, source=source, location=location)

    def stream_file(
        self,
        entry: TarEntry,
        data: BinaryIO | IO[bytes],
        *,
        source: str,
        location: str,
    ) -> None:
        """Write a regular file whose data comes from a stream of ``entry.size`` bytes."""
        self.add(entry, data, source=source, location=location)


class ApkDatabases:
    """The ``lib/apk/db/installed`` files of init images, for LinuxKit's merged database.

    With more than one, LinuxKit appends their concatenation (each followed by two newlines)
    after the last init image, so ``apk`` in the booted system knows every package. Contents
    are spooled to temporary files, not held in memory.
    """

    def __init__(self) -> None:
        self._files: list[IO[bytes]] = []

    def __len__(self) -> int:
        """How many databases were collected."""
        return len(self._files)

    def add(self, entry: TarEntry) -> IO[bytes]:
        """Keep a copy of ``entry``'s data; returns a stream of it to write to the tar."""
        spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 (closed by close())
        shutil.copyfileobj(entry.open(), spool, 1 << 20)
        self._files.append(spool)
        spool.seek(0)
        return spool

    def add_bytes(self, data: bytes) -> None:
        """Keep a database whose content is known (a reused section's)."""
        spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 (closed by close())
        spool.write(data)
        self._files.append(spool)

    def last_bytes(self) -> bytes:
        """The content of the database added last."""
        spool = self._files[-1]
        spool.seek(0)
        return spool.read()

    def write_union(self, writer: RootfsWriter, *, location: str = "init") -> bool:
        """Write the merged database if there are at least two; returns whether it did."""
        if len(self._files) < 2:
            return False
        size = 0
        for f in self._files:
            f.seek(0, 2)
            size += f.tell() + 2
        entry = TarEntry(APK_DB, _F, 0o644, size=size, mtime=writer.mtime)
        data = _Concatenated(self._files)
        writer.stream_file(entry, data, source=APK_SOURCE, location=location)  # type: ignore[arg-type]
        return True

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files.clear()


class _Concatenated:
    """Reads each file from the start followed by ``\\n\\n``."""

    def __init__(self, files: Iterable[IO[bytes]]) -> None:
        self._parts: list[IO[bytes] | bytes] = []
        for f in files:
            f.seek(0)
            self._parts += [f, b"\n\n"]

    def read(self, n: int = -1) -> bytes:
        while self._parts:
            part = self._parts[0]
            if isinstance(part, bytes):
                chunk, rest = (part, b"") if n < 0 else (part[:n], part[n:])
                if rest:
                    self._parts[0] = rest
                else:
                    self._parts.pop(0)
                return chunk
            chunk = part.read(n)
            if chunk:
                return chunk
            self._parts.pop(0)
        return b""


def admitted(entry: TarEntry, epoch: int, *, location: str = "") -> TarEntry | None:
    """``entry`` as LinuxKit's image filter lets it into the root filesystem (see the
    module documentation): ``None`` if it is left out, the entry with the build's mtime if
    it is one of the ``touch`` directories or ``etc/mtab``, else the entry itself."""
    name = entry.name
    kind = entry.type
    if name in _EXCLUDE or name in _REPLACED:
        return None
    if name in _EXCLUDE_UNLESS_DIR and kind is not _D:
        return None
    if kind is _L_HARD and entry.linkname in _NOT_COPIED:
        # Its target was dropped or is written later with other content: the link would
        # dangle (or hard-link to a file that does not exist yet) when unpacked.
        logger.debug("%s: dropping hard link %s to %s", location, name, entry.linkname)
        return None
    if (name in _TOUCH_DIRS and kind is _D) or (name == "etc/mtab" and kind is not _D):
        return entry.evolve(mtime=epoch)
    return entry


def copy_image(
    writer: RootfsWriter,
    entries: Iterable[TarEntry],
    *,
    prefix: str,
    source: str,
    location: str,
    resolv_symlink: bool,
    apk: ApkDatabases | None = None,
) -> int:
    """Write an image's flattened entries under ``prefix`` with LinuxKit's filter.

    Args:
        writer: the root filesystem.
        entries: the image's entries (no root entry), each read before the next.
        prefix: where the image's root goes (``""`` for the root filesystem itself).
        source, location: the provenance records.
        resolv_symlink: make ``etc/resolv.conf`` a symlink to ``/run/resolvconf/resolv.conf``
            (init and volume images) instead of a placeholder file (containers).
        apk: collect ``lib/apk/db/installed`` here (init images only).

    Returns:
        How many of the image's own entries were written.
    """
    found: set[str] = set()
    count = 0
    epoch = writer.mtime
    for original in entries:
        entry = admitted(original, epoch, location=location)
        if entry is None:
            continue
        name = entry.name
        kind = entry.type
        if entry is not original:  # admitted() gave it the build's mtime: one of _TOUCH
            found.add(name)
        data: IO[bytes] | None = None
        if apk is not None and name == APK_DB and kind is _F:
            data = apk.add(entry)
        writer.add(entry, data, source=source, location=location, prefix=prefix)
        count += 1
    for name, kind, mode, link in _TOUCH:
        if name in found:
            continue
        target = f"{prefix}/{name}" if prefix else name
        if name == "etc/resolv.conf" and resolv_symlink:
            kind, link = _L, RESOLV_SYMLINK
        content = {"etc/hosts": HOSTS, "etc/resolv.conf": NO_RESOLV_CONF}.get(name, b"")
        if kind is not _F:
            content = b""
        entry = TarEntry(target, kind, mode, size=len(content), mtime=epoch, linkname=link)
        writer.add(entry, content or None, source=source, location=location)
    return count


def copy_image_section(
    writer: RootfsWriter,
    entries: Iterable[TarEntry],
    key: str,
    *,
    prefix: str,
    source: str,
    location: str,
    kind: str,
    apk: ApkDatabases | None = None,
    origin: Mapping[str, str] | None = None,
) -> tuple[int, Segment]:
    """:func:`copy_image` as the image's own section ``key``: init and
    volume images (``kind``) get the ``etc/resolv.conf`` symlink, and the section keeps the
    image's apk database (collected in ``apk``) and its ``origin``.

    Returns:
        How many of the image's own entries were written, and the section.
    """
    collected = len(apk) if apk is not None else 0
    writer.begin_section()
    count = copy_image(
        writer,
        entries,
        prefix=prefix,
        source=source,
        location=location,
        resolv_symlink=kind != "container",
        apk=apk,
    )
    # The merged apk database needs this image's own database when it is reused.
    database = apk.last_bytes() if apk is not None and len(apk) > collected else None
    return count, writer.end_section(key, count=count, apk=database, origin=origin)
