"""Sections of root filesystems, written once and shared by every bundle that has them.

Most of a root filesystem tar is images copied under a prefix (``containers/services/web/
rootfs``, the root itself for init images) with LinuxKit's provenance records. That section
is a pure function of a few inputs: the image's manifest digest, the prefix, the
``LINUXKIT.source`` and ``LINUXKIT.location`` values, the kind of image (init, volume or
container), ``SOURCE_DATE_EPOCH`` and this library's version. So each section is written to
a file of its own, ``<cache>/sections/v2-<key>.tar``, and a bundle's root tar is the list of
its parts (see :mod:`._parts`): a rebuild after changing one service writes that service's
section and the small generated entries, and refers to every other section as it is.
(LinuxKit gets part of the effect from ``--input-tar OLD``; here it needs no flag, works
across systems and copies nothing.)

Next to each section, ``v2-<key>.json`` says how long it is, its CRC-32, how many entries
it has, and the names it writes with their kind (the root filesystem writer needs them to
know which directories exist), and keeps the image's apk database for LinuxKit's merged one.
A section is written under a temporary name (locked, see :mod:`.._stale`), ``fsync``-ed and
renamed on a background thread while the assembly goes on, and its description is written
after that: a description always names complete bytes. Bytes read back are checked against
the CRC-32 (accidental damage; a mismatch is an :class:`~moby_assemble.IntegrityError` and
the section is dropped, so the next assembly encodes it again).

Example::

    sections = SectionStore(cache / "sections")
    key = segment_key(digest, prefix="containers/services/web/rootfs", source=ref,
                      location="services[0]", kind="container", epoch=0)
    found = sections.lookup(key)          # a Segment, or None
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, overload

import attrs

from .._errors import StoreError
from .._fsync import fsync_path
from .._stale import lock_fd, replace_file, touch
from .._version import __version__

__all__ = ["FORMAT", "SectionInfo", "SectionStore", "Segment", "segment_key"]

logger = logging.getLogger("moby_assemble.assemble")

#: The sections' format: part of every key and file name.
FORMAT = "v2"


def segment_key(
    digest: str, *, prefix: str, source: str, location: str, kind: str, epoch: int
) -> str:
    """The key of an image's section: every input that decides its bytes."""
    inputs = [FORMAT, __version__, digest, prefix, source, location, kind, epoch]
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


@attrs.frozen
class Segment:
    """A section stored in the cache (see the module documentation).

    Attributes:
        key: the section's key.
        path: the file holding its bytes.
        length: its size.
        crc32: the CRC-32 of its bytes.
        entries: tar entries in the section.
        count: entries of the image itself (the rest are LinuxKit's generated ones).
        journal: ``(name, kind)`` of every entry in order, kind ``d`` (directory), ``l``
            (symbolic link) or anything else (other kinds).
        apk: the image's apk database (init images that have one), for LinuxKit's merged
            database.
        origin: for an image of several layers, what :mod:`._rebase` needs to make the
            section of an image that differs only in its top layer from this one
            (``source``, ``top``: the top layer's digest, ``base``: the key of its lower
            layers at this place).
    """

    key: str
    path: Path
    length: int
    crc32: int
    entries: int
    count: int
    journal: Sequence[tuple[str, str]] = attrs.field(repr=False)
    apk: bytes | None = attrs.field(default=None, repr=False)
    origin: Mapping[str, str] | None = attrs.field(default=None, repr=False)


@attrs.frozen
class SectionInfo:
    """What a section writer knows of a section besides its bytes (see :class:`Segment`).

    Attributes:
        entries: tar entries in the section.
        count: entries of the image itself.
        journal: ``(name, kind)`` of every entry in order.
        apk: the image's apk database, if any.
        origin: what a later rebase needs, if anything.
    """

    entries: int
    count: int
    journal: Sequence[tuple[str, str]] = attrs.field(repr=False)
    apk: bytes | None = attrs.field(default=None, repr=False)
    origin: Mapping[str, str] | None = None


class _Journal(Sequence[tuple[str, str]]):
    """A stored journal, split into pairs only when it is read (a rebuild reads each once)."""

    def __init__(self, names: str, kinds: str) -> None:
        self._names = names
        self._kinds = kinds
        if kinds and names.count("\0") + 1 != len(kinds):
            raise ValueError("the names do not match their kinds")

    def __len__(self) -> int:
        return len(self._kinds)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return (
            iter(zip(self._names.split("\0"), self._kinds, strict=True))
            if self._kinds
            else iter(())
        )

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, str]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, str] | Sequence[tuple[str, str]]:
        return list(self)[index]


