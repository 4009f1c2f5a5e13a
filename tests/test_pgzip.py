"""Parallel gzip: one valid member, the same bytes for any number of threads."""

from __future__ import annotations

import gzip
import io
import os
import subprocess

import pytest

from moby_assemble._pgzip import BLOCK_SIZE, ParallelGzipWriter

# Incompressible and compressible parts, block boundaries crossed, an odd tail.
DATA = os.urandom(BLOCK_SIZE + 4096) + b"moby " * (BLOCK_SIZE // 2) + b"x" * 12345


def _gz(data: bytes, *, threads: int, level: int = 6, piece: int = 70001) -> bytes:
    out = io.BytesIO()
    with ParallelGzipWriter(out, level=level, threads=threads) as gz:
        for i in range(0, len(data), piece):
            gz.write(data[i : i + piece])
    return out.getvalue()


def test_the_output_is_one_gzip_member_that_gzip_reads_back() -> None:
    blob = _gz(DATA, threads=2)
    assert gzip.decompress(blob) == DATA
    assert subprocess.run(["gzip", "-t"], input=blob, check=False).returncode == 0
    assert blob[:4] == b"\x1f\x8b\x08\x00"
    assert blob[4:8] == b"\0\0\0\0"  # no mtime


@pytest.mark.parametrize("level", [1, 6, 9])
def test_the_bytes_do_not_depend_on_threads_or_write_sizes(level: int) -> None:
    outputs = {
        _gz(DATA, threads=t, level=level, piece=p) for t in (1, 2, 5) for p in (1000, 1 << 20)
    }
    assert len(outputs) == 1


def test_the_ratio_is_close_to_one_stream_gzip() -> None:
    text = b"".join(b"line %d of a log file\n" % i for i in range(300_000))
    ours, reference = _gz(text, threads=2), gzip.compress(text, 6, mtime=0)
    assert len(ours) < len(reference) * 1.01


def test_empty_input_is_a_valid_empty_member() -> None:
    blob = _gz(b"", threads=2)
    assert gzip.decompress(blob) == b""
    assert subprocess.run(["gzip", "-t"], input=blob, check=False).returncode == 0


def test_an_error_in_the_block_writes_no_trailer() -> None:
    out = io.BytesIO()

    def fail_midway() -> None:
        with ParallelGzipWriter(out, threads=2) as gz:
            gz.write(DATA)
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        fail_midway()
    with pytest.raises((EOFError, gzip.BadGzipFile, OSError)):
        gzip.decompress(out.getvalue())


def test_a_bad_level_is_refused() -> None:
    with pytest.raises(ValueError, match="1-9"):
        ParallelGzipWriter(io.BytesIO(), level=0)
