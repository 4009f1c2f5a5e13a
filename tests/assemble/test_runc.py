"""An assembled root filesystem, unpacked by GNU tar, runs its container bundle under runc."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from moby_assemble import Container, File, System
from moby_assemble.assemble import Assembler
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import Image, Layer, LocalRegistry

from .conftest import push_image

BUSYBOX = Path("/bin/busybox")


def _unavailable() -> str | None:
    if shutil.which("runc") is None or shutil.which("tar") is None:
        return "runc and tar are needed (apt-get install runc tar)"
    if not BUSYBOX.is_file():
        return "/bin/busybox is missing (apt-get install busybox-static)"
    if os.geteuid() != 0:
        return "runc needs root to create namespaces here"
    return None


pytestmark = pytest.mark.skipif(_unavailable() is not None, reason=_unavailable() or "")


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
    name = f"moby-assemble-assembled-{uuid.uuid4().hex[:12]}"
    state = tmp_path / "state"
    try:
        result = subprocess.run(
            ["runc", "--root", str(state), "run", "--bundle", str(hello), name],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    finally:
        subprocess.run(
            ["runc", "--root", str(state), "delete", "--force", name],
            capture_output=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from the image\n"
