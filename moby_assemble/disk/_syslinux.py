"""syslinux on a FAT volume, without running Debian's ``syslinux`` installer.

Debian ships the syslinux core — the FAT boot sector (``ldlinux.bss``) and ``ldlinux.sys``,
which that boot sector loads — only embedded in its installer program,
``/usr/bin/syslinux`` (package ``syslinux``). :func:`syslinux_core` finds both in the
program's bytes by their own structure, so the program never runs and the core comes from
the pinned boot loader image like every other boot file.

Installing is what the installer does, in the same order and to the same bytes:

1. ``LDLINUX.SYS`` (the core followed by two empty ADV sectors, syslinux's auxiliary data
   vector) and ``LDLINUX.C32`` are files of the volume, read-only, hidden and system
   (:func:`syslinux_files`, for :func:`~moby_assemble.disk.write_fat`);
2. :func:`install_syslinux_core` reads the volume's boot sector and FAT to find the
   sectors ``LDLINUX.SYS`` occupies, patches the core's patch area with them (data sector
   count, length in dwords, the sector extents of all but its first sector, the two ADV
   sectors, the checksum), writes the patched core back to those sectors, and puts
   syslinux's boot code into the volume's boot sector — the volume's own parameters kept,
   the first sector of ``LDLINUX.SYS`` recorded in it.

Example::

    core = syslinux_core(Path("/usr/bin/syslinux").read_bytes(), name="/usr/bin/syslinux")
    files = (*syslinux_files(core, Path("ldlinux.c32")), FatFile("syslinux.cfg", b"..."))
    with open("disk.img", "r+b") as f:
        write_fat(f, files, size=size, offset=1 << 20)
        install_syslinux_core(f, core, offset=1 << 20, path="disk.img")
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import attrs

from .._errors import OutputError
from ._fat import FatFile

__all__ = [
    "SyslinuxCore",
    "adv_sectors",
    "install_syslinux_core",
    "ldlinux_sys_sectors",
    "patch_core",
    "syslinux_core",
    "syslinux_files",
]

SECTOR = 512
#: The dword that starts ldlinux.sys's patch area (and ends syslinux's boot sector).
LDLINUX_MAGIC = 0x3EB202FE
_ADV_MAGIC_HEAD = 0x5A2D2FA5
_ADV_MAGIC_SUM = 0xA3041767
_ADV_MAGIC_TAIL = 0xDD28BF64
# The boot sector: jump and OEM name are syslinux's (bytes 0..10), then the volume's
# parameters (up to the end of the FAT32 extended block, byte 90), then syslinux's code up
# to the 0x55AA signature. Copying code from 90 on suits FAT12/16 as well.
_HEAD = slice(0, 11)
_CODE = slice(90, 510)
_BANNER = b"\r\nSYSLINUX "
_ELF = b"\x7fELF"
_SHORT_NAME = b"LDLINUX SYS"
_ATTR_LFN = 0x0F
_ATTR_VOLUME_ID = 0x08
_ATTR_DIRECTORY = 0x10
# The patch area: LDLINUX_MAGIC, instance, data sectors, ADV sectors, dwords,
# checksum, max transfer, offset of the extended patch area.
_PATCH = struct.Struct("<IIHHIIHH")
# The extended patch area: ADV pointers, directory (offset, length), subvolume (offset,
# length), sector extents (offset, count), the boot sector offsets of the first sector's
# two halves, the boot sector's RAID patch point.
_EPA = struct.Struct("<10H")
_EXTENT = struct.Struct("<QH")


@attrs.frozen
class SyslinuxCore:
    """syslinux's boot sector and ``ldlinux.sys`` as the installer embeds them.

    Attributes:
        boot_sector: ``ldlinux.bss``, 512 bytes (jump, OEM name ``SYSLINUX``, code).
        ldlinux_sys: the unpatched core, whole sectors, without the ADV.
    """

    boot_sector: bytes
    ldlinux_sys: bytes

    @property
    def file_size(self) -> int:
        """The size of ``LDLINUX.SYS`` on the volume: the core and two ADV sectors."""
        return len(self.ldlinux_sys) + 2 * SECTOR


def _error(message: str, name: str) -> OutputError:
    return OutputError(message, path=name)


def _boot_sector_at(program: bytes) -> int:
    start = 0
    while (oem := program.find(b"SYSLINUX", start)) >= 0:
        at = oem - 3
        if (
            at >= 0
            and program[at] == 0xEB
            and program[at + 2] == 0x90
            and program[at + 510 : at + 512] == b"\x55\xaa"
            and struct.unpack_from("<I", program, at + 504)[0] == LDLINUX_MAGIC
        ):
            return at
        start = oem + 1
    return -1


def _core_bounds(program: bytes, after: int, name: str) -> tuple[int, int]:
    """Start and end of ``ldlinux.sys`` in ``program``, searched from ``after``."""
    magic = struct.pack("<I", LDLINUX_MAGIC)
    at = program.find(magic, after)
    while at >= 0:
        # The core starts with its banner ("\r\nSYSLINUX <version>"), then the magic.
        start = program.rfind(_BANNER, max(after, at - 64), at)
        if start >= 0 and (at - start) % 4 == 0:
            break
        at = program.find(magic, at + 1)
    else:
        raise _error(f"{name}: no ldlinux.sys (no LDLINUX_MAGIC after its banner)", name)
    # The core is padded with zeros to whole sectors; the installer's build puts the next
    # embedded file (ldlinux.c32, an ELF object) right after it. So the core ends at the
    # first whole sector after its patch area where an ELF header begins.
    end = start + (at - start + _PATCH.size + SECTOR - 1) // SECTOR * SECTOR
    while end + 4 <= len(program) and program[end : end + 4] != _ELF:
        end += SECTOR
    if end + 4 > len(program):
        raise _error(f"{name}: the end of ldlinux.sys is not found (no ELF object after it)", name)
    return start, end


def syslinux_core(program: bytes, *, name: str) -> SyslinuxCore:
    """Find syslinux's boot sector and ``ldlinux.sys`` in the installer ``program``.

    Args:
        program: the bytes of Debian's ``/usr/bin/syslinux``.
        name: the program's path, for messages.

    Raises:
        OutputError: either part is not found, or the core's patch area is unusable.

    Example::

        core = syslinux_core(Path("/usr/bin/syslinux").read_bytes(), name="syslinux")
        len(core.boot_sector)   # 512
    """
    boot_at = _boot_sector_at(program)
    if boot_at < 0:
        raise _error(
            f"{name}: no syslinux boot sector (jump, OEM name SYSLINUX, LDLINUX_MAGIC, 0x55AA)",
            name,
        )
    start, end = _core_bounds(program, boot_at + SECTOR, name)
    core = SyslinuxCore(program[boot_at : boot_at + SECTOR], program[start:end])
    _patch_layout(core.ldlinux_sys, name)  # fail here, not while writing a disk
    return core


def adv_sectors() -> bytes:
    """Two copies of an empty ADV (auxiliary data vector), as a fresh install writes them."""
    adv = bytearray(SECTOR)
    struct.pack_into("<I", adv, 0, _ADV_MAGIC_HEAD)
    # The checksum makes the dwords from 4 to the tail sum to _ADV_MAGIC_SUM; all zero here.
    struct.pack_into("<I", adv, 4, _ADV_MAGIC_SUM)
    struct.pack_into("<I", adv, SECTOR - 4, _ADV_MAGIC_TAIL)
    return bytes(adv) * 2


def syslinux_files(core: SyslinuxCore, ldlinux_c32: bytes | Path) -> tuple[FatFile, ...]:
    """``LDLINUX.SYS`` (unpatched core and ADV) and ``LDLINUX.C32``, marked as syslinux does.

    Upper-case names, so both are plain 8.3 entries (syslinux looks up ``LDLINUX SYS``).
    """
    return (
        FatFile("LDLINUX.SYS", core.ldlinux_sys + adv_sectors(), system=True),
        FatFile("LDLINUX.C32", ldlinux_c32, system=True),
    )


@attrs.frozen
class _Layout:
    patch: int  # offset of the patch area (LDLINUX_MAGIC) in the core
    epa: int
    advptr: int
    secptr: int
    secptrcnt: int
    sect1ptr0: int
    sect1ptr1: int


def _patch_layout(image: bytes, name: str) -> _Layout:
    for patch in range(0, len(image) - _PATCH.size, 4):
        if struct.unpack_from("<I", image, patch)[0] == LDLINUX_MAGIC:
            break
    else:
        raise _error(f"{name}: ldlinux.sys has no patch area", name)
    epa = _PATCH.unpack_from(image, patch)[7]
    if epa + _EPA.size > len(image):
        raise _error(f"{name}: ldlinux.sys's extended patch area is outside it", name)
    advptr, _, _, _, _, secptr, secptrcnt, sect1ptr0, sect1ptr1, _ = _EPA.unpack_from(image, epa)
    if (
        advptr + 16 > len(image)
        or secptr + secptrcnt * _EXTENT.size > len(image)
        or max(sect1ptr0, sect1ptr1) + 4 > 504
    ):
        raise _error(f"{name}: ldlinux.sys's patch pointers are outside it", name)
    return _Layout(patch, epa, advptr, secptr, secptrcnt, sect1ptr0, sect1ptr1)


def _extents(sectors: tuple[int, ...]) -> Iterator[tuple[int, int]]:
    """``(lba, count)`` runs of ``sectors``, each read by one BIOS call.

    A run is contiguous on disk, under 64 KiB, and does not cross a 64 KiB boundary of
    the memory it loads into (the core loads at 0x8000 and on, one sector after another).
    """
    address = 0x8000
    base = lba = count = 0
    for sector in sectors:
        if count:
            size = (count + 1) * SECTOR
            if (
                sector == lba + count
                and size < 0x10000
                and (address ^ (base + size - 1)) & 0xFFFF0000 == 0
            ):
                count += 1
                address += SECTOR
                continue
            yield lba, count
        base, lba, count = address, sector, 1
        address += SECTOR
    if count:
        yield lba, count


def patch_core(
    core: SyslinuxCore, sectors: tuple[int, ...], boot_sector: bytes, *, name: str
) -> tuple[bytes, bytes]:
    """The patched ``ldlinux.sys`` and the new boot sector, for a core at ``sectors``.

    Args:
        core: the unpatched core.
        sectors: the volume-relative sectors ``LDLINUX.SYS`` occupies, in file order
            (at least :attr:`SyslinuxCore.file_size` / 512 of them).
        boot_sector: the volume's current boot sector (its parameters are kept).
        name: the image, for messages.

    Returns:
        ``(ldlinux_sys, boot_sector)``: the core as it goes on disk (without the ADV) and
        the boot sector with syslinux's code pointing at the core's first sector.

    Raises:
        OutputError: the file is too short, or the core has too few extent slots.
    """
    image = bytearray(core.ldlinux_sys)
    layout = _patch_layout(core.ldlinux_sys, name)
    nsect = len(image) // SECTOR + 2
    if len(sectors) < nsect:
        raise _error(
            f"{name}: LDLINUX.SYS spans {len(sectors)} sectors, the core needs {nsect}", name
        )
    boot = bytearray(boot_sector)
    boot[_HEAD] = core.boot_sector[_HEAD]
    boot[_CODE] = core.boot_sector[_CODE]
    first = sectors[0]
    struct.pack_into("<I", boot, layout.sect1ptr0, first & 0xFFFFFFFF)
    struct.pack_into("<I", boot, layout.sect1ptr1, first >> 32)

    dwords = len(image) // 4
    struct.pack_into("<HHI", image, layout.patch + 8, nsect - 2, 2, dwords)
    # The first sector is loaded by the boot sector; the last two are the ADV copies.
    extents = list(_extents(tuple(sectors[1 : nsect - 2])))
    if len(extents) > layout.secptrcnt:
        raise _error(
            f"{name}: LDLINUX.SYS is in {len(extents)} pieces, the core has room for "
            f"{layout.secptrcnt}",
            name,
        )
    image[layout.secptr : layout.secptr + layout.secptrcnt * _EXTENT.size] = bytes(
        layout.secptrcnt * _EXTENT.size
    )
    for i, (lba, count) in enumerate(extents):
        _EXTENT.pack_into(image, layout.secptr + i * _EXTENT.size, lba, count)
    struct.pack_into("<QQ", image, layout.advptr, sectors[nsect - 2], sectors[nsect - 1])
    # The checksum makes all dwords of the core sum to LDLINUX_MAGIC.
    struct.pack_into("<I", image, layout.patch + 16, 0)
    total = sum(struct.unpack(f"<{dwords}I", image[: dwords * 4]))
    struct.pack_into("<I", image, layout.patch + 16, (LDLINUX_MAGIC - total) & 0xFFFFFFFF)
    return bytes(image), bytes(boot)


@attrs.frozen
class _Fat:
    fat_type: int
    sectors_per_cluster: int
    fat_start: int  # sector
    root_start: int  # sector (FAT12/16)
    root_sectors: int
    data_start: int  # sector
    clusters: int
    root_cluster: int  # FAT32


def _read(f: BinaryIO, at: int, size: int, name: str) -> bytes:
    f.seek(at)
    data = f.read(size)
    if len(data) != size:
        raise _error(f"{name}: the FAT volume ends early (at byte {at + len(data)})", name)
    return data


def _parse_boot_sector(boot: bytes, name: str) -> _Fat:
    (bps, spc, reserved, fats, root_entries, total16, media, fat16) = struct.unpack_from(
        "<HBHBHHBH", boot, 11
    )
    total = total16 or struct.unpack_from("<I", boot, 32)[0]
    fat_sectors = fat16 or struct.unpack_from("<I", boot, 36)[0]
    if boot[510:512] != b"\x55\xaa" or (media != 0xF0 and media < 0xF8):
        raise _error(f"{name}: no FAT boot sector where syslinux is to go", name)
    if bps != SECTOR or spc == 0 or spc & (spc - 1) or not fats or not fat_sectors:
        raise _error(
            f"{name}: unsupported FAT geometry ({bps} bytes a sector, {spc} a cluster)", name
        )
    root_sectors = (root_entries * 32 + SECTOR - 1) // SECTOR
    root_start = reserved + fats * fat_sectors
    data_start = root_start + root_sectors
    if data_start >= total:
        raise _error(f"{name}: the FAT volume has no data sectors", name)
    clusters = (total - data_start) // spc
    fat_type = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    if (fat_type == 32) != (fat16 == 0):
        raise _error(f"{name}: FAT{fat_type} cluster count, but not its boot sector", name)
    root_cluster = struct.unpack_from("<I", boot, 44)[0] if fat_type == 32 else 0
    return _Fat(
        fat_type, spc, reserved, root_start, root_sectors, data_start, clusters, root_cluster
    )


def _next_cluster(f: BinaryIO, offset: int, fat: _Fat, cluster: int, name: str) -> int | None:
    base = offset + fat.fat_start * SECTOR
    if fat.fat_type == 12:
        pair = int.from_bytes(_read(f, base + cluster * 3 // 2, 2, name), "little")
        value, end = (pair >> 4 if cluster & 1 else pair & 0xFFF), 0xFF8
    elif fat.fat_type == 16:
        value, end = int.from_bytes(_read(f, base + cluster * 2, 2, name), "little"), 0xFFF8
    else:
        raw = int.from_bytes(_read(f, base + cluster * 4, 4, name), "little")
        value, end = raw & 0x0FFFFFFF, 0x0FFFFFF8
    if value >= end:
        return None
    if not 2 <= value < fat.clusters + 2:
        raise _error(f"{name}: FAT chain through cluster {cluster} is broken", name)
    return value


def _chain_sectors(
    f: BinaryIO, offset: int, fat: _Fat, cluster: int, limit: int, name: str
) -> list[int]:
    sectors: list[int] = []
    current: int | None = cluster
    while current is not None and len(sectors) < limit:
        if not 2 <= current < fat.clusters + 2:
            raise _error(f"{name}: cluster {current} is outside the FAT volume", name)
        first = fat.data_start + (current - 2) * fat.sectors_per_cluster
        sectors.extend(range(first, first + fat.sectors_per_cluster))
        current = _next_cluster(f, offset, fat, current, name)
    return sectors[:limit]


def _find_ldlinux(f: BinaryIO, offset: int, fat: _Fat, name: str) -> int:
    """The first cluster of ``LDLINUX.SYS`` in the root directory."""
    if fat.fat_type == 32:
        root = _chain_sectors(f, offset, fat, fat.root_cluster, 1 << 16, name)
    else:
        root = list(range(fat.root_start, fat.root_start + fat.root_sectors))
    for sector in root:
        data = _read(f, offset + sector * SECTOR, SECTOR, name)
        for at in range(0, SECTOR, 32):
            entry = data[at : at + 32]
            if entry[0] == 0:
                break
            attr = entry[11]
            if attr == _ATTR_LFN or attr & (_ATTR_VOLUME_ID | _ATTR_DIRECTORY):
                continue
            if entry[:11] == _SHORT_NAME:
                high = int.from_bytes(entry[20:22], "little") if fat.fat_type == 32 else 0
                return high << 16 | int.from_bytes(entry[26:28], "little")
        else:
            continue
        break
    raise _error(f"{name}: the FAT volume has no LDLINUX.SYS in its root directory", name)


def ldlinux_sys_sectors(
    f: BinaryIO, *, offset: int, path: str, limit: int = 1 << 16
) -> tuple[int, ...]:
    """The volume-relative sectors of ``LDLINUX.SYS`` in the FAT volume at ``offset``.

    Found as syslinux's installer finds them: the 8.3 name ``LDLINUX SYS`` in the root
    directory, then its cluster chain; at most ``limit`` sectors.

    Raises:
        OutputError: no FAT volume there, or no ``LDLINUX.SYS`` in its root.
    """
    fat = _parse_boot_sector(_read(f, offset, SECTOR, path), path)
    cluster = _find_ldlinux(f, offset, fat, path)
    return tuple(_chain_sectors(f, offset, fat, cluster, limit, path))


def install_syslinux_core(f: BinaryIO, core: SyslinuxCore, *, offset: int, path: str) -> None:
    """Make the FAT volume at ``offset`` of ``f`` boot syslinux from its ``LDLINUX.SYS``.

    The volume must hold ``LDLINUX.SYS`` in its root (:func:`syslinux_files`); its
    sectors get the patched core and the ADV, and the boot sector syslinux's code.

    Args:
        f: the image, open for reading and writing.
        core: the core to install (:func:`syslinux_core`).
        offset: where the volume starts in ``f`` (bytes).
        path: the image file, for messages.

    Raises:
        OutputError: no FAT volume there, no ``LDLINUX.SYS`` or a too short one.
    """
    boot = _read(f, offset, SECTOR, path)
    sectors = ldlinux_sys_sectors(f, offset=offset, path=path, limit=core.file_size // SECTOR)
    ldlinux, new_boot = patch_core(core, sectors, boot, name=path)
    contents = ldlinux + adv_sectors()
    for index, sector in enumerate(sectors):
        f.seek(offset + sector * SECTOR)
        f.write(contents[index * SECTOR : (index + 1) * SECTOR])
    f.seek(offset)
    f.write(new_boot)
