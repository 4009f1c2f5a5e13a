"""The content of one image layer: package entries and recipe files, normalised and sorted.

How a layer made from Debian packages looks:

- Paths are what the packages ship, relative (``bin/busybox``, ``usr/sbin/runc``), as
  ``dpkg -x`` would lay them out on an unmerged system. Debian 12 still ships ``/bin`` and
  ``/lib`` paths (its merged ``/usr`` is made at install time), and LinuxKit's own images
  (Alpine) have real ``/bin`` and ``/lib`` directories, so a layer that is unpacked into a
  shared root (init, runtime, the kernel's ``kernel.tar``) must not turn ``lib`` into a
  symlink. With ``usrmerge = true`` a recipe instead gets Debian 12's merged layout:
  ``bin``, ``sbin``, ``lib``, ``lib32``, ``lib64``, ``libx32`` are moved under ``usr/`` (relative
  symlink targets are rewritten so they still point at the same file) and ``bin -> usr/bin``
  style symlinks are added for each of them that is used.
- Every entry gets ``mtime = SOURCE_DATE_EPOCH`` (default 0) and root ownership (0:0, no
  user or group names) unless the recipe says otherwise; PAX records other than extended
  attributes are dropped. The root directory ``.`` is not written.
- Entries are sorted by name; missing parent directories are added (0755, root). Hard links
  are kept: in each set of linked names the first in sorted order carries the data and the
  others link to it, whatever order the package had.
- Recipe files override package files at the same path; two packages that ship one path with
  different content (or a file where the other has a directory) are a :class:`ConfigError`.

File data is spooled to an anonymous temporary file, so memory does not grow with the
packages (a kernel's modules are ~100 MB).

Example::

    content = LayerContent(mtime=0)
    content.add_package(deb, PackageSpec("busybox-static", include=("bin/busybox",)))
    content.add_file(FileSpec("bin/sh", symlink="busybox"))
    with open("layer.tar", "wb") as out:
        content.write_tar(out)
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import attrs

from .._errors import ConfigError
from ..layers import EntryType, TarEntry, TarWriter
from ._deb import DebPackage, _Slice
from ._recipe import FileSpec, PackageSpec

__all__ = ["LayerContent", "compile_globs", "glob_matches"]

#: Top-level directories Debian's merged-/usr layout moves under ``usr/``.
MERGED_DIRS = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
_SYMLINK_MODE = 0o777
_CHUNK = 1 << 20


def _glob_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for several path globs (``*``, ``?``, ``[...]``, ``**``); ``None`` if empty."""
    parts = [_glob_regex(p.strip("/")) for p in patterns]
    if not parts:
        return None
    return re.compile("(?:" + "|".join(parts) + ")")


def glob_matches(regex: re.Pattern[str] | None, path: str) -> bool:
    """Whether ``path`` or one of its parent directories matches ``regex``.

    Example::

        >>> rx = compile_globs(["usr/share/doc", "lib/*/libc.so.*"])
        >>> [glob_matches(rx, p) for p in ("usr/share/doc/x/copyright", "lib/x86_64/libc.so.6",
        ...                                "lib/x86_64/sub/libc.so.6", "usr/share")]
        [True, True, False, False]
    """
    if regex is None:
        return False
    while path:
        if regex.fullmatch(path):
            return True
        path = posixpath.dirname(path)
    return False


def merged_path(path: str) -> str:
    """Where ``path`` lives in Debian's merged-/usr layout (``bin/sh`` → ``usr/bin/sh``)."""
    top = path.split("/", 1)[0]
    return f"usr/{path}" if top in MERGED_DIRS else path


def _merged_symlink_target(old_path: str, new_path: str, target: str) -> str:
    """A relative symlink target that still reaches the same file after the move."""
    if target.startswith("/") or old_path == new_path:
        return target
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(old_path), target))
    if resolved.startswith("../") or resolved == "..":
        return target  # points above the root: nothing sensible to keep
    new_target = merged_path(resolved) if resolved != "." else "."
    return posixpath.relpath(new_target, posixpath.dirname(new_path) or ".")


@attrs.frozen
class _Data:
    offset: int
    size: int
    sha256: str


