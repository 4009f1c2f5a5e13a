"""Read a raw disk image block by block, skipping what is zero.

The image converters (qcow2, VHD, VMDK) store only blocks that hold data. Holes of a
sparse file are skipped without reading them (``SEEK_DATA``/``SEEK_HOLE``); blocks that
were written but are all zero are read and dropped.

Example::

    with open("disk.img", "rb") as f:
        for index, block in nonzero_blocks(f, 65536):
            ...   # block is 65536 bytes (the last one zero-padded)
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .._errors import OutputError

__all__ = ["nonzero_blocks", "raw_size"]


def raw_size(path: str | os.PathLike[str], *, format: str) -> int:
    """The size of the raw image at ``path``.

    Raises:
        OutputError: it cannot be read (naming the file and the output format).
    """
    try:
        return Path(path).stat().st_size
    except OSError as e:
        raise OutputError(
            f"{format}: cannot read raw image {path}: {e.strerror}", format=format, path=str(path)
        ) from None


def _data_ranges(fd: int, size: int) -> Iterator[tuple[int, int]]:
    position = 0
    while position < size:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # only a hole is left
                return
            # The file system cannot tell holes from data: read all of the rest.
            yield position, size
            return
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, end
        position = end


def nonzero_blocks(source: BinaryIO, block: int) -> Iterator[tuple[int, bytes]]:
    """``(index, data)`` for every block of ``source`` that is not all zero, in order.

    ``data`` is always ``block`` bytes: the last block is padded with zeros.
    """
    size = os.fstat(source.fileno()).st_size
    zero = bytes(block)
    last = -1
    for start, end in _data_ranges(source.fileno(), size):
        first_index = max(start // block, last + 1)
        for index in range(first_index, (end + block - 1) // block):
            source.seek(index * block)
            data = source.read(block)
            if len(data) < block:
                data += bytes(block - len(data))
            last = index
            if data != zero:
                yield index, data
