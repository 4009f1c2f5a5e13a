"""A writer killed mid-way leaves hidden names; the next writer in that directory removes
them, but never a live writer's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from moby_assemble.outputs._atomic import AtomicOutput

_WRITER = """
import sys, time
from moby_assemble.outputs._atomic import AtomicOutput
out = AtomicOutput(sys.argv[1], format="demo")
out.path("big.img").write_bytes(b"half")
out.mkdir("layout")
print("writing", flush=True)
time.sleep(60)
"""


def _writer(directory: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "writing"
    return child


def _age(directory: Path, seconds: float) -> None:
    then = time.time() - seconds
    for path in directory.iterdir():
        os.utime(path, (then, then))


def test_a_live_writers_names_are_left_alone_and_a_killed_writers_are_removed(
    tmp_path: Path,
) -> None:
    child = _writer(tmp_path)
    try:
        names = sorted(p.name for p in tmp_path.iterdir())
        assert [n.split("-")[0] for n in names] == [".big.img.tmp", ".layout.tmp", ".moby"]
        _age(tmp_path, 600)
        with AtomicOutput(tmp_path, format="other") as out:
            out.path("other.txt").write_bytes(b"mine")
        # The live writer's parts and lock are still there, next to the committed file.
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names, "other.txt"])
    finally:
        child.kill()
        child.wait()
    _age(tmp_path, 600)
    with AtomicOutput(tmp_path, format="other") as out:
        out.path("again.txt").write_bytes(b"mine")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.txt", "other.txt"]


def test_a_killed_writers_fresh_names_wait_for_the_grace_period(tmp_path: Path) -> None:
    child = _writer(tmp_path)
    child.kill()
    child.wait()
    with AtomicOutput(tmp_path, format="other") as out:
        out.path("x.txt").write_bytes(b"x")
    assert any(p.name.startswith(".big.img.tmp-") for p in tmp_path.iterdir())


def test_names_without_a_lock_file_go_after_an_hour(tmp_path: Path) -> None:
    # Left by a writer that predates lock files, or killed before it made one.
    old = tmp_path / ".disk.img.tmp-0123abcd"
    old.write_bytes(b"x")
    unrelated = tmp_path / ".my-own-hidden-file"
    unrelated.write_bytes(b"keep")
    _age(tmp_path, 1800)
    with AtomicOutput(tmp_path, format="demo") as out:
        out.path("a").write_bytes(b"a")
    assert old.exists()
    _age(tmp_path, 7200)
    with AtomicOutput(tmp_path, format="demo") as out:
        out.path("b").write_bytes(b"b")
    assert not old.exists()
    assert unrelated.read_bytes() == b"keep"


def test_committing_and_discarding_release_the_lock_file(tmp_path: Path) -> None:
    with AtomicOutput(tmp_path, format="demo") as out:
        out.path("a").write_bytes(b"a")
    out = AtomicOutput(tmp_path, format="demo")
    out.path("b").write_bytes(b"b")
    out.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
