"""A bundle's root filesystem tar, stored as parts: its own bytes and shared sections.

The tar an assembly produces is the concatenation of *parts*: runs of the bundle's own file
``rootfs.glue`` (the entries generated for this system: directories, ``config.json``,
``runtime.json``, ``boot/``, ``files``, the end of the archive) and whole section files of
the cache (images under their prefixes, see :mod:`._segments`), which every bundle that has
them shares. ``rootfs.parts.json`` lists them in order with their lengths and CRC-32s, so a
rebuild that changes one service writes one section and a small glue file, not the whole
root filesystem again.

Readers see one tar: :class:`RootfsReader` is a seekable, read-only stream over the parts
that checks each part's CRC-32 when it is read from its start to its end (a damaged or
missing section is an :class:`~moby_assemble.IntegrityError` naming the file). The tar as
one file (``rootfs.tar``) and its SHA-256 are made from it on first use and kept in the
bundle directory.

The bundle's name is the SHA-256 of ``rootfs.parts.json`` (whose glue entry carries the glue
file's own SHA-256, and whose sections are named by key, length and CRC-32): two assemblies
of the same system find the same bundle.

Example::

    parts = RootfsParts.load(bundle_dir)
    with parts.open() as tar:
        first_block = tar.read(512)
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from .._bghash import BackgroundHash
from .._crc import crc32
from .._errors import IntegrityError, StoreError
from .._stale import lock_fd, replace_file, touch
from ._segments import FORMAT as SECTION_FORMAT
from ._segments import SectionInfo, SectionStore, Segment

__all__ = ["GLUE_NAME", "PARTS_NAME", "Part", "PartsSink", "RootfsParts", "RootfsReader"]

logger = logging.getLogger("moby_assemble.assemble")

#: The bundle's own bytes.
GLUE_NAME = "rootfs.glue"
#: The list of parts.
PARTS_NAME = "rootfs.parts.json"
#: The root tar as one file, made on first use.
TAR_NAME = "rootfs.tar"
#: Its SHA-256, made on first use.
SHA256_NAME = "rootfs.sha256"

_CHUNK = 1 << 20


@attrs.frozen
class Part:
    """A run of bytes of the root tar.

    Attributes:
        section: the key of the section file holding them, or ``""`` for the glue file.
        offset: where they start in that file.
        length: how many.
        crc32: their CRC-32.
    """

    section: str
    offset: int
    length: int
    crc32: int


class PartsSink:
    """Where the root filesystem writer's bytes go (a file-like object with ``write``).

    Bytes go to the glue file, except between :meth:`start_section` and
    :meth:`end_section`, when they go to a new section file; :meth:`add_section` appends a
    section that is already in the cache without writing anything.

    Args:
        glue: the bundle's glue file, open for writing.
        sections: the cache's sections.
    """

    def __init__(self, glue: BinaryIO, sections: SectionStore) -> None:
        self._glue = glue
        self._sections = sections
        self._glue_hash = hashlib.sha256()
        self._glue_size = 0
        self._run = (0, 0)  # current glue run: start offset, CRC-32
        self._section: tuple[BinaryIO, Path] | None = None
        self._section_size = 0
        self._section_crc = 0
        self.parts: list[Part] = []
        #: Bytes of tar so far.
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        if self._section is not None:
            self._section_crc = crc32(data, self._section_crc)
            self._section[0].write(data)
            self._section_size += n
        else:
            start, crc = self._run
            self._run = (start, crc32(data, crc))
            self._glue.write(data)
            self._glue_hash.update(data)
            self._glue_size += n
        self.size += n
        return n

    def flush(self) -> None:
        """Nothing is buffered here (the writer above buffers)."""

    def _end_run(self) -> None:
        start, crc = self._run
        if self._glue_size > start:
            self.parts.append(Part("", start, self._glue_size - start, crc))
        self._run = (self._glue_size, 0)

    def start_section(self) -> None:
        """Send what follows to a new section file."""
        self._end_run()
        self._section = self._sections.create()
        self._section_size = self._section_crc = 0

    def end_section(self, key: str, info: SectionInfo) -> Segment:
        """Close the section file and publish it as ``key`` (on the section store's
        background thread); what follows goes to the glue file again."""
        section, self._section = self._section, None
        if section is None:
            raise RuntimeError("end_section() without start_section()")
        file, tmp = section
        self.parts.append(Part(key, 0, self._section_size, self._section_crc))
        return self._sections.commit(
            key, file, tmp, length=self._section_size, crc=self._section_crc, info=info
        )

    def add_section(self, segment: Segment) -> None:
        """Append the stored section ``segment`` (nothing is written)."""
        self._end_run()
        self.parts.append(Part(segment.key, 0, segment.length, segment.crc32))
        self.size += segment.length

    def abort(self) -> None:
        """Remove an unfinished section file (the assembly failed)."""
        section, self._section = self._section, None
        if section is not None:
            section[0].close()
            section[1].unlink(missing_ok=True)

    def finish(self) -> dict[str, Any]:
        """The parts document (see the module documentation); write nothing after it."""
        self._end_run()
        return {
            "format": 1,
            "size": self.size,
            "glue": {"size": self._glue_size, "sha256": self._glue_hash.hexdigest()},
            "sections": SECTION_FORMAT,
            "parts": [[p.section, p.offset, p.length, p.crc32] for p in self.parts],
        }


def encode_parts(doc: dict[str, Any]) -> bytes:
    """The bytes of ``rootfs.parts.json`` (sorted keys: the bundle's name hashes them)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"


@attrs.frozen
class RootfsParts:
    """The parts of a bundle's root tar (see the module documentation).

    Attributes:
        directory: the bundle directory.
        sections: the cache's section directory.
        parts: the parts, in order.
        size: the tar's size.
    """

    directory: Path
    sections: Path
    parts: tuple[Part, ...] = attrs.field(repr=False)
    size: int

    @classmethod
    def load(cls, directory: Path) -> RootfsParts:
        """Read ``directory``'s ``rootfs.parts.json`` (sections in ``../../sections``).

        Raises:
            StoreError: it is missing or damaged.
        """
        path = directory / PARTS_NAME
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("format") != 1 or doc.get("sections") != SECTION_FORMAT:
                raise ValueError(f"unknown format {doc.get('format')}/{doc.get('sections')}")
            parts = tuple(Part(str(s), int(o), int(n), int(c)) for s, o, n, c in doc["parts"])
            size = int(doc["size"])
            if sum(p.length for p in parts) != size:
                raise ValueError("the parts do not add up to the size")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise StoreError(
                f"the bundle {directory} is damaged ({PARTS_NAME}: {e}); assemble it again",
                path=str(path),
            ) from None
        return cls(directory, directory.parent.parent / "sections", parts, size)

    @property
    def store(self) -> SectionStore:
        """The cache's sections."""
        return SectionStore(self.sections)

    def file_of(self, part: Part) -> Path:
        """The file holding ``part``'s bytes."""
        if not part.section:
            return self.directory / GLUE_NAME
        return self.store.tar_path(part.section)

    def complete(self) -> bool:
        """Whether every file the parts need is there, at least as long as they need."""
        for part in self.parts:
            try:
                if self.file_of(part).stat().st_size < part.offset + part.length:
                    return False
            except OSError:
                return False
        return True

    def mark_used(self) -> None:
        """Record the bundle and its sections as used now (see ``_prune``)."""
        touch(self.directory)
        store = self.store
        for key in dict.fromkeys(p.section for p in self.parts if p.section):
            store.mark_used(key)

    def open(self) -> io.BufferedReader:
        """The tar, as a seekable binary stream (see :class:`RootfsReader`)."""
        return io.BufferedReader(RootfsReader(self), _CHUNK)

    def tar(self) -> Path:
        """The tar as one file, ``rootfs.tar`` in the bundle directory (written whole, with
        its SHA-256, the first time)."""
        path = self.directory / TAR_NAME
        if path.is_file() and path.stat().st_size == self.size:
            return path
        self._write_tar(path)
        return path

    def known_sha256(self) -> str | None:
        """The tar's digest if it was computed already (see :meth:`sha256`)."""
        try:
            known = (self.directory / SHA256_NAME).read_text().strip()
        except OSError:
            return None
        if len(known) == 71 and known.startswith("sha256:"):
            return known
        return None

    def sha256(self) -> str:
        """The tar's digest (``sha256:…``), computed the first time and kept."""
        known = self.known_sha256()
        if known is not None:
            return known
        digest = hashlib.sha256()
        with self.open() as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        value = f"sha256:{digest.hexdigest()}"
        self._keep(SHA256_NAME, (value + "\n").encode())
        return value

    def _keep(self, name: str, data: bytes) -> None:
        """Store a derived file in the bundle directory (only an optimisation: errors are
        logged)."""
        try:
            replace_file(self.directory / name, data)
        except OSError as e:
            logger.debug("cannot keep %s in %s: %s", name, self.directory, e)

    def _write_tar(self, path: Path) -> None:
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{TAR_NAME}.", suffix=".tmp")
        except OSError as e:
            raise StoreError(
                f"cannot write {path}: {e.strerror}", path=str(self.directory)
            ) from None
        lock_fd(fd)
        try:
            # Hashed on a second core while the bytes are written (each chunk is a new
            # object, as BackgroundHash needs).
            with BackgroundHash() as digest, os.fdopen(fd, "wb") as out, self.open() as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                value = digest.hexdigest()
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._keep(SHA256_NAME, f"sha256:{value}\n".encode())


class RootfsReader(io.RawIOBase):
    """A read-only, seekable stream of the parts (see the module documentation).

    A part read from its first to its last byte in order is checked against its CRC-32;
    reads after a seek into the middle of a part are not (that part, only).
    """

    def __init__(self, parts: RootfsParts) -> None:
        super().__init__()
        self._parts: Sequence[Part] = parts.parts
        self._store = parts.store
        self._files = [parts.file_of(p) for p in self._parts]
        self._starts: list[int] = []
        start = 0
        for part in self._parts:
            self._starts.append(start)
            start += part.length
        self._size = start
        self._pos = 0
        self._fds: dict[Path, int] = {}
        self._checking = -1  # the part whose CRC is being followed
        self._crc = 0
        self._checked_to = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def _fd(self, path: Path) -> int:
        fd = self._fds.get(path)
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise IntegrityError(
                    f"{path}, a part of the root filesystem, is gone (removed by cache gc?); "
                    "assemble the system again",
                    subject=str(path),
                ) from None
            self._fds[path] = fd
        return fd

    def readinto(self, buffer: Any) -> int:
        pos = self._pos
        if pos >= self._size:
            return 0
        index = bisect.bisect_right(self._starts, pos) - 1
        part = self._parts[index]
        within = pos - self._starts[index]
        view = memoryview(buffer).cast("B")
        n = min(len(view), part.length - within)
        path = self._files[index]
        got = os.preadv(self._fd(path), [view[:n]], part.offset + within)
        if got != n:
            raise IntegrityError(
                f"{path}, a part of the root filesystem, is shorter than its {part.length} "
                "bytes; assemble the system again",
                subject=str(path),
            )
        if within == 0:
            self._checking, self._crc, self._checked_to = index, 0, 0
        if self._checking == index and self._checked_to == within:
            self._crc = crc32(view[:n], self._crc)
            self._checked_to += n
            if self._checked_to == part.length and self._crc != part.crc32:
                self._checking = -1
                if part.section:
                    # Useless to anyone: dropped, so the next assembly encodes it again.
                    self._store.drop(part.section)
                raise IntegrityError(
                    f"{path}, a part of the root filesystem, does not match its CRC-32 "
                    f"(bytes {part.offset}+{part.length}); "
                    + ("it was removed: " if part.section else "")
                    + "assemble the system again",
                    subject=str(path),
                )
        self._pos = pos + n
        return n

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)
        super().close()
