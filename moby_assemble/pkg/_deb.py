"""Reading Debian packages in Python: the ``ar`` container, ``control`` fields, ``data.tar``.

A ``.deb`` is an ``ar`` archive holding ``debian-binary`` (``2.0``), ``control.tar.*`` and
``data.tar.*``, in that order. The tar members may be compressed with gzip, xz, lzma, zstd or
bzip2, or not at all. Nothing is ever extracted to the host filesystem: the tar streams are
decompressed on the fly and read with :func:`~moby_assemble.layers.read_tar`, which rejects
absolute names and ``..`` components. ``ar`` member names are checked too.

Example::

    deb = DebPackage.open("runc_1.1.5+ds1-1+deb12u1_amd64.deb")
    deb.control["Package"], deb.version, deb.architecture
    for entry in deb.data():          # TarEntry values, names like "usr/sbin/runc"
        ...
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import attrs

from .._errors import LayerError
from .._oci import MediaType
from ..layers import TarEntry, open_layer, read_tar

__all__ = ["DebPackage", "parse_control", "read_ar"]

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
# dpkg accepts these member names (plus a trailing "/" from GNU ar); anything else that is not
# an "_"-prefixed extension member is refused.
_MEMBER_RE = re.compile(r"^(?:debian-binary|(?:control|data)\.tar(?:\.(?:gz|xz|lzma|zst|bz2))?)$")
_CONTROL_FIELD_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):(.*)$")
# A control file is a few kilobytes; this bounds memory for hostile packages.
_MAX_CONTROL = 4 * 1024 * 1024


@attrs.frozen
class ArMember:
    """One member of an ``ar`` archive: its name, where its data starts, and its size."""

    name: str
    offset: int
    size: int


def read_ar(stream: BinaryIO, *, source: str) -> tuple[ArMember, ...]:
    """The members of an ``ar`` archive (System V / GNU, as ``dpkg-deb`` writes them).

    Args:
        stream: a seekable binary stream positioned anywhere; it is read from the start.
        source: the file name, for messages.

    Raises:
        LayerError: not an ``ar`` archive, a malformed header, a member that runs past the
            end, or a member name with ``/`` or a control character in it.

    Example::

        >>> import io
        >>> head = b"debian-binary/".ljust(48) + b"4".ljust(10) + b"`\\n"
        >>> data = b"!<arch>\\n" + head + b"2.0\\n"
        >>> [(m.name, m.size) for m in read_ar(io.BytesIO(data), source="x.deb")]
        [('debian-binary', 4)]
    """
    stream.seek(0, os.SEEK_END)
    end = stream.tell()
    stream.seek(0)
    if stream.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise LayerError(f"{source}: not a Debian package (no ar archive header)", layer=source)
    members: list[ArMember] = []
    pos = len(_AR_MAGIC)
    while pos < end:
        stream.seek(pos)
        header = stream.read(_AR_HEADER)
        if header == b"\n" and pos + 1 == end:
            break  # a trailing pad byte
        if len(header) != _AR_HEADER or header[58:60] != b"`\n":
            raise LayerError(f"{source}: malformed ar member header at byte {pos}", layer=source)
        try:
            raw_name = header[:16].decode("ascii").rstrip(" ")
            size = int(header[48:58].decode("ascii").strip() or "-1")
        except (UnicodeDecodeError, ValueError):
            raise LayerError(
                f"{source}: malformed ar member header at byte {pos}", layer=source
            ) from None
        name = raw_name[:-1] if raw_name.endswith("/") else raw_name
        if size < 0 or not name or "/" in name or any(ord(c) < 0x20 for c in name):
            raise LayerError(
                f"{source}: bad ar member {raw_name!r} at byte {pos}", layer=source, member=name
            )
        offset = pos + _AR_HEADER
        if offset + size > end:
            raise LayerError(
                f"{source}: ar member {name!r} claims {size} bytes but the file ends first "
                "(truncated download?)",
                layer=source,
                member=name,
            )
        members.append(ArMember(name, offset, size))
        pos = offset + size + (size & 1)
    return tuple(members)


class _Slice(io.RawIOBase):
    """A read-only window ``[offset, offset + size)`` onto a seekable stream."""

    def __init__(self, stream: BinaryIO, offset: int, size: int) -> None:
        super().__init__()
        self._stream = stream
        self._pos = offset
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._left)
        if n <= 0:
            return 0
        self._stream.seek(self._pos)
        data = self._stream.read(n)
        view[: len(data)] = data
        self._pos += len(data)
        self._left -= len(data)
        return len(data)


class _Checked(io.RawIOBase):
    """Turns decompressor errors (``EOFError``, ``LZMAError``, ``OSError``) into LayerErrors."""

    def __init__(self, inner: BinaryIO, what: str, source: str) -> None:
        super().__init__()
        self._inner = inner
        self._what = what
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        try:
            data = self._inner.read(len(view))
        except (EOFError, lzma.LZMAError, OSError, ValueError) as e:
            raise LayerError(
                f"{self._source}: {self._what} is corrupt or truncated: {e}",
                layer=self._source,
                member=self._what,
            ) from None
        view[: len(data)] = data
        return len(data)


def _decompressed(raw: BinaryIO, member: str, source: str) -> BinaryIO:
    suffix = member.rsplit(".tar", 1)[1]
    inner: BinaryIO
    if suffix in ("", ".gz", ".zst"):
        # The layer reader already does gzip and zstd (with truncation checks); a plain
        # tar passes through it unchanged.
        media_type = {
            "": MediaType.OCI_LAYER,
            ".gz": MediaType.OCI_LAYER_GZIP,
            ".zst": MediaType.OCI_LAYER_ZSTD,
        }[suffix]
        inner = open_layer(raw, media_type, name=f"{source}:{member}")
    elif suffix in (".xz", ".lzma"):
        inner = lzma.LZMAFile(raw)  # type: ignore[assignment]  # noqa: SIM115
    else:
        inner = bz2.BZ2File(raw)  # type: ignore[assignment]
    checked = _Checked(inner, member, source)
    return io.BufferedReader(checked, 1 << 20)


def parse_control(text: str, *, source: str = "control") -> dict[str, str]:
    """Parse one deb822 paragraph (a package's ``control`` file) into a dict.

    Continuation lines are joined with ``\\n`` as in the file (leading space kept off).

    Raises:
        LayerError: a line that is neither ``Field: value`` nor a continuation.

    Example::

        >>> parse_control("Package: runc\\nVersion: 1.1\\nDescription: x\\n more\\n")["Description"]
        'x\\nmore'
    """
    fields: dict[str, str] = {}
    last: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                break  # only the first paragraph describes the package
            continue
        if line[0] in " \t":
            if last is None:
                raise LayerError(f"{source}:{number}: continuation line before any field")
            fields[last] += "\n" + line.strip()
            continue
        m = _CONTROL_FIELD_RE.match(line)
        if m is None:
            raise LayerError(f"{source}:{number}: not a 'Field: value' line: {line[:60]!r}")
        last = m.group(1)
        fields[last] = m.group(2).strip()
    return fields


@attrs.frozen
class DebPackage:
    """A Debian binary package on disk, read without extracting it.

    Attributes:
        path: the ``.deb`` file.
        control: the fields of its ``control`` file (``Package``, ``Version``, …).
        sha256: the hex SHA-256 of the whole file (what apt's index lists).
        size: the file's size in bytes.

    Example::

        deb = DebPackage.open("/var/cache/apt/archives/busybox-static_1%3a1.35.0-4_amd64.deb")
        print(deb.name, deb.version)              # busybox-static 1:1.35.0-4
        names = [e.name for e in deb.data()]      # ['bin', 'bin/busybox', …]
    """

    path: Path
    control: Mapping[str, str] = attrs.field(eq=False, repr=False)
    sha256: str
    size: int
    _members: tuple[ArMember, ...] = attrs.field(repr=False, eq=False, alias="_members")

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> DebPackage:
        """Read the archive structure and the control file of ``path``.

        Raises:
            LayerError: not a well-formed ``.deb`` (see :func:`read_ar`), a format version
                other than 2.x, a missing control or data member, or no ``Package`` field.
            OSError: the file cannot be read.
        """
        path = Path(path)
        source = str(path)
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
            size = f.tell()
            members = read_ar(f, source=source)
            for m in members:
                if not m.name.startswith("_") and not _MEMBER_RE.match(m.name):
                    raise LayerError(
                        f"{source}: unexpected member {m.name!r} in a Debian package",
                        layer=source,
                        member=m.name,
                    )
            if not members or members[0].name != "debian-binary":
                raise LayerError(f"{source}: first member is not debian-binary", layer=source)
            f.seek(members[0].offset)
            version = f.read(min(members[0].size, 64)).decode("ascii", "replace").strip()
            if not version.startswith("2."):
                raise LayerError(
                    f"{source}: unsupported Debian package format {version!r}", layer=source
                )
            control_member = cls._member(members, "control.tar", source)
            cls._member(members, "data.tar", source)
            control_text = None
            for entry in read_tar(
                _decompressed(_Slice(f, control_member.offset, control_member.size),  # type: ignore[arg-type]
                              control_member.name, source),
                layer=f"{source}:{control_member.name}",
            ):  # fmt: skip
                if entry.name == "control":
                    if entry.size > _MAX_CONTROL:
                        raise LayerError(f"{source}: control file is too large", layer=source)
                    control_text = entry.read().decode("utf-8", "replace")
                    break
        if control_text is None:
            raise LayerError(f"{source}: control.tar has no control file", layer=source)
        control = parse_control(control_text, source=f"{source}:control")
        if not control.get("Package"):
            raise LayerError(f"{source}: control file has no Package field", layer=source)
        return cls(path, control, digest.hexdigest(), size, _members=members)

    @staticmethod
    def _member(members: tuple[ArMember, ...], prefix: str, source: str) -> ArMember:
        found = [m for m in members if m.name.startswith(prefix)]
        if len(found) != 1:
            raise LayerError(
                f"{source}: expected one {prefix}.* member, found {len(found)}", layer=source
            )
        return found[0]

    @property
    def name(self) -> str:
        """The ``Package`` field."""
        return self.control["Package"]

    @property
    def version(self) -> str:
        """The ``Version`` field (with epoch, e.g. ``1:1.35.0-4``)."""
        return self.control.get("Version", "")

    @property
    def architecture(self) -> str:
        """The ``Architecture`` field (``amd64``, ``all`` …)."""
        return self.control.get("Architecture", "")

    @property
    def data_member(self) -> str:
        """The name of the data member (``data.tar.xz`` …), which says its compression."""
        return self._member(self._members, "data.tar", str(self.path)).name

    def data(self) -> Iterator[TarEntry]:
        """The entries of ``data.tar``, in archive order, names normalised (``usr/bin/x``).

        Each regular file's content can be read from its entry until the iterator moves on
        (see :func:`~moby_assemble.layers.read_tar`). The root directory ``.`` is yielded too.

        Raises:
            LayerError: corrupt or truncated compression, a malformed tar, or a hostile
                member name (absolute, ``..``).
        """
        source = str(self.path)
        member = self._member(self._members, "data.tar", source)
        with self.path.open("rb") as f:
            stream = _decompressed(_Slice(f, member.offset, member.size), member.name, source)  # type: ignore[arg-type]
            yield from read_tar(stream, layer=f"{source}:{member.name}")
