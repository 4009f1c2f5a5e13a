"""Boot formats without booting: registration, options, boot loader look-up, errors.

What boots and what the standard tools read back is in test_boot_formats.py (slow).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.outputs import (
    BootFormat,
    OutputFormat,
    available_formats,
    get_format,
    write_formats,
)

from .bootformats_support import CMDLINE, loader_items, small_system
from .conftest import FakeBundle, busybox_items, write_tar

BOOT_FORMATS = (
    "iso-bios", "iso-efi", "iso-efi-initrd", "raw-bios", "raw-efi", "qcow2-bios", "qcow2-efi",
    "vhd", "dynamic-vhd", "vmdk",
)  # fmt: skip
ROOTFS_FORMATS = ("kernel+squashfs", "kernel+erofs", "kernel+iso")
KERNEL = b"MZ not really a kernel, but the formats only copy it" * 100


@pytest.fixture
def system(tmp_path: Path) -> FakeBundle:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(KERNEL)
    return small_system(tmp_path / "system", kernel)


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_every_boot_format_is_registered_with_its_options() -> None:
    assert set(available_formats()) >= {*BOOT_FORMATS, *ROOTFS_FORMATS}
    for name in BOOT_FORMATS:
        fmt = get_format(name)
        assert isinstance(fmt, OutputFormat)
        assert isinstance(fmt, BootFormat)
        assert fmt.options == {"compression", "compression_level", "bootloader_root"}
        assert all("{name}" in pattern for pattern in fmt.files)
        assert fmt.description
        assert not fmt.streamable
    assert get_format("kernel+squashfs").options == {"squashfs_compression"}
    assert get_format("kernel+erofs").options == {"erofs_compression"}
    assert get_format("kernel+iso").options == frozenset()


@pytest.mark.parametrize("name", ["iso-bios", "raw-bios", "raw-efi", "iso-efi-initrd"])
def test_a_system_without_its_boot_loader_is_an_error_naming_the_component(
    name: str, tmp_path: Path
) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(KERNEL)
    bundle = small_system(tmp_path / "system", kernel, with_loaders=False)
    out = tmp_path / "out"
    with pytest.raises(OutputError) as info:
        get_format(name).write(bundle, out, "demo")
    message = str(info.value)
    component = "efi()" if "efi" in name else "syslinux()"
    assert f"moby_assemble.components.bootloader.{component}" in message
    assert "bootloader_root='/'" in message
    assert ("systemd-boot-efi" if "efi" in name else "syslinux-common") in message
    assert info.value.format == name
    assert _listing(out) == []  # neither output nor scratch directory is left


@pytest.mark.parametrize("name", ["iso-bios", "raw-efi"])
def test_bootloader_root_takes_the_files_from_a_directory_instead_of_the_system(
    name: str, system: FakeBundle, tmp_path: Path
) -> None:
    from_system = get_format(name).write(system, tmp_path / "system-out", "demo")[0]
    from_host = get_format(name).write(system, tmp_path / "host-out", "demo", bootloader_root="/")
    # The system's loader files are copies of this host's: the same bytes either way.
    assert from_system.read_bytes() == from_host[0].read_bytes()
    # A directory with another file in the same place: that file is used.
    fmt = get_format(name)
    assert isinstance(fmt, BootFormat)
    root = tmp_path / "loaders"
    for want in fmt.loader:
        copy = root / want.path
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(Path("/", want.path).read_bytes())
    changed = root / fmt.loader[-1].path
    changed.write_bytes(changed.read_bytes() + b"FROM-THE-BOOTLOADER-ROOT")
    other = get_format(name).write(system, tmp_path / "dir-out", "demo", bootloader_root=root)
    assert b"FROM-THE-BOOTLOADER-ROOT" in other[0].read_bytes()
    assert b"FROM-THE-BOOTLOADER-ROOT" not in from_system.read_bytes()


def test_a_missing_bootloader_root_file_is_an_error_naming_path_and_package(
    system: FakeBundle, tmp_path: Path
) -> None:
    with pytest.raises(OutputError, match=r"linuxx64.efi.stub is missing.*systemd-boot-efi"):
        get_format("raw-efi").write(system, tmp_path / "out", "demo", bootloader_root=tmp_path)


def test_a_system_without_a_kernel_is_an_error(tmp_path: Path) -> None:
    root = write_tar(tmp_path / "root.tar", busybox_items("#!/bin/sh\n") + loader_items())
    bundle = FakeBundle(platform=None, rootfs_tar=root, kernel=None)  # type: ignore[arg-type]
    for name in ("raw-bios", "kernel+squashfs"):
        with pytest.raises(OutputError, match="no kernel section"):
            get_format(name).write(bundle, tmp_path / "out", "demo")


def test_a_command_line_with_a_line_break_is_an_error(system: FakeBundle, tmp_path: Path) -> None:
    import attrs

    broken = attrs.evolve(system, cmdline="console=ttyS0\ninit=/bin/sh")
    for name in ("raw-bios", "iso-efi", "iso-efi-initrd"):
        with pytest.raises(OutputError, match="line break"):
            get_format(name).write(broken, tmp_path / "out", "demo")


@pytest.mark.parametrize(
    ("name", "option", "value"),
    [
        ("kernel+squashfs", "squashfs_compression", "brotli"),
        ("kernel+erofs", "erofs_compression", "zstd"),
    ],
)
def test_an_unknown_image_compression_is_an_error_before_anything_is_written(
    name: str, option: str, value: str, system: FakeBundle, tmp_path: Path
) -> None:
    with pytest.raises(OutputError, match=f"{option} '{value}' is not one of"):
        get_format(name).write(system, tmp_path / "out", "demo", **{option: value})
    assert _listing(tmp_path / "out") == []


def test_write_formats_hands_each_format_its_options(system: FakeBundle, tmp_path: Path) -> None:
    written = write_formats(
        system,
        tmp_path / "out",
        ["raw-bios", "kernel+squashfs"],
        name="demo",
        compression="zstd",
        squashfs_compression="zstd",
    )
    disk = written["raw-bios"][0]
    initrd = tmp_path / "initrd.img"
    subprocess.run(
        ["mcopy", "-i", f"{disk}@@1M", "::initrd.img", str(initrd)],
        check=True,
        env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
    )
    assert initrd.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # zstd
    _, cmdline, image = written["kernel+squashfs"]
    assert cmdline.read_text() == CMDLINE
    superblock = image.read_bytes()[:32]
    assert superblock[:4] == b"hsqs"
    assert int.from_bytes(superblock[20:22], "little") == 6  # zstd
    with pytest.raises(OutputError, match="not understood"):
        write_formats(system, tmp_path / "out", ["raw-bios"], squashfs_compression="zstd")


def test_another_system_gets_other_disk_identifiers(system: FakeBundle, tmp_path: Path) -> None:
    import attrs

    other = attrs.evolve(system, cmdline=CMDLINE + " quiet")
    one = get_format("raw-efi").write(system, tmp_path / "one", "demo")[0].read_bytes()
    two = get_format("raw-efi").write(other, tmp_path / "two", "demo")[0].read_bytes()
    guid = slice(512 + 56, 512 + 72)  # the disk GUID in the primary GPT header
    assert one[guid] != two[guid]
