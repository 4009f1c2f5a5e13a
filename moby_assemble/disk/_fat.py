"""FAT12/16/32 file systems (with VFAT long names), written from a list of files.

Nothing is mounted and no tool is run: the whole layout (geometry, directory clusters,
one contiguous cluster run per file) is planned from the file sizes first, then the boot
sector, FSInfo, FATs, directories and file contents are written at their offsets. File
contents are copied in chunks, so memory stays flat whatever the file sizes; everything
that is zero (free clusters, the unused end of the FATs) is never written, so a new file
stays sparse. The target region must therefore read as zeros, as a freshly created or
truncated file does.

Output is deterministic: children are written in sorted order, every timestamp is the
given ``epoch`` (``SOURCE_DATE_EPOCH``; FAT cannot store dates before 1980, so earlier
times, including the default 0, become 1980-01-01 00:00:00), and the volume id is
derived from the label, the epoch and the file list unless given.

Example::

    files = (FatFile("EFI/BOOT/BOOTX64.EFI", Path("uki.efi")), FatFile("loader.conf", b"x"))
    size = fat_size_for(files)
    with open("esp.img", "wb") as f:
        volume = write_fat(f, files, size=size, label="ESP", epoch=1700000000)
    volume.fat_type   # 32 for an ESP of 64 MiB and more, 16 or 12 for small images
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

import attrs

from .._errors import OutputError
from ._fat_names import (
    ATTR_ARCHIVE,
    ATTR_DIRECTORY,
    ATTR_VOLUME_ID,
    check_name,
    exact_short,
    fat_datetime,
    label_bytes,
    lfn_checksum,
    lfn_entries,
    short_candidates,
    short_entry,
)

__all__ = ["FatFile", "FatVolume", "fat_size_for", "write_fat"]

SECTOR = 512
_MIB = 1 << 20
_CHUNK = 1 << 20
_FAT12_MAX_CLUSTERS = 4084
_FAT16_MAX_CLUSTERS = 65524
# int 18h (ask the BIOS for the next boot device), then halt forever: the boot code of a
# volume that is not meant to be booted from.
_NOT_BOOTABLE = bytes((0xCD, 0x18, 0xF4, 0xEB, 0xFD))
_ATTR_READ_ONLY_HIDDEN_SYSTEM = 0x07


def _to_source(value: bytes | str | os.PathLike[str]) -> bytes | Path:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return Path(value)


@attrs.frozen
class FatFile:
    """One file of a FAT volume.

    Attributes:
        path: where it goes, ``/``-separated, e.g. ``"EFI/BOOT/BOOTX64.EFI"``; parent
            directories are created. Names keep their case (long names are written where
            a name is not an upper-case 8.3 name).
        source: the contents, or the host file to copy them from (read at write time).
        system: mark it read-only, hidden and system, as boot loaders mark their core
            files (syslinux's ``LDLINUX.SYS``).

    Example::

        FatFile("loader/entries/system.conf", b"title system\\n")
    """

    path: str
    source: bytes | Path = attrs.field(converter=_to_source)
    system: bool = attrs.field(default=False, kw_only=True)

    @property
    def size(self) -> int:
        """The size of the contents in bytes (stats the host file)."""
        if isinstance(self.source, bytes):
            return len(self.source)
        try:
            return self.source.stat().st_size
        except OSError as e:
            raise OutputError(
                f"FAT file {self.path}: cannot read {self.source}: {e.strerror}",
                path=str(self.source),
            ) from None


@attrs.frozen
class FatVolume:
    """What :func:`write_fat` wrote.

    Attributes:
        fat_type: 12, 16 or 32.
        size: the volume size in bytes.
        cluster_size: bytes per cluster.
        clusters: the number of data clusters.
        used_clusters: clusters holding directories and files.
        volume_id: the 32-bit volume serial number.
        label: the volume label as stored (upper case, 11 characters at most).
    """

    fat_type: int
    size: int
    cluster_size: int
    clusters: int
    used_clusters: int
    volume_id: int
    label: str


@attrs.frozen
class _Geometry:
    fat_type: int
    total_sectors: int
    sectors_per_cluster: int
    reserved_sectors: int
    fat_sectors: int
    root_entries: int
    clusters: int

    @property
    def cluster_bytes(self) -> int:
        return self.sectors_per_cluster * SECTOR

    @property
    def root_sectors(self) -> int:
        return (self.root_entries * 32 + SECTOR - 1) // SECTOR

    @property
    def data_offset(self) -> int:
        return (self.reserved_sectors + 2 * self.fat_sectors + self.root_sectors) * SECTOR

    def cluster_offset(self, cluster: int) -> int:
        return self.data_offset + (cluster - 2) * self.cluster_bytes


@attrs.define
class _Node:
    """A file or directory while the layout is planned (private and mutable on purpose)."""

    name: str
    file: FatFile | None = None
    size: int = 0
    children: dict[str, _Node] = attrs.Factory(dict)
    cluster: int = 0
    clusters: int = 0
    entries: bytes = b""

    @property
    def is_dir(self) -> bool:
        return self.file is None


def _geometry(total_sectors: int, fat_type: int, spc: int, root_entries: int) -> _Geometry | None:
    reserved = 32 if fat_type == 32 else 1
    if fat_type == 32:
        root_entries = 0
    root_sectors = (root_entries * 32 + SECTOR - 1) // SECTOR
    fat_sectors = 1
    while True:
        data = total_sectors - reserved - 2 * fat_sectors - root_sectors
        if data < spc:
            return None
        clusters = data // spc
        fat_bytes = ((clusters + 2) * fat_type + 7) // 8
        needed = (fat_bytes + SECTOR - 1) // SECTOR
        if needed <= fat_sectors:
            break
        fat_sectors = needed
    low, high = {
        12: (1, _FAT12_MAX_CLUSTERS),
        16: (_FAT12_MAX_CLUSTERS + 1, _FAT16_MAX_CLUSTERS),
        32: (_FAT16_MAX_CLUSTERS + 1, 0x0FFFFFF5),
    }[fat_type]
    if not low <= clusters <= high:
        return None
    return _Geometry(fat_type, total_sectors, spc, reserved, fat_sectors, root_entries, clusters)


def _choose_geometry(
    total_sectors: int, fat_type: int | None, root_entries: int
) -> _Geometry | None:
    # FAT32 where it fits (the UEFI specification asks for it on hard-disk ESPs), with the
    # largest cluster (up to 4 KiB) that still leaves FAT32 enough clusters; FAT16 and
    # FAT12 with the smallest cluster that fits, which wastes the least space.
    types = (fat_type,) if fat_type is not None else (32, 16, 12)
    for kind in types:
        sizes = (8, 4, 2, 1) if kind == 32 else (1, 2, 4, 8, 16, 32, 64)
        for spc in sizes:
            geometry = _geometry(total_sectors, kind, spc, root_entries)
            if geometry is not None:
                return geometry
    return None


def _split(path: str) -> tuple[str, ...]:
    parts = tuple(p for p in PurePosixPath(path.strip("/")).parts)
    if not parts:
        raise OutputError(f"FAT file {path!r}: empty path", path=path)
    for part in parts:
        check_name(part, path)
    return parts


def _build_tree(files: Sequence[FatFile], directories: Iterable[str]) -> _Node:
    root = _Node("")

    def descend(parts: tuple[str, ...], path: str) -> _Node:
        node = root
        for part in parts:
            key = part.upper()
            child = node.children.get(key)
            if child is None:
                child = node.children[key] = _Node(part)
            elif child.name != part:
                raise OutputError(
                    f"FAT file {path!r}: {part!r} and {child.name!r} are the same name on "
                    "FAT (names are case-insensitive)",
                    path=path,
                )
            if not child.is_dir:
                raise OutputError(f"FAT file {path!r}: {part!r} is a file", path=path)
            node = child
        return node

    for directory in directories:
        descend(_split(directory), directory)
    for file in files:
        parts = _split(file.path)
        parent = descend(parts[:-1], file.path)
        key = parts[-1].upper()
        if key in parent.children:
            raise OutputError(f"FAT file {file.path!r} is given twice", path=file.path)
        parent.children[key] = _Node(parts[-1], file=file, size=file.size)
    return root


def _plan_entries(node: _Node, parent_cluster: int, stamp: tuple[int, int], *, root: bool) -> bytes:
    """The directory entries of ``node``; children's clusters must already be assigned."""
    out = bytearray()
    if not root:
        out += short_entry(b".          ", ATTR_DIRECTORY, node.cluster, 0, stamp)
        out += short_entry(b"..         ", ATTR_DIRECTORY, parent_cluster, 0, stamp)
    used: set[bytes] = set()
    children = sorted(node.children.values(), key=lambda c: c.name)
    exact = {c.name: exact_short(c.name) for c in children}
    used.update(s for s in exact.values() if s is not None)
    for child in children:
        short = exact[child.name]
        lfn = b""
        if short is None:
            short = next(s for s in short_candidates(child.name) if s not in used)
            used.add(short)
            lfn = lfn_entries(child.name, lfn_checksum(short))
        attr = ATTR_DIRECTORY if child.is_dir else ATTR_ARCHIVE
        if child.file is not None and child.file.system:
            attr |= _ATTR_READ_ONLY_HIDDEN_SYSTEM
        size = 0 if child.is_dir else child.size
        out += lfn + short_entry(short, attr, child.cluster, size, stamp)
    return bytes(out)


def _entry_count(node: _Node) -> int:
    """How many 32-byte entries ``node``'s directory needs (a bound that is always met)."""
    # "." and ".." in a subdirectory; the volume label entry in the root.
    count = 1 if node.name == "" else 2
    for child in node.children.values():
        count += 1
        if exact_short(child.name) is None:
            count += (len(child.name.encode("utf-16-le")) // 2 + 12) // 13
    return count


def _walk_dirs(node: _Node) -> Iterable[_Node]:
    for child in sorted(node.children.values(), key=lambda c: c.name):
        if child.is_dir:
            yield child
            yield from _walk_dirs(child)


def _walk_files(node: _Node, prefix: str = "") -> Iterable[_Node]:
    for child in sorted(node.children.values(), key=lambda c: c.name):
        if child.is_dir:
            yield from _walk_files(child, f"{prefix}{child.name}/")
        else:
            yield child


def _clusters_for(size: int, cluster_bytes: int) -> int:
    return (size + cluster_bytes - 1) // cluster_bytes


def _allocate(root: _Node, geometry: _Geometry) -> int:
    """Give every directory and file its cluster run; return the next free cluster."""
    cluster_bytes = geometry.cluster_bytes
    next_cluster = 2
    if geometry.fat_type == 32:
        root.cluster = 2
        root.clusters = max(1, _clusters_for(_entry_count(root) * 32, cluster_bytes))
        next_cluster += root.clusters
    for directory in _walk_dirs(root):
        directory.cluster = next_cluster
        directory.clusters = max(1, _clusters_for(_entry_count(directory) * 32, cluster_bytes))
        next_cluster += directory.clusters
    for file in _walk_files(root):
        file.clusters = _clusters_for(file.size, cluster_bytes)
        file.cluster = next_cluster if file.clusters else 0
        next_cluster += file.clusters
    return next_cluster


def _root_entries_needed(root: _Node) -> int:
    # FAT12/16 keep the root directory in a fixed region: 512 entries as mkfs.fat makes
    # them, more if the root holds that many names (a whole number of sectors).
    return max(512, (_entry_count(root) + 1 + 15) // 16 * 16)


def fat_size_for(
    files: Sequence[FatFile],
    *,
    directories: Iterable[str] = (),
    fat_type: Literal[12, 16, 32] | None = None,
    free: int = 0,
) -> int:
    """The smallest whole number of MiB that holds ``files`` (plus ``free`` bytes).

    Args:
        files: the files, as for :func:`write_fat`.
        directories: extra (empty) directories.
        fat_type: force FAT12, FAT16 or FAT32 (FAT32 needs at least about 33 MiB).
        free: bytes to leave free for later use.

    Raises:
        OutputError: a name is invalid, or no size of that FAT type holds the files.
    """
    root = _build_tree(files, tuple(directories))
    content = sum(f.size for f in files) + free
    size = max(_MIB, (content + content // 64 + _MIB) // _MIB * _MIB)
    if fat_type == 32:
        size = max(size, 33 * _MIB)
    while size <= 2048 * 1024 * _MIB:
        geometry = _choose_geometry(size // SECTOR, fat_type, _root_entries_needed(root))
        if geometry is not None:
            end = _allocate(root, geometry)
            if (
                end - 2
            ) * geometry.cluster_bytes + free <= geometry.clusters * geometry.cluster_bytes:
                return size
        size += max(_MIB, size // 32 // _MIB * _MIB)
    raise OutputError(f"no FAT{fat_type or ''} volume holds {content} bytes of files")


def _boot_sector(geometry: _Geometry, volume_id: int, label: bytes, hidden: int) -> bytes:
    fat32 = geometry.fat_type == 32
    total = geometry.total_sectors
    sector = bytearray(SECTOR)
    jump_target = 0x5A if fat32 else 0x3E
    sector[0:3] = bytes((0xEB, jump_target - 2, 0x90))
    struct.pack_into(
        "<8sHBHBHHBHHHII",
        sector,
        3,
        b"MSWIN4.1",  # the OEM name most compatible with old drivers
        SECTOR,
        geometry.sectors_per_cluster,
        geometry.reserved_sectors,
        2,
        geometry.root_entries,
        total if total < 0x10000 and not fat32 else 0,
        0xF8,
        0 if fat32 else geometry.fat_sectors,
        63,
        255,
        hidden,
        0 if total < 0x10000 and not fat32 else total,
    )
    fs_type = f"FAT{geometry.fat_type}".ljust(8).encode()
    if fat32:
        struct.pack_into("<IHHIHH12x", sector, 36, geometry.fat_sectors, 0, 0, 2, 1, 6)
        struct.pack_into("<BBBI11s8s", sector, 64, 0x80, 0, 0x29, volume_id, label, fs_type)
    else:
        struct.pack_into("<BBBI11s8s", sector, 36, 0x80, 0, 0x29, volume_id, label, fs_type)
    sector[jump_target : jump_target + len(_NOT_BOOTABLE)] = _NOT_BOOTABLE
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _fsinfo(free_clusters: int, next_free: int) -> bytes:
    sector = bytearray(SECTOR)
    struct.pack_into("<I", sector, 0, 0x41615252)
    struct.pack_into("<IIII", sector, 484, 0x61417272, free_clusters, next_free, 0)
    struct.pack_into("<I", sector, 508, 0xAA550000)
    return bytes(sector)


def _fat_table(root: _Node, geometry: _Geometry, end: int) -> bytes:
    """The used prefix of one FAT (the rest is zeros, left unwritten)."""
    kind = geometry.fat_type
    eoc = {12: 0xFFF, 16: 0xFFFF, 32: 0x0FFFFFFF}[kind]
    entries = [0] * end
    entries[0] = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}[kind]
    entries[1] = eoc
    runs = [root] if kind == 32 else []
    runs += list(_walk_dirs(root)) + [f for f in _walk_files(root) if f.clusters]
    for node in runs:
        for cluster in range(node.cluster, node.cluster + node.clusters - 1):
            entries[cluster] = cluster + 1
        entries[node.cluster + node.clusters - 1] = eoc
    if kind == 32:
        return struct.pack(f"<{end}I", *entries)
    if kind == 16:
        return struct.pack(f"<{end}H", *entries)
    packed = bytearray()
    for i in range(0, end, 2):
        a = entries[i]
        b = entries[i + 1] if i + 1 < end else 0
        packed += bytes((a & 0xFF, ((a >> 8) & 0x0F) | ((b & 0x0F) << 4), b >> 4))
    return bytes(packed)


def _derived_volume_id(label: bytes, epoch: int, files: Sequence[FatFile]) -> int:
    digest = hashlib.sha256(b"moby_assemble fat volume id\0" + label + str(epoch).encode())
    for file in files:
        digest.update(b"\0" + file.path.encode() + b"\0" + str(file.size).encode())
    return int.from_bytes(digest.digest()[:4], "little")


def _copy(target: BinaryIO, offset: int, node: _Node) -> None:
    file = node.file
    assert file is not None
    target.seek(offset)
    if isinstance(file.source, bytes):
        target.write(file.source)
        return
    copied = 0
    try:
        with open(file.source, "rb") as source:
            while chunk := source.read(_CHUNK):
                copied += len(chunk)
                if copied > node.size:
                    break
                target.write(chunk)
    except OSError as e:
        raise OutputError(
            f"FAT file {file.path}: cannot read {file.source}: {e.strerror}", path=str(file.source)
        ) from None
    if copied != node.size:
        raise OutputError(
            f"FAT file {file.path}: {file.source} changed size while it was copied "
            f"({node.size} bytes planned)",
            path=str(file.source),
        )


def write_fat(
    target: BinaryIO,
    files: Sequence[FatFile],
    *,
    size: int,
    offset: int = 0,
    directories: Iterable[str] = (),
    label: str = "NO NAME",
    epoch: int = 0,
    volume_id: int | None = None,
    fat_type: Literal[12, 16, 32] | None = None,
) -> FatVolume:
    """Write a FAT volume of ``size`` bytes holding ``files`` at ``offset`` in ``target``.

    Args:
        target: a seekable binary file whose region ``[offset, offset + size)`` reads as
            zeros (it is extended if shorter).
        files: the files; parent directories are created.
        size: the volume size, a multiple of 512 (see :func:`fat_size_for`).
        offset: where the volume starts in ``target`` (a partition's start); it is also
            recorded as the volume's hidden sectors.
        directories: extra (possibly empty) directories.
        label: the volume label, at most 11 ASCII characters (stored upper case).
        epoch: the time of every entry (``SOURCE_DATE_EPOCH``), clamped to 1980..2107.
        volume_id: the serial number; derived from label, epoch and files if None.
        fat_type: force 12, 16 or 32; by default FAT32 where the size allows it.

    Returns:
        The :class:`FatVolume` written.

    Raises:
        OutputError: a name is invalid or given twice, the files do not fit, a source file
            cannot be read or changes size, or the size suits no FAT type.
    """
    files = tuple(files)
    if size % SECTOR or offset % SECTOR:
        raise OutputError(f"FAT volume size {size} and offset {offset} must be multiples of 512")
    label_raw = label_bytes(label)
    root = _build_tree(files, tuple(directories))
    geometry = _choose_geometry(size // SECTOR, fat_type, _root_entries_needed(root))
    if geometry is None:
        raise OutputError(f"no FAT{fat_type or ''} volume can be {size} bytes")
    end = _allocate(root, geometry)
    used = end - 2
    if used > geometry.clusters:
        need = used * geometry.cluster_bytes
        raise OutputError(
            f"FAT{geometry.fat_type} volume of {size} bytes is too small for its files "
            f"({need} bytes of clusters needed, {geometry.clusters * geometry.cluster_bytes} free)"
        )
    if volume_id is None:
        volume_id = _derived_volume_id(label_raw, epoch, files)
    stamp = fat_datetime(epoch)

    target.seek(0, os.SEEK_END)
    if target.tell() < offset + size:
        target.truncate(offset + size)

    def put(at: int, data: bytes) -> None:
        target.seek(offset + at)
        target.write(data)

    boot = _boot_sector(geometry, volume_id, label_raw, offset // SECTOR)
    put(0, boot)
    if geometry.fat_type == 32:
        info = _fsinfo(geometry.clusters - used, end)
        put(SECTOR, info)
        put(6 * SECTOR, boot)
        put(7 * SECTOR, info)
    table = _fat_table(root, geometry, end)
    for copy in range(2):
        put((geometry.reserved_sectors + copy * geometry.fat_sectors) * SECTOR, table)

    root_entries = _plan_entries(root, 0, stamp, root=True)
    if label_raw != b"NO NAME    ":
        root_entries = short_entry(label_raw, ATTR_VOLUME_ID, 0, 0, stamp) + root_entries
    if geometry.fat_type == 32:
        put(geometry.cluster_offset(root.cluster), root_entries)
    else:
        if len(root_entries) > geometry.root_entries * 32:
            raise OutputError(f"FAT{geometry.fat_type} root directory holds too many names")
        put(geometry.data_offset - geometry.root_sectors * SECTOR, root_entries)

    def parent_cluster(parent: _Node) -> int:
        return 0 if parent is root else parent.cluster

    def write_dirs(node: _Node) -> None:
        for child in sorted(node.children.values(), key=lambda c: c.name):
            if child.is_dir:
                put(
                    geometry.cluster_offset(child.cluster),
                    _plan_entries(child, parent_cluster(node), stamp, root=False),
                )
                write_dirs(child)

    write_dirs(root)
    for node in _walk_files(root):
        if node.clusters:
            _copy(target, offset + geometry.cluster_offset(node.cluster), node)
    return FatVolume(
        fat_type=geometry.fat_type,
        size=size,
        cluster_size=geometry.cluster_bytes,
        clusters=geometry.clusters,
        used_clusters=used,
        volume_id=volume_id,
        label=label_raw.decode().rstrip(),
    )
