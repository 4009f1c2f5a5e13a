"""Convert a raw disk image to a streamOptimized VMDK (what OVA/OVF appliances carry).

A streamOptimized VMDK can be written front to back in one pass, which is what this does:

- sector 0: the sparse extent header, saying "grain directory at the end";
- sector 1: the text descriptor (``createType="streamOptimized"``), padded;
- from sector 128: for every 64 KiB grain holding data, a grain marker (its LBA and
  compressed length) and the zlib-deflated grain, sector-aligned; after each 512 grains'
  worth of disk, a grain-table marker and the grain table, if any of those grains exists;
- a grain-directory marker and the grain directory, a footer marker and the footer (the
  header again, now pointing at the grain directory), and the end-of-stream marker.

Zero grains are not stored (readers see zeros). zlib at a fixed level, a content id and
UUID derived from a seed: the same raw image always gives the same bytes.

Example::

    with open("disk.vmdk", "wb") as f:
        write_vmdk("disk.img", f, seed="my-system", name="disk.vmdk")
    # qemu-img check disk.vmdk  ->  No errors were found on the image.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
import zlib
from typing import BinaryIO

from .._errors import OutputError
from ._sparse import nonzero_blocks, raw_size

__all__ = ["write_vmdk"]

SECTOR = 512
_GRAIN_SECTORS = 128  # 64 KiB grains
_GRAIN = _GRAIN_SECTORS * SECTOR
_GTES_PER_GT = 512
_GT_SECTORS = _GTES_PER_GT * 4 // SECTOR
_GD_AT_END = 0xFFFFFFFFFFFFFFFF
# Flags: valid new-line detection (bit 0), compressed grains (16), markers (17).
_FLAGS = 1 | (1 << 16) | (1 << 17)
_DEFLATE = 1
_MARKER_EOS, _MARKER_GT, _MARKER_GD, _MARKER_FOOTER = 0, 1, 2, 3
_DESCRIPTOR_SECTORS = 20
_ZLIB_LEVEL = 6
_FORMAT = "vmdk"


def _header(capacity: int, gd_offset: int) -> bytes:
    header = struct.pack(
        "<4sIIQQQQIQQQB4sH",
        b"KDMV",
        3,  # version 3: streamOptimized with compressed grains
        _FLAGS,
        capacity,
        _GRAIN_SECTORS,
        1,  # descriptor at sector 1
        _DESCRIPTOR_SECTORS,
        _GTES_PER_GT,
        0,  # no redundant grain directory
        gd_offset,
        _GRAIN_SECTORS,  # overhead: grains start at sector 128
        0,  # cleanly closed
        b"\n \r\n",  # detects new-line mangling by text-mode transfers
        _DEFLATE,
    )
    return header + bytes(SECTOR - len(header))


def _marker(value: int, kind: int) -> bytes:
    return struct.pack("<QII", value, 0, kind) + bytes(SECTOR - 16)


def _descriptor(capacity: int, name: str, seed: bytes) -> bytes:
    digest = hashlib.sha256(b"moby_assemble vmdk\0" + seed).digest()
    content_id = int.from_bytes(digest[:4], "big") or 1
    disk_uuid = uuid.UUID(bytes=digest[4:20], version=4)
    cylinders = min(capacity // (255 * 63), 65535)
    text = (
        "# Disk DescriptorFile\n"
        "version=1\n"
        f"CID={content_id:08x}\n"
        "parentCID=ffffffff\n"
        'createType="streamOptimized"\n'
        "\n"
        "# Extent description\n"
        f'RW {capacity} SPARSE "{name}"\n'
        "\n"
        "# The Disk Data Base\n"
        "#DDB\n"
        "\n"
        'ddb.adapterType = "lsilogic"\n'
        f'ddb.geometry.cylinders = "{cylinders}"\n'
        'ddb.geometry.heads = "255"\n'
        'ddb.geometry.sectors = "63"\n'
        f'ddb.uuid = "{" ".join(f"{b:02x}" for b in disk_uuid.bytes)}"\n'
        'ddb.virtualHWVersion = "4"\n'
    ).encode()
    return text + bytes(_DESCRIPTOR_SECTORS * SECTOR - len(text))


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % SECTOR)


def write_vmdk(
    source: str | os.PathLike[str],
    target: BinaryIO,
    *,
    seed: str | bytes = b"",
    name: str = "disk.vmdk",
) -> None:
    """Write the raw image at ``source`` to ``target`` as a streamOptimized VMDK.

    Args:
        source: the raw image; its size, a multiple of 64 KiB, is the disk size.
        target: an empty binary file (written front to back, never sought back).
        seed: what the content id and disk UUID are derived from.
        name: the extent file name the descriptor names: the *final* file name (not a
            temporary one, which would end up in the bytes).

    Raises:
        OutputError: the raw image cannot be read or its size is not a multiple of 64 KiB.
    """
    size = raw_size(source, format=_FORMAT)
    if size % _GRAIN:
        raise OutputError(
            f"vmdk: raw image {source} is {size} bytes, not a multiple of 64 KiB",
            format=_FORMAT,
            path=str(source),
        )
    if '"' in name or "/" in name or "\n" in name:
        raise OutputError(
            f"vmdk: extent name {name!r} holds a quote, a slash or a new line", format=_FORMAT
        )
    seed_bytes = seed.encode() if isinstance(seed, str) else seed
    capacity = size // SECTOR
    grains = capacity // _GRAIN_SECTORS
    tables = (grains + _GTES_PER_GT - 1) // _GTES_PER_GT
    directory = [0] * tables
    position = _GRAIN_SECTORS  # in sectors

    def emit(data: bytes) -> None:
        nonlocal position
        target.write(data)
        position += len(data) // SECTOR

    target.write(_header(capacity, _GD_AT_END))
    target.write(_descriptor(capacity, name, seed_bytes))
    target.write(bytes((_GRAIN_SECTORS - 1 - _DESCRIPTOR_SECTORS) * SECTOR))
    table: list[int] = []
    table_index = -1

    def flush_table() -> None:
        if table_index >= 0 and any(table):
            emit(_marker(_GT_SECTORS, _MARKER_GT))
            directory[table_index] = position
            emit(struct.pack(f"<{_GTES_PER_GT}I", *table))

    try:
        with open(source, "rb") as raw:
            for index, data in nonzero_blocks(raw, _GRAIN):
                current = index // _GTES_PER_GT
                if current != table_index:
                    flush_table()
                    table, table_index = [0] * _GTES_PER_GT, current
                table[index % _GTES_PER_GT] = position
                compressed = zlib.compress(data, _ZLIB_LEVEL)
                lba = index * _GRAIN_SECTORS
                emit(_pad(struct.pack("<QI", lba, len(compressed)) + compressed))
    except OSError as e:
        raise OutputError(
            f"vmdk: cannot read raw image {source}: {e.strerror}",
            format=_FORMAT,
            path=str(source),
        ) from None
    flush_table()
    directory_sectors = max(1, (tables * 4 + SECTOR - 1) // SECTOR)
    emit(_marker(directory_sectors, _MARKER_GD))
    gd_offset = position
    emit(_pad(struct.pack(f"<{tables}I", *directory)) if tables else bytes(SECTOR))
    emit(_marker(1, _MARKER_FOOTER))
    emit(_header(capacity, gd_offset))
    emit(_marker(0, _MARKER_EOS))
