"""MBR: sfdisk reads the partitions, the bootable flag and the boot code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import (
    MBR_FAT32_LBA,
    MBR_LINUX,
    FatFile,
    MbrPartition,
    plan_mbr,
    write_fat,
    write_mbr,
)

from .conftest import extract, require, run, sha256

BOOT_CODE = bytes(range(256)) + bytes(184)


def _disk(path: Path, seed: str = "seed") -> Path:
    layout = plan_mbr(
        (MbrPartition(40 << 20, MBR_FAT32_LBA, bootable=True), MbrPartition(3 << 20, MBR_LINUX)),
        seed=seed,
    )
    with open(path, "wb") as f:
        first = layout.partitions[0]
        write_fat(
            f, (FatFile("syslinux.cfg", b"default linux\n"),), size=first.size, offset=first.offset
        )
        write_mbr(f, layout, boot_code=BOOT_CODE)
    return path


def test_sfdisk_reads_partitions_types_and_the_bootable_flag(tmp_path: Path) -> None:
    require("sfdisk", "fsck.fat")
    disk = _disk(tmp_path / "disk.img")
    table = json.loads(run("sfdisk", "--json", disk).stdout)["partitiontable"]
    assert table["label"] == "dos"
    parts = table["partitions"]
    assert [(p["start"], p["size"], p["type"]) for p in parts] == [
        (2048, 40 * 2048, "c"),
        (2048 + 40 * 2048, 3 * 2048, "83"),
    ]
    assert parts[0].get("bootable") is True
    assert "bootable" not in parts[1]
    data = disk.read_bytes()
    assert data[:440] == BOOT_CODE
    part = extract(disk, 2048 * 512, 40 << 20, tmp_path / "part.img")
    run("fsck.fat", "-n", part)


def test_the_disk_signature_comes_from_the_seed(tmp_path: Path) -> None:
    assert sha256(_disk(tmp_path / "a.img")) == sha256(_disk(tmp_path / "b.img"))
    assert sha256(_disk(tmp_path / "a.img")) != sha256(_disk(tmp_path / "c.img", seed="c"))


def test_mbr_limits_are_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="at most 4"):
        plan_mbr([MbrPartition(512)] * 5, seed="x")
    with pytest.raises(OutputError, match="one MBR partition can be bootable"):
        plan_mbr([MbrPartition(512, bootable=True)] * 2, seed="x")
    with pytest.raises(OutputError, match="2 TiB"):
        plan_mbr([MbrPartition(3 << 40)], seed="x")
    layout = plan_mbr([MbrPartition(512)], seed="x")
    with open(tmp_path / "x.img", "wb") as f, pytest.raises(OutputError, match="440"):
        write_mbr(f, layout, boot_code=bytes(441))
