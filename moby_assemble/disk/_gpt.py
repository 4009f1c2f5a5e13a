"""GPT partition tables: protective MBR, primary and backup headers, entries, CRC32s.

The layout is planned first (:func:`plan_gpt`: partitions aligned to 1 MiB, the disk sized
to fit them and the backup table), so file systems can be written at their offsets, then
the table itself (:func:`write_gpt`). Disk and partition GUIDs are derived from a seed (a
name-based UUID of the system), so the same inputs give the same bytes.

Example::

    layout = plan_gpt((GptPartition("ESP", size=128 << 20, type=GPT_ESP),), seed="my-system")
    with open("disk.img", "wb") as f:
        f.truncate(layout.disk_size)
        esp = layout.partitions[0]
        write_fat(f, files, size=esp.size, offset=esp.offset, label="ESP")
        write_gpt(f, layout)
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import Sequence
from typing import BinaryIO

import attrs

from .._errors import OutputError
from ._mbr import mbr_sector

__all__ = [
    "GPT_BIOS_BOOT",
    "GPT_ESP",
    "GPT_LINUX",
    "GPT_LINUX_ROOT_X86_64",
    "GptLayout",
    "GptPartition",
    "PlacedGptPartition",
    "plan_gpt",
    "write_gpt",
]

SECTOR = 512
ALIGNMENT = 1 << 20
_ENTRIES = 128
_ENTRY_SIZE = 128
_ENTRY_SECTORS = _ENTRIES * _ENTRY_SIZE // SECTOR
_HEADER_SIZE = 92
_PROTECTIVE_TYPE = 0xEE
#: Partition type GUIDs.
GPT_ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
GPT_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
GPT_LINUX_ROOT_X86_64 = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
GPT_BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
#: Attribute bit 2: the partition a BIOS (legacy) boot loader on a GPT disk boots from.
GPT_LEGACY_BIOS_BOOTABLE = 1 << 2


def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value)).upper()
    except ValueError:
        raise OutputError(f"{value!r} is not a GUID") from None


def _optional_guid(value: str | None) -> str | None:
    return None if value is None else _guid(value)


def _check_size(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0 or value % SECTOR:
        raise OutputError(f"GPT partition size {value} must be a positive multiple of 512")


def _check_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if len(value.encode("utf-16-le")) > 72:
        raise OutputError(f"GPT partition name {value!r} is longer than 36 UTF-16 units")


@attrs.frozen
class GptPartition:
    """A partition to place.

    Attributes:
        name: the partition label (36 UTF-16 units at most), e.g. ``"ESP"``.
        size: bytes, a positive multiple of 512.
        type: the type GUID (``GPT_ESP``, ``GPT_LINUX`` …).
        guid: the unique partition GUID; derived from the seed and the number if None.
        attributes: the 64 attribute bits (``GPT_LEGACY_BIOS_BOOTABLE`` …).
    """

    name: str = attrs.field(validator=_check_name)
    size: int = attrs.field(validator=_check_size)
    type: str = attrs.field(default=GPT_LINUX, converter=_guid)
    guid: str | None = attrs.field(default=None, converter=_optional_guid)
    attributes: int = 0


@attrs.frozen
class PlacedGptPartition:
    """A partition where :func:`plan_gpt` put it.

    Attributes:
        number: 1-based partition number.
        name: label.
        type: type GUID (upper case).
        guid: unique GUID (upper case).
        first_lba: first sector.
        last_lba: last sector (inclusive).
        attributes: attribute bits.
    """

    number: int
    name: str
    type: str
    guid: str
    first_lba: int
    last_lba: int
    attributes: int

    @property
    def offset(self) -> int:
        """Byte offset of the partition on the disk."""
        return self.first_lba * SECTOR

    @property
    def size(self) -> int:
        """Length in bytes."""
        return (self.last_lba - self.first_lba + 1) * SECTOR


@attrs.frozen
class GptLayout:
    """Where everything goes on a GPT disk.

    Attributes:
        disk_size: bytes (a multiple of 512).
        disk_guid: the disk GUID (upper case).
        partitions: the placed partitions, in order.
    """

    disk_size: int
    disk_guid: str
    partitions: tuple[PlacedGptPartition, ...]

    @property
    def sectors(self) -> int:
        """The disk size in sectors."""
        return self.disk_size // SECTOR

    @property
    def first_usable_lba(self) -> int:
        """The first sector a partition may use (after the primary table)."""
        return 2 + _ENTRY_SECTORS

    @property
    def last_usable_lba(self) -> int:
        """The last sector a partition may use (before the backup table)."""
        return self.sectors - 2 - _ENTRY_SECTORS


def _derived_guid(seed: bytes, purpose: str) -> str:
    digest = hashlib.sha256(b"moby_assemble gpt\0" + seed + b"\0" + purpose.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4)).upper()


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def plan_gpt(
    partitions: Sequence[GptPartition],
    *,
    seed: str | bytes,
    disk_size: int | None = None,
    disk_guid: str | None = None,
) -> GptLayout:
    """Place ``partitions`` one after another, each starting on a 1 MiB boundary.

    Args:
        partitions: the partitions, at most 128.
        seed: what the disk and partition GUIDs are derived from.
        disk_size: the disk size in bytes; by default the last partition's end plus the
            backup table, rounded up to 1 MiB.
        disk_guid: the disk GUID, instead of deriving it.

    Raises:
        OutputError: too many partitions, or ``disk_size`` too small for them.
    """
    if len(partitions) > _ENTRIES:
        raise OutputError(f"a GPT holds at most {_ENTRIES} partitions, not {len(partitions)}")
    seed_bytes = seed.encode() if isinstance(seed, str) else seed
    placed = []
    position = ALIGNMENT
    for number, partition in enumerate(partitions, start=1):
        first = position // SECTOR
        last = first + partition.size // SECTOR - 1
        guid = partition.guid or _derived_guid(seed_bytes, f"partition {number}")
        placed.append(
            PlacedGptPartition(
                number, partition.name, partition.type, guid, first, last, partition.attributes
            )
        )
        position = _align(position + partition.size, ALIGNMENT)
    end = (placed[-1].last_lba + 1) * SECTOR if placed else ALIGNMENT
    needed = end + (1 + _ENTRY_SECTORS) * SECTOR
    size = _align(needed, ALIGNMENT) if disk_size is None else disk_size
    if size < needed or size % SECTOR:
        raise OutputError(
            f"GPT disk of {size} bytes cannot hold partitions ending at {end} and the backup table"
        )
    guid = _guid(disk_guid) if disk_guid is not None else _derived_guid(seed_bytes, "disk")
    return GptLayout(size, guid, tuple(placed))


def _entries(layout: GptLayout) -> bytes:
    table = bytearray(_ENTRIES * _ENTRY_SIZE)
    for p in layout.partitions:
        struct.pack_into(
            "<16s16sQQQ72s",
            table,
            (p.number - 1) * _ENTRY_SIZE,
            uuid.UUID(p.type).bytes_le,
            uuid.UUID(p.guid).bytes_le,
            p.first_lba,
            p.last_lba,
            p.attributes,
            p.name.encode("utf-16-le"),
        )
    return bytes(table)


def _header(layout: GptLayout, *, backup: bool, entries_crc: int) -> bytes:
    last = layout.sectors - 1
    mine, other = (last, 1) if backup else (1, last)
    entries_lba = last - _ENTRY_SECTORS if backup else 2

    def pack(crc: int) -> bytes:
        return struct.pack(
            "<8sIIIIQQQQ16sQIII",
            b"EFI PART",
            0x00010000,
            _HEADER_SIZE,
            crc,
            0,
            mine,
            other,
            layout.first_usable_lba,
            layout.last_usable_lba,
            uuid.UUID(layout.disk_guid).bytes_le,
            entries_lba,
            _ENTRIES,
            _ENTRY_SIZE,
            entries_crc,
        )

    header = pack(zlib.crc32(pack(0)))
    return header + bytes(SECTOR - len(header))


def write_gpt(target: BinaryIO, layout: GptLayout, *, boot_code: bytes = b"") -> None:
    """Write the protective MBR and both GPT copies of ``layout`` to ``target``.

    ``target`` is extended to ``layout.disk_size`` if it is shorter; partition contents
    are left as they are.

    Args:
        target: a seekable binary file.
        layout: from :func:`plan_gpt`.
        boot_code: up to 440 bytes of BIOS boot code for the protective MBR (e.g.
            syslinux's ``gptmbr.bin``).
    """
    entries = _entries(layout)
    crc = zlib.crc32(entries)
    protective_sectors = min(layout.sectors - 1, 0xFFFFFFFF)
    # The protective MBR covers the whole disk with one 0xEE partition, so MBR-only
    # tools see a disk in use rather than free space.
    mbr = mbr_sector([(False, _PROTECTIVE_TYPE, 1, protective_sectors)], boot_code=boot_code)
    target.seek(0, 2)
    if target.tell() < layout.disk_size:
        target.truncate(layout.disk_size)
    last = layout.sectors - 1
    for at, data in (
        (0, mbr),
        (1, _header(layout, backup=False, entries_crc=crc)),
        (2, entries),
        (last - _ENTRY_SECTORS, entries),
        (last, _header(layout, backup=True, entries_crc=crc)),
    ):
        target.seek(at * SECTOR)
        target.write(data)
