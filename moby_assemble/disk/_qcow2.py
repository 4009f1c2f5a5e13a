"""Convert a raw disk image to qcow2 (version 3), storing only clusters that hold data.

One pass over the raw image: each 64 KiB cluster that is not all zero is appended to the
output as it is read (holes of a sparse raw file are not even read), then the metadata
goes after the data: the L2 tables, the L1 table, the refcount table and its blocks. The
header in cluster 0 is written last. Clusters never allocated read as zeros, so the
qcow2 is as small as the data. No compression, no snapshots, no backing file, refcount
width 16 bits (QEMU's defaults). The same raw image always gives the same bytes.

Example::

    with open("disk.qcow2", "wb") as f:
        write_qcow2("disk.img", f)
    # qemu-img check disk.qcow2  ->  No errors were found on the image.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from .._errors import OutputError
from ._sparse import nonzero_blocks, raw_size

__all__ = ["write_qcow2"]

_MAGIC = b"QFI\xfb"
_VERSION = 3
_HEADER_LENGTH = 104
_REFCOUNT_ORDER = 4  # 16-bit refcounts
_COPIED = 1 << 63  # refcount is exactly one: QEMU may write in place
_FORMAT = "qcow2"


def _header(
    size: int,
    cluster_bits: int,
    l1_size: int,
    l1_offset: int,
    refcount_table_offset: int,
    refcount_table_clusters: int,
) -> bytes:
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII",
        _MAGIC,
        _VERSION,
        0,  # no backing file
        0,
        cluster_bits,
        size,
        0,  # not encrypted
        l1_size,
        l1_offset,
        refcount_table_offset,
        refcount_table_clusters,
        0,  # no snapshots
        0,
        0,  # incompatible features
        0,  # compatible features
        0,  # autoclear features
        _REFCOUNT_ORDER,
        _HEADER_LENGTH,
    )
    # Followed by the end-of-header-extensions marker (type 0, length 0): zeros.
    return header + bytes(8)


def write_qcow2(
    source: str | os.PathLike[str], target: BinaryIO, *, cluster_size: int = 65536
) -> int:
    """Write the raw image at ``source`` to ``target`` as qcow2; return the clusters stored.

    Args:
        source: the raw image (its size, a multiple of 512, is the virtual disk size).
        target: an empty, seekable binary file.
        cluster_size: a power of two from 512 bytes to 2 MiB (64 KiB like QEMU).

    Raises:
        OutputError: the raw image cannot be read or its size is not a multiple of 512,
            or the cluster size is invalid.
    """
    size = raw_size(source, format=_FORMAT)
    cluster_bits = cluster_size.bit_length() - 1
    if cluster_size != 1 << cluster_bits or not 9 <= cluster_bits <= 21:
        raise OutputError(
            f"qcow2 cluster size {cluster_size} is not a power of two from 512 to 2 MiB",
            format=_FORMAT,
        )
    if size % 512:
        raise OutputError(
            f"qcow2: raw image {source} is {size} bytes, not a multiple of 512",
            format=_FORMAT,
            path=str(source),
        )
    l2_entries = cluster_size // 8
    virtual_clusters = (size + cluster_size - 1) // cluster_size
    l1_size = max(1, (virtual_clusters + l2_entries - 1) // l2_entries)

    # Data first, from cluster 1 on, in the order of the raw image.
    mapping: dict[int, list[tuple[int, int]]] = {}
    next_cluster = 1
    try:
        with open(source, "rb") as raw:
            for index, data in nonzero_blocks(raw, cluster_size):
                target.seek(next_cluster * cluster_size)
                target.write(data)
                l1_index, l2_index = divmod(index, l2_entries)
                mapping.setdefault(l1_index, []).append((l2_index, next_cluster))
                next_cluster += 1
    except OSError as e:
        raise OutputError(
            f"qcow2: cannot read raw image {source}: {e.strerror}",
            format=_FORMAT,
            path=str(source),
        ) from None
    stored = next_cluster - 1

    # L2 tables, one per L1 entry that maps any data.
    l1 = [0] * l1_size
    for l1_index in sorted(mapping):
        table = [0] * l2_entries
        for l2_index, cluster in mapping[l1_index]:
            table[l2_index] = (cluster * cluster_size) | _COPIED
        target.seek(next_cluster * cluster_size)
        target.write(struct.pack(f">{l2_entries}Q", *table))
        l1[l1_index] = (next_cluster * cluster_size) | _COPIED
        next_cluster += 1

    l1_offset = next_cluster * cluster_size
    l1_clusters = (l1_size * 8 + cluster_size - 1) // cluster_size
    target.seek(l1_offset)
    target.write(struct.pack(f">{l1_size}Q", *l1))
    next_cluster += l1_clusters

    # The refcount table and blocks count every cluster, themselves included: grow
    # them until they cover the file they end.
    per_block = cluster_size * 8 // (1 << _REFCOUNT_ORDER)
    table_clusters = block_count = 1
    while True:
        total = next_cluster + table_clusters + block_count
        needed_blocks = (total + per_block - 1) // per_block
        needed_table = (needed_blocks * 8 + cluster_size - 1) // cluster_size
        if needed_blocks <= block_count and needed_table <= table_clusters:
            break
        block_count = max(block_count, needed_blocks)
        table_clusters = max(table_clusters, needed_table)
    table_offset = next_cluster * cluster_size
    first_block = next_cluster + table_clusters
    total = first_block + block_count
    refcount_table = [(first_block + i) * cluster_size for i in range(block_count)]
    target.seek(table_offset)
    target.write(struct.pack(f">{len(refcount_table)}Q", *refcount_table))
    for i in range(block_count):
        used = max(0, min(per_block, total - i * per_block))
        target.seek((first_block + i) * cluster_size)
        target.write(struct.pack(f">{used}H", *([1] * used)))
    target.truncate(total * cluster_size)

    target.seek(0)
    target.write(_header(size, cluster_bits, l1_size, l1_offset, table_offset, table_clusters))
    return stored
