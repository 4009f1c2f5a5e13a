"""Hostile layer blobs that the image writer cannot (or should not) make: raw tar headers
claiming 100 GB, sparse members, decompression bombs, oversized PAX records.

Each builder returns a :class:`RawLayer`: the blob, its media type and its true ``diff_id``.
Nothing here writes more than a few megabytes: the huge sizes are claims in headers, and
the bombs are small compressed streams of zeros.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
from collections.abc import Callable

import attrs
import zstandard

from moby_assemble import MediaType
from moby_assemble.testing import Layer

__all__ = [
    "GIB",
    "RawLayer",
    "bomb",
    "from_layers",
    "gnu_sparse",
    "huge_pax_record",
    "huge_size_claim",
    "pax_sparse",
    "truncated_gzip",
]

GIB = 1 << 30


@attrs.frozen
class RawLayer:
    """A layer blob as a registry would serve it."""

    blob: bytes
    media_type: str
    diff_id: str


#: Builds the layers of a hostile image, bottom first.
LayerFactory = Callable[[], tuple[RawLayer, ...]]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _plain(tar: bytes) -> RawLayer:
    return RawLayer(tar, MediaType.OCI_LAYER, _sha256(tar))


def from_layers(*layers: Layer) -> LayerFactory:
    """Layers made with the project's image writer (names written verbatim)."""

    def build() -> tuple[RawLayer, ...]:
        out = []
        for layer in layers:
            info = layer.blob_info()
            out.append(RawLayer(layer.blob(), info.media_type, info.diff_id))
        return tuple(out)

    return build


def _header(
    name: str, size: int, typeflag: bytes = tarfile.REGTYPE, pax: dict[str, str] | None = None
) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = typeflag
    info.mode = 0o644
    if pax:
        info.pax_headers = dict(pax)
        return info.tobuf(format=tarfile.PAX_FORMAT)
    return info.tobuf(format=tarfile.GNU_FORMAT)


def huge_size_claim() -> tuple[RawLayer, ...]:
    """A regular file header claiming 100 GiB, followed by 4 KiB and the end of the stream."""
    return (_plain(_header("var/big", 100 * GIB) + bytes(4096)),)


def gnu_sparse() -> tuple[RawLayer, ...]:
    """A GNU sparse member (type ``S``) claiming 100 GiB, then a normal end of archive."""
    return (_plain(_header("var/sparse", 100 * GIB, b"S") + bytes(1024)),)


def pax_sparse() -> tuple[RawLayer, ...]:
    """A PAX 1.0 sparse member: ``GNU.sparse.*`` records saying the real size is 100 GiB."""
    records = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "var/sparse",
        "GNU.sparse.realsize": str(100 * GIB),
    }
    return (_plain(_header("var/GNUSparseFile.0/sparse", 512, pax=records) + bytes(512 + 1024)),)


def huge_pax_record() -> tuple[RawLayer, ...]:
    """A PAX extended header that claims 2 MiB (readers must not buffer it)."""
    block = bytearray(_header("x", 2 << 20, tarfile.XHDTYPE)[:512])
    return (_plain(bytes(block) + bytes(4096)),)


def bomb(compression: str, uncompressed: int) -> Callable[[], tuple[RawLayer, ...]]:
    """A layer that is one file of ``uncompressed`` zero bytes (a multiple of 16 MiB),
    compressed with gzip or zstd as a chain of members/frames: one is compressed once and
    repeated, so building a 1 GiB bomb takes a fraction of a second."""
    piece = 16 << 20
    if uncompressed % piece:
        raise ValueError("the bomb size must be a multiple of 16 MiB")

    def build() -> tuple[RawLayer, ...]:
        if compression == "gzip":
            media_type = MediaType.OCI_LAYER_GZIP

            def pack(data: bytes) -> bytes:
                return gzip.compress(data, compresslevel=9, mtime=0)
        else:
            media_type = MediaType.OCI_LAYER_ZSTD
            cctx = zstandard.ZstdCompressor(level=3)
            pack = cctx.compress
        header = _header("zeros", uncompressed)
        zeros = bytes(piece)
        trailer = bytes(1024)  # the data is block-aligned: no padding, then the end marker
        repeated = pack(zeros)
        blob = pack(header) + repeated * (uncompressed // piece) + pack(trailer)
        digest = hashlib.sha256(header)
        for _ in range(uncompressed // piece):
            digest.update(zeros)
        digest.update(trailer)
        return (RawLayer(blob, media_type, "sha256:" + digest.hexdigest()),)

    return build


def truncated_gzip() -> tuple[RawLayer, ...]:
    """A gzip layer cut off in the middle."""
    layer = Layer().file("etc/motd", bytes(range(256)) * 64)
    info = layer.blob_info()
    blob = layer.blob()
    return (RawLayer(blob[: len(blob) // 2], info.media_type, info.diff_id),)
