"""Unified kernel images: binutils reads the sections back; a UKI on a GPT/FAT ESP boots."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import (
    DEFAULT_STUB,
    GPT_ESP,
    FatFile,
    GptPartition,
    fat_size_for,
    plan_gpt,
    write_fat,
    write_gpt,
    write_uki,
)

from ..outputs.conftest import debian_kernel  # noqa: F401
from .conftest import require, run, sha256

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
KERNEL = b"MZ fake kernel " * 5000 + b"end"
INITRD = b"070701 fake initrd " * 3000


def _require_stub() -> None:
    if not DEFAULT_STUB.is_file():
        pytest.skip(f"{DEFAULT_STUB} is missing (Debian package systemd-boot-efi)")


def _uki(path: Path, **options: object) -> Path:
    arguments: dict[str, object] = {
        "kernel": KERNEL,
        "initrd": INITRD,
        "cmdline": "console=ttyS0 root=/dev/ram0",
        "osrel": 'ID=moby\nNAME="test system"\n',
        "uname": "6.1.0-test",
        **options,
    }
    with open(path, "w+b") as f:
        write_uki(f, **arguments)  # type: ignore[arg-type]
    return path


def _sections(uki: Path) -> list[tuple[str, int, int, int]]:
    """(name, size, vma, file offset) of each section, as objdump reads them."""
    listing = run("objdump", "-h", uki).stdout
    rows = re.findall(
        r"^\s*\d+ (\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", listing, re.M
    )
    return [
        (name, int(size, 16), int(vma, 16), int(offset, 16)) for name, size, vma, offset in rows
    ]


def _dump(uki: Path, section: str, tmp_path: Path) -> bytes:
    out = tmp_path / f"section{section}"
    run("objcopy", f"--dump-section={section}={out}", uki, tmp_path / "discard.efi")
    return out.read_bytes()


def test_binutils_reads_every_section_back_with_linux_last(tmp_path: Path) -> None:
    require("objdump", "objcopy")
    _require_stub()
    uki = _uki(tmp_path / "uki.efi")
    sections = _sections(uki)
    names = [s[0] for s in sections]
    assert names[-5:] == [".osrel", ".cmdline", ".uname", ".initrd", ".linux"]
    assert ".sdmagic" in names  # the stub's own sections stay
    assert _dump(uki, ".linux", tmp_path) == KERNEL
    assert _dump(uki, ".initrd", tmp_path) == INITRD
    assert _dump(uki, ".cmdline", tmp_path) == b"console=ttyS0 root=/dev/ram0"
    assert _dump(uki, ".osrel", tmp_path) == b'ID=moby\nNAME="test system"\n'
    assert _dump(uki, ".uname", tmp_path) == b"6.1.0-test"
    vmas = [s[2] for s in sections]
    assert vmas == sorted(vmas)
    for (_, size, vma, _), (_, _, next_vma, _) in itertools.pairwise(sections):
        assert vma + size <= next_vma  # no section overlaps the next in memory


def test_headers_say_the_new_image_size_and_a_valid_checksum(tmp_path: Path) -> None:
    require("objdump")
    _require_stub()
    uki = _uki(tmp_path / "uki.efi")
    headers = run("objdump", "-p", uki).stdout
    size_of_image = int(re.search(r"SizeOfImage\s+([0-9a-f]+)", headers).group(1), 16)  # type: ignore[union-attr]
    checksum = int(re.search(r"CheckSum\s+([0-9a-f]+)", headers).group(1), 16)  # type: ignore[union-attr]
    last = _sections(uki)[-1]
    assert size_of_image >= last[2] + last[1]
    data = bytearray(uki.read_bytes())
    pe = int.from_bytes(data[0x3C:0x40], "little")
    data[pe + 24 + 64 : pe + 24 + 68] = bytes(4)
    total = 0
    for i in range(0, len(data), 2):  # the PE algorithm, word by word
        total += int.from_bytes(data[i : i + 2], "little")
        total = (total & 0xFFFF) + (total >> 16)
    assert checksum == total + len(data)


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    _require_stub()
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(KERNEL)
    one = _uki(tmp_path / "one.efi", kernel=kernel)
    two = _uki(tmp_path / "two.efi")
    other = _uki(tmp_path / "other.efi", cmdline="console=ttyS1")
    assert sha256(one) == sha256(two)
    assert sha256(one) != sha256(other)


def test_a_uki_without_initrd_or_uname_has_fewer_sections(tmp_path: Path) -> None:
    require("objdump")
    _require_stub()
    uki = _uki(tmp_path / "uki.efi", initrd=None, uname=None)
    assert [s[0] for s in _sections(uki)][-3:] == [".osrel", ".cmdline", ".linux"]


def test_a_missing_stub_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="systemd-boot-efi"):
        _uki(tmp_path / "uki.efi", stub=tmp_path / "no-stub")


def test_a_stub_that_is_not_pe_is_an_error(tmp_path: Path) -> None:
    stub = tmp_path / "stub"
    stub.write_bytes(b"\x7fELF" + bytes(200))
    with pytest.raises(OutputError, match="not a PE image"):
        _uki(tmp_path / "uki.efi", stub=stub)


def test_an_unreadable_kernel_is_an_error_naming_it(tmp_path: Path) -> None:
    _require_stub()
    with pytest.raises(OutputError, match=r"kernel .*missing-kernel"):
        _uki(tmp_path / "uki.efi", kernel=tmp_path / "missing-kernel")


@pytest.mark.slow
def test_a_raw_efi_disk_with_a_uki_boots_under_ovmf(
    debian_kernel: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """raw-efi end to end: GPT + FAT32 ESP + UKI (Debian kernel, busybox initrd) -> marker."""
    require("qemu-system-x86_64")
    _require_stub()
    if not (OVMF_CODE.is_file() and OVMF_VARS.is_file()):
        pytest.skip("OVMF is missing (Debian package ovmf)")
    from moby_assemble.outputs import write_initrd

    from ..outputs.conftest import busybox_items, write_tar

    init = "#!/bin/sh\necho RAW-EFI-UKI-BOOTED\npoweroff -f\n"
    root = write_tar(tmp_path / "root.tar", busybox_items(init))
    initrd = tmp_path / "initrd.img"
    with open(initrd, "wb") as f:
        write_initrd(root, f, compression="gzip")
    uki = _uki(
        tmp_path / "uki.efi", kernel=debian_kernel, initrd=initrd, cmdline="console=ttyS0 panic=-1"
    )
    files = (FatFile("EFI/BOOT/BOOTX64.EFI", uki),)
    layout = plan_gpt(
        (GptPartition("ESP", fat_size_for(files, fat_type=32), GPT_ESP),), seed="boot"
    )
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        esp = layout.partitions[0]
        write_fat(f, files, size=esp.size, offset=esp.offset, label="ESP", fat_type=32)
        write_gpt(f, layout)
    variables = tmp_path / "vars.fd"
    shutil.copy(OVMF_VARS, variables)
    result = subprocess.run(
        [
            "timeout", "180",
            "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nodefaults",
            "-display", "none", "-serial", "stdio", "-no-reboot",
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={variables}",
            "-drive", f"file={disk},format=raw,if=virtio",
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    console = result.stdout.decode(errors="replace")
    assert "RAW-EFI-UKI-BOOTED" in console, console[-3000:]


def test_a_write_only_target_is_an_error_saying_how_to_open_it(tmp_path: Path) -> None:
    _require_stub()
    with open(tmp_path / "uki.efi", "wb") as f, pytest.raises(OutputError, match="w\\+b"):
        write_uki(f, kernel=KERNEL, cmdline="x")
