"""Bootable ISO images: ``iso-bios``, ``iso-efi`` and ``iso-efi-initrd``.

=====================  ==========================  ==========================================
format                 file                        how it boots
=====================  ==========================  ==========================================
``iso-bios``           ``<name>.iso``              isolinux (El Torito BIOS) loads
                                                   ``/boot/kernel`` and ``/boot/initrd.img``;
                                                   hybrid, so it also boots as a disk
``iso-efi``            ``<name>-efi.iso``          El Torito EFI: a FAT image whose
                                                   ``BOOTX64.EFI`` is the system's UKI;
                                                   hybrid (the image is a GPT ESP too)
``iso-efi-initrd``     ``<name>-efi-initrd.iso``   El Torito EFI: systemd-boot with the
                                                   kernel and initrd as separate files;
                                                   hybrid like ``iso-efi``
=====================  ==========================  ==========================================

Unlike LinuxKit's ``iso-bios`` (the root file system on the CD, ``root=/dev/sr0``), the root
file system travels as the initrd, so every format boots the same way, with no driver
needed for the medium, and reaches the same console output as ``kernel+initrd``. UEFI
firmware reads only FAT, so the EFI formats put everything the loader needs in the El
Torito FAT image. ISOs are written by xorriso (:func:`moby_assemble.disk.write_iso`),
reproducibly.

Example::

    get_format("iso-bios").write(bundle, "out", "web")     # out/web.iso
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..disk import BiosBoot, EfiBoot, FatFile, IsoFile, fat_size_for, write_fat, write_iso
from ._atomic import AtomicOutput
from ._boot_media import (
    EFI_STUB,
    EFI_SYSTEMD_BOOT,
    ISOHDPFX_BIN,
    ISOLINUX_BIN,
    LDLINUX_C32,
    BootFormat,
    BootMedia,
)
from ._loaders import syslinux_config, systemd_boot_entry_files, write_media_uki

__all__ = ["IsoBiosFormat", "IsoEfiFormat", "IsoEfiInitrdFormat", "volume_id"]

_EFI_IMAGE = "EFI/BOOT/efiboot.img"


def volume_id(name: str) -> str:
    """The ISO volume label of output ``name``: upper case, ``A-Z0-9_``, at most 32."""
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())[:32] or "MOBY"


class IsoBiosFormat(BootFormat):
    """``iso-bios``: ``<name>.iso``, isolinux booting kernel and initrd; hybrid.

    Needs the ``bootloader.syslinux()`` component (isolinux, ``ldlinux.c32``, the
    isohybrid MBR).
    """

    name = "iso-bios"
    description = "BIOS ISO image (isolinux, kernel and initrd; also boots as a disk)"
    files = ("{name}.iso",)
    loader = (ISOLINUX_BIN, ISOHDPFX_BIN, LDLINUX_C32)

    def build(self, media: BootMedia, out: AtomicOutput, name: str) -> None:
        config = syslinux_config(
            media.cmdline, kernel="/boot/kernel", initrd="/boot/initrd.img", format=self.name
        )
        files = (
            IsoFile("isolinux/isolinux.bin", media.files[ISOLINUX_BIN.key]),
            IsoFile("isolinux/ldlinux.c32", media.files[LDLINUX_C32.key]),
            IsoFile("isolinux/isolinux.cfg", config),
            IsoFile("boot/kernel", media.kernel),
            IsoFile("boot/initrd.img", media.initrd),
        )
        write_iso(
            out.path(f"{name}.iso"),
            files,
            volume_id=volume_id(name),
            epoch=media.epoch,
            bios=BiosBoot("isolinux/isolinux.bin", hybrid_mbr=media.files[ISOHDPFX_BIN.key]),
            format=self.name,
        )


def _efi_iso(
    media: BootMedia, target: Path, efi_files: Sequence[FatFile], *, name: str, format: str
) -> None:
    image = media.workdir / "efiboot.img"
    with open(image, "wb") as f:
        write_fat(f, efi_files, size=fat_size_for(efi_files), label="EFIBOOT", epoch=media.epoch)
    write_iso(
        target,
        (IsoFile(_EFI_IMAGE, image),),
        volume_id=volume_id(name),
        epoch=media.epoch,
        # The FAT image is the ESP of a GPT too: the .iso boots written to a disk as well.
        efi=EfiBoot(_EFI_IMAGE, partition=True),
        format=format,
    )


class IsoEfiFormat(BootFormat):
    """``iso-efi``: ``<name>-efi.iso``, the system's UKI on the El Torito EFI image.

    Needs the ``bootloader.efi()`` component (systemd's EFI stub).
    """

    name = "iso-efi"
    description = "UEFI ISO image (one unified kernel image: kernel, initrd, cmdline)"
    files = ("{name}-efi.iso",)
    loader = (EFI_STUB,)

    def build(self, media: BootMedia, out: AtomicOutput, name: str) -> None:
        uki = write_media_uki(media, media.workdir / "uki.efi", name=name, format=self.name)
        efi_files = (FatFile("EFI/BOOT/BOOTX64.EFI", uki),)
        _efi_iso(media, out.path(f"{name}-efi.iso"), efi_files, name=name, format=self.name)


class IsoEfiInitrdFormat(BootFormat):
    """``iso-efi-initrd``: ``<name>-efi-initrd.iso``, systemd-boot with kernel and initrd.

    Needs the ``bootloader.efi()`` component (systemd-boot).
    """

    name = "iso-efi-initrd"
    description = "UEFI ISO image (systemd-boot, kernel and initrd as separate files)"
    files = ("{name}-efi-initrd.iso",)
    loader = (EFI_SYSTEMD_BOOT,)

    def build(self, media: BootMedia, out: AtomicOutput, name: str) -> None:
        efi_files = systemd_boot_entry_files(media, name=name, format=self.name)
        target = out.path(f"{name}-efi-initrd.iso")
        _efi_iso(media, target, efi_files, name=name, format=self.name)
