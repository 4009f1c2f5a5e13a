"""Boot loader set-up shared by the ISO and disk formats: syslinux, systemd-boot, UKIs.

- **syslinux / isolinux** (BIOS): a config that boots ``kernel`` with ``initrd.img`` and the
  system's command line at once, on the serial console too. A FAT volume is made bootable
  by Debian's mtools installer, ``syslinux --install``: Debian ships the syslinux core
  (``ldlinux.sys``) only inside that program, so it is the one step that uses the host. It
  never mounts anything, and dates what it writes from ``SOURCE_DATE_EPOCH``.
- **systemd-boot** (EFI): ``loader/loader.conf`` with no menu delay, and either a type 1
  entry (``loader/entries/*.conf``: kernel, initrd, options as separate files) or a unified
  kernel image in ``EFI/Linux/`` (found by systemd-boot on its own).
- **UKI**: systemd's EFI stub with kernel, initrd and command line in one PE file, the only
  file an EFI ISO or disk needs.

Example::

    cfg = syslinux_config("console=ttyS0")          # bytes of syslinux.cfg
    install_syslinux(Path("disk.img"), offset=1 << 20, epoch=0, format="raw-bios")
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .._errors import OutputError
from ..disk import FatFile, write_uki
from ..disk._tools import find_tool, run_tool
from ._boot_media import EFI_STUB, EFI_SYSTEMD_BOOT, BootMedia

__all__ = [
    "check_cmdline",
    "fat_safe",
    "install_syslinux",
    "os_release",
    "syslinux_config",
    "systemd_boot_entry_files",
    "systemd_boot_uki_files",
    "write_media_uki",
]

#: FAT cannot date anything before 1980-01-01 (mtools would wrap earlier times to 2098).
_FAT_EPOCH = 315532800
_FAT_UNSAFE = re.compile(r'[\x00-\x1f"*/:<>?\\|\x7f]')


def check_cmdline(cmdline: str, format: str) -> str:
    """Return ``cmdline`` if a boot loader config line can hold it.

    Raises:
        OutputError: it holds a line break or NUL.
    """
    if any(c in cmdline for c in "\n\r\0"):
        raise OutputError(
            f"{format}: the kernel command line holds a line break or NUL, which no boot "
            "loader config can carry",
            format=format,
        )
    return cmdline


def syslinux_config(
    cmdline: str, *, kernel: str = "/kernel", initrd: str = "/initrd.img", format: str = "raw-bios"
) -> bytes:
    """``syslinux.cfg`` / ``isolinux.cfg``: boot ``kernel`` at once, console on COM1 too."""
    check_cmdline(cmdline, format)
    return (
        "SERIAL 0 115200\n"
        "DEFAULT linux\n"
        "PROMPT 0\n"
        "TIMEOUT 0\n"
        "LABEL linux\n"
        f"  KERNEL {kernel}\n"
        f"  INITRD {initrd}\n"
        f"  APPEND {cmdline}\n"
    ).encode()


def install_syslinux(image: Path, *, offset: int, epoch: int, format: str) -> None:
    """Make the FAT volume at ``offset`` of ``image`` boot syslinux (``syslinux --install``).

    Writes ``ldlinux.sys`` and ``ldlinux.c32`` into the volume and syslinux's code into its
    boot sector, keeping the volume's parameters.

    Raises:
        OutputError: the ``syslinux`` program is missing (naming the Debian package), or
            it fails (the volume is too full, not FAT).
    """
    tool = find_tool("syslinux", package="syslinux", format=format)
    run_tool(
        [tool, "--install", "--offset", str(offset), os.fspath(image)],
        format=format,
        path=os.fspath(image),
        env={
            "SOURCE_DATE_EPOCH": str(max(epoch, _FAT_EPOCH)),
            "MTOOLS_SKIP_CHECK": "1",
            # No user or system mtools configuration may change what is written.
            "MTOOLSRC": os.devnull,
        },
    )


def _quoted(value: str) -> str:
    # os-release values: double quotes, with \ " $ ` escaped (os-release(5)).
    escaped = re.sub(r'([\\"$`])', r"\\\1", value)
    return '"' + re.sub(r"[\x00-\x1f\x7f]", "_", escaped) + '"'


def os_release(name: str) -> str:
    """The ``.osrel`` text of a system's UKI: ``ID=moby`` and its name."""
    return f"ID=moby\nNAME={_quoted(name)}\nPRETTY_NAME={_quoted(name)}\n"


def fat_safe(name: str) -> str:
    """``name`` with what FAT names cannot hold replaced by ``_``."""
    return _FAT_UNSAFE.sub("_", name).strip(" .")[:200] or "system"


def write_media_uki(media: BootMedia, target: Path, *, name: str, format: str) -> Path:
    """Write the unified kernel image of ``media`` to ``target`` (EFI stub from the media)."""
    check_cmdline(media.cmdline, format)
    try:
        with open(target, "w+b") as f:
            write_uki(
                f,
                kernel=media.kernel,
                initrd=media.initrd,
                cmdline=media.cmdline,
                osrel=os_release(name),
                stub=media.files[EFI_STUB.key],
            )
    except OutputError as e:
        raise OutputError(f"{format}: {e}", format=format, path=str(target)) from None
    return target


_LOADER_CONF = b"timeout 0\neditor no\n"


def systemd_boot_uki_files(media: BootMedia, uki: Path, *, name: str) -> tuple[FatFile, ...]:
    """An ESP: systemd-boot as the default EFI program and the UKI in ``EFI/Linux/``."""
    return (
        FatFile("EFI/BOOT/BOOTX64.EFI", media.files[EFI_SYSTEMD_BOOT.key]),
        FatFile(f"EFI/Linux/{fat_safe(name)}.efi", uki),
        FatFile("loader/loader.conf", _LOADER_CONF),
    )


def systemd_boot_entry_files(media: BootMedia, *, name: str, format: str) -> tuple[FatFile, ...]:
    """An ESP: systemd-boot, a type 1 entry, and kernel and initrd as separate files."""
    entry = (
        f"title {check_cmdline(name, format)}\n"
        "linux /kernel\n"
        "initrd /initrd.img\n"
        f"options {check_cmdline(media.cmdline, format)}\n"
    )
    return (
        FatFile("EFI/BOOT/BOOTX64.EFI", media.files[EFI_SYSTEMD_BOOT.key]),
        FatFile("kernel", media.kernel),
        FatFile("initrd.img", media.initrd),
        FatFile("loader/loader.conf", _LOADER_CONF + b"default system.conf\n"),
        FatFile("loader/entries/system.conf", entry.encode()),
    )
