"""Output formats: an assembled system written as files, or pushed to a registry.

Formats are registered by name; :func:`write_formats` (what ``Bundle.write`` calls) writes
several of them from one assembly, reading the same root tar: nothing is fetched or
flattened again, and every output appears whole or not at all.

=====================  ==========================================================
``tar``                ``<name>.tar``: the root filesystem tar as assembled
``docker``             ``<name>.docker``: the tar plus LinuxKit's Dockerfile
``kernel+initrd``      ``<name>-kernel``, ``<name>-initrd.img``, ``<name>-cmdline``
``tar-kernel-initrd``  ``<name>-initrd.tar``: kernel, initrd.img, cmdline, ucode.cpio
``oci-layout``         ``<name>.oci/``: the system as a runnable OCI image (layout)
``oci-archive``        ``<name>.oci.tar``: the same as one tar
``oci-bundles``        ``<name>-bundles.tar``: config.json + rootfs/ per container
``push``               kernel, initrd, cmdline pushed as an OCI artifact
``iso-bios``           ``<name>.iso``: isolinux, kernel and initrd (hybrid: CD or disk)
``iso-efi``            ``<name>-efi.iso``: the system as one UKI on the EFI boot image
``iso-efi-initrd``     ``<name>-efi-initrd.iso``: systemd-boot, kernel and initrd
``raw-bios``           ``<name>-bios.img``: MBR, FAT partition with syslinux
``raw-efi``            ``<name>-efi.img``: GPT, ESP with systemd-boot and a UKI
``qcow2-bios``         ``<name>.qcow2``: the raw-bios disk as qcow2
``qcow2-efi``          ``<name>-efi.qcow2``: the raw-efi disk as qcow2
``vhd``                ``<name>.vhd``: the raw-bios disk as a fixed VHD
``dynamic-vhd``        ``<name>.vhd``: the raw-bios disk as a dynamic VHD
``vmdk``               ``<name>.vmdk``: the raw-bios disk as a streamOptimized VMDK
``kernel+squashfs``    ``<name>-kernel``, ``<name>-cmdline``, ``<name>-squashfs.img``
``kernel+erofs``       ``<name>-kernel``, ``<name>-cmdline``, ``<name>-erofs.img``
``kernel+iso``         ``<name>-kernel``, ``<name>-cmdline``, ``<name>.iso``
=====================  ==========================================================

The boot formats take their boot loader from the system: the ``bootloader``
components (``moby_assemble.components.bootloader``) listed in its ``init`` section, so
it is pinned in the lock like every other image (see :mod:`._boot_media`).

Third-party formats register with :func:`register_format` or through the entry point
group ``moby_assemble.outputs`` (see :mod:`._registry`).

Example::

    from moby_assemble.outputs import available_formats, write_formats

    write_formats(bundle, "out", ["kernel+initrd", "tar"], name="web", compression="zstd")

.. versionadded:: 0.1
"""

from ._atomic import AtomicOutput
from ._boot import KernelInitrdFormat, TarKernelInitrdFormat
from ._boot_media import BootFormat, BootloaderFile
from ._cpio import CpioWriter
from ._format import BundleContainerView, BundleView, OutputFormat
from ._initrd import write_cpio, write_initrd
from ._iso_formats import IsoBiosFormat, IsoEfiFormat, IsoEfiInitrdFormat
from ._oci_bundles import OciBundlesFormat
from ._oci_image import DEFAULT_ENTRYPOINT, OciArchiveFormat, OciLayoutFormat
from ._push import (
    SYSTEM_ARTIFACT_TYPE,
    BootFiles,
    PushFormat,
    pull_system,
    push_system,
)
from ._raw_formats import RawBiosFormat, RawEfiFormat
from ._registry import (
    ENTRY_POINT_GROUP,
    available_formats,
    get_format,
    register_format,
    unregister_format,
    write_formats,
)
from ._rootfs_formats import KernelErofsFormat, KernelIsoFormat, KernelSquashfsFormat
from ._tar import DockerFormat, TarFormat
from ._vdisk_formats import (
    DynamicVhdFormat,
    Qcow2BiosFormat,
    Qcow2EfiFormat,
    VhdFormat,
    VmdkFormat,
)

__all__ = [
    "DEFAULT_ENTRYPOINT",
    "ENTRY_POINT_GROUP",
    "SYSTEM_ARTIFACT_TYPE",
    "AtomicOutput",
    "BootFiles",
    "BootFormat",
    "BootloaderFile",
    "BundleContainerView",
    "BundleView",
    "CpioWriter",
    "DockerFormat",
    "DynamicVhdFormat",
    "IsoBiosFormat",
    "IsoEfiFormat",
    "IsoEfiInitrdFormat",
    "KernelErofsFormat",
    "KernelInitrdFormat",
    "KernelIsoFormat",
    "KernelSquashfsFormat",
    "OciArchiveFormat",
    "OciBundlesFormat",
    "OciLayoutFormat",
    "OutputFormat",
    "PushFormat",
    "Qcow2BiosFormat",
    "Qcow2EfiFormat",
    "RawBiosFormat",
    "RawEfiFormat",
    "TarFormat",
    "TarKernelInitrdFormat",
    "VhdFormat",
    "VmdkFormat",
    "available_formats",
    "get_format",
    "pull_system",
    "push_system",
    "register_format",
    "unregister_format",
    "write_cpio",
    "write_formats",
    "write_initrd",
]

for _fmt in (
    TarFormat(),
    DockerFormat(),
    KernelInitrdFormat(),
    TarKernelInitrdFormat(),
    OciLayoutFormat(),
    OciArchiveFormat(),
    OciBundlesFormat(),
    PushFormat(),
    IsoBiosFormat(),
    IsoEfiFormat(),
    IsoEfiInitrdFormat(),
    RawBiosFormat(),
    RawEfiFormat(),
    Qcow2BiosFormat(),
    Qcow2EfiFormat(),
    VhdFormat(),
    DynamicVhdFormat(),
    VmdkFormat(),
    KernelSquashfsFormat(),
    KernelErofsFormat(),
    KernelIsoFormat(),
):
    register_format(_fmt, replace=True)
del _fmt
