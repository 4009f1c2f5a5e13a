"""qcow2, VHD and VMDK: qemu-img checks them and converts them back to the same raw bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import vhd_geometry, write_qcow2, write_vhd, write_vmdk

from .conftest import require, run, sha256

Writer = Callable[[Path, BinaryIO], object]

WRITERS: dict[str, tuple[str, Writer]] = {
    "qcow2": ("qcow2", lambda raw, f: write_qcow2(raw, f)),
    "vhd": ("vpc", lambda raw, f: write_vhd(raw, f, seed="s", epoch=1700000000)),
    "dynamic-vhd": ("vpc", lambda raw, f: write_vhd(raw, f, dynamic=True, seed="s")),
    "vmdk": ("vmdk", lambda raw, f: write_vmdk(raw, f, seed="s", name="disk.vmdk")),
}
CHECKABLE = {"qcow2", "vmdk"}  # qemu-img has no check for vpc (VHD) images


def _convert(kind: str, raw: Path, target: Path) -> Path:
    with open(target, "wb") as f:
        WRITERS[kind][1](raw, f)
    return target


@pytest.mark.parametrize("kind", list(WRITERS))
def test_qemu_img_reads_back_the_raw_disk_byte_for_byte(
    kind: str, raw_disk: Path, tmp_path: Path
) -> None:
    require("qemu-img", "cmp")
    image = _convert(kind, raw_disk, tmp_path / f"disk.{kind}")
    qemu_format = WRITERS[kind][0]
    info = json.loads(run("qemu-img", "info", "-f", qemu_format, "--output=json", image).stdout)
    assert info["virtual-size"] == raw_disk.stat().st_size
    if kind in CHECKABLE:
        assert "No errors were found" in run("qemu-img", "check", "-f", qemu_format, image).stdout
    back = tmp_path / "back.raw"
    run("qemu-img", "convert", "-f", qemu_format, "-O", "raw", image, back)
    run("cmp", raw_disk, back)


@pytest.mark.parametrize("kind", list(WRITERS))
def test_the_same_raw_disk_gives_the_same_bytes(kind: str, raw_disk: Path, tmp_path: Path) -> None:
    one = _convert(kind, raw_disk, tmp_path / "one")
    two = _convert(kind, raw_disk, tmp_path / "two")
    assert sha256(one) == sha256(two)


@pytest.mark.parametrize("kind", ["qcow2", "dynamic-vhd", "vmdk"])
def test_sparse_formats_store_only_the_data(kind: str, tmp_path: Path) -> None:
    require("qemu-img")
    raw = tmp_path / "big.raw"
    with open(raw, "wb") as f:
        f.truncate(256 << 20)
        f.seek(100 << 20)
        f.write(b"data" * 1000)
        f.seek(200 << 20)
        f.write(bytes(1 << 20))  # written zeros are dropped too
    image = _convert(kind, raw, tmp_path / f"big.{kind}")
    assert image.stat().st_size < 4 << 20
    back = tmp_path / "back.raw"
    run("qemu-img", "convert", "-f", WRITERS[kind][0], "-O", "raw", image, back)
    run("cmp", raw, back)


def test_qcow2_header_is_version_3_with_64k_clusters(raw_disk: Path, tmp_path: Path) -> None:
    require("qemu-img")
    image = _convert("qcow2", raw_disk, tmp_path / "disk.qcow2")
    info = json.loads(run("qemu-img", "info", "--output=json", image).stdout)
    assert info["format"] == "qcow2"
    assert info["cluster-size"] == 65536
    assert info["format-specific"]["data"]["compat"] == "1.1"


def test_vmdk_is_stream_optimized_and_compressed(raw_disk: Path, tmp_path: Path) -> None:
    require("qemu-img")
    image = _convert("vmdk", raw_disk, tmp_path / "disk.vmdk")
    info = json.loads(run("qemu-img", "info", "--output=json", image).stdout)
    data = info["format-specific"]["data"]
    assert data["create-type"] == "streamOptimized"
    assert data["extents"][0]["compressed"] is True
    assert b'RW 81920 SPARSE "disk.vmdk"' in image.read_bytes()[512:2048]


def test_fixed_vhd_is_the_raw_disk_plus_a_checksummed_footer(
    raw_disk: Path, tmp_path: Path
) -> None:
    image = _convert("vhd", raw_disk, tmp_path / "disk.vhd")
    data = image.read_bytes()
    footer = data[-512:]
    assert data[:-512] == raw_disk.read_bytes()
    assert footer[:8] == b"conectix"
    assert footer[28:32] == b"qem2"
    checksum = int.from_bytes(footer[64:68], "big")
    assert ~sum(footer[:64] + bytes(4) + footer[68:]) & 0xFFFFFFFF == checksum
    assert int.from_bytes(footer[24:28], "big") == 1700000000 - 946684800


def test_vhd_geometry_follows_the_specification() -> None:
    assert vhd_geometry(40 << 20) == (963, 5, 17)  # 81920 sectors, worked by hand
    cylinders, heads, sectors = vhd_geometry(127 << 30)
    assert (heads, sectors) == (16, 255)
    assert cylinders * heads * sectors <= (127 << 30) // 512


@pytest.mark.parametrize("kind", list(WRITERS))
def test_a_missing_raw_image_is_an_error_naming_it(kind: str, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="nowhere") as info:
        _convert(kind, tmp_path / "nowhere", tmp_path / "out")
    assert info.value.path == str(tmp_path / "nowhere")


@pytest.mark.parametrize("kind", list(WRITERS))
def test_a_size_that_is_not_whole_sectors_is_an_error(kind: str, tmp_path: Path) -> None:
    raw = tmp_path / "odd.raw"
    raw.write_bytes(b"x" * 1000)
    with pytest.raises(OutputError, match=r"odd\.raw"):
        _convert(kind, raw, tmp_path / "out")
