"""An assembled root filesystem, unpacked by GNU tar, runs its container bundle under runc."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from moby_assemble import Container, File, System
from moby_assemble.assemble import Assembler
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import Image, Layer, LocalRegistry
from tests.runc_bundle import BUSYBOX, run_bundle, runc_unavailable

from .conftest import push_image

pytestmark = pytest.mark.skipif(
    runc_unavailable("tar") is not None, reason=runc_unavailable("tar") or ""
)


def test_an_assembled_readonly_service_runs_under_runc(registry: LocalRegistry, tmp_path: Path):
    busybox = BUSYBOX.read_bytes()
    layer = (
        Layer()
        .dir("bin")
        .file("bin/busybox", busybox, mode=0o755)
        .hardlink("bin/cat", "bin/busybox")  # a hard link must survive the move under containers/
        .symlink("bin/sh", "busybox")
        .dir("etc")
        .file("etc/greeting", b"hello from the image\n")
    )
    with RegistryClient() as client:
        image = push_image(
            registry,
            client,
            Image([layer], config={"Cmd": ["/bin/sh", "-c", "cat /etc/greeting"]}).build(),
            "asm/busybox:1",
            tmp_path,
        )
    system = System(
        platform="linux/amd64",
        services=[Container("hello", image, readonly=True)],
        files=[File("etc/motd", contents="outside\n", mode=0o644)],
    )
    with Assembler(tmp_path / "cache") as asm:
        bundle = asm.assemble(system)
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["tar", "-xf", str(bundle.rootfs_tar), "-C", str(root)], check=True, timeout=60)
    hello = root / "containers" / "services" / "hello"
    assert (hello / "rootfs" / "bin" / "cat").stat().st_ino == (
        hello / "rootfs" / "bin" / "busybox"
    ).stat().st_ino
    result = run_bundle(hello, tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from the image\n"
