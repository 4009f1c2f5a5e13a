"""Convert a raw disk image to VHD: fixed (raw + footer) or dynamic (sparse blocks + BAT).

A *fixed* VHD is the raw image followed by a 512-byte footer (what Azure wants: size a
whole number of MiB). A *dynamic* VHD starts with a copy of the footer and the dynamic
disk header, then the block allocation table (BAT), then only the 2 MiB blocks that hold
data, each behind its sector bitmap, then the footer.

The creator application is ``qem2``: readers take the disk size from the footer's
``current_size`` for that creator, while for unknown creators QEMU computes it from the
CHS geometry, which rounds most sizes down and would cut the disk. Timestamps come from
``epoch`` (``SOURCE_DATE_EPOCH``) and the unique id from a seed, so the same raw image
always gives the same bytes.

Example::

    with open("disk.vhd", "wb") as f:
        write_vhd("disk.img", f, seed="my-system", epoch=0)
    with open("disk-dynamic.vhd", "wb") as f:
        write_vhd("disk.img", f, dynamic=True, seed="my-system")
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import uuid
from typing import BinaryIO

from .._errors import OutputError
from ._sparse import nonzero_blocks, raw_size

__all__ = ["vhd_geometry", "write_vhd"]

SECTOR = 512
_BLOCK_SIZE = 2 << 20
_VHD_EPOCH = 946684800  # 2000-01-01T00:00:00Z, where VHD timestamps start
_NO_OFFSET = 0xFFFFFFFFFFFFFFFF
_FIXED = 2
_DYNAMIC = 3
_CREATOR = b"qem2"
_CREATOR_VERSION = 0x00010000
_CREATOR_HOST = b"Wi2k"
_MAX_SECTORS = 65535 * 16 * 255
_CHUNK = 1 << 20


def vhd_geometry(size: int) -> tuple[int, int, int]:
    """The CHS geometry ``(cylinders, heads, sectors per track)`` the VHD specification
    gives a disk of ``size`` bytes."""
    total = min(size // SECTOR, _MAX_SECTORS)
    if total >= 65535 * 16 * 63:
        sectors, heads = 255, 16
        cylinder_heads = total // sectors
    else:
        sectors = 17
        cylinder_heads = total // sectors
        heads = max(4, (cylinder_heads + 1023) // 1024)
        if cylinder_heads >= heads * 1024 or heads > 16:
            sectors, heads = 31, 16
            cylinder_heads = total // sectors
        if cylinder_heads >= heads * 1024:
            sectors, heads = 63, 16
            cylinder_heads = total // sectors
    return cylinder_heads // heads, heads, sectors


def _checksum(data: bytes) -> int:
    return ~sum(data) & 0xFFFFFFFF


def _footer(size: int, *, dynamic: bool, timestamp: int, unique_id: bytes) -> bytes:
    cylinders, heads, sectors = vhd_geometry(size)

    def pack(checksum: int) -> bytes:
        return struct.pack(
            ">8sIIQI4sI4sQQHBBII16sB427x",
            b"conectix",
            2,  # features: "reserved", always set
            0x00010000,
            SECTOR if dynamic else _NO_OFFSET,
            timestamp,
            _CREATOR,
            _CREATOR_VERSION,
            _CREATOR_HOST,
            size,
            size,
            cylinders,
            heads,
            sectors,
            _DYNAMIC if dynamic else _FIXED,
            checksum,
            unique_id,
            0,
        )

    return pack(_checksum(pack(0)))


def _dynamic_header(blocks: int, bat_offset: int) -> bytes:
    def pack(checksum: int) -> bytes:
        return struct.pack(
            ">8sQQIIII16sI4x512s192s256x",
            b"cxsparse",
            _NO_OFFSET,
            bat_offset,
            0x00010000,
            blocks,
            _BLOCK_SIZE,
            checksum,
            bytes(16),  # no parent
            0,
            bytes(512),
            bytes(192),
        )

    return pack(_checksum(pack(0)))


def _unique_id(seed: str | bytes) -> bytes:
    seed_bytes = seed.encode() if isinstance(seed, str) else seed
    digest = hashlib.sha256(b"moby_assemble vhd\0" + seed_bytes).digest()
    return uuid.UUID(bytes=digest[:16], version=4).bytes


def write_vhd(
    source: str | os.PathLike[str],
    target: BinaryIO,
    *,
    dynamic: bool = False,
    seed: str | bytes = b"",
    epoch: int = 0,
) -> None:
    """Write the raw image at ``source`` to ``target`` as a fixed or dynamic VHD.

    Args:
        source: the raw image; its size (a multiple of 512) is the disk size.
        target: an empty, seekable binary file.
        dynamic: write a dynamic (sparse) VHD instead of a fixed one.
        seed: what the unique id is derived from (e.g. the system's name or digest).
        epoch: the timestamp (``SOURCE_DATE_EPOCH``); before 2000 it is stored as 2000.

    Raises:
        OutputError: the raw image cannot be read, is not a multiple of 512 bytes, or is
            larger than the VHD limit of 2040 GiB.
    """
    kind = "dynamic-vhd" if dynamic else "vhd"
    size = raw_size(source, format=kind)
    if size % SECTOR or size > 2040 << 30:
        raise OutputError(
            f"{kind}: raw image {source} is {size} bytes: VHDs are whole sectors up to 2040 GiB",
            format=kind,
            path=str(source),
        )
    footer = _footer(
        size,
        dynamic=dynamic,
        timestamp=max(0, epoch - _VHD_EPOCH) & 0xFFFFFFFF,
        unique_id=_unique_id(seed),
    )
    try:
        with open(source, "rb") as raw:
            if dynamic:
                _write_dynamic(raw, target, size, footer)
            else:
                target.seek(0)
                shutil.copyfileobj(raw, target, _CHUNK)
                target.write(footer)
    except OSError as e:
        raise OutputError(
            f"{kind}: cannot read raw image {source}: {e.strerror}", format=kind, path=str(source)
        ) from None


def _write_dynamic(raw: BinaryIO, target: BinaryIO, size: int, footer: bytes) -> None:
    blocks = (size + _BLOCK_SIZE - 1) // _BLOCK_SIZE
    bat_offset = 3 * SECTOR
    bat_bytes = (blocks * 4 + SECTOR - 1) // SECTOR * SECTOR
    bat = [0xFFFFFFFF] * blocks
    # Every sector of a stored block is marked present, whatever it holds.
    bitmap = b"\xff" * (_BLOCK_SIZE // SECTOR // 8)
    bitmap += bytes(-len(bitmap) % SECTOR)
    position = bat_offset + bat_bytes
    for index, data in nonzero_blocks(raw, _BLOCK_SIZE):
        bat[index] = position // SECTOR
        target.seek(position)
        target.write(bitmap)
        target.write(data)
        position += len(bitmap) + _BLOCK_SIZE
    target.seek(position)
    target.write(footer)
    target.seek(0)
    target.write(footer)
    target.write(_dynamic_header(blocks, bat_offset))
    table = struct.pack(f">{blocks}I", *bat)
    target.write(table + b"\xff" * (bat_bytes - len(table)))
