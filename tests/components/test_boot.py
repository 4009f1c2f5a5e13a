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
import threading
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


@pytest.fixture(scope="module")
def boot_files(debs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The catalog kernel and an initramfs with init, runc, dhcp, format, mount, getty, demo."""
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("boot")
    layout = work / "oci"
    for name in ("kernel", "init", "runc", "dhcp", "format", "mount", "getty", "demo"):
        build(recipe_dir(name), debs_dir=debs_dir, layout=layout)
    store = Store(layout)
    root = work / "root"
    kernel_dir = work / "kernel"
    unpack(store, tag("kernel"), kernel_dir)
    root.mkdir()
    subprocess.run(["tar", "-xf", str(kernel_dir / "kernel.tar"), "-C", str(root)], check=True)
    unpack(store, tag("init"), root)
    unpack(store, tag("runc"), root)
    add_bundle(root, store, tag("dhcp"), network.dhcp(), "onboot", 0)
    add_bundle(root, store, tag("format"), storage.format("/dev/vda"), "onboot", 1)
    add_bundle(root, store, tag("mount"), storage.mount("/dev/vda", "/var/data"), "onboot", 2)
    add_bundle(root, store, tag("getty"), services.getty(), "services", 0)
    add_bundle(root, store, tag("demo"), services.demo(), "services", 1)
    initrd = work / "initrd.img"
    make_initrd(root, initrd)
    return kernel_dir / "kernel", initrd


class Machine:
    """QEMU with the serial console on stdin/stdout, read by a thread."""

    def __init__(self, kernel: Path, initrd: Path, disk: Path, cmdline: str) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                "qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-nodefaults",
                "-display", "none", "-serial", "stdio", "-no-reboot",
                "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
                "-drive", f"file={disk},format=raw,if=virtio",
                "-nic", "user,model=virtio-net-pci",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := self.proc.stdout.read1(4096):
            self._chunks.append(chunk)

    @property
    def console(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def wait_for(self, marker: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.console:
                return True
            if self.proc.poll() is not None:
                return marker in self.console
            time.sleep(0.2)
        return False

    def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def finish(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._reader.join(timeout=5)


def assert_in_order(console: str, markers: list[str]) -> None:
    position = 0
    for marker in markers:
        found = console.find(marker, position)
        assert found >= 0, f"missing {marker!r} after byte {position}:\n{console[-6000:]}"
        position = found + len(marker)


BOOT = [
    "moby-init: root moved from the initramfs into a tmpfs",
    "moby-init: mounted /proc /sys /dev /run /tmp /var and cgroup2",
    "moby-init: modules loaded:",
    "moby-init: onboot 000-dhcp start",
    "dhcp: eth0 has 10.0.2.15/24, gateway 10.0.2.2",
    "moby-init: onboot 000-dhcp exit 0",
    "moby-init: onboot 001-format start",
    "moby-init: onboot 001-format exit 0",
    "mount: /dev/vda mounted at /var/data (ext4)",
    "moby-init: onboot 002-mount exit 0",
    "moby-init: service demo started",
    "moby-init: service getty started",
    "moby-init: boot complete",
]
SHUTDOWN = [
    "moby-init: shutting down",
    "moby-init: service demo stopped",
    "moby-init: service getty stopped",
    "moby-init: poweroff",
]


def new_disk(path: Path) -> Path:
    with path.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    return path


def test_catalog_system_boots_runs_its_containers_and_powers_off(
    boot_files: tuple[Path, Path], tmp_path: Path
) -> None:
    kernel, initrd = boot_files
    disk = new_disk(tmp_path / "disk.img")
    vm = Machine(kernel, initrd, disk, "console=ttyS0 panic=-1 moby.poweroff=3")
    status = vm.finish(timeout=300)
    took = time.monotonic() - vm.started
    console = vm.console
    (tmp_path / "console.log").write_text(console)
    print(f"boot to power off: {took:.1f}s, initrd {initrd.stat().st_size} bytes")
    assert_in_order(
        console,
        [
            *BOOT[:7],
            "format: /dev/vda formatted (ext4)",
            *BOOT[7:],
            "moby-init: power off after 3s (moby.poweroff)",
            *SHUTDOWN,
        ],
    )
    # The service's lines interleave with init's: only their presence is checked.
    assert "demo: demo: storage ok (/data on /dev/vda ext4" in console, console[-6000:]
    assert "demo: demo: network ok (eth0 10.0.2.15/24, gateway 10.0.2.2)" in console
    assert "getty: getty: shell on /dev/ttyS0" in console
    modules = console.split("moby-init: modules loaded:", 1)[1].split("\n", 1)[0].split()
    assert {"overlay", "virtio_net", "virtio_blk"} <= set(modules)
    assert status == 0, console[-3000:]
    assert took < 240
    # The disk really was formatted.
    blkid = subprocess.run(
        ["blkid", "-o", "value", "-s", "TYPE", str(disk)], capture_output=True, text=True
    )
    assert blkid.stdout.strip() == "ext4"


def test_poweroff_typed_in_the_getty_shell_shuts_down_cleanly_and_disks_persist(
    boot_files: tuple[Path, Path], tmp_path: Path
) -> None:
    kernel, initrd = boot_files
    disk = new_disk(tmp_path / "disk.img")
    subprocess.run(["mkfs.ext4", "-q", "-F", str(disk)], check=True, timeout=60)
    # moby.poweroff is only a safety net here: the test must end by the typed poweroff.
    vm = Machine(kernel, initrd, disk, "console=ttyS0 panic=-1 moby.poweroff=120")
    try:
        assert vm.wait_for("moby-init: boot complete", 240), vm.console[-6000:]
        assert vm.wait_for("getty: getty: shell on /dev/ttyS0", 30), vm.console[-6000:]
        while "moby-init: shutting down" not in vm.console and vm.proc.poll() is None:
            time.sleep(2)
            vm.type("\npoweroff\n")
        status = vm.finish(timeout=120)
    finally:
        if vm.proc.poll() is None:
            vm.proc.kill()
    console = vm.console
    (tmp_path / "console.log").write_text(console)
    assert "format: /dev/vda already has a filesystem (ext4); leaving it alone" in console
    assert_in_order(console, [*BOOT[:6], *BOOT[7:], *SHUTDOWN])
    assert "moby.poweroff)" not in console
    assert status == 0
