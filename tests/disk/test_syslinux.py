"""syslinux installed in Python: the same bytes as Debian's ``syslinux --install``.

The reference is the real installer (package ``syslinux``) run on a copy of the same FAT
volume; its core is read out of the same program (``/usr/bin/syslinux``) by our code.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Literal

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import FatFile, write_fat
from moby_assemble.disk._syslinux import (
    LDLINUX_MAGIC,
    SyslinuxCore,
    adv_sectors,
    install_syslinux_core,
    ldlinux_sys_sectors,
    syslinux_core,
    syslinux_files,
)

from .conftest import require

PROGRAM = Path("/usr/bin/syslinux")
LDLINUX_C32 = Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")
OFFSET = 1 << 20
EPOCH = 1700000000
SIZES: dict[Literal[12, 16, 32], int] = {12: 2 << 20, 16: 32 << 20, 32: 96 << 20}


@pytest.fixture(scope="module")
def core() -> SyslinuxCore:
    if not PROGRAM.is_file():
        pytest.skip("Debian's syslinux program is not installed (apt-get install syslinux)")
    return syslinux_core(PROGRAM.read_bytes(), name=str(PROGRAM))


def _real_install(image: Path) -> None:
    env = dict(os.environ, MTOOLSRC=os.devnull, MTOOLS_SKIP_CHECK="1")
    env["SOURCE_DATE_EPOCH"] = str(EPOCH)
    cmd = ["syslinux", "--install", "--offset", str(OFFSET), str(image)]
    subprocess.run(cmd, check=True, env=env, capture_output=True)


def _volume(path: Path, fat_type: Literal[12, 16, 32], extra: tuple[FatFile, ...] = ()) -> None:
    files = (
        FatFile("syslinux.cfg", b"DEFAULT linux\n"),
        FatFile("kernel", bytes(range(256)) * 1200),
        *extra,
    )
    with open(path, "w+b") as f:
        write_fat(
            f, files, size=SIZES[fat_type], offset=OFFSET, epoch=EPOCH, fat_type=fat_type,
            volume_id=0x1234,
        )  # fmt: skip


def _sectors(image: Path, core: SyslinuxCore) -> tuple[int, ...]:
    with open(image, "rb") as f:
        return ldlinux_sys_sectors(f, offset=OFFSET, path=str(image), limit=core.file_size // 512)


def _file(image: bytes, sectors: tuple[int, ...]) -> bytes:
    return b"".join(image[OFFSET + s * 512 : OFFSET + s * 512 + 512] for s in sectors)


def test_the_core_is_found_in_debians_installer_program(core: SyslinuxCore) -> None:
    boot = core.boot_sector
    assert len(boot) == 512
    assert boot[3:11] == b"SYSLINUX"
    assert boot[510:] == b"\x55\xaa"
    assert boot[0] == 0xEB
    assert boot[1] + 2 == 0x5A
    assert core.ldlinux_sys.startswith(b"\r\nSYSLINUX 6.")
    assert len(core.ldlinux_sys) % 512 == 0
    assert struct.pack("<I", LDLINUX_MAGIC) in core.ldlinux_sys[:64]
    assert core.file_size == len(core.ldlinux_sys) + 1024


def test_a_program_without_the_core_is_an_error_naming_it() -> None:
    with pytest.raises(OutputError, match="/bin/true: no syslinux boot sector"):
        syslinux_core(Path("/bin/true").read_bytes(), name="/bin/true")


def test_the_adv_is_two_empty_copies_with_their_signatures() -> None:
    adv = adv_sectors()
    assert len(adv) == 1024
    assert adv[:512] == adv[512:]
    head, total = struct.unpack_from("<II", adv)
    assert (head, total) == (0x5A2D2FA5, 0xA3041767)
    assert struct.unpack_from("<I", adv, 508)[0] == 0xDD28BF64


@pytest.mark.parametrize("fat_type", [12, 16, 32])
def test_installing_writes_the_same_bytes_as_syslinux_install(
    core: SyslinuxCore, tmp_path: Path, fat_type: Literal[12, 16, 32]
) -> None:
    """The real installer places LDLINUX.SYS with mtools; with its sectors wiped and the
    boot sector put back as it was, ours must rewrite the image to the very same bytes."""
    require("mcopy")
    if shutil.which("syslinux") is None:
        pytest.skip("the syslinux installer is not installed (apt-get install syslinux)")
    before = tmp_path / "before.img"
    _volume(before, fat_type)
    real = tmp_path / "real.img"
    shutil.copy(before, real)
    _real_install(real)
    expected = real.read_bytes()
    sectors = _sectors(real, core)
    assert len(sectors) == core.file_size // 512  # the core's length is the real one

    ours = bytearray(expected)
    for s in sectors:
        ours[OFFSET + s * 512 : OFFSET + s * 512 + 512] = bytes(512)
    ours[OFFSET : OFFSET + 512] = before.read_bytes()[OFFSET : OFFSET + 512]
    assert ours != expected
    mine = tmp_path / "ours.img"
    mine.write_bytes(ours)
    with open(mine, "r+b") as f:
        install_syslinux_core(f, core, offset=OFFSET, path=str(mine))
    assert mine.read_bytes() == expected


def _dir_entry(image: Path, short: bytes) -> bytes:
    data = image.read_bytes()
    at = data.find(short)  # only the root directory holds these names
    assert at >= 0, short
    return data[at : at + 32]


@pytest.mark.parametrize("fat_type", [12, 16, 32])
def test_our_files_and_install_match_the_real_installer_but_for_their_placement(
    core: SyslinuxCore, tmp_path: Path, fat_type: Literal[12, 16, 32]
) -> None:
    """Written by our FAT writer, LDLINUX.SYS lies elsewhere than where mtools puts it.
    What depends on its place — the first-sector pointer in the boot sector, the extents,
    ADV pointers and checksum in the core — is checked to point at our sectors; every
    other byte of boot sector and LDLINUX.SYS equals the real installer's. (LDLINUX.C32
    is syslinux-common's; the installer writes its own embedded copy, a rebuild of the
    same source whose ELF section tables differ.)"""
    require("mcopy", "fsck.fat")
    if shutil.which("syslinux") is None:
        pytest.skip("the syslinux installer is not installed (apt-get install syslinux)")
    real = tmp_path / "real.img"
    _volume(real, fat_type)
    _real_install(real)
    mine = tmp_path / "ours.img"
    _volume(mine, fat_type, syslinux_files(core, LDLINUX_C32))
    with open(mine, "r+b") as f:
        install_syslinux_core(f, core, offset=OFFSET, path=str(mine))

    real_sectors, our_sectors = _sectors(real, core), _sectors(mine, core)
    assert real_sectors != our_sectors
    real_bytes, our_bytes = real.read_bytes(), mine.read_bytes()
    real_boot = bytearray(real_bytes[OFFSET : OFFSET + 512])
    our_boot = bytearray(our_bytes[OFFSET : OFFSET + 512])
    magic = core.ldlinux_sys.find(struct.pack("<I", LDLINUX_MAGIC))
    epa = struct.unpack_from("<H", core.ldlinux_sys, magic + 22)[0]
    low, high = struct.unpack_from("<2H", core.ldlinux_sys, epa + 14)  # where the sector goes
    for boot, sector in ((real_boot, real_sectors[0]), (our_boot, our_sectors[0])):
        assert struct.unpack_from("<II", boot[low : low + 4] + boot[high : high + 4]) == (
            sector & 0xFFFFFFFF,
            sector >> 32,
        )
        boot[low : low + 4] = boot[high : high + 4] = bytes(4)
    assert our_boot == real_boot

    real_file, our_file = _file(real_bytes, real_sectors), _file(our_bytes, our_sectors)
    n = len(core.ldlinux_sys)
    assert our_file[n:] == real_file[n:] == adv_sectors()
    magic = our_file.find(struct.pack("<I", LDLINUX_MAGIC))
    assert sum(struct.unpack(f"<{n // 4}I", our_file[:n])) & 0xFFFFFFFF == LDLINUX_MAGIC
    data_sectors, adv_count, dword_count = struct.unpack_from("<HHI", our_file, magic + 8)
    assert (data_sectors, adv_count, dword_count) == (n // 512, 2, n // 4)
    epa = struct.unpack_from("<H", our_file, magic + 22)[0]
    advptr, _, _, _, _, secptr, count = struct.unpack_from("<7H", our_file, epa)
    loaded: list[int] = []
    for i in range(count):
        lba, length = struct.unpack_from("<QH", our_file, secptr + 10 * i)
        loaded += range(lba, lba + length)
    assert tuple(loaded) == our_sectors[1 : n // 512]  # every core sector after the first
    assert struct.unpack_from("<QQ", our_file, advptr) == our_sectors[n // 512 :]
    # Those fields and the checksum are the only bytes that may differ.
    placed = {*range(magic + 16, magic + 20), *range(advptr, advptr + 16)}
    placed |= set(range(secptr, secptr + 10 * count))
    differ = {i for i in range(n) if our_file[i] != real_file[i]}
    assert differ
    assert differ <= placed

    for short in (b"LDLINUX SYS", b"LDLINUX C32"):
        assert _dir_entry(mine, short)[11] == _dir_entry(real, short)[11] == 0x27  # RHS+A
    assert struct.unpack_from("<I", _dir_entry(mine, b"LDLINUX SYS"), 28)[0] == core.file_size
    listing = subprocess.run(
        ["mdir", "-a", "-b", "-i", f"{mine}@@{OFFSET}", "::/"],
        capture_output=True, text=True, check=True,
        env=dict(os.environ, MTOOLSRC=os.devnull, MTOOLS_SKIP_CHECK="1"),
    ).stdout  # fmt: skip
    assert "::/LDLINUX.SYS" in listing
    assert "::/LDLINUX.C32" in listing


def test_a_volume_without_ldlinux_sys_is_an_error_naming_the_image(
    core: SyslinuxCore, tmp_path: Path
) -> None:
    image = tmp_path / "plain.img"
    _volume(image, 16)
    with (
        open(image, "r+b") as f,
        pytest.raises(OutputError, match=r"plain\.img: .*no LDLINUX\.SYS"),
    ):
        install_syslinux_core(f, core, offset=OFFSET, path=str(image))


def test_a_too_short_ldlinux_sys_is_an_error(core: SyslinuxCore, tmp_path: Path) -> None:
    image = tmp_path / "short.img"
    _volume(image, 16, (FatFile("LDLINUX.SYS", b"x" * 4096, system=True),))
    with open(image, "r+b") as f, pytest.raises(OutputError, match="spans 8 sectors"):
        install_syslinux_core(f, core, offset=OFFSET, path=str(image))


def test_no_fat_volume_at_the_offset_is_an_error(core: SyslinuxCore, tmp_path: Path) -> None:
    image = tmp_path / "zeros.img"
    image.write_bytes(bytes(OFFSET + 4096))
    with open(image, "r+b") as f, pytest.raises(OutputError, match="no FAT boot sector"):
        install_syslinux_core(f, core, offset=OFFSET, path=str(image))


def test_raw_bios_installs_syslinux_with_no_host_tool_on_the_path(
    core: SyslinuxCore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moby_assemble.outputs import get_format

    from ..outputs.bootformats_support import small_system

    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"not booted here")
    bundle = small_system(tmp_path / "system", kernel)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (disk,) = get_format("raw-bios").write(bundle, tmp_path / "out", "demo")
    with open(disk, "rb") as f:
        f.seek(OFFSET)
        boot = f.read(512)
        sectors = ldlinux_sys_sectors(f, offset=OFFSET, path=str(disk), limit=core.file_size // 512)
    assert boot[3:11] == b"SYSLINUX"
    assert boot[90:510] != core.boot_sector[90:510]  # the first sector of the core is in it
    data = disk.read_bytes()
    assert _file(data, sectors)[len(core.ldlinux_sys) :] == adv_sectors()
