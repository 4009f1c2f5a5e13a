"""Gzip layers decode the same with ISA-L (``isal``) and with the zlib fallback.

The gzip reader uses ``isal`` when it can be imported and zlib otherwise. Each test here
runs on every backend this machine has (forced by pointing the module at it), so the
fallback keeps the same multi-member handling, errors and size bound as the fast path.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import platform
import subprocess
import sys
import zlib

import pytest

from moby_assemble import IntegrityError, LayerError
from moby_assemble._oci import MediaType
from moby_assemble.layers import _compression, open_layer

GZIP = MediaType.OCI_LAYER_GZIP
PAYLOAD = bytes(range(256)) * 4000 + b"tail"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read(blob: bytes, **kw: object) -> bytes:
    stream = open_layer(io.BytesIO(blob), GZIP, **kw)  # type: ignore[arg-type]
    parts = []
    while chunk := stream.read(7000):
        parts.append(chunk)
    return b"".join(parts)


@pytest.fixture(params=[b.name for b in _compression._INFLATE_BACKENDS])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make open_layer use one gzip backend; yields its name."""
    chosen = next(b for b in _compression._INFLATE_BACKENDS if b.name == request.param)
    monkeypatch.setattr(_compression, "_INFLATE", chosen)
    return str(request.param)


def test_zlib_is_always_available_as_the_fallback() -> None:
    assert _compression._INFLATE_BACKENDS[-1].name == "zlib"


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "aarch64"), reason="isal is a dependency only here"
)
def test_isal_is_preferred_where_it_is_a_dependency() -> None:
    assert _compression._INFLATE.name == "isal"


def test_gzip_decodes_with_a_diff_id_check(backend: str) -> None:
    assert read(gzip.compress(PAYLOAD, mtime=0), diff_id=sha(PAYLOAD)) == PAYLOAD


def test_gzip_member_with_name_and_header_crc_decodes(backend: str) -> None:
    # FNAME, FEXTRA and FHCRC as gzip(1) and some layer tools write them.
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = body.compress(PAYLOAD) + body.flush()
    header = b"\x1f\x8b\x08" + bytes([0x02 | 0x04 | 0x08]) + bytes(4) + b"\x00\x03"
    header += (4).to_bytes(2, "little") + b"ab\x00\x00" + b"layer.tar\x00"
    header += (zlib.crc32(header) & 0xFFFF).to_bytes(2, "little")
    trailer = zlib.crc32(PAYLOAD).to_bytes(4, "little") + len(PAYLOAD).to_bytes(4, "little")
    assert read(header + deflated + trailer) == PAYLOAD


def test_multi_member_gzip_with_zero_padding(backend: str) -> None:
    blob = gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:]) + bytes(100)
    assert read(blob, diff_id=sha(PAYLOAD)) == PAYLOAD


def test_a_tiny_member_between_large_ones_decodes(backend: str) -> None:
    members = (PAYLOAD, b"", b"x", PAYLOAD)
    blob = b"".join(gzip.compress(m) for m in members)
    assert read(blob) == PAYLOAD + b"x" + PAYLOAD


@pytest.mark.parametrize("cut", [-20, -4, 15, 5])
def test_truncated_gzip_is_an_error(backend: str, cut: int) -> None:
    with pytest.raises(LayerError, match=r"truncated|corrupt"):
        read(gzip.compress(PAYLOAD, mtime=0)[:cut])


def test_garbage_after_the_stream_is_an_error(backend: str) -> None:
    with pytest.raises(LayerError, match="after the gzip stream"):
        read(gzip.compress(PAYLOAD, mtime=0) + b"garbage")


@pytest.mark.parametrize("where", ["middle", "crc", "isize"])
def test_corrupt_gzip_is_a_layer_error(backend: str, where: str) -> None:
    blob = bytearray(gzip.compress(PAYLOAD, mtime=0))
    blob[{"middle": len(blob) // 2, "crc": -6, "isize": -2}[where]] ^= 0x55
    with pytest.raises(LayerError, match="corrupt gzip") as err:
        read(bytes(blob), name="sha256:l1")
    assert err.value.layer == "sha256:l1"


def test_decompression_bomb_stops_at_max_size(backend: str) -> None:
    stream = open_layer(io.BytesIO(gzip.compress(bytes(64 << 20))), GZIP, max_size=1 << 20)
    seen = 0

    def drain() -> None:
        nonlocal seen
        while chunk := stream.read(1 << 16):
            seen += len(chunk)

    with pytest.raises(LayerError, match="more than 1048576 bytes"):
        drain()
    assert seen <= 1 << 20


def test_diff_id_mismatch_is_an_integrity_error(backend: str) -> None:
    with pytest.raises(IntegrityError):
        read(gzip.compress(PAYLOAD, mtime=0), diff_id=sha(b"other"))


def test_without_isal_importable_gzip_layers_still_decode_with_zlib() -> None:
    # A fresh interpreter in which importing isal fails, as on a platform without a wheel.
    code = (
        "import sys, gzip, io\n"
        "sys.modules['isal'] = None\n"
        "from moby_assemble.layers import _compression, open_layer\n"
        "blob = gzip.compress(b'hello' * 1000) + gzip.compress(b'!')\n"
        "out = open_layer(io.BytesIO(blob), 'application/vnd.oci.image.layer.v1.tar+gzip').read()\n"
        "assert out == b'hello' * 1000 + b'!', len(out)\n"
        "print(','.join(b.name for b in _compression._INFLATE_BACKENDS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "zlib"
