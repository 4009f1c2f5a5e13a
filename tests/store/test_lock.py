"""Processes sharing one store: tags are never lost, locks exclude, leases hold off gc."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from moby_assemble._errors import StoreError
from moby_assemble.store import Store
from moby_assemble.store._lock import FileLock

_WRITER = textwrap.dedent(
    """
    import sys
    from moby_assemble.store import Store

    store = Store(sys.argv[1])
    prefix, count = sys.argv[2], int(sys.argv[3])
    for i in range(count):
        desc = store.put_bytes("application/vnd.example.note+json",
                               f'{{"who": "{prefix}", "n": {i}}}'.encode())
        store.tag(f"{prefix}-{i}", desc)
    """
)


def test_two_processes_tagging_one_store_concurrently_keep_every_tag(tmp_path: Path) -> None:
    path = tmp_path / "shared"
    count = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), who, str(count)])
        for who in ("left", "right")
    ]
    for p in procs:
        assert p.wait(timeout=60) == 0
    store = Store(path)
    expected = {f"{who}-{i}" for who in ("left", "right") for i in range(count)}
    assert set(store.names()) == expected
    index = json.loads((path / "index.json").read_bytes())
    assert len(index["manifests"]) == 2 * count
    assert store.verify() == ()
    assert not list((path / "ingest").iterdir())


_HOLDER = textwrap.dedent(
    """
    import sys
    from moby_assemble.store import Store

    store = Store(sys.argv[1])
    with store.locked() if sys.argv[2] == "lock" else store.lease():
        print("holding", flush=True)
        sys.stdin.readline()
    """
)


@pytest.mark.parametrize("kind", ["lock", "lease"])
def test_a_lock_or_lease_held_by_another_process_holds_off_gc(tmp_path: Path, kind: str) -> None:
    store = Store(tmp_path / "s")
    stray = store.put_bytes("application/octet-stream", b"stray")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(store.path), kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError, match="busy"):
            store.gc(timeout=0.2)
        assert store.has_blob(stray.digest)
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=10)
    assert store.gc(timeout=5).removed == (stray.digest,)


def test_file_lock_is_reentrant_in_one_object_and_exclusive_across_objects(tmp_path: Path) -> None:
    path = tmp_path / "lockfile"
    first, second = FileLock(path), FileLock(path)
    # Re-entrant: a caller may hold it around store calls that take it again.
    with first, first, pytest.raises(StoreError, match=r"busy.*lockfile"):
        second.acquire(timeout=0.1)
    second.acquire(timeout=0.1)
    second.release()


def test_tag_inside_locked_does_not_deadlock(store: Store) -> None:
    desc = store.put_bytes("application/vnd.example.note+json", b"{}")
    with store.locked():
        if "x" not in store.names():
            store.tag("x", desc)
    assert store.names() == ("x",)


def test_gc_waiting_for_the_lock_does_not_block_a_write_started_under_the_lock(
    store: Store,
) -> None:
    import threading

    store.put_bytes("application/octet-stream", b"stray")
    results: list[object] = []
    with store.locked():
        collector = threading.Thread(target=lambda: results.append(store.gc(timeout=10)))
        collector.start()
        time.sleep(0.2)  # gc is now retrying for the lock we hold
        # A write under the lock needs a lease; gc must not be sitting on it exclusively.
        with store.lease(timeout=2):
            desc = store.put_bytes("application/vnd.example.note+json", b"{}")
        store.tag("kept", desc)
    collector.join(timeout=10)
    assert not collector.is_alive()
    assert len(results) == 1
    assert store.names() == ("kept",)
    assert store.has_blob(desc.digest)
