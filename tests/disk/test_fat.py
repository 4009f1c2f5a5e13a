"""FAT volumes: read back by dosfstools and mtools, deterministic, sparse, strict names."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import FatFile, fat_size_for, write_fat

from .conftest import require, run, sha256

NAMES = {
    "EFI/BOOT/BOOTX64.EFI": None,  # the payload
    "loader/entries/a long name with spaces.conf": b"title system\n",
    "README.TXT": b"x" * 5000,
    "kernel": b"",
    "Ünïcode-名前.txt": "ü".encode(),
    "dir.with.dots/file.tar.gz": b"\x1f\x8b" * 700,
    "LONGNA~1": b"collides with a generated short name\n",
    "longname-with-more": b"gets LONGNA~2 as its short name\n",
}


def _files(payload: Path) -> tuple[FatFile, ...]:
    return tuple(FatFile(p, payload if data is None else data) for p, data in NAMES.items())


def _write(path: Path, files: tuple[FatFile, ...], **options: object) -> None:
    size = options.pop("size", None) or fat_size_for(files, fat_type=options.get("fat_type"))  # type: ignore[arg-type]
    with open(path, "wb") as f:
        write_fat(f, files, size=size, **options)  # type: ignore[arg-type]


def _read_back(image: Path, name: str, tmp_path: Path) -> bytes:
    out = tmp_path / "read-back"
    out.unlink(missing_ok=True)
    run("mcopy", "-n", "-i", image, f"::/{name}", out)
    return out.read_bytes()


@pytest.mark.parametrize("fat_type", [12, 16, 32])
def test_fsck_is_clean_and_mtools_reads_every_name_and_byte(
    fat_type: int, payload: Path, tmp_path: Path
) -> None:
    require("fsck.fat", "mdir", "mcopy")
    image = tmp_path / "fat.img"
    files = _files(payload)
    _write(image, files, fat_type=fat_type, label="ESP", epoch=1700000000, directories=("empty",))

    check = run("fsck.fat", "-n", "-v", image)
    assert f"{fat_type} bit entries" in check.stdout
    assert "Volume in drive : is ESP" in run("mdir", "-i", image, "::").stdout
    listing = run("mdir", "-/", "-b", "-i", image, "::").stdout.splitlines()
    for name in NAMES:
        assert f"::/{name}" in listing, name
    assert "::/empty/" in listing
    for name, data in NAMES.items():
        expected = payload.read_bytes() if data is None else data
        assert _read_back(image, name, tmp_path) == expected, name


def test_short_names_are_upper_case_8_3_and_unique(payload: Path, tmp_path: Path) -> None:
    require("mdir")
    image = tmp_path / "fat.img"
    _write(image, _files(payload))
    listing = run("mdir", "-i", image, "::").stdout
    assert "LONGNA~1 " in listing
    assert re.search(r"^LONGNA~2 +32 .* longname-with-more$", listing, re.MULTILINE)
    assert "KERNEL~1" in listing
    assert "README   TXT" in listing


def test_size_picks_fat32_for_an_esp_and_fat16_or_12_for_small_images(tmp_path: Path) -> None:
    files = (FatFile("a", b"a"),)
    with open(tmp_path / "big.img", "wb") as f:
        assert write_fat(f, files, size=64 << 20).fat_type == 32
    with open(tmp_path / "mid.img", "wb") as f:
        assert write_fat(f, files, size=8 << 20).fat_type == 16
    with open(tmp_path / "small.img", "wb") as f:
        assert write_fat(f, files, size=1 << 20).fat_type == 12


def test_same_files_give_the_same_bytes_and_another_epoch_does_not(
    payload: Path, tmp_path: Path
) -> None:
    files = _files(payload)
    for name in ("one", "two"):
        _write(tmp_path / name, files, fat_type=32, epoch=1700000000)
    _write(tmp_path / "later", files, fat_type=32, epoch=1700000002)
    assert sha256(tmp_path / "one") == sha256(tmp_path / "two")
    assert sha256(tmp_path / "one") != sha256(tmp_path / "later")


def test_timestamps_are_the_epoch_and_start_in_1980(tmp_path: Path) -> None:
    require("mdir")
    files = (FatFile("a.txt", b"a"),)
    _write(tmp_path / "zero.img", files, epoch=0)
    _write(tmp_path / "set.img", files, epoch=1700000000)  # 2023-11-14 22:13:20 UTC
    assert "1980-01-01   0:00" in run("mdir", "-i", tmp_path / "zero.img", "::").stdout
    assert "2023-11-14  22:13" in run("mdir", "-i", tmp_path / "set.img", "::").stdout


def test_a_large_volume_stays_sparse(tmp_path: Path) -> None:
    image = tmp_path / "esp.img"
    with open(image, "wb") as f:
        volume = write_fat(f, (FatFile("a", b"a" * 100),), size=512 << 20, label="ESP")
    assert volume.fat_type == 32
    assert image.stat().st_size == 512 << 20
    assert image.stat().st_blocks * 512 < 1 << 20


def test_many_names_grow_the_root_directory_and_subdirectories(tmp_path: Path) -> None:
    require("fsck.fat", "mdir")
    rng = random.Random(3)
    files = tuple(
        FatFile(
            f"{prefix}a rather long file name number {i:04d}.data",
            rng.randbytes(rng.randrange(0, 3000)),
        )
        for prefix in ("", "sub/dir/")
        for i in range(700)
    )
    image = tmp_path / "many.img"
    _write(image, files, fat_type=16)
    run("fsck.fat", "-n", image)
    listing = run("mdir", "-/", "-b", "-i", image, "::").stdout
    assert listing.count("a rather long file name number") == 1400
    assert (
        _read_back(image, "sub/dir/a rather long file name number 0699.data", tmp_path)
        == files[-1].source
    )


def test_a_volume_at_an_offset_records_its_hidden_sectors(tmp_path: Path) -> None:
    require("fsck.fat")
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        write_fat(f, (FatFile("a", b"a"),), size=4 << 20, offset=1 << 20)
    data = image.read_bytes()
    assert data[: 1 << 20] == bytes(1 << 20)
    assert int.from_bytes(data[(1 << 20) + 28 : (1 << 20) + 32], "little") == 2048
    part = tmp_path / "part.img"
    part.write_bytes(data[1 << 20 :])
    run("fsck.fat", "-n", part)


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (("EFI/boot.efi", "efi/other"), "case-insensitive"),
        (("a", "a"), "given twice"),
        (("a", "a/b"), "is a file"),
        (("what?",), "forbids"),
        (("trailing.",), "ends with a dot"),
        (("a/../b",), "'..'"),
    ],
)
def test_names_fat_cannot_hold_are_errors_naming_the_file(
    paths: tuple[str, ...], message: str
) -> None:
    with pytest.raises(OutputError, match=message) as info:
        fat_size_for(tuple(FatFile(p, b"") for p in paths))
    assert paths[-1] in str(info.value)


def test_files_that_do_not_fit_are_an_error_saying_how_much_is_needed(tmp_path: Path) -> None:
    with open(tmp_path / "x.img", "wb") as f, pytest.raises(OutputError, match="too small"):
        write_fat(f, (FatFile("big", bytes(2 << 20)),), size=1 << 20)


def test_a_missing_source_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"nowhere\.bin"):
        fat_size_for((FatFile("a", tmp_path / "nowhere.bin"),))


def test_fat_size_for_is_enough_and_whole_mib(payload: Path, tmp_path: Path) -> None:
    files = _files(payload)
    for fat_type in (None, 16, 32):
        size = fat_size_for(files, fat_type=fat_type, free=1 << 20)
        assert size % (1 << 20) == 0
        with open(tmp_path / "x.img", "wb") as f:
            volume = write_fat(f, files, size=size, fat_type=fat_type)
        free = (volume.clusters - volume.used_clusters) * volume.cluster_size
        assert free >= 1 << 20
