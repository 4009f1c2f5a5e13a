"""GPT: sfdisk and sgdisk read the table, CRCs verify, GUIDs come from the seed."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import (
    GPT_ESP,
    GPT_LEGACY_BIOS_BOOTABLE,
    GPT_LINUX,
    GptPartition,
    plan_gpt,
    write_gpt,
)

from .conftest import require, run, sha256

PARTITIONS = (
    GptPartition("ESP", 8 << 20, GPT_ESP),
    GptPartition("root ünïcode", 3 << 20, GPT_LINUX, attributes=GPT_LEGACY_BIOS_BOOTABLE),
    GptPartition("fixed", 1 << 20, guid="12345678-1234-5678-9abc-def012345678"),
)


def _disk(path: Path, seed: str = "seed", **options: object) -> Path:
    layout = plan_gpt(PARTITIONS, seed=seed, **options)  # type: ignore[arg-type]
    with open(path, "wb") as f:
        write_gpt(f, layout)
    return path


def test_sfdisk_reads_every_partition_as_planned(tmp_path: Path) -> None:
    require("sfdisk")
    layout = plan_gpt(PARTITIONS, seed="seed")
    disk = _disk(tmp_path / "disk.img")
    table = json.loads(run("sfdisk", "--json", disk).stdout)["partitiontable"]
    assert table["label"] == "gpt"
    assert table["id"] == layout.disk_guid
    assert [p["start"] for p in table["partitions"]] == [2048, 2048 + 8 * 2048, 2048 + 11 * 2048]
    assert [p["size"] for p in table["partitions"]] == [8 * 2048, 3 * 2048, 2048]
    assert [p["type"] for p in table["partitions"]] == [GPT_ESP, GPT_LINUX, GPT_LINUX]
    assert [p["name"] for p in table["partitions"]] == ["ESP", "root ünïcode", "fixed"]
    assert table["partitions"][2]["uuid"] == "12345678-1234-5678-9ABC-DEF012345678"
    assert table["partitions"][1]["attrs"] == "LegacyBIOSBootable"
    assert [p["uuid"] for p in table["partitions"]] == [p.guid for p in layout.partitions]


def test_sgdisk_verifies_headers_crcs_and_backup(tmp_path: Path) -> None:
    require("sgdisk")
    disk = _disk(tmp_path / "disk.img")
    result = run("sgdisk", "-v", disk)
    assert "No problems found" in result.stdout


def test_header_and_entry_crcs_are_valid_in_both_copies(tmp_path: Path) -> None:
    data = _disk(tmp_path / "disk.img").read_bytes()
    last = len(data) // 512 - 1
    for header_lba in (1, last):
        header = bytearray(data[header_lba * 512 : header_lba * 512 + 92])
        assert header[:8] == b"EFI PART"
        crc = int.from_bytes(header[16:20], "little")
        header[16:20] = bytes(4)
        assert zlib.crc32(header) == crc
        entries_lba = int.from_bytes(header[72:80], "little")
        entries = data[entries_lba * 512 : entries_lba * 512 + 128 * 128]
        assert zlib.crc32(entries) == int.from_bytes(header[88:92], "little")
    # The protective MBR: one 0xEE partition from LBA 1 over the whole disk.
    assert data[510:512] == b"\x55\xaa"
    assert data[446 + 4] == 0xEE
    assert int.from_bytes(data[446 + 8 : 446 + 12], "little") == 1
    assert int.from_bytes(data[446 + 12 : 446 + 16], "little") == last


def test_the_same_seed_gives_the_same_disk_and_another_seed_other_guids(tmp_path: Path) -> None:
    one = _disk(tmp_path / "one.img")
    two = _disk(tmp_path / "two.img")
    other = _disk(tmp_path / "other.img", seed="other")
    assert sha256(one) == sha256(two)
    assert sha256(one) != sha256(other)
    assert plan_gpt(PARTITIONS, seed="a").disk_guid != plan_gpt(PARTITIONS, seed="b").disk_guid


def test_a_given_disk_size_is_kept_and_a_too_small_one_is_an_error(tmp_path: Path) -> None:
    require("sgdisk")
    disk = _disk(tmp_path / "disk.img", disk_size=64 << 20)
    assert disk.stat().st_size == 64 << 20
    assert "No problems found" in run("sgdisk", "-v", disk).stdout
    with pytest.raises(OutputError, match="cannot hold"):
        plan_gpt(PARTITIONS, seed="x", disk_size=12 << 20)


def test_invalid_partitions_are_errors_naming_the_value() -> None:
    with pytest.raises(OutputError, match="not-a-guid"):
        GptPartition("x", 512, type="not-a-guid")
    with pytest.raises(OutputError, match="1000"):
        GptPartition("x", 1000)
    with pytest.raises(OutputError, match="longer than 36"):
        GptPartition("x" * 37, 512)
