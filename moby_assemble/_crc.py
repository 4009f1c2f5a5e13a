"""CRC-32 at ISA-L's speed where ``isal`` is installed (tens of GB/s), zlib's otherwise.

Both compute the same standard CRC-32 (the gzip and zip one), so a value written with one is
checked with the other.

Example:
    >>> crc32(b"hello")
    907060870
"""

from __future__ import annotations

try:
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - isal ships wheels for the platforms we test
    from zlib import crc32

__all__ = ["crc32"]
