"""Peak memory does not grow with image size: layers stream tar-to-tar, never held whole."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

from moby_assemble import Container, System
from moby_assemble.assemble import Assembler
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import Image, Layer, LocalRegistry

from .conftest import push_image

BIG = 96 * 1024 * 1024


class Zeros(io.RawIOBase):
    """``size`` zero bytes, produced on demand."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_assembling_a_96_mib_file_keeps_python_memory_far_below_the_file_size(
    registry: LocalRegistry, tmp_path: Path
):
    layer = (
        Layer().dir("data").file("data/big.bin", lambda: io.BufferedReader(Zeros(BIG)), size=BIG)
    )
    with RegistryClient() as client:
        image = push_image(
            registry,
            client,
            Image([layer], config={"Cmd": ["/bin/true"]}).build(),
            "asm/big:1",
            tmp_path,
        )
    system = System(platform="linux/amd64", services=[Container("big", image)])
    with Assembler(tmp_path / "cache") as asm:
        lock = asm.resolve(system)
        tracemalloc.start()
        try:
            bundle = asm.assemble(system, lock=lock)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert bundle.rootfs_tar.stat().st_size > BIG
    assert peak < 16 * 1024 * 1024, f"peak Python memory {peak / 2**20:.1f} MiB"
