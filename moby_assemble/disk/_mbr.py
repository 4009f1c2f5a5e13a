"""MBR partition tables: up to four primary partitions, one of them bootable.

A BIOS disk (``raw-bios``, syslinux) boots through the MBR: the 440 bytes of boot code
(e.g. syslinux's ``mbr.bin``) load the boot sector of the partition marked bootable.
Layout is planned first (:func:`plan_mbr`, partitions aligned to 1 MiB like every current
partitioning tool), so the file systems can be written at their offsets, then the table
itself (:func:`write_mbr`). The disk signature is derived from a seed, so the same inputs
give the same bytes.

Example::

    layout = plan_mbr((MbrPartition(size=64 << 20, type=MBR_FAT32_LBA, bootable=True),),
                      seed="my-system")
    with open("disk.img", "wb") as f:
        f.truncate(layout.disk_size)
        write_fat(f, files, size=layout.partitions[0].size, offset=layout.partitions[0].offset)
        write_mbr(f, layout, boot_code=Path("/usr/lib/syslinux/mbr/mbr.bin").read_bytes())
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import BinaryIO

import attrs

from .._errors import OutputError

__all__ = [
    "MBR_EFI",
    "MBR_FAT12",
    "MBR_FAT16_LBA",
    "MBR_FAT32_LBA",
    "MBR_LINUX",
    "MbrLayout",
    "MbrPartition",
    "PlacedMbrPartition",
    "mbr_sector",
    "plan_mbr",
    "write_mbr",
]

SECTOR = 512
ALIGNMENT = 1 << 20
#: Partition type bytes.
MBR_FAT12 = 0x01
MBR_FAT16_LBA = 0x0E
MBR_FAT32_LBA = 0x0C
MBR_LINUX = 0x83
MBR_EFI = 0xEF
_BOOT_CODE_SIZE = 440
_MAX_SECTORS = 0xFFFFFFFF


def _check_size(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0 or value % SECTOR:
        raise OutputError(f"partition {attribute.name} {value} must be a positive multiple of 512")


@attrs.frozen
class MbrPartition:
    """A primary partition to place.

    Attributes:
        size: bytes, a positive multiple of 512.
        type: the partition type byte (``MBR_FAT32_LBA``, ``MBR_LINUX`` …).
        bootable: the active flag a BIOS boot loader looks for.
    """

    size: int = attrs.field(validator=_check_size)
    type: int = MBR_FAT32_LBA
    bootable: bool = False


@attrs.frozen
class PlacedMbrPartition:
    """A partition where :func:`plan_mbr` put it.

    Attributes:
        number: 1-based partition number.
        type: the type byte.
        bootable: the active flag.
        first_lba: first sector.
        sectors: length in sectors.
    """

    number: int
    type: int
    bootable: bool
    first_lba: int
    sectors: int

    @property
    def offset(self) -> int:
        """Byte offset of the partition on the disk."""
        return self.first_lba * SECTOR

    @property
    def size(self) -> int:
        """Length in bytes."""
        return self.sectors * SECTOR


@attrs.frozen
class MbrLayout:
    """Where everything goes on an MBR disk.

    Attributes:
        disk_size: bytes.
        disk_signature: the 32-bit signature at byte 440.
        partitions: the placed partitions, in order.
    """

    disk_size: int
    disk_signature: int
    partitions: tuple[PlacedMbrPartition, ...]


def _chs(lba: int) -> bytes:
    # The geometry every tool assumes for LBA disks (255 heads, 63 sectors); addresses
    # beyond cylinder 1023 are written as the maximum, meaning "use the LBA fields".
    cylinder, rest = divmod(lba, 255 * 63)
    head, sector = divmod(rest, 63)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    return bytes((head, ((cylinder >> 2) & 0xC0) | (sector + 1), cylinder & 0xFF))


def mbr_sector(
    entries: Sequence[tuple[bool, int, int, int]], *, boot_code: bytes = b"", signature: int = 0
) -> bytes:
    """The 512-byte MBR holding ``entries`` ``(bootable, type, first_lba, sectors)``.

    Raises:
        OutputError: more than four entries, or boot code longer than 440 bytes.
    """
    if len(entries) > 4:
        raise OutputError(f"an MBR holds at most 4 partitions, not {len(entries)}")
    if len(boot_code) > _BOOT_CODE_SIZE:
        raise OutputError(f"MBR boot code is {len(boot_code)} bytes, at most 440 fit")
    sector = bytearray(SECTOR)
    sector[: len(boot_code)] = boot_code
    struct.pack_into("<I", sector, 440, signature)
    for index, (bootable, kind, first, count) in enumerate(entries):
        last = first + count - 1
        struct.pack_into(
            "<B3sB3sII",
            sector,
            446 + 16 * index,
            0x80 if bootable else 0,
            _chs(first),
            kind,
            _chs(last),
            min(first, _MAX_SECTORS),
            min(count, _MAX_SECTORS),
        )
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def plan_mbr(
    partitions: Sequence[MbrPartition],
    *,
    seed: str | bytes,
    disk_size: int | None = None,
    disk_signature: int | None = None,
) -> MbrLayout:
    """Place ``partitions`` one after another, each starting on a 1 MiB boundary.

    Args:
        partitions: up to four partitions.
        seed: what the disk signature is derived from (e.g. the system's name or digest).
        disk_size: the disk size in bytes; by default the end of the last partition.
        disk_signature: the signature, instead of deriving it.

    Raises:
        OutputError: too many partitions, more than 2 TiB, more than one bootable, or a
            ``disk_size`` too small for them.
    """
    if len(partitions) > 4:
        raise OutputError(f"an MBR holds at most 4 partitions, not {len(partitions)}")
    if sum(p.bootable for p in partitions) > 1:
        raise OutputError("at most one MBR partition can be bootable")
    placed = []
    position = ALIGNMENT
    for number, partition in enumerate(partitions, start=1):
        first = position // SECTOR
        count = partition.size // SECTOR
        placed.append(PlacedMbrPartition(number, partition.type, partition.bootable, first, count))
        position = _align(position + partition.size, ALIGNMENT)
    end = placed[-1].offset + placed[-1].size if placed else ALIGNMENT
    size = _align(end, ALIGNMENT) if disk_size is None else disk_size
    if size < end or size % SECTOR:
        raise OutputError(f"MBR disk of {size} bytes cannot hold partitions ending at {end}")
    if end // SECTOR > _MAX_SECTORS:
        raise OutputError(f"MBR partitions end at {end} bytes, beyond the 2 TiB MBR limit")
    if disk_signature is None:
        seed_bytes = seed.encode() if isinstance(seed, str) else seed
        digest = hashlib.sha256(b"moby_assemble mbr signature\0" + seed_bytes).digest()
        disk_signature = int.from_bytes(digest[:4], "little")
    return MbrLayout(size, disk_signature, tuple(placed))


def write_mbr(target: BinaryIO, layout: MbrLayout, *, boot_code: bytes = b"") -> None:
    """Write the MBR of ``layout`` to sector 0 of ``target`` (extended to the disk size).

    Args:
        target: a seekable binary file.
        layout: from :func:`plan_mbr`.
        boot_code: up to 440 bytes of BIOS boot code (e.g. syslinux's ``mbr.bin``).
    """
    entries = [(p.bootable, p.type, p.first_lba, p.sectors) for p in layout.partitions]
    sector = mbr_sector(entries, boot_code=boot_code, signature=layout.disk_signature)
    target.seek(0, 2)
    if target.tell() < layout.disk_size:
        target.truncate(layout.disk_size)
    target.seek(0)
    target.write(sector)
