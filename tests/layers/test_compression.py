"""open_layer: gzip and zstd streams, diff_id checks, size bounds, corrupt input."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging

import pytest
import zstandard

from moby_assemble import IntegrityError, LayerError
from moby_assemble._oci import MediaType
from moby_assemble.layers import open_layer

GZIP = MediaType.OCI_LAYER_GZIP
ZSTD = MediaType.OCI_LAYER_ZSTD
PLAIN = MediaType.OCI_LAYER
PAYLOAD = bytes(range(256)) * 4000 + b"tail"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def zstd(data: bytes, **kw: object) -> bytes:
    return zstandard.ZstdCompressor(**kw).compress(data)  # type: ignore[arg-type]


def read(blob: bytes, media_type: str, **kw: object) -> bytes:
    stream = open_layer(io.BytesIO(blob), media_type, **kw)  # type: ignore[arg-type]
    parts = []
    while chunk := stream.read(7000):
        parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize(
    ("blob", "media_type"),
    [
        (gzip.compress(PAYLOAD, mtime=0), GZIP),
        (gzip.compress(PAYLOAD, mtime=0), MediaType.DOCKER_LAYER_GZIP),
        (zstd(PAYLOAD), ZSTD),
        (zstd(PAYLOAD, write_checksum=True, write_content_size=False), ZSTD),
        (PAYLOAD, PLAIN),
    ],
)
def test_each_compression_decodes_and_checks_its_diff_id(blob: bytes, media_type: str) -> None:
    assert read(blob, media_type, diff_id=sha(PAYLOAD)) == PAYLOAD


def test_multi_member_gzip_and_trailing_zero_padding() -> None:
    blob = gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:]) + bytes(100)
    assert read(blob, GZIP, diff_id=sha(PAYLOAD)) == PAYLOAD


def test_multi_frame_zstd_with_a_skippable_frame() -> None:
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"meta!"
    blob = zstd(PAYLOAD[:5000]) + skippable + zstd(PAYLOAD[5000:], write_checksum=True)
    assert read(blob, ZSTD, diff_id=sha(PAYLOAD)) == PAYLOAD


def test_streamed_zstd_frames_without_content_size() -> None:
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=19).stream_writer(out, closefd=False) as w:
        for i in range(0, len(PAYLOAD), 4096):
            w.write(PAYLOAD[i : i + 4096])
    assert read(out.getvalue(), ZSTD) == PAYLOAD


def test_diff_id_mismatch_raises_integrity_error_at_the_end_naming_the_layer() -> None:
    wrong = sha(b"something else")
    stream = open_layer(
        io.BytesIO(gzip.compress(PAYLOAD, mtime=0)), GZIP, diff_id=wrong, name="sha256:l1"
    )
    assert stream.read(100) == PAYLOAD[:100]  # the check comes at the end of the stream
    with pytest.raises(IntegrityError) as err:
        stream.read()
    assert err.value.digest == wrong
    assert err.value.actual == sha(PAYLOAD)
    assert "sha256:l1" in str(err.value)
    with pytest.raises(IntegrityError):
        stream.read(10)  # the failure sticks: never a clean end of stream


@pytest.mark.parametrize(
    ("blob", "media_type"),
    [
        (gzip.compress(PAYLOAD, mtime=0)[:-20], GZIP),
        (gzip.compress(PAYLOAD, mtime=0)[:15], GZIP),
        (zstd(PAYLOAD)[:-10], ZSTD),
        (zstd(PAYLOAD)[:6], ZSTD),
        (zstd(PAYLOAD, write_checksum=True)[:-2], ZSTD),
    ],
    # Explicit ids: pytest derives ids from printable bytes, and gzip headers carry the time,
    # so xdist workers would otherwise collect different test names.
    ids=["gzip-tail", "gzip-header", "zstd-tail", "zstd-header", "zstd-checksum"],
)
def test_truncated_compressed_data_is_an_error(blob: bytes, media_type: str) -> None:
    with pytest.raises(LayerError, match=r"truncated|corrupt"):
        read(blob, media_type)


@pytest.mark.parametrize(
    ("blob", "media_type", "what"),
    [
        (gzip.compress(PAYLOAD, mtime=0) + b"garbage", GZIP, "after the gzip stream"),
        (zstd(PAYLOAD) + b"garbage!", ZSTD, "after the zstd stream|corrupt"),
    ],
)
def test_trailing_garbage_is_an_error(blob: bytes, media_type: str, what: str) -> None:
    with pytest.raises(LayerError, match=what):
        read(blob, media_type)


def test_corrupt_gzip_is_an_error() -> None:
    blob = bytearray(gzip.compress(PAYLOAD, mtime=0))
    blob[len(blob) // 2] ^= 0x55
    with pytest.raises(LayerError, match="corrupt gzip"):
        read(bytes(blob), GZIP)


@pytest.mark.parametrize("compress", [gzip.compress, zstd])
def test_decompression_bomb_is_stopped_at_max_size(compress: object) -> None:
    bomb = compress(bytes(64 << 20))  # type: ignore[operator]
    assert len(bomb) < 200_000
    media_type = GZIP if compress is gzip.compress else ZSTD
    stream = open_layer(io.BytesIO(bomb), media_type, max_size=1 << 20, name="bomb")
    seen = 0

    def drain() -> None:
        nonlocal seen
        while chunk := stream.read(1 << 16):
            seen += len(chunk)

    with pytest.raises(LayerError, match="more than 1048576 bytes") as err:
        drain()
    assert seen <= 1 << 20
    assert err.value.layer == "bomb"


def test_content_is_sniffed_when_the_media_type_lies(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="moby_assemble.layers"):
        assert read(PAYLOAD, GZIP) == PAYLOAD  # a plain tar labelled +gzip
        assert read(gzip.compress(PAYLOAD, mtime=0), ZSTD) == PAYLOAD
    assert "content is not compressed" in caplog.text
    assert "content is gzip" in caplog.text


def test_unknown_media_type_and_bad_diff_id_are_layer_errors() -> None:
    with pytest.raises(LayerError, match="not a layer media type"):
        open_layer(io.BytesIO(b""), "application/json")
    with pytest.raises(LayerError, match="bad diff_id"):
        open_layer(io.BytesIO(b""), PLAIN, diff_id="md5:abc")


def test_closing_the_layer_stream_closes_the_blob_stream() -> None:
    blob = io.BytesIO(gzip.compress(PAYLOAD, mtime=0))
    stream = open_layer(blob, GZIP)
    stream.close()
    assert blob.closed


def test_readinto_and_read_all_work_like_a_file() -> None:
    stream = open_layer(io.BytesIO(zstd(PAYLOAD)), ZSTD)
    buf = bytearray(10)
    assert stream.readinto(buf) == 10
    assert bytes(buf) == PAYLOAD[:10]
    assert stream.read() == PAYLOAD[10:]
    assert stream.read() == b""
