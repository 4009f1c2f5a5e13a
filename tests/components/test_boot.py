"""The whole catalog boots under QEMU: kernel, moby-init and runc from the catalog, onboot dhcp,
format and mount of a virtio disk, the demo service, then a clean power off.

The assembler is not used here (it is tested elsewhere); :mod:`.staging` lays out the root
directory the way LinuxKit's build does, and ``cpio`` makes the initramfs.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from moby_assemble.components import CATALOG, network, recipe_dir, services, storage
from moby_assemble.pkg import build
from moby_assemble.store import Store

from .staging import add_bundle, unpack

pytestmark = pytest.mark.slow


def _unavailable() -> str | None:
    for tool in ("qemu-system-x86_64", "cpio", "tar"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "unpacking images with their ownership needs root"
    return None


def tag(name: str) -> str:
    return f"{name}:{CATALOG[name].version}"


def make_initrd(root: Path, out: Path) -> None:
    names = subprocess.run(
        ["find", ".", "-mindepth", "1"], cwd=root, check=True, capture_output=True, timeout=120
    ).stdout
    archive = subprocess.run(
        ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
        cwd=root,
        input=b"\n".join(sorted(names.splitlines())) + b"\n",
        check=True,
        capture_output=True,
        timeout=300,
    ).stdout
    out.write_bytes(gzip.compress(archive, compresslevel=1, mtime=0))


@pytest.mark.skipif(_unavailable() is not None, reason=_unavailable() or "")
def test_catalog_system_boots_runs_its_containers_and_powers_off(
    debs_dir: Path, tmp_path: Path
) -> None:
    layout = tmp_path / "oci"
    for name in ("kernel", "init", "runc", "dhcp", "format", "mount", "demo"):
        build(recipe_dir(name), debs_dir=debs_dir, layout=layout)
    store = Store(layout)

    root = tmp_path / "root"
    kernel_dir = tmp_path / "kernel"
    unpack(store, tag("kernel"), kernel_dir)
    root.mkdir()
    subprocess.run(["tar", "-xf", str(kernel_dir / "kernel.tar"), "-C", str(root)], check=True)
    unpack(store, tag("init"), root)
    unpack(store, tag("runc"), root)
    add_bundle(root, store, tag("dhcp"), network.dhcp(), "onboot", 0)
    add_bundle(root, store, tag("format"), storage.format("/dev/vda"), "onboot", 1)
    add_bundle(root, store, tag("mount"), storage.mount("/dev/vda", "/var/data"), "onboot", 2)
    add_bundle(root, store, tag("demo"), services.demo(), "services", 0)
    initrd = tmp_path / "initrd.img"
    make_initrd(root, initrd)
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(64 * 1024 * 1024)

    started = time.monotonic()
    result = subprocess.run(
        [
            "qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-nodefaults",
            "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", str(kernel_dir / "kernel"), "-initrd", str(initrd),
            "-append", "console=ttyS0 panic=-1 moby.poweroff=3",
            "-drive", f"file={disk},format=raw,if=virtio",
            "-nic", "user,model=virtio-net-pci",
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    console = result.stdout.decode("utf-8", "replace")
    (tmp_path / "console.log").write_text(console)
    print(f"boot to power off: {took:.1f}s, initrd {initrd.stat().st_size} bytes")
    expected = [
        "moby-init: root moved from the initramfs into a tmpfs",
        "moby-init: mounted /proc /sys /dev /run /tmp /var and cgroup2",
        "moby-init: modules loaded:",
        "moby-init: onboot 000-dhcp start",
        "dhcp: eth0 has 10.0.2.15/24, gateway 10.0.2.2",
        "moby-init: onboot 000-dhcp exit 0",
        "format: /dev/vda formatted (ext4)",
        "moby-init: onboot 001-format exit 0",
        "mount: /dev/vda mounted at /var/data (ext4)",
        "moby-init: onboot 002-mount exit 0",
        "moby-init: service demo started",
        "moby-init: boot complete",
        "moby-init: power off after 3s (moby.poweroff)",
        "moby-init: shutting down",
        "moby-init: service demo stopped",
        "moby-init: poweroff",
    ]
    position = 0
    for marker in expected:
        found = console.find(marker, position)
        assert found >= 0, f"missing {marker!r} after byte {position}:\n{console[-6000:]}"
        position = found + len(marker)
    # The service's lines interleave with init's: only their presence is ordered loosely.
    assert "demo: demo: storage ok (/data on /dev/vda ext4" in console, console[-6000:]
    assert "demo: demo: network ok (eth0 10.0.2.15/24, gateway 10.0.2.2)" in console
    modules = console.split("moby-init: modules loaded:", 1)[1].split("\n", 1)[0].split()
    assert {"overlay", "virtio_net", "virtio_blk"} <= set(modules)
    assert result.returncode == 0, console[-3000:]
    assert took < 240
    # The disk really was formatted, and the demo's file reached it.
    blkid = subprocess.run(
        ["blkid", "-o", "value", "-s", "TYPE", str(disk)], capture_output=True, text=True
    )
    assert blkid.stdout.strip() == "ext4"
