"""Litter of killed processes is removed; what a live process holds is not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from moby_assemble._stale import GRACE_SECONDS, LOCK_NAME, lock_path, remove_stale

_HOLD = """
import sys, time
from pathlib import Path
from moby_assemble._stale import lock_path
lock_path(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(60)
"""


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def _held_by_child(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    return child


def test_an_unlocked_old_temp_file_is_removed_and_other_names_are_left(tmp_path: Path) -> None:
    litter = tmp_path / ".v2-sha256-ab.tar.x1.tmp"
    litter.write_bytes(b"half")
    final = tmp_path / "v2-sha256-ab.tar"
    final.write_bytes(b"whole")
    _age(litter, 60)
    _age(final, 60)
    assert remove_stale(tmp_path, (".*.tmp",)) == [litter]
    assert final.exists()
    assert not litter.exists()


def test_a_young_temp_file_is_kept_for_the_grace_period(tmp_path: Path) -> None:
    fresh = tmp_path / ".a.tmp"
    fresh.write_bytes(b"")
    assert remove_stale(tmp_path, (".*.tmp",)) == []
    _age(fresh, GRACE_SECONDS + 1)
    assert remove_stale(tmp_path, (".*.tmp",)) == [fresh]


def test_a_file_a_live_process_holds_is_kept_and_removed_once_it_is_killed(
    tmp_path: Path,
) -> None:
    busy = tmp_path / ".busy.tmp"
    child = _held_by_child(busy)
    try:
        _age(busy, 600)
        assert remove_stale(tmp_path, (".*.tmp",)) == []
        assert busy.exists()
    finally:
        child.kill()
        child.wait()
    assert remove_stale(tmp_path, (".*.tmp",)) == [busy]


def test_a_directory_is_judged_by_the_lock_file_inside_it(tmp_path: Path) -> None:
    live, dead, bare = (tmp_path / f".assembling-{n}" for n in ("live", "dead", "bare"))
    for d in (live, dead, bare):
        d.mkdir()
        (d / "rootfs.tar").write_bytes(b"x" * 100)
    os.close(lock_path(dead / LOCK_NAME))  # its process is gone: nothing holds the lock
    child = _held_by_child(live / LOCK_NAME)
    try:
        for d in (live, dead, bare):
            _age(d, 600)
        # A directory without a lock file (killed between creating and locking it) is
        # given an hour.
        assert remove_stale(tmp_path, (".assembling-*",)) == [dead]
        _age(bare, 7200)
        assert remove_stale(tmp_path, (".assembling-*",)) == [bare]
        assert live.exists()
    finally:
        child.kill()
        child.wait()


def test_an_own_lock_blocks_removal_within_the_same_process(tmp_path: Path) -> None:
    # flock locks belong to open file descriptions: another descriptor in this process
    # cannot take the lock either, so an assembler never removes its own work.
    own = tmp_path / ".own.tmp"
    fd = lock_path(own)
    try:
        _age(own, 600)
        assert remove_stale(tmp_path, (".*.tmp",)) == []
    finally:
        os.close(fd)


def test_a_missing_directory_removes_nothing(tmp_path: Path) -> None:
    assert remove_stale(tmp_path / "absent", (".*",)) == []
