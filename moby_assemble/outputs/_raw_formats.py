"""Raw disk images: ``raw-bios`` (MBR, FAT, syslinux) and ``raw-efi`` (GPT, ESP, systemd-boot).

``raw-bios`` writes ``<name>-bios.img``: an MBR whose boot code is syslinux's ``mbr.bin``
and one bootable FAT partition holding ``kernel``, ``initrd.img``, ``syslinux.cfg`` and the
syslinux core, installed as ``syslinux --install`` installs it but without running it
(LinuxKit's ``mkimage-raw-bios`` layout). Any BIOS boots it.

``raw-efi`` writes ``<name>-efi.img``: a GPT disk whose only partition is an EFI system
partition (FAT32) with systemd-boot as ``EFI/BOOT/BOOTX64.EFI`` and the system as a unified
kernel image in ``EFI/Linux/`` (LinuxKit's ``mkimage-raw-efi`` layout). Any x86-64 UEFI
firmware boots it.

Both are exactly as large as their files need (whole MiB), sparse where they are zero, and
the same system gives the same bytes: dates are ``source_date_epoch``, GUIDs, disk
signature and volume serial come from the name and the content.

The builders :func:`write_bios_disk` and :func:`write_efi_disk` are what the virtual
disk formats (``qcow2-bios``, ``vhd``, ``vmdk``...) convert.

Example::

    get_format("raw-efi").write(bundle, "out", "web")      # out/web-efi.img
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs

from ..disk import (
    GPT_ESP,
    MBR_FAT12,
    MBR_FAT16_LBA,
    MBR_FAT32_LBA,
    FatFile,
    GptPartition,
    MbrPartition,
    fat_size_for,
    plan_gpt,
    plan_mbr,
    write_fat,
    write_gpt,
    write_mbr,
)
from ._atomic import AtomicOutput
from ._boot_media import (
    EFI_STUB,
    EFI_SYSTEMD_BOOT,
    LDLINUX_C32,
    MBR_BIN,
    SYSLINUX_PROGRAM,
    BootFormat,
    BootMedia,
)
from ._loaders import (
    install_syslinux,
    syslinux_config,
    syslinux_disk_files,
    systemd_boot_uki_files,
    write_media_uki,
)

__all__ = ["RawBiosFormat", "RawEfiFormat", "write_bios_disk", "write_efi_disk"]

_MBR_TYPES = {12: MBR_FAT12, 16: MBR_FAT16_LBA, 32: MBR_FAT32_LBA}


def _volume_id(seed: bytes) -> int:
    return int.from_bytes(hashlib.sha256(b"volume id\0" + seed).digest()[:4], "little")


def write_bios_disk(media: BootMedia, target: Path, *, format: str = "raw-bios") -> None:
    """Write a BIOS-bootable MBR disk of ``media`` to the new file ``target``.

    Raises:
        OutputError: the syslinux program holds no syslinux core, or a file is unreadable.
    """
    core, loader_files = syslinux_disk_files(media, format=format)
    files = (
        FatFile("syslinux.cfg", syslinux_config(media.cmdline, format=format)),
        FatFile("kernel", media.kernel),
        FatFile("initrd.img", media.initrd),
        *loader_files,
    )
    size = fat_size_for(files)
    layout = plan_mbr((MbrPartition(size, MBR_FAT32_LBA, bootable=True),), seed=media.seed)
    partition = layout.partitions[0]
    with open(target, "w+b") as f:
        volume = write_fat(
            f,
            files,
            size=partition.size,
            offset=partition.offset,
            label="BOOT",
            epoch=media.epoch,
            volume_id=_volume_id(media.seed),
        )
        # The partition type says which FAT it is: known once the volume is laid out.
        typed = attrs.evolve(partition, type=_MBR_TYPES[volume.fat_type])
        write_mbr(
            f,
            attrs.evolve(layout, partitions=(typed,)),
            boot_code=media.files[MBR_BIN.key].read_bytes(),
        )
        install_syslinux(f, core, offset=partition.offset, path=target, format=format)


def write_efi_disk(media: BootMedia, target: Path, *, name: str, format: str = "raw-efi") -> None:
    """Write a UEFI-bootable GPT disk of ``media`` to the new file ``target``.

    Raises:
        OutputError: the EFI stub is unusable, or a file is unreadable.
    """
    uki = write_media_uki(media, media.workdir / "uki.efi", name=name, format=format)
    files = systemd_boot_uki_files(media, uki, name=name)
    size = fat_size_for(files, fat_type=32)
    layout = plan_gpt((GptPartition("EFI system partition", size, GPT_ESP),), seed=media.seed)
    esp = layout.partitions[0]
    with open(target, "wb") as f:
        write_fat(
            f,
            files,
            size=esp.size,
            offset=esp.offset,
            label="ESP",
            epoch=media.epoch,
            volume_id=_volume_id(media.seed),
            fat_type=32,
        )
        write_gpt(f, layout)


class RawBiosFormat(BootFormat):
    """``raw-bios``: ``<name>-bios.img``, an MBR disk with syslinux on a FAT partition.

    Needs the ``bootloader.syslinux()`` component (``mbr.bin``, ``ldlinux.c32`` and the
    ``syslinux`` program, whose embedded core is installed without running it).
    """

    name = "raw-bios"
    description = "BIOS disk image: MBR, FAT partition with syslinux, kernel and initrd"
    files = ("{name}-bios.img",)
    loader = (MBR_BIN, LDLINUX_C32, SYSLINUX_PROGRAM)

    def build(self, media: BootMedia, out: AtomicOutput, name: str) -> None:
        write_bios_disk(media, out.path(f"{name}-bios.img"), format=self.name)


class RawEfiFormat(BootFormat):
    """``raw-efi``: ``<name>-efi.img``, a GPT disk with an ESP: systemd-boot and a UKI.

    Needs the ``bootloader.efi()`` component (systemd's EFI stub and systemd-boot).
    """

    name = "raw-efi"
    description = "UEFI disk image: GPT, EFI system partition with systemd-boot and a UKI"
    files = ("{name}-efi.img",)
    loader = (EFI_STUB, EFI_SYSTEMD_BOOT)

    def build(self, media: BootMedia, out: AtomicOutput, name: str) -> None:
        write_efi_disk(media, out.path(f"{name}-efi.img"), name=name, format=self.name)
