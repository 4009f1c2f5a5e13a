"""Reusing the bytes of earlier root filesystems: an image's section of ``rootfs.tar``.

Most of a root filesystem tar is images copied under a prefix (``containers/services/web/
rootfs``, the root itself for init images) with LinuxKit's provenance records. That section
is a pure function of a few inputs: the image's manifest digest, the prefix, the
``LINUXKIT.source`` and ``LINUXKIT.location`` values, the kind of image (init, volume or
container), ``SOURCE_DATE_EPOCH`` and this library's version. A rebuild after changing one
service therefore need not re-encode the others' entries: their sections are copied, as
bytes, from the ``rootfs.tar`` of an earlier bundle in the cache. (LinuxKit gets the same
effect from ``--input-tar OLD``; here it needs no flag and works across systems.)

The index is ``<cache>/segments/v1-<key>.json``: which bundle's ``rootfs.tar`` holds the
section, where, its CRC-32, how many entries it has, and the names it writes with their kind
(the root filesystem writer needs them to know which directories exist). An entry is only
written after its bundle is published, and bundles are never modified, only removed whole by
``cache gc``: an entry whose bundle is gone is ignored. Bytes copied are checked against the
CRC-32 (accidental damage; a mismatch is an :class:`~moby_assemble.IntegrityError` and the
entry is dropped, so the next assembly encodes the section again).

Example::

    index = SegmentIndex(cache / "segments", cache / "bundles")
    key = segment_key(digest, prefix="containers/services/web/rootfs", source=ref,
                      location="services[0]", kind="container", epoch=0)
    found = index.lookup(key)          # a Segment, or None
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import attrs

from .._crc import crc32
from .._errors import IntegrityError
from .._stale import lock_fd, touch
from .._version import __version__
from ._rootfs import Section

__all__ = ["Segment", "SegmentIndex", "segment_key"]

logger = logging.getLogger("moby_assemble.assemble")

_FORMAT = "v1"
_CHUNK = 1 << 20
#: Journal kinds: what a name is after the section (directory, symlink, anything else).
KINDS = ("d", "l", "")


def segment_key(
    digest: str, *, prefix: str, source: str, location: str, kind: str, epoch: int
) -> str:
    """The key of an image's section: every input that decides its bytes."""
    inputs = [_FORMAT, __version__, digest, prefix, source, location, kind, epoch]
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


@attrs.frozen
class Segment:
    """Where an earlier ``rootfs.tar`` holds a section (see the module documentation).

    Attributes:
        key: the section's key.
        rootfs: the tar holding it.
        offset, length: its bytes in that tar.
        crc32: their CRC-32.
        entries: tar entries in the section.
        count: entries of the image itself (the rest are LinuxKit's generated ones).
        journal: ``(name, kind)`` of every entry in order, kind one of :data:`KINDS`.
        apk: the image's apk database (init images that have one), for LinuxKit's merged
            database.
    """

    key: str
    rootfs: Path
    offset: int
    length: int
    crc32: int
    entries: int
    count: int
    journal: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    apk: bytes | None = attrs.field(default=None, repr=False)


class SegmentIndex:
    """The index of reusable sections (see the module documentation).

    Args:
        directory: where the index lives (created on first write).
        bundles: the bundles directory the index points into.
    """

    def __init__(self, directory: Path, bundles: Path) -> None:
        self._dir = directory
        self._bundles = bundles
        self._pending: list[dict[str, Any]] = []

    def _path(self, key: str) -> Path:
        return self._dir / f"{_FORMAT}-{key}.json"

    def lookup(self, key: str) -> Segment | None:
        """The section with ``key``, if an earlier bundle that holds it still exists."""
        path = self._path(key)
        try:
            # Our own file, whose journal alone has tens of thousands of brackets: parsed
            # without loads_json's depth walk (RecursionError still only drops the entry).
            doc = json.loads(path.read_bytes())
            rootfs = self._bundles / doc["bundle"] / "rootfs.tar"
            if rootfs.stat().st_size < doc["offset"] + doc["length"]:
                return None
            journal = tuple((str(n), str(k)) for n, k in doc["journal"])
            apk = base64.b64decode(doc["apk"], validate=True) if "apk" in doc else None
            return Segment(
                key,
                rootfs,
                int(doc["offset"]),
                int(doc["length"]),
                int(doc["crc32"]),
                int(doc["entries"]),
                int(doc["count"]),
                journal,
                apk,
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, binascii.Error, RecursionError) as e:
            # A damaged index entry only costs the reuse: drop it.
            logger.warning("ignoring the damaged segment index entry %s: %s", path, e)
            path.unlink(missing_ok=True)
            return None

    def copy(self, segment: Segment, write: Any) -> None:
        """Pass the section's bytes to ``write`` (in large pieces), checking the CRC-32.

        Raises:
            IntegrityError: the bytes do not match (the entry is dropped; what was passed
                to ``write`` must be discarded).
        """
        fd = os.open(segment.rootfs, os.O_RDONLY)
        touch(segment.rootfs.parent)  # its bundle is in use (see _prune)
        try:
            pos, left, check = segment.offset, segment.length, 0
            while left:
                chunk = os.pread(fd, min(left, _CHUNK), pos)
                if not chunk:
                    break
                check = crc32(chunk, check)
                write(chunk)
                pos += len(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        if left or check != segment.crc32:
            self._path(segment.key).unlink(missing_ok=True)
            raise IntegrityError(
                f"the section of {segment.rootfs} reused for this assembly (bytes "
                f"{segment.offset}+{segment.length}) no longer matches its CRC-32; its index "
                "entry was dropped and the next assembly encodes it again",
                subject=str(segment.rootfs),
            )

    def record(self, key: str, section: Section, *, count: int, apk: bytes | None = None) -> None:
        """Remember a section written by this assembly (indexed by :meth:`commit`), with
        how many of its entries are the image's own and the image's apk database."""
        doc: dict[str, Any] = {
            "key": key,
            "offset": section.offset,
            "length": section.length,
            "crc32": section.crc32,
            "entries": section.entries,
            "count": count,
            "journal": section.journal,
        }
        if apk is not None:
            doc["apk"] = base64.b64encode(apk).decode("ascii")
        self._pending.append(doc)

    def commit(self, bundle: Path) -> None:
        """Index the sections recorded so far as parts of the published ``bundle``.

        Failing to write the index only costs later reuse: it is logged, not raised.
        """
        pending, self._pending = self._pending, []
        for doc in pending:
            key = doc.pop("key")
            doc["bundle"] = bundle.name
            path = self._path(key)
            try:
                self._dir.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=f".{path.name}.", suffix=".tmp")
                lock_fd(fd)
                try:
                    # dumps, not dump: dump streams through the pure-Python encoder.
                    with os.fdopen(fd, "wb") as f:
                        f.write(json.dumps(doc, separators=(",", ":")).encode())
                    os.replace(tmp, path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            except OSError as e:
                logger.warning("cannot index a reusable section in %s: %s", self._dir, e)

    def discard(self) -> None:
        """Forget what was recorded (the assembly failed)."""
        self._pending.clear()
