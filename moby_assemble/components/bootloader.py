"""Boot loader components: what the disk and ISO output formats boot the system with.

A boot loader is an image like any other component (role ``bootloader``), built by the
packager from Debian packages (``components/bootloader-*/recipe.toml``). It goes in the
system's ``init`` section: its files are unpacked into the root at the paths Debian uses
(``/usr/lib/ISOLINUX/isolinux.bin``...), the boot formats read them from there, and the
lock pins the image like every other, so the same lock always gives the same boot loader
and nothing is fetched while writing an output.

==========================  ==================================================  ================
factory                     files                                               formats
==========================  ==================================================  ================
``bootloader.syslinux()``   isolinux.bin, isohdpfx.bin, ldlinux.c32, mbr.bin,   ``iso-bios``,
                            ``/usr/bin/syslinux`` (its embedded core)           ``raw-bios``,
                                                                                ``qcow2-bios``,
                                                                                ``vhd``, ``vmdk``
``bootloader.efi()``        linuxx64.efi.stub, systemd-bootx64.efi              ``iso-efi*``,
                                                                                ``raw-efi``,
                                                                                ``qcow2-efi``
==========================  ==================================================  ================

Example::

    >>> from moby_assemble.components import bootloader
    >>> bootloader.efi()
    InitImage('localhost:5000/moby-assemble/bootloader-efi:252.39-1', role='bootloader')

    system = system.with_init(init.base(), runtime.runc(), bootloader.efi())
    bundle.write("out", ["raw-efi", "iso-efi"])

.. versionadded:: 0.1
"""

from __future__ import annotations

from .._model import InitImage, Role
from ._catalog import CATALOG, image_reference

__all__ = ["VERSIONS", "efi", "syslinux"]

#: The version (default tag) of each boot loader component, as its recipe says.
VERSIONS = {n: CATALOG[n].version for n in ("bootloader-syslinux", "bootloader-efi")}


def _reference(name: str, registry: str | None, tag: str | None, image: str | None) -> str:
    return image_reference(name, registry=registry, tag=tag, image=image)


def syslinux(
    *, registry: str | None = None, tag: str | None = None, image: str | None = None
) -> InitImage:
    """The BIOS boot loaders: isolinux for ISOs, syslinux's MBR and module for disks.

    Used by ``iso-bios``, ``raw-bios``, ``qcow2-bios``, ``vhd``, ``dynamic-vhd`` and
    ``vmdk``. It carries Debian's ``syslinux`` installer program too: Debian ships the
    syslinux core only inside it, and the disk formats take the core from its bytes
    without running it, so nothing of the host is used.

    Args:
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).

    Raises:
        ConfigError: ``image`` given with ``registry`` or ``tag``, or an empty registry.
    """
    ref = _reference("bootloader-syslinux", registry, tag, image)
    return InitImage(ref, role=Role.BOOTLOADER)


def efi(
    *, registry: str | None = None, tag: str | None = None, image: str | None = None
) -> InitImage:
    """The UEFI boot loaders: systemd's EFI stub (for unified kernel images) and systemd-boot.

    Used by ``iso-efi``, ``iso-efi-initrd``, ``raw-efi`` and ``qcow2-efi``.

    Args:
        registry, tag, image: where the image is (see
            :func:`~moby_assemble.components.image_reference`).

    Raises:
        ConfigError: ``image`` given with ``registry`` or ``tag``, or an empty registry.
    """
    ref = _reference("bootloader-efi", registry, tag, image)
    return InitImage(ref, role=Role.BOOTLOADER)
