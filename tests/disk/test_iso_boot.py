"""ISOs boot: isolinux from the El Torito BIOS entry (as a CD and, through the isohybrid
MBR, as a disk), and a UKI from the El Torito EFI entry under OVMF."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from moby_assemble.disk import (
    BiosBoot,
    EfiBoot,
    FatFile,
    IsoFile,
    fat_size_for,
    write_fat,
    write_iso,
    write_uki,
)
from moby_assemble.outputs import write_initrd
from moby_assemble.testing import qemu_available

from ..outputs.conftest import busybox_items, debian_kernel, write_tar  # noqa: F401
from .test_iso import ISOHDPFX, ISOLINUX, LDLINUX, _require_isolinux
from .test_ukify import OVMF_CODE, OVMF_VARS, _require_stub

pytestmark = pytest.mark.slow

MARKER = "ISO-BOOTED-TO-INIT"
CMDLINE = "console=ttyS0 panic=-1"


@pytest.fixture
def initrd(tmp_path: Path) -> Path:
    if not qemu_available():
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    root = write_tar(
        tmp_path / "root.tar", busybox_items(f"#!/bin/sh\necho {MARKER}\npoweroff -f\n")
    )
    path = tmp_path / "initrd.img"
    with open(path, "wb") as f:
        write_initrd(root, f, compression="gzip")
    return path


def _bios_iso(tmp_path: Path, kernel: Path, initrd: Path) -> Path:
    _require_isolinux()
    config = (
        f"default linux\nprompt 0\ntimeout 1\nlabel linux\n  kernel /boot/kernel\n"
        f"  initrd /boot/initrd.img\n  append {CMDLINE}\n"
    )
    files = (
        IsoFile("isolinux/isolinux.bin", ISOLINUX),
        IsoFile("isolinux/ldlinux.c32", LDLINUX),
        IsoFile("isolinux/isolinux.cfg", config.encode()),
        IsoFile("boot/kernel", kernel),
        IsoFile("boot/initrd.img", initrd),
    )
    iso = tmp_path / "bios.iso"
    write_iso(
        iso, files, volume_id="BIOS", bios=BiosBoot("isolinux/isolinux.bin", hybrid_mbr=ISOHDPFX)
    )
    return iso


@pytest.mark.parametrize("medium", ["cdrom", "disk"])
def test_a_hybrid_iso_boots_isolinux_as_cd_and_as_disk(
    medium: str,
    debian_kernel: Path,  # noqa: F811
    initrd: Path,
    tmp_path: Path,
) -> None:
    iso = _bios_iso(tmp_path, debian_kernel, initrd)
    drive = (
        ["-drive", f"file={iso},media=cdrom,readonly=on,if=ide"]
        if medium == "cdrom"
        else ["-drive", f"file={iso},format=raw,if=ide"]
    )
    result = _boot_firmware(drive)
    assert MARKER in result, result[-3000:]


def test_an_efi_iso_boots_a_uki_under_ovmf(
    debian_kernel: Path,  # noqa: F811
    initrd: Path,
    tmp_path: Path,
) -> None:
    _require_stub()
    if not (OVMF_CODE.is_file() and OVMF_VARS.is_file()):
        pytest.skip("OVMF is missing (Debian package ovmf)")
    uki = tmp_path / "uki.efi"
    with open(uki, "w+b") as f:
        write_uki(f, kernel=debian_kernel, initrd=initrd, cmdline=CMDLINE)
    efi_files = (FatFile("EFI/BOOT/BOOTX64.EFI", uki),)
    efiboot = tmp_path / "efiboot.img"
    with open(efiboot, "wb") as f:
        write_fat(f, efi_files, size=fat_size_for(efi_files), label="EFIBOOT")
    iso = tmp_path / "efi.iso"
    write_iso(iso, (IsoFile("EFI/BOOT/efiboot.img", efiboot),), efi=EfiBoot("EFI/BOOT/efiboot.img"))
    variables = tmp_path / "vars.fd"
    shutil.copy(OVMF_VARS, variables)
    result = _boot_firmware(
        [
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={variables}",
            "-drive", f"file={iso},media=cdrom,readonly=on,if=ide",
        ]
    )  # fmt: skip
    assert MARKER in result, result[-3000:]


def _boot_firmware(args: list[str]) -> str:
    """Boot from firmware (no -kernel, which boot_qemu needs) and return the console."""
    completed = subprocess.run(
        [
            "timeout", "180", "qemu-system-x86_64", "-accel", "tcg", "-m", "512",
            "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot", *args,
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    return completed.stdout.decode(errors="replace")
