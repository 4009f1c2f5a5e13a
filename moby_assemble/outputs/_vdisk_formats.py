"""Virtual machine disks: the raw BIOS and EFI disks as qcow2, VHD and VMDK.

=================  ===================  ===============================================
format             file                 contents
=================  ===================  ===============================================
``qcow2-bios``     ``<name>.qcow2``     the ``raw-bios`` disk as qcow2 v3 (QEMU, libvirt)
``qcow2-efi``      ``<name>-efi.qcow2`` the ``raw-efi`` disk as qcow2 v3
``vhd``            ``<name>.vhd``       the ``raw-bios`` disk as a fixed VHD (Hyper-V, Azure)
``dynamic-vhd``    ``<name>.vhd``       the same as a dynamic (sparse) VHD
``vmdk``           ``<name>.vmdk``      the same as a streamOptimized VMDK (VMware, ESXi)
=================  ===================  ===============================================

The names are LinuxKit's (so ``vhd`` and ``dynamic-vhd`` write the same file name). The
raw disk is built in the scratch directory beside the output and converted by the
project's own writers (:mod:`moby_assemble.disk`), so ``qemu-img`` is not needed; the
same system gives the same bytes.

Example::

    write_formats(bundle, "out", ["qcow2-bios", "vmdk"], name="web")
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, ClassVar

from ..disk import write_qcow2, write_vhd, write_vmdk
from ._atomic import AtomicOutput
from ._boot_media import EFI_STUB, EFI_SYSTEMD_BOOT, MBR_BIN, BootFormat, BootMedia
from ._raw_formats import write_bios_disk, write_efi_disk

__all__ = [
    "DynamicVhdFormat",
    "Qcow2BiosFormat",
    "Qcow2EfiFormat",
    "VhdFormat",
    "VmdkFormat",
]


class _VirtualDisk(BootFormat):
    efi: ClassVar[bool] = False

    def raw_disk(self, media: BootMedia, name: str) -> Path:
        raw = media.workdir / "disk.img"
        if self.efi:
            write_efi_disk(media, raw, name=name, format=self.name)
        else:
            write_bios_disk(media, raw, format=self.name)
        return raw

    def build(self, media: BootMedia, out: AtomicOutput, name: str) -> None:
        final = self.files[0].format(name=name)
        raw = self.raw_disk(media, name)
        with out.open(final) as f:
            self.convert(raw, f, media, final)

    def convert(self, raw: Path, target: BinaryIO, media: BootMedia, final: str) -> None:
        raise NotImplementedError


class Qcow2BiosFormat(_VirtualDisk):
    """``qcow2-bios``: ``<name>.qcow2``, the ``raw-bios`` disk as qcow2."""

    name = "qcow2-bios"
    description = "BIOS disk image (MBR, FAT, syslinux) as qcow2"
    files = ("{name}.qcow2",)
    loader = (MBR_BIN,)

    def convert(self, raw: Path, target: BinaryIO, media: BootMedia, final: str) -> None:
        write_qcow2(raw, target)


class Qcow2EfiFormat(_VirtualDisk):
    """``qcow2-efi``: ``<name>-efi.qcow2``, the ``raw-efi`` disk as qcow2."""

    name = "qcow2-efi"
    description = "UEFI disk image (GPT, ESP with systemd-boot and a UKI) as qcow2"
    files = ("{name}-efi.qcow2",)
    loader = (EFI_STUB, EFI_SYSTEMD_BOOT)
    efi = True

    def convert(self, raw: Path, target: BinaryIO, media: BootMedia, final: str) -> None:
        write_qcow2(raw, target)


class VhdFormat(_VirtualDisk):
    """``vhd``: ``<name>.vhd``, the ``raw-bios`` disk as a fixed VHD."""

    name = "vhd"
    description = "BIOS disk image (MBR, FAT, syslinux) as a fixed VHD"
    files = ("{name}.vhd",)
    loader = (MBR_BIN,)

    def convert(self, raw: Path, target: BinaryIO, media: BootMedia, final: str) -> None:
        write_vhd(raw, target, seed=media.seed, epoch=media.epoch)


class DynamicVhdFormat(_VirtualDisk):
    """``dynamic-vhd``: ``<name>.vhd``, the ``raw-bios`` disk as a dynamic VHD."""

    name = "dynamic-vhd"
    description = "BIOS disk image (MBR, FAT, syslinux) as a dynamic VHD"
    files = ("{name}.vhd",)
    loader = (MBR_BIN,)

    def convert(self, raw: Path, target: BinaryIO, media: BootMedia, final: str) -> None:
        write_vhd(raw, target, dynamic=True, seed=media.seed, epoch=media.epoch)


class VmdkFormat(_VirtualDisk):
    """``vmdk``: ``<name>.vmdk``, the ``raw-bios`` disk as a streamOptimized VMDK."""

    name = "vmdk"
    description = "BIOS disk image (MBR, FAT, syslinux) as a streamOptimized VMDK"
    files = ("{name}.vmdk",)
    loader = (MBR_BIN,)

    def convert(self, raw: Path, target: BinaryIO, media: BootMedia, final: str) -> None:
        # The descriptor names the extent file: the final name, never the temporary one.
        write_vmdk(raw, target, seed=media.seed, name=final)
