"""Blob writes: verified, atomic, nothing half-written, even under kill -9."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from moby_assemble._errors import IntegrityError
from moby_assemble._oci import Descriptor, digest_bytes
from moby_assemble.store import Store

OCTET = "application/octet-stream"


def _ingest_files(store: Store) -> list[Path]:
    ingest = store.path / "ingest"
    return sorted(ingest.iterdir()) if ingest.is_dir() else []


def test_writer_commits_verified_content_in_chunks(store: Store) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    desc = Descriptor.for_bytes(OCTET, data)
    with store.blob_writer(desc) as w:
        for i in range(0, len(data), 65536):
            w.write(data[i : i + 65536])
        assert w.offset == len(data)
        assert not store.has_blob(desc.digest)  # not before the with-block ends
    assert store.blob_path(desc.digest).read_bytes() == data
    assert _ingest_files(store) == []


def test_wrong_digest_is_an_integrity_error_and_commits_nothing(store: Store) -> None:
    desc = Descriptor(OCTET, digest_bytes(b"expected"), 8)
    with pytest.raises(IntegrityError, match=desc.digest) as info, store.blob_writer(desc) as w:
        w.write(b"imposter")
    assert info.value.digest == desc.digest
    assert info.value.actual == digest_bytes(b"imposter")
    assert not store.blob_path(desc.digest).exists()
    assert _ingest_files(store) == []


def test_short_content_is_an_integrity_error(store: Store) -> None:
    desc = Descriptor.for_bytes(OCTET, b"complete")
    with (
        pytest.raises(IntegrityError, match="expected 8 bytes, got 4"),
        store.blob_writer(desc) as w,
    ):
        w.write(b"comp")
    assert not store.has_blob(desc.digest)


def test_writing_past_the_size_fails_at_once_and_cannot_be_committed(store: Store) -> None:
    desc = Descriptor.for_bytes(OCTET, b"1234")
    offsets = []

    def write_too_much() -> None:
        with store.blob_writer(desc) as w:
            w.write(b"12")
            with pytest.raises(IntegrityError):
                w.write(b"345")
            offsets.append(w.offset)
            # The error was swallowed: leaving the block still must not commit anything.

    with pytest.raises(IntegrityError, match="more than the expected 4"):
        write_too_much()
    assert offsets == [2]  # the oversized chunk was not written
    assert not store.has_blob(desc.digest)
    assert _ingest_files(store) == []


def test_an_exception_inside_the_block_removes_the_temp_file(store: Store) -> None:
    desc = Descriptor.for_bytes(OCTET, b"data")
    temps = []

    def fail_mid_write() -> None:
        with store.blob_writer(desc) as w:
            w.write(b"da")
            temps.append(w.temp_path)
            assert w.temp_path.exists()
            raise RuntimeError("network died")

    with pytest.raises(RuntimeError, match="network died"):
        fail_mid_write()
    assert temps[0].parent == store.path / "ingest"
    assert _ingest_files(store) == []
    assert not store.has_blob(desc.digest)


def test_reset_restarts_the_write_from_zero(store: Store) -> None:
    desc = Descriptor.for_bytes(OCTET, b"good content")
    with store.blob_writer(desc) as w:
        w.write(b"garbage")
        w.reset()
        assert w.offset == 0
        w.write(b"good content")
    assert store.read_blob(desc.digest) == b"good content"


def test_writing_an_existing_blob_keeps_it_and_drops_the_temp(store: Store) -> None:
    desc = store.put_bytes(OCTET, b"same")
    before = store.blob_path(desc.digest).stat().st_ino
    with store.blob_writer(desc) as w:
        w.write(b"same")
    assert store.blob_path(desc.digest).stat().st_ino == before
    assert _ingest_files(store) == []


def test_ingest_bytes_and_stream_verify_before_writing(store: Store) -> None:
    desc = Descriptor.for_bytes(OCTET, b"payload")
    with pytest.raises(IntegrityError):
        store.ingest_bytes(desc, b"PAYLOAD")
    with pytest.raises(IntegrityError, match="more than"):
        store.ingest_stream(desc, io.BytesIO(b"payload and more"))
    assert not store.has_blob(desc.digest)
    store.ingest_stream(desc, io.BytesIO(b"payload"))
    assert store.read_blob(desc.digest) == b"payload"


_CHILD = textwrap.dedent(
    """
    import sys, time
    from moby_assemble._oci import Descriptor
    from moby_assemble.store import Store

    store = Store(sys.argv[1])
    size, digest = int(sys.argv[2]), sys.argv[3]
    chunk = bytes(range(256)) * 4096          # 1 MiB, the same pattern the parent hashed
    with store.blob_writer(Descriptor("application/octet-stream", digest, size)) as w:
        w.write(chunk)
        print("writing", flush=True)
        while True:                           # never finishes: the parent kills us
            time.sleep(0.05)
    """
)


def test_kill_9_in_the_middle_of_a_write_leaves_a_valid_store(store: Store) -> None:
    chunk = bytes(range(256)) * 4096
    data = chunk * 16  # 16 MiB
    desc = Descriptor(OCTET, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    other = store.put_bytes(OCTET, b"already here")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(store.path), str(desc.size), desc.digest],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"
        assert len(_ingest_files(store)) == 1  # the half-written temp
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    assert not store.has_blob(desc.digest)
    assert store.verify() == ()
    assert store.read_blob(other.digest) == b"already here"
    # The kernel dropped the dead writer's lease, so gc runs and clears its temp file.
    result = store.gc(timeout=5)
    assert result.removed_temp_files == 1
    assert _ingest_files(store) == []
    # And the write simply succeeds when done again.
    with store.blob_writer(desc) as w:
        for _ in range(16):
            w.write(chunk)
    assert store.blob_path(desc.digest).stat().st_size == len(data)
    assert store.verify() == ()
