"""Disk and image containers, written without Docker, root, loop devices or mounting.

The low-level writers the boot output formats are made of:

=========================  ==================================================================
:func:`write_fat`          a FAT12/16/32 file system (VFAT long names) from a list of files
:func:`plan_gpt`           GPT partition layout; :func:`write_gpt` writes protective MBR + GPT
:func:`plan_mbr`           MBR partition layout; :func:`write_mbr` writes it (bootable flag)
:func:`write_qcow2`        raw image -> qcow2 v3 (zero clusters not stored)
:func:`write_vhd`          raw image -> fixed or dynamic VHD
:func:`write_vmdk`         raw image -> streamOptimized VMDK
:func:`write_iso`          ISO 9660 + Rock Ridge + Joliet, El Torito BIOS/EFI, hybrid (xorriso)
:func:`write_uki`          a unified kernel image: systemd's EFI stub + kernel, initrd, cmdline
:func:`write_squashfs`     root tar -> squashfs (``tar2sqfs``, squashfs-tools-ng)
:func:`write_erofs`        root tar -> EROFS (``mkfs.erofs --tar``, erofs-utils 1.7+)
=========================  ==================================================================

Every writer is deterministic: timestamps come from an ``epoch`` argument
(``SOURCE_DATE_EPOCH``) and identifiers (GUIDs, serial numbers) from a ``seed``. They write
to files the caller opens, typically :meth:`AtomicOutput.path` of an output format.

Example, an EFI system partition on a GPT disk, then as qcow2::

    from moby_assemble.disk import FatFile, GptPartition, GPT_ESP, fat_size_for, plan_gpt
    from moby_assemble.disk import write_fat, write_gpt, write_qcow2

    files = (FatFile("EFI/BOOT/BOOTX64.EFI", Path("uki.efi")),)
    layout = plan_gpt((GptPartition("ESP", fat_size_for(files, fat_type=32), GPT_ESP),),
                      seed="my-system")
    with open("disk.img", "wb") as f:
        esp = layout.partitions[0]
        write_fat(f, files, size=esp.size, offset=esp.offset, label="ESP", fat_type=32)
        write_gpt(f, layout)
    with open("disk.qcow2", "wb") as f:
        write_qcow2("disk.img", f)

.. versionadded:: 0.1
"""

from ._erofs import EROFS_COMPRESSIONS, erofs_reads_tar, write_erofs
from ._fat import FatFile, FatVolume, fat_size_for, write_fat
from ._gpt import (
    GPT_BIOS_BOOT,
    GPT_ESP,
    GPT_LEGACY_BIOS_BOOTABLE,
    GPT_LINUX,
    GPT_LINUX_ROOT_X86_64,
    GptLayout,
    GptPartition,
    PlacedGptPartition,
    plan_gpt,
    write_gpt,
)
from ._iso import BiosBoot, EfiBoot, IsoFile, write_iso
from ._mbr import (
    MBR_EFI,
    MBR_FAT12,
    MBR_FAT16_LBA,
    MBR_FAT32_LBA,
    MBR_LINUX,
    MbrLayout,
    MbrPartition,
    PlacedMbrPartition,
    plan_mbr,
    write_mbr,
)
from ._qcow2 import write_qcow2
from ._squashfs import SQUASHFS_COMPRESSIONS, write_squashfs
from ._ukify import DEFAULT_STUB, write_uki
from ._vhd import vhd_geometry, write_vhd
from ._vmdk import write_vmdk

__all__ = [
    "DEFAULT_STUB",
    "EROFS_COMPRESSIONS",
    "GPT_BIOS_BOOT",
    "GPT_ESP",
    "GPT_LEGACY_BIOS_BOOTABLE",
    "GPT_LINUX",
    "GPT_LINUX_ROOT_X86_64",
    "MBR_EFI",
    "MBR_FAT12",
    "MBR_FAT16_LBA",
    "MBR_FAT32_LBA",
    "MBR_LINUX",
    "SQUASHFS_COMPRESSIONS",
    "BiosBoot",
    "EfiBoot",
    "FatFile",
    "FatVolume",
    "GptLayout",
    "GptPartition",
    "IsoFile",
    "MbrLayout",
    "MbrPartition",
    "PlacedGptPartition",
    "PlacedMbrPartition",
    "erofs_reads_tar",
    "fat_size_for",
    "plan_gpt",
    "plan_mbr",
    "vhd_geometry",
    "write_erofs",
    "write_fat",
    "write_gpt",
    "write_iso",
    "write_mbr",
    "write_qcow2",
    "write_squashfs",
    "write_uki",
    "write_vhd",
    "write_vmdk",
]
