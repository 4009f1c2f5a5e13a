"""BackgroundHash gives hashlib's digest, on a thread or (one CPU) in place."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from moby_assemble._bghash import BackgroundHash

PIECES = [os.urandom(n) for n in (1, 100, 300_000, 5, 2 << 20, 70_000)]


@pytest.mark.parametrize("name", ["sha256", "sha512"])
def test_the_digest_is_hashlibs(name: str) -> None:
    with BackgroundHash(name) as h:
        for piece in PIECES:
            h.update(piece)
        assert h.hexdigest() == hashlib.new(name, b"".join(PIECES)).hexdigest()
        assert h.hexdigest() == h.digest().hex()  # idempotent


def test_no_update_after_the_result() -> None:
    h = BackgroundHash()
    h.update(b"x")
    h.hexdigest()
    with pytest.raises(ValueError, match="finished"):
        h.update(b"y")


def test_closing_early_keeps_what_was_hashed() -> None:
    h = BackgroundHash()
    h.close()
    assert h.hexdigest() == hashlib.sha256().hexdigest()


def test_on_one_cpu_it_hashes_in_place() -> None:
    code = (
        "import hashlib, threading; from moby_assemble._bghash import BackgroundHash; "
        "h = BackgroundHash(); h.update(b'abc'); "
        "print(threading.active_count(), h.hexdigest() == hashlib.sha256(b'abc').hexdigest())"
    )
    done = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["1", "True"]
