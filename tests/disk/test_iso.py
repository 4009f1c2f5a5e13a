"""ISO images: xorriso and isoinfo list them, El Torito entries and the hybrid MBR exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import (
    BiosBoot,
    EfiBoot,
    FatFile,
    IsoFile,
    fat_size_for,
    write_fat,
    write_iso,
)

from .conftest import require, run, sha256

ISOLINUX = Path("/usr/lib/ISOLINUX/isolinux.bin")
ISOHDPFX = Path("/usr/lib/ISOLINUX/isohdpfx.bin")
LDLINUX = Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")
LONG_NAME = "a name = with an equals sign, spaces and more than sixty-four characters.txt"


def _require_isolinux() -> None:
    for path in (ISOLINUX, ISOHDPFX, LDLINUX):
        if not path.is_file():
            pytest.skip(f"{path} is missing (Debian packages isolinux, syslinux-common)")


def _efi_image(tmp_path: Path) -> Path:
    files = (FatFile("EFI/BOOT/BOOTX64.EFI", b"MZ not really an EFI program"),)
    path = tmp_path / "efiboot.img"
    with open(path, "wb") as f:
        write_fat(f, files, size=fat_size_for(files), label="EFIBOOT")
    return path


def _files(tmp_path: Path, payload: Path) -> tuple[IsoFile, ...]:
    return (
        IsoFile("isolinux/isolinux.bin", ISOLINUX),
        IsoFile("isolinux/ldlinux.c32", LDLINUX),
        IsoFile("isolinux/isolinux.cfg", b"default linux\nlabel linux\n kernel /boot/kernel\n"),
        IsoFile("boot/kernel", payload),
        IsoFile(LONG_NAME, b"long\n"),
        IsoFile("EFI/BOOT/efiboot.img", _efi_image(tmp_path)),
    )


def _hybrid(target: Path, files: tuple[IsoFile, ...], epoch: int = 1700000000) -> Path:
    write_iso(
        target,
        files,
        volume_id="SYSTEM",
        epoch=epoch,
        bios=BiosBoot("isolinux/isolinux.bin", hybrid_mbr=ISOHDPFX),
        efi=EfiBoot("EFI/BOOT/efiboot.img"),
    )
    return target


def test_xorriso_lists_files_and_both_el_torito_entries(payload: Path, tmp_path: Path) -> None:
    require("xorriso")
    _require_isolinux()
    iso = _hybrid(tmp_path / "system.iso", _files(tmp_path, payload))
    result = run("xorriso", "-indev", iso, "-report_el_torito", "plain", "-find", "/")
    report = result.stdout + result.stderr  # xorriso reports the volume on stderr
    assert "Volume id    : 'SYSTEM'" in report
    assert "/isolinux/isolinux.bin" in report
    assert f"'/{LONG_NAME}'" in report
    assert "El Torito boot img :   1  BIOS" in report
    assert "El Torito boot img :   2  UEFI" in report
    assert "El Torito img opts :   1  boot-info-table" in report
    assert "El Torito img path :   2  /EFI/BOOT/efiboot.img" in report


def test_isoinfo_sees_rock_ridge_joliet_and_the_contents(payload: Path, tmp_path: Path) -> None:
    require("isoinfo")
    _require_isolinux()
    iso = _hybrid(tmp_path / "system.iso", _files(tmp_path, payload))
    info = run("isoinfo", "-d", "-i", iso).stdout
    assert "Rock Ridge signatures" in info
    assert "Joliet" in info
    listing = run("isoinfo", "-R", "-l", "-i", iso).stdout
    assert "kernel" in listing
    kernel = subprocess.run(
        ["isoinfo", "-R", "-x", "/boot/kernel", "-i", iso], capture_output=True, check=True
    )
    assert kernel.stdout == payload.read_bytes()


def test_the_hybrid_mbr_makes_a_disk_with_an_efi_partition(payload: Path, tmp_path: Path) -> None:
    require("sfdisk")
    _require_isolinux()
    iso = _hybrid(tmp_path / "system.iso", _files(tmp_path, payload))
    data = iso.read_bytes()
    assert data[510:512] == b"\x55\xaa"
    assert data[:432] == ISOHDPFX.read_bytes()[:432]
    table = json.loads(run("sfdisk", "--json", iso).stdout)["partitiontable"]
    assert [p["type"] for p in table["partitions"]][-1] == "ef"


def test_the_same_files_give_the_same_image_whatever_their_host_dates(
    payload: Path, tmp_path: Path
) -> None:
    require("xorriso")
    _require_isolinux()
    one = _hybrid(tmp_path / "one.iso", _files(tmp_path, payload))
    moved = tmp_path / "elsewhere.bin"
    shutil.copy(payload, moved)
    os.utime(moved, (1, 1))
    files = tuple(
        IsoFile(f.path, moved) if f.path == "boot/kernel" else f for f in _files(tmp_path, payload)
    )
    two = _hybrid(tmp_path / "two.iso", files)
    later = _hybrid(tmp_path / "later.iso", files, epoch=1700000001)
    assert sha256(one) == sha256(two)
    assert sha256(one) != sha256(later)


def test_an_efi_only_iso_has_one_uefi_entry(tmp_path: Path) -> None:
    require("xorriso")
    iso = tmp_path / "efi.iso"
    write_iso(
        iso,
        (IsoFile("EFI/BOOT/efiboot.img", _efi_image(tmp_path)),),
        efi=EfiBoot("EFI/BOOT/efiboot.img"),
    )
    report = run("xorriso", "-indev", iso, "-report_el_torito", "plain").stdout
    assert "El Torito boot img :   1  UEFI" in report
    assert "BIOS" not in report


def test_a_boot_image_that_is_not_a_file_of_the_iso_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"isolinux/isolinux\.bin is not one of"):
        write_iso(tmp_path / "x.iso", (IsoFile("a", b"a"),), bios=BiosBoot("isolinux/isolinux.bin"))


@pytest.mark.parametrize(
    ("files", "volume_id", "message"),
    [
        ((IsoFile("a", b""), IsoFile("/a", b"")), "OK", "given twice: /a"),
        ((IsoFile("../a", b""),), "OK", r"'\.\.'"),
        ((IsoFile("a", b""),), "lower", "volume id 'lower'"),
        ((IsoFile("a", Path("/nonexistent/file")),), "OK", "/nonexistent/file"),
    ],
)
def test_invalid_inputs_are_errors_naming_them(
    files: tuple[IsoFile, ...], volume_id: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(OutputError, match=message):
        write_iso(tmp_path / "x.iso", files, volume_id=volume_id)
    assert not (tmp_path / "x.iso").exists()


def test_a_missing_xorriso_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OutputError, match="Debian package xorriso"):
        write_iso(tmp_path / "x.iso", (IsoFile("a", b"a"),))


def test_a_symlinked_source_is_stored_as_its_contents_with_the_epoch_date(
    payload: Path, tmp_path: Path
) -> None:
    require("xorriso")
    link = tmp_path / "link.bin"
    link.symlink_to(payload)
    iso = tmp_path / "link.iso"
    write_iso(iso, (IsoFile("k", link), IsoFile("d/e", b"x")), epoch=1700000000)
    listing = run("xorriso", "-indev", iso, "-lsl", "/", "/d").stdout
    assert re.search(r"^-r--r--r-- +1 0 +0 +3000000 Nov 14  2023 'k'$", listing, re.M), listing
    assert re.search(r"^dr-xr-xr-x .* Nov 14  2023 'd'$", listing, re.M), listing
    assert "->" not in listing


def test_an_existing_image_is_replaced(tmp_path: Path) -> None:
    require("xorriso")
    iso = tmp_path / "x.iso"
    write_iso(iso, (IsoFile("first", b"1"),))
    write_iso(iso, (IsoFile("second", b"2"),))
    listing = run("xorriso", "-indev", iso, "-ls", "/").stdout
    assert "'second'" in listing
    assert "'first'" not in listing