class SectionStore:
    """The cache's sections (see the module documentation).

    Args:
        directory: where they live (created on first write).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def tar_path(self, key: str) -> Path:
        """Where the section ``key``'s bytes are."""
        return self.directory / f"{FORMAT}-{key}.tar"

    def _json_path(self, key: str) -> Path:
        return self.directory / f"{FORMAT}-{key}.json"

    def has(self, key: str) -> bool:
        """Whether the section ``key`` seems to be stored (:meth:`lookup` is sure)."""
        return self._json_path(key).exists() and self.tar_path(key).exists()

    def lookup(self, key: str) -> Segment | None:
        """The section ``key``, if it is in the cache whole (marked as used)."""
        path = self._json_path(key)
        tar = self.tar_path(key)
        try:
            # Our own file, whose journal alone has tens of thousands of brackets: parsed
            # without loads_json's depth walk (RecursionError still only drops the entry).
            doc = json.loads(path.read_bytes())
            length = int(doc["length"])
            if tar.stat().st_size != length:
                raise ValueError(f"{tar} has {tar.stat().st_size} bytes, not {length}")
            journal = _Journal(str(doc["names"]), str(doc["kinds"]))
            if len(journal) != int(doc["entries"]):
                raise ValueError("the names do not match the entries")
            apk = base64.b64decode(doc["apk"], validate=True) if "apk" in doc else None
            origin = doc.get("origin")
            if origin is not None and not all(isinstance(v, str) for v in origin.values()):
                raise ValueError("origin is not a map of strings")
            found = Segment(
                key,
                tar,
                length,
                int(doc["crc32"]),
                int(doc["entries"]),
                int(doc["count"]),
                journal,
                apk,
                origin,
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, binascii.Error, RecursionError) as e:
            # A damaged entry only costs the reuse: drop it.
            logger.warning("ignoring the damaged section %s: %s", path, e)
            self.drop(key)
            return None
        self.mark_used(key)
        return found

    def mark_used(self, key: str) -> None:
        """Record the section ``key`` as used now (see ``_prune``)."""
        touch(self.tar_path(key))
        touch(self._json_path(key))

    def extra_path(self, key: str, name: str) -> Path:
        """Where a file kept with the section ``key`` is (``name``: ``kernel``, ``ucode``)."""
        return self.directory / f"{FORMAT}-{key}.{name}"

    def keep_extra(self, key: str, name: str, source: Path) -> None:
        """Keep the finished file ``source`` with the section ``key`` (hard-linked, else
        copied; made durable first). Failures only cost the reuse: they are logged."""
        target = self.extra_path(key, name)
        tmp = self.directory / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fsync_path(source)
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
                fsync_path(tmp)
            os.replace(tmp, target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            logger.warning("cannot keep %s with its section: %s", source.name, e)

    def take_extra(self, key: str, name: str, target: Path) -> bool:
        """Put the file kept with the section ``key`` at ``target`` (a hard link, else a
        copy); ``False`` if it is not there."""
        source = self.extra_path(key, name)
        try:
            try:
                os.link(source, target)
            except FileNotFoundError:
                return False
            except OSError:
                shutil.copyfile(source, target)
        except FileNotFoundError:
            return False
        touch(source)
        return True

    def drop(self, key: str) -> None:
        """Forget the section ``key`` (damaged): the next assembly encodes it again."""
        self._json_path(key).unlink(missing_ok=True)
        self.tar_path(key).unlink(missing_ok=True)

    def create(self) -> tuple[BinaryIO, Path]:
        """A new temporary section file, locked, and its name (see :meth:`commit`)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{FORMAT}-", suffix=".tmp")
        except OSError as e:
            raise StoreError(
                f"cannot write a section in {self.directory}: {e.strerror}",
                path=str(self.directory),
            ) from None
        lock_fd(fd)
        return os.fdopen(fd, "wb", buffering=0), Path(tmp)

    def commit(
        self,
        key: str,
        file: BinaryIO,
        tmp: Path,
        *,
        length: int,
        crc: int,
        info: SectionInfo,
    ) -> Segment:
        """Publish the finished temporary section ``tmp`` (``file`` still open) as ``key``:
        made durable and renamed on a background thread (see :meth:`wait`), then
        described. Returns what it will be once :meth:`wait` returns."""
        journal = info.journal
        doc: dict[str, Any] = {
            "length": length,
            "crc32": crc,
            "entries": info.entries,
            "count": info.count,
            # One string each, not a list of pairs: parsed ten times faster.
            "names": "\0".join(name for name, _ in journal),
            "kinds": "".join(kind or "-" for _, kind in journal),
        }
        if info.apk is not None:
            doc["apk"] = base64.b64encode(info.apk).decode("ascii")
        if info.origin is not None:
            doc["origin"] = dict(info.origin)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="moby-assemble-sync")
        self._pending.append(self._pool.submit(self._publish, key, file, tmp, doc))
        return Segment(
            key,
            self.tar_path(key),
            length,
            crc,
            info.entries,
            info.count,
            journal,
            info.apk,
            info.origin,
        )

    def _publish(self, key: str, file: BinaryIO, tmp: Path, doc: dict[str, Any]) -> None:
        try:
            try:
                os.fsync(file.fileno())
            finally:
                file.close()  # releases the lock: the rename below is the last step
            os.replace(tmp, self.tar_path(key))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        replace_file(self._json_path(key), json.dumps(doc, separators=(",", ":")).encode())
        base = doc.get("origin", {}).get("base")
        if base is not None:  # the latest section with these lower layers at this place
            replace_file(self._base_path(base), key.encode())

    def _base_path(self, base: str) -> Path:
        return self.directory / f"{FORMAT}-base-{base}.key"

    def latest_with_base(self, base: str) -> str | None:
        """The key of the section last written for lower layers ``base`` (see ``origin``)."""
        try:
            key = self._base_path(base).read_text().strip()
        except OSError:
            return None
        return key if len(key) == 64 and all(c in "0123456789abcdef" for c in key) else None

    def wait(self) -> None:
        """Wait until every committed section is durable under its name.

        Raises:
            StoreError: one could not be written (the first failure).
        """
        pending, self._pending = self._pending, []
        failure: BaseException | None = None
        for future in pending:
            try:
                future.result()
            except BaseException as e:
                failure = failure or e
        if isinstance(failure, OSError):
            raise StoreError(
                f"cannot write a section in {self.directory}: {failure}",
                path=str(self.directory),
            ) from failure
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Wait for the background thread (its failures are only logged here) and stop it."""
        try:
            self.wait()
        except Exception as e:
            logger.warning("a section was not written: %s", e)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
