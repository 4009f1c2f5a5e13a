"""FAT directory entries: 8.3 short names, VFAT long-name entries, dates, labels.

Example::

    short = next(short_candidates("kernel"))      # b"KERNEL~1   "
    stamp = fat_datetime(0)                        # 1980-01-01 00:00:00
    entries = lfn_entries("kernel", lfn_checksum(short))
    entries += short_entry(short, ATTR_ARCHIVE, cluster=3, size=10, stamp=stamp)
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Iterable

from .._errors import OutputError

__all__ = [
    "ATTR_ARCHIVE",
    "ATTR_DIRECTORY",
    "ATTR_VOLUME_ID",
    "check_name",
    "exact_short",
    "fat_datetime",
    "label_bytes",
    "lfn_checksum",
    "lfn_entries",
    "short_candidates",
    "short_entry",
]

ATTR_VOLUME_ID = 0x08
ATTR_DIRECTORY = 0x10
ATTR_ARCHIVE = 0x20
_ATTR_LFN = 0x0F
# Characters a short (8.3) name may hold besides A-Z and 0-9.
_SHORT_EXTRA = set("!#$%&'()-@^_`{}~")
# Characters no FAT name may hold (besides control characters).
_FORBIDDEN = set('"*/:<>?\\|')

# FAT timestamps count from 1980 and end in 2107.
_FAT_EPOCH_MIN = 315532800
_FAT_EPOCH_MAX = 4354819198


def check_name(name: str, path: str) -> None:
    """Raise an OutputError naming ``path`` unless ``name`` can be a FAT long name."""
    if not name or name in (".", ".."):
        raise OutputError(f"FAT file {path!r}: empty, '.' or '..' path component", path=path)
    bad = [c for c in name if c in _FORBIDDEN or ord(c) < 0x20]
    if bad:
        raise OutputError(
            f"FAT file {path!r}: name {name!r} holds characters FAT forbids: {''.join(bad)!r}",
            path=path,
        )
    if name[-1] in ". ":
        raise OutputError(f"FAT file {path!r}: name {name!r} ends with a dot or space", path=path)
    if len(name.encode("utf-16-le")) > 255 * 2:
        raise OutputError(f"FAT file {path!r}: name {name!r} is longer than 255", path=path)


def _short_char(c: str) -> str:
    if c.isascii() and (c.isalnum() or c in _SHORT_EXTRA):
        return c.upper()
    return "_"


def exact_short(name: str) -> bytes | None:
    """The 11-byte short name if ``name`` is an upper-case 8.3 name, else None."""
    base, dot, ext = name.partition(".")
    if "." in ext or not base or (dot and not ext) or len(base) > 8 or len(ext) > 3:
        return None
    if any(
        not (c.isascii() and (c.isupper() or c.isdigit() or c in _SHORT_EXTRA))
        for c in name
        if c != "."
    ):
        return None
    return (base.ljust(8) + ext.ljust(3)).encode("ascii")


def short_candidates(name: str) -> Iterable[bytes]:
    """Short names for ``name`` in the order Windows tries them: ``BASE~1.EXT``, ``~2`` …"""
    stem, _, ext = name.lstrip(".").rpartition(".")
    if not stem:
        stem, ext = ext, ""
    base = "".join(_short_char(c) for c in stem if c not in " .") or "_"
    tail = "".join(_short_char(c) for c in ext if c != " ")[:3]
    for n in range(1, 1_000_000):
        suffix = f"~{n}"
        yield (base[: 8 - len(suffix)] + suffix).ljust(8).encode() + tail.ljust(3).encode()


def lfn_checksum(short: bytes) -> int:
    """The checksum that ties long-name entries to their 11-byte short name."""
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def lfn_entries(name: str, checksum: int) -> bytes:
    """The VFAT long-name entries of ``name``, last part first, as they precede the short entry."""
    units = name.encode("utf-16-le")
    if len(units) % 26:
        units += b"\0\0"
        units += b"\xff" * ((26 - len(units) % 26) % 26)
    pieces = [units[i : i + 26] for i in range(0, len(units), 26)]
    entries = []
    for index, piece in enumerate(pieces, start=1):
        order = index | (0x40 if index == len(pieces) else 0)
        entries.append(
            struct.pack(
                "<B10sBBB12sH4s",
                order,
                piece[:10],
                _ATTR_LFN,
                0,
                checksum,
                piece[10:22],
                0,
                piece[22:26],
            )
        )
    return b"".join(reversed(entries))


def fat_datetime(epoch: int) -> tuple[int, int]:
    """``(date, time)`` in FAT encoding for ``epoch``, clamped to 1980..2107 (UTC)."""
    moment = datetime.datetime.fromtimestamp(
        min(max(epoch, _FAT_EPOCH_MIN), _FAT_EPOCH_MAX), tz=datetime.UTC
    )
    date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return date, time


def short_entry(short: bytes, attr: int, cluster: int, size: int, stamp: tuple[int, int]) -> bytes:
    """One 32-byte short directory entry (all three times are ``stamp``)."""
    date, time = stamp
    return struct.pack(
        "<11sBBBHHHHHHHI",
        short,
        attr,
        0,
        0,
        time,
        date,
        date,
        cluster >> 16,
        time,
        date,
        cluster & 0xFFFF,
        size,
    )


def label_bytes(label: str) -> bytes:
    """The 11-byte volume label (upper case, space padded)."""
    text = label.upper()
    if len(text) > 11 or any(c in _FORBIDDEN or not c.isascii() or ord(c) < 0x20 for c in text):
        raise OutputError(
            f"FAT label {label!r}: at most 11 ASCII characters, no {''.join(sorted(_FORBIDDEN))}"
        )
    return text.ljust(11).encode("ascii")
