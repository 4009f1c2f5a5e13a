"""The ``files`` step: files, directories and symlinks of the system, added after all images.

Each :class:`~moby_assemble.File` becomes one entry (``LINUXKIT.source`` =
``linuxkit.files``, ``LINUXKIT.location`` = ``files[i]``), owned by ``uid``/``gid`` (a
number, ``root``, or a container name: that container's allocated id), with ``mode``
(LinuxKit's defaults: ``0600`` files, ``0700`` directories; symlinks ``0777``). Content comes
from ``contents``, from ``source`` (a file on the build host, streamed; ``~`` is expanded;
relative paths in YAML are resolved against the YAML file's directory when it is read, and
paths still relative here are taken from the current directory), or from ``metadata``:
the system itself, pinned to the lock's digests, as ``yaml`` or ``json``. With ``optional``,
an unreadable ``source`` skips the entry silently.

Parent directories a path needs and the root filesystem does not have yet are created once,
with LinuxKit's mode (the file's mode plus ``x`` for every class with any bit) and the
file's owner. **Deliberate difference:** a parent that already exists (from an image or an
earlier entry) is left alone. LinuxKit writes it again with the file's mode and owner, so
``files: [{path: etc/hello, uid: svc}]`` hands ``/etc`` to the service's uid.

Example::

    files_step(ctx)
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from typing import IO, TYPE_CHECKING

from .._errors import ConfigError
from .._lock import pin_system
from ..layers import EntryType, TarEntry

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._model import File
    from ._context import BuildContext

__all__ = ["FILES_SOURCE", "directory_mode", "files_step"]

logger = logging.getLogger("moby_assemble.assemble")

#: ``LINUXKIT.source`` of entries from the files section.
FILES_SOURCE = "linuxkit.files"


def directory_mode(mode: int) -> int:
    """LinuxKit's mode for a parent directory created for a file of ``mode``: an ``x`` bit for
    every class (user, group, other) that has any bit.

    Example::

        >>> oct(directory_mode(0o640))
        '0o750'
    """
    for any_bits, x_bit in ((0o700, 0o100), (0o070, 0o010), (0o007, 0o001)):
        if mode & any_bits:
            mode |= x_bit
    return mode


def _path(file: File, index: int) -> str:
    raw = file.path.lstrip("/")
    parts = raw.split("/")
    if ".." in parts:
        raise ConfigError(
            f"file path {file.path!r} has a '..' component", path=f"files[{index}].path"
        )
    clean = posixpath.normpath(raw)
    if clean in (".", ""):
        raise ConfigError(f"file path {file.path!r} names the root", path=f"files[{index}].path")
    return clean


def _numeric_id(value: int | str | None, id_map: Mapping[str, int], path: str) -> int:
    if value is None or value in ("", "root"):
        return 0
    if isinstance(value, int):
        return value
    if value in id_map:
        return id_map[value]
    raise ConfigError(f"{value!r} is not a container of this system", path=path)


def _metadata(ctx: BuildContext, kind: str) -> bytes:
    pinned = pin_system(ctx.system, ctx.lock)
    if kind == "json":
        return json.dumps(pinned.to_dict(), indent=4, ensure_ascii=False).encode()
    return pinned.to_yaml().encode()


def _open_source(file: File, index: int) -> IO[bytes] | None:
    source = file.source_path()
    assert source is not None
    try:
        f = open(source, "rb")  # noqa: SIM115 (the caller closes it)
    except OSError as e:
        if file.optional:
            logger.debug("files[%d]: skipping optional %s (%s)", index, source, e.strerror)
            return None
        raise ConfigError(
            f"cannot read {source} for {file.path!r}: {e.strerror}", path=f"files[{index}].source"
        ) from None
    if not os.path.isfile(source):
        f.close()
        if file.optional:
            return None
        raise ConfigError(
            f"{source} (for {file.path!r}) is not a regular file", path=f"files[{index}].source"
        )
    return f


def files_step(ctx: BuildContext) -> bool:
    """Write the files section; no-op without files."""
    files = ctx.system.files
    if not files:
        return False
    w = ctx.writer
    epoch = ctx.source_date_epoch
    for index, file in enumerate(files):
        location = f"files[{index}]"
        name = _path(file, index)
        base_mode = file.mode if file.mode is not None else (0o700 if file.directory else 0o600)
        uid = _numeric_id(file.uid, ctx.id_map, f"{location}.uid")
        gid = _numeric_id(file.gid, ctx.id_map, f"{location}.gid")
        data: IO[bytes] | bytes | None = None
        if not file.directory and file.symlink is None:
            if file.contents is not None:
                data = file.contents.encode()
            elif file.metadata is not None:
                data = _metadata(ctx, file.metadata)
            elif file.source is not None:
                data = _open_source(file, index)
                if data is None:
                    continue
            else:
                data = b""
        try:
            parents = name.split("/")[:-1]
            for depth in range(len(parents)):
                parent = "/".join(parents[: depth + 1])
                if w.kind(parent) is None:
                    w.directory(
                        parent,
                        source=FILES_SOURCE,
                        location=location,
                        mode=directory_mode(base_mode),
                        uid=uid,
                        gid=gid,
                    )
            if file.directory:
                entry = TarEntry(name, EntryType.DIRECTORY, base_mode, uid, gid, mtime=epoch)
                w.add(entry, source=FILES_SOURCE, location=location)
            elif file.symlink is not None:
                mode = file.mode if file.mode is not None else 0o777
                entry = TarEntry(
                    name, EntryType.SYMLINK, mode, uid, gid, mtime=epoch, linkname=file.symlink
                )
                w.add(entry, source=FILES_SOURCE, location=location)
            elif isinstance(data, bytes):
                w.file(name, data, source=FILES_SOURCE, location=location, mode=base_mode,
                       uid=uid, gid=gid)  # fmt: skip
            else:
                assert data is not None
                size = os.fstat(data.fileno()).st_size
                entry = TarEntry(name, EntryType.FILE, base_mode, uid, gid, size, epoch)
                w.stream_file(entry, data, source=FILES_SOURCE, location=location)
        finally:
            if data is not None and not isinstance(data, bytes):
                data.close()
    return True
