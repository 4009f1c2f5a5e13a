"""Every boot format boots under QEMU (TCG) and reaches the markers ``kernel+initrd`` does;
each is byte-for-byte reproducible and reads back with the standard tools.

One small system (busybox root, a Debian cloud kernel, boot loaders from the bootloader
components' paths) is written in every format twice, a moment apart, into two
directories. The first set is booted — SeaBIOS for the BIOS formats, OVMF for the EFI
ones, the kernel with a mounting shim for the ``kernel+<root image>`` formats — several
machines at a time; the second set must be the same bytes.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from moby_assemble.outputs import get_format
from moby_assemble.testing import boot_qemu, qemu_available

from .bootformats_support import (
    CMDLINE,
    MARKERS,
    boot_firmware,
    boot_rootfs_image,
    shim_initrd,
    small_system,
)
from .conftest import FakeBundle, debian_kernel  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not qemu_available(), reason="qemu-system-x86_64 is not installed"),
]

#: Formats booted from firmware: False = SeaBIOS, True = OVMF.
FIRMWARE = {
    "iso-bios": False,
    "iso-efi": True,
    "iso-efi-initrd": True,
    "raw-bios": False,
    "raw-efi": True,
    "qcow2-bios": False,
    "qcow2-efi": True,
    "vhd": False,
    "dynamic-vhd": False,
    "vmdk": False,
}
#: Formats whose root image a kernel mounts: the file system type.
ROOTFS = {"kernel+squashfs": "squashfs", "kernel+erofs": "erofs", "kernel+iso": "iso9660"}
FORMATS = (*FIRMWARE, *ROOTFS)
NAME = "demo"


@attrs.frozen
class Written:
    first: dict[str, tuple[Path, ...]]
    second: dict[str, tuple[Path, ...]]
    scratch: Path
    reference_console: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_all(bundle: FakeBundle, directory: Path) -> dict[str, tuple[Path, ...]]:
    # Each format in its own directory: vhd and dynamic-vhd (LinuxKit's names) share one.
    return {fmt: get_format(fmt).write(bundle, directory / fmt, NAME) for fmt in FORMATS}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, debian_kernel: Path) -> Written:  # noqa: F811
    base = tmp_path_factory.mktemp("boot-formats")
    bundle = small_system(base / "system", debian_kernel)
    first = _write_all(bundle, base / "first")
    time.sleep(1.1)  # a clock that leaks into the bytes shows in the second set
    second = _write_all(bundle, base / "second")
    kernel, initrd, cmdline = get_format("kernel+initrd").write(bundle, base / "reference", NAME)
    reference = boot_qemu(kernel, initrd, cmdline=cmdline.read_text(), markers=MARKERS)
    return Written(first, second, base / "scratch", reference.console)


def _boot(fmt: str, written: Written) -> str:
    paths = written.first[fmt]
    if fmt in FIRMWARE:
        return boot_firmware(paths[0], efi=FIRMWARE[fmt], scratch=written.scratch)
    kernel, cmdline, image = paths
    shim = shim_initrd(written.scratch / fmt, ROOTFS[fmt])
    return boot_rootfs_image(kernel, cmdline.read_text(), image, shim)


class Boots:
    """Boots of the written formats on a small thread pool, each started once."""

    def __init__(self, written: Written, pool: concurrent.futures.ThreadPoolExecutor) -> None:
        self.written = written
        self.pool = pool
        self.started: dict[str, concurrent.futures.Future[str]] = {}

    def start(self, fmt: str) -> concurrent.futures.Future[str]:
        if fmt not in self.started:
            self.started[fmt] = self.pool.submit(_boot, fmt, self.written)
        return self.started[fmt]


@pytest.fixture(scope="module")
def boots(written: Written, request: pytest.FixtureRequest) -> Iterator[Boots]:
    """Boots three machines at a time: every selected format is started at once, so the
    tests mostly wait for results already on their way. Under xdist a worker runs only some
    of the tests, so there each boot starts when its test asks."""
    written.scratch.mkdir(exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        boots = Boots(written, pool)
        if not hasattr(request.config, "workerinput"):
            for item in request.session.items:
                if (
                    isinstance(item, pytest.Function)
                    and item.module is request.module
                    and item.name.startswith("test_the_format_boots")
                ):
                    boots.start(str(item.callspec.params["fmt"]))
        yield boots


def test_the_kernel_initrd_reference_boot_prints_the_markers(written: Written) -> None:
    for marker in MARKERS:
        assert marker in written.reference_console, written.reference_console[-3000:]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_format_boots_to_the_kernel_initrd_markers(fmt: str, boots: Boots) -> None:
    console = boots.start(fmt).result(timeout=600)
    for marker in MARKERS:
        assert marker in console, f"{fmt}: no {marker!r}\n{console[-3000:]}"
    assert "SHIM-" not in console, console[-3000:]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_format_writes_the_same_bytes_twice(fmt: str, written: Written) -> None:
    first, second = written.first[fmt], written.second[fmt]
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert _sha256(a) == _sha256(b), f"{fmt}: {a.name} differs between two writes"
    # Nothing but the outputs: the scratch directory and temporary files are gone.
    for path in first:
        assert sorted(p.name for p in path.parent.iterdir()) == sorted(p.name for p in first)


def test_file_names_are_linuxkits(written: Written) -> None:
    names = {fmt: [p.name for p in paths] for fmt, paths in written.first.items()}
    assert names == {
        "iso-bios": ["demo.iso"],
        "iso-efi": ["demo-efi.iso"],
        "iso-efi-initrd": ["demo-efi-initrd.iso"],
        "raw-bios": ["demo-bios.img"],
        "raw-efi": ["demo-efi.img"],
        "qcow2-bios": ["demo.qcow2"],
        "qcow2-efi": ["demo-efi.qcow2"],
        "vhd": ["demo.vhd"],
        "dynamic-vhd": ["demo.vhd"],
        "vmdk": ["demo.vmdk"],
        "kernel+squashfs": ["demo-kernel", "demo-cmdline", "demo-squashfs.img"],
        "kernel+erofs": ["demo-kernel", "demo-cmdline", "demo-erofs.img"],
        "kernel+iso": ["demo-kernel", "demo-cmdline", "demo.iso"],
    }
    _, cmdline, _ = written.first["kernel+squashfs"]
    assert cmdline.read_text() == CMDLINE


# -- the standard tools read them back ---------------------------------------------------------


def _run(*args: str | Path, ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert done.returncode in ok, f"{args}: {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def _require(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def test_qemu_img_checks_the_disks_and_reads_each_as_the_raw_one(written: Written) -> None:
    _require("qemu-img")
    bios = written.first["raw-bios"][0]
    efi = written.first["raw-efi"][0]
    for fmt, kind, raw in (
        ("qcow2-bios", "qcow2", bios),
        ("qcow2-efi", "qcow2", efi),
        ("vmdk", "vmdk", bios),
        ("vhd", "vpc", bios),
        ("dynamic-vhd", "vpc", bios),
    ):
        image = written.first[fmt][0]
        if kind != "vpc":  # qemu-img has no consistency check for VHD
            assert "No errors were found" in _run("qemu-img", "check", "-f", kind, image)
        assert "Images are identical" in _run(
            "qemu-img", "compare", "-f", "raw", "-F", kind, raw, image
        )
    assert "subformat" not in _run("qemu-img", "info", "-f", "vmdk", written.first["vmdk"][0])
    info = _run("qemu-img", "info", "-f", "vmdk", "--output=json", written.first["vmdk"][0])
    assert '"create-type": "streamOptimized"' in info


def test_the_bios_disk_is_a_bootable_fat_partition_with_syslinux(written: Written) -> None:
    _require("sfdisk", "mdir")
    disk = written.first["raw-bios"][0]
    table = _run("sfdisk", "--dump", disk)
    assert re.search(r"start=\s*2048, size=.*type=(c|e|1), bootable", table), table
    listing = _run("mdir", "-i", f"{disk}@@1M", "-a", "-b", "::")
    for name in (
        "::/SYSLINUX.CFG",
        "::/KERNEL",
        "::/INITRD.IMG",
        "::/LDLINUX.SYS",
        "::/LDLINUX.C32",
    ):
        assert name.lower() in listing.lower(), listing
    config = _run("mtype", "-i", f"{disk}@@1M", "::syslinux.cfg")
    assert f"APPEND {CMDLINE}" in config


def test_the_efi_disk_is_a_gpt_esp_with_systemd_boot_and_a_uki(written: Written) -> None:
    _require("sgdisk", "mdir")
    disk = written.first["raw-efi"][0]
    verify = _run("sgdisk", "--verify", disk)
    assert "No problems found" in verify, verify
    assert "EF00" in _run("sgdisk", "--print", disk)
    listing = _run("mdir", "-i", f"{disk}@@1M", "-/", "-b", "::")
    for name in ("EFI/BOOT/BOOTX64.EFI", "EFI/Linux/demo.efi", "loader/loader.conf"):
        assert f"::/{name}".lower() in listing.lower(), listing


def test_xorriso_lists_the_isos_and_their_boot_entries(written: Written) -> None:
    _require("xorriso")

    def report(iso: Path) -> str:
        return _run(
            "xorriso", "-indev", iso, "-report_el_torito", "plain", "-find", "/", "-exec",
            "lsdl", "--",
        )  # fmt: skip

    bios = report(written.first["iso-bios"][0])
    for path in ("/isolinux/isolinux.bin", "/isolinux/ldlinux.c32", "/boot/kernel",
                 "/boot/initrd.img", "/isolinux/isolinux.cfg"):  # fmt: skip
        assert f"'{path}'" in bios, bios
    assert re.search(r"El Torito boot img :\s+1\s+BIOS", bios), bios
    assert "isohybrid" in _run("xorriso", "-indev", written.first["iso-bios"][0],
                               "-report_system_area", "plain")  # fmt: skip
    for fmt in ("iso-efi", "iso-efi-initrd"):
        efi = report(written.first[fmt][0])
        assert "'/EFI/BOOT/efiboot.img'" in efi, efi
        assert re.search(r"El Torito boot img :\s+1\s+UEFI", efi), efi


def test_unsquashfs_lists_the_root_without_boot(written: Written) -> None:
    _require("unsquashfs")
    _, _, image = written.first["kernel+squashfs"]
    listing = _run("unsquashfs", "-lls", "-n", image)
    assert re.search(r"-rwxr-xr-x root/root\s+\d+ \S+ \S+ squashfs-root/init\n", listing), listing
    assert re.search(r"crw------- root/root\s+5,\s+1 .* squashfs-root/dev/console", listing)
    assert "squashfs-root/boot\n" in listing
    assert "squashfs-root/boot/kernel" not in listing
    assert "squashfs-root/usr/lib/ISOLINUX/isolinux.bin" in listing


def test_fsck_erofs_reads_the_erofs_root(written: Written) -> None:
    _require("fsck.erofs")
    _, _, image = written.first["kernel+erofs"]
    _run("fsck.erofs", image)


def test_isoinfo_reads_the_rock_ridge_root_of_kernel_iso(written: Written) -> None:
    _require("isoinfo")
    _, _, image = written.first["kernel+iso"]
    listing = _run("isoinfo", "-R", "-l", "-i", image)
    assert re.search(r"-rwxr-xr-x\s+1\s+0\s+0\s+\d+ .* init\s", listing), listing
    assert re.search(r"lrwxrwxrwx .* sh -> busybox", listing), listing
    # A hard link shares its data with the file it links to.
    linked = re.findall(r"-rwxr-xr-x\s+2\s.*\[\s*(\d+) 00\]\s+(busybox|true)\s", listing)
    assert len(linked) == 2, listing
    assert linked[0][0] == linked[1][0], listing
    paths = _run("isoinfo", "-R", "-f", "-i", image).split()
    assert "/boot" in paths
    assert "/boot/kernel" not in paths
    assert "/dev/console" not in paths  # xorriso cannot make device nodes
    assert "Volume id: DEMO" in _run("isoinfo", "-d", "-i", image)


# -- the EFI ISOs are USB-hybrid ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["iso-efi", "iso-efi-initrd"])
def test_the_efi_iso_is_a_gpt_disk_with_its_el_torito_image_as_the_esp(
    fmt: str, written: Written
) -> None:
    _require("sgdisk")
    iso = written.first[fmt][0]
    table = _run("sgdisk", "--print", iso)
    assert re.search(r"\n\s+\d+\s+\d+\s+\d+\s+\S+ \S+\s+EF00 ", table), table
    assert "No problems found" in _run("sgdisk", "--verify", iso)


@pytest.mark.parametrize("fmt", ["iso-efi", "iso-efi-initrd"])
def test_the_efi_iso_written_to_a_disk_boots_under_ovmf_from_its_gpt(
    fmt: str, written: Written
) -> None:
    """The same bytes as a hard disk (.img: a raw IDE disk), not as a CD-ROM. OVMF also
    finds El Torito on a disk (much firmware does not), so the El Torito boot record is
    wiped from this copy: it boots through the GPT's EFI system partition or not at all."""
    data = bytearray(written.first[fmt][0].read_bytes())
    record = slice(17 * 2048, 18 * 2048)  # the ISO's boot record volume descriptor
    assert data[record][:7] == b"\0CD001\x01", bytes(data[record][:8])
    assert b"EL TORITO SPECIFICATION" in data[record]
    data[record] = bytes(2048)
    written.scratch.mkdir(exist_ok=True)
    disk = written.scratch / f"{fmt}-written-to-a-disk.img"
    disk.write_bytes(bytes(data))
    console = boot_firmware(disk, efi=True, scratch=written.scratch)
    for marker in MARKERS:
        assert marker in console, f"{fmt} as a disk: no {marker!r}\n{console[-3000:]}"