@attrs.frozen
class _Item:
    """One entry of the layer, before ordering: metadata, where its data is, where it came
    from (for conflict messages), and the hard-link set it belongs to."""

    entry: TarEntry
    data: _Data | None
    origin: str
    link_group: tuple[str, str] | None = None

    def same_as(self, other: _Item) -> bool:
        a, b = self.entry, other.entry
        a_type = EntryType.FILE if a.type is EntryType.HARDLINK else a.type
        b_type = EntryType.FILE if b.type is EntryType.HARDLINK else b.type
        return (
            a_type == b_type
            and a.mode == b.mode
            and a.uid == b.uid
            and a.gid == b.gid
            and (a.linkname == b.linkname or a.type is EntryType.HARDLINK)
            and (self.data.sha256 if self.data else None)
            == (other.data.sha256 if other.data else None)
        )


class _Spool:
    """Append-only anonymous temporary file holding file data."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="moby-assemble-pkg-")  # noqa: SIM115
        self._end = 0

    def put(self, chunks: Iterable[bytes]) -> _Data:
        h = hashlib.sha256()
        start = self._end
        self._file.seek(start)
        for chunk in chunks:
            self._file.write(chunk)
            h.update(chunk)
            self._end += len(chunk)
        return _Data(start, self._end - start, h.hexdigest())

    def reader(self, data: _Data) -> BinaryIO:
        self._file.flush()
        return _Slice(self._file, data.offset, data.size)  # type: ignore[return-value]

    def read(self, data: _Data) -> bytes:
        return self.reader(data).read()

    def close(self) -> None:
        self._file.close()


def _chunks(entry: TarEntry) -> Iterator[bytes]:
    while chunk := entry.read(_CHUNK):
        yield chunk


def _xattrs_only(entry: TarEntry) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in entry.pax if k.startswith("SCHILY.xattr."))


class LayerContent:
    """The entries of one layer, collected from packages and recipe files.

    Args:
        mtime: the modification time of every entry (``SOURCE_DATE_EPOCH``).
        usrmerge: lay the content out as Debian's merged ``/usr`` (see the module docstring).
        recipe_file: the recipe, for error messages.

    A ``LayerContent`` owns a temporary file; use it as a context manager or call
    :meth:`close`.
    """

    def __init__(
        self,
        *,
        mtime: int = 0,
        usrmerge: bool = False,
        recipe_file: str | None = None,
        _spool: _Spool | None = None,
    ) -> None:
        self.mtime = mtime
        self.usrmerge = usrmerge
        self.recipe_file = recipe_file
        self._spool = _spool or _Spool()
        self._owns_spool = _spool is None
        self._items: dict[str, _Item] = {}
        self._merged_used: set[str] = set()

    def __enter__(self) -> LayerContent:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the spooled data (only the content that created the spool owns it)."""
        if self._owns_spool:
            self._spool.close()

    # -- adding --------------------------------------------------------------------------------

    def _place(self, path: str) -> str:
        if not self.usrmerge:
            return path
        top = path.split("/", 1)[0]
        if top in MERGED_DIRS:
            self._merged_used.add(top)
        return merged_path(path)

    def _conflict(self, path: str, new: _Item, old: _Item, where: str) -> ConfigError:
        return ConfigError(
            f"{new.origin} and {old.origin} both provide {path!r} with different content",
            path=where,
            file=self.recipe_file,
        )

    def _put(self, item: _Item, where: str, *, override: bool = False) -> None:
        path = item.entry.name
        old = self._items.get(path)
        if old is None:
            self._items[path] = item
            return
        new_dir = item.entry.type is EntryType.DIRECTORY
        old_dir = old.entry.type is EntryType.DIRECTORY
        if new_dir and old_dir:
            if override:
                self._items[path] = item
            return
        if old_dir != new_dir:
            raise ConfigError(
                f"{item.origin} puts a {'directory' if new_dir else 'non-directory'} at "
                f"{path!r}, where {old.origin} has a "
                f"{'directory' if old_dir else 'non-directory'}",
                path=where,
                file=self.recipe_file,
            )
        if override or old.same_as(item):
            if override:
                self._items[path] = item
            return
        raise self._conflict(path, item, old, where)

    def add_package(
        self,
        deb: DebPackage,
        spec: PackageSpec,
        *,
        exclude: Iterable[str] = (),
        where: str = "packages",
    ) -> int:
        """Add the ``data.tar`` entries of ``deb`` that ``spec`` selects; returns how many.

        Args:
            deb: the package.
            spec: its recipe entry (include/exclude globs, ownership).
            exclude: globs dropped from every package (the recipe's top-level ``exclude``).
            where: the recipe path of ``spec``, for errors.

        Raises:
            ConfigError: a path conflicts with another package's.
            LayerError: the package is corrupt or has hostile names.
        """
        include_rx = compile_globs(spec.include)
        exclude_rx = compile_globs((*spec.exclude, *exclude))
        origin = f"package {deb.name} {deb.version}"
        # Every regular file is spooled, selected or not: a selected hard link may point at a
        # file that was not selected, and it then needs that file's data.
        collected: list[tuple[TarEntry, _Data | None]] = []
        by_name: dict[str, int] = {}
        for entry in deb.data():
            if entry.name == ".":
                continue
            data = None
            if entry.type is EntryType.FILE:
                data = self._spool.put(_chunks(entry))
            by_name[entry.name] = len(collected)
            collected.append((entry.evolve(_payload=None), data))

        def selected(name: str, etype: EntryType) -> bool:
            if glob_matches(exclude_rx, name):
                return False
            if include_rx is None:
                return True
            return glob_matches(include_rx, name) if etype is not EntryType.DIRECTORY else False

        keep = {e.name for e, _ in collected if selected(e.name, e.type)}
        if include_rx is not None:
            # Directories come along when something under them is kept (or they are named).
            for name in list(keep):
                parent = posixpath.dirname(name)
                while parent and parent not in keep:
                    keep.add(parent)
                    parent = posixpath.dirname(parent)
            for e, _ in collected:
                if e.type is EntryType.DIRECTORY and include_rx.fullmatch(e.name):
                    keep.add(e.name)
        count = 0
        for entry, data in collected:
            if entry.name not in keep:
                continue
            group: tuple[str, str] | None = None
            if entry.type is EntryType.HARDLINK:
                index = by_name.get(entry.linkname)
                target = collected[index] if index is not None else None
                if target is None or target[1] is None:
                    raise ConfigError(
                        f"{origin}: hard link {entry.name!r} points at {entry.linkname!r}, "
                        "which is not a regular file earlier in the package",
                        path=where,
                        file=self.recipe_file,
                    )
                data = target[1]
                group = (deb.name, entry.linkname)
            elif entry.type is EntryType.FILE:
                group = (deb.name, entry.name)
            name = self._place(entry.name)
            linkname = entry.linkname
            if entry.type is EntryType.SYMLINK and self.usrmerge:
                linkname = _merged_symlink_target(entry.name, name, linkname)
            uid, gid = (entry.uid, entry.gid) if spec.keep_ownership else (0, 0)
            out = TarEntry(
                name,
                entry.type,
                entry.mode,
                uid,
                gid,
                data.size if data is not None else 0,
                self.mtime,
                linkname if entry.type is not EntryType.HARDLINK else "",
                devmajor=entry.devmajor,
                devminor=entry.devminor,
                pax=_xattrs_only(entry),
            )
            self._put(_Item(out, data, origin, group), where)
            count += 1
        return count

    def add_file(self, spec: FileSpec, *, where: str = "files") -> None:
        """Add a recipe file, directory or symlink; it replaces a package's entry there.

        Raises:
            ConfigError: the source file cannot be read, or it would replace a directory.
        """
        name = self._place(spec.path)
        if spec.directory:
            entry = TarEntry(
                name, EntryType.DIRECTORY, spec.mode if spec.mode is not None else 0o755,
                spec.uid, spec.gid, 0, self.mtime,
            )  # fmt: skip
            self._put(_Item(entry, None, "the recipe"), where, override=True)
            return
        if spec.symlink is not None:
            entry = TarEntry(
                name, EntryType.SYMLINK, _SYMLINK_MODE, spec.uid, spec.gid, 0, self.mtime,
                spec.symlink,
            )  # fmt: skip
            self._put(_Item(entry, None, "the recipe"), where, override=True)
            return
        if spec.source is not None:
            try:
                payload = spec.source.read_bytes()
            except OSError as e:
                raise ConfigError(
                    f"cannot read {spec.source}: {e.strerror}", path=where, file=self.recipe_file
                ) from None
        else:
            payload = (spec.contents or "").encode("utf-8")
        mode = spec.mode if spec.mode is not None else 0o644
        self.add_bytes(name, payload, mode=mode, uid=spec.uid, gid=spec.gid, where=where,
                       origin="the recipe", placed=True)  # fmt: skip

    def add_bytes(
        self,
        path: str,
        payload: bytes,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        where: str = "",
        origin: str = "moby-assemble",
        placed: bool = False,
    ) -> None:
        """Add a generated regular file (it replaces whatever is at ``path``)."""
        name = path if placed else self._place(path)
        data = self._spool.put((payload,))
        entry = TarEntry(name, EntryType.FILE, mode, uid, gid, len(payload), self.mtime)
        self._put(_Item(entry, data, origin), where, override=True)

    def add_stream(self, path: str, stream: BinaryIO, *, mode: int = 0o644) -> None:
        """Add a generated regular file read from ``stream`` to its end (in chunks)."""
        data = self._spool.put(iter(lambda: stream.read(_CHUNK), b""))
        entry = TarEntry(path, EntryType.FILE, mode, 0, 0, data.size, self.mtime)
        self._put(_Item(entry, data, "moby-assemble"), "", override=True)

    # -- reading -------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The paths collected so far (no implied parents), sorted."""
        return sorted(self._items)

    def entry(self, path: str) -> TarEntry | None:
        """The entry at ``path`` (as placed), or ``None``."""
        item = self._items.get(path)
        return item.entry if item else None

    def read(self, path: str) -> bytes:
        """The data of the regular file (or hard link) at ``path``."""
        item = self._items[path]
        return self._spool.read(item.data) if item.data is not None else b""

    def select(self, keep: Callable[[str], bool]) -> LayerContent:
        """A new content with the entries whose path ``keep`` accepts (sharing the spool)."""
        out = LayerContent(
            mtime=self.mtime, usrmerge=False, recipe_file=self.recipe_file, _spool=self._spool
        )
        out._items = {p: i for p, i in self._items.items() if keep(p)}
        return out

    def remove(self, drop: Callable[[str], bool]) -> None:
        """Forget the entries whose path ``drop`` accepts."""
        self._items = {p: i for p, i in self._items.items() if not drop(p)}

    def _final_items(self) -> dict[str, _Item]:
        items = dict(self._items)
        for top in sorted(self._merged_used):
            link = TarEntry(
                top, EntryType.SYMLINK, _SYMLINK_MODE, 0, 0, 0, self.mtime, f"usr/{top}"
            )
            if top not in items:
                items[top] = _Item(link, None, "usrmerge")
        for path in list(items):
            parent = posixpath.dirname(path)
            while parent and parent not in items:
                items[parent] = _Item(
                    TarEntry(parent, EntryType.DIRECTORY, 0o755, 0, 0, 0, self.mtime),
                    None,
                    "implied parent",
                )
                parent = posixpath.dirname(parent)
        return items

    def entries(self) -> Iterator[tuple[TarEntry, BinaryIO | None]]:
        """The layer's entries in order, each with a reader of its data (files only)."""
        items = self._final_items()
        leaders: dict[tuple[str, str], str] = {}
        for path in sorted(items):
            item = items[path]
            entry = item.entry
            if item.link_group is not None:
                leader = leaders.get(item.link_group)
                if leader is not None:
                    yield entry.evolve(type=EntryType.HARDLINK, size=0, linkname=leader), None
                    continue
                leaders[item.link_group] = path
                entry = entry.evolve(type=EntryType.FILE, linkname="")
            if item.data is not None and entry.type is EntryType.FILE:
                yield entry, self._spool.reader(item.data)
            else:
                yield entry, None

    def write_tar(self, out: BinaryIO) -> int:
        """Write the layer as an uncompressed tar to ``out``; returns the bytes written."""
        with TarWriter(out) as writer:
            for entry, data in self.entries():
                writer.add(entry, data)
        return writer.bytes_written

    @property
    def size(self) -> int:
        """The bytes of file data collected (hard links counted once)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for item in self._items.values():
            if item.data is not None and (item.data.offset, item.data.size) not in seen:
                seen.add((item.data.offset, item.data.size))
                total += item.data.size
        return total
