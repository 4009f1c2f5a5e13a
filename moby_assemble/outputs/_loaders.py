"""Boot loader set-up shared by the ISO and disk formats: syslinux, systemd-boot, UKIs.

- **syslinux / isolinux** (BIOS): a config that boots ``kernel`` with ``initrd.img`` and the
  system's command line at once, on the serial console too. A FAT volume is made bootable
  as ``syslinux --install`` does it, in Python: Debian ships the syslinux core (boot sector
  and ``ldlinux.sys``) only inside that installer program, so the boot loader component
  carries the program and :mod:`moby_assemble.disk._syslinux` takes the core out of its
  bytes — nothing runs on the host, and the core is pinned with the component.
- **systemd-boot** (EFI): ``loader/loader.conf`` with no menu delay, and either a type 1
  entry (``loader/entries/*.conf``: kernel, initrd, options as separate files) or a unified
  kernel image in ``EFI/Linux/`` (found by systemd-boot on its own).
- **UKI**: systemd's EFI stub with kernel, initrd and command line in one PE file, the only
  file an EFI ISO or disk needs.

Example::

    cfg = syslinux_config("console=ttyS0")          # bytes of syslinux.cfg
    core, files = syslinux_disk_files(media, format="raw-bios")   # LDLINUX.SYS, LDLINUX.C32
    ...  # write_fat(f, files + other files, ...)
    install_syslinux(f, core, offset=1 << 20, path=Path("disk.img"), format="raw-bios")
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

from .._errors import OutputError
from ..disk import FatFile, write_uki
from ..disk._syslinux import SyslinuxCore, install_syslinux_core, syslinux_core, syslinux_files
from ._boot_media import EFI_STUB, EFI_SYSTEMD_BOOT, LDLINUX_C32, SYSLINUX_PROGRAM, BootMedia

__all__ = [
    "check_cmdline",
    "fat_safe",
    "install_syslinux",
    "os_release",
    "syslinux_config",
    "syslinux_disk_files",
    "systemd_boot_entry_files",
    "systemd_boot_uki_files",
    "write_media_uki",
]

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


def syslinux_disk_files(
    media: BootMedia, *, format: str
) -> tuple[SyslinuxCore, tuple[FatFile, ...]]:
    """The syslinux core of ``media`` and the files it puts on a FAT volume.

    The core comes out of the staged ``syslinux`` program; the files are ``LDLINUX.SYS``
    (unpatched, with its ADV) and ``LDLINUX.C32`` (the staged module), to be written with
    the volume before :func:`install_syslinux`.

    Raises:
        OutputError: the program holds no syslinux core (naming it and its package).
    """
    program = media.files[SYSLINUX_PROGRAM.key]
    try:
        core = syslinux_core(program.read_bytes(), name=SYSLINUX_PROGRAM.path)
    except OSError as e:
        raise OutputError(
            f"{format}: cannot read {SYSLINUX_PROGRAM.path}: {e.strerror}",
            format=format,
            path=SYSLINUX_PROGRAM.path,
        ) from None
    except OutputError as e:
        raise OutputError(
            f"{format}: {e} (Debian package {SYSLINUX_PROGRAM.package})",
            format=format,
            path=SYSLINUX_PROGRAM.path,
        ) from None
    return core, syslinux_files(core, media.files[LDLINUX_C32.key])


def install_syslinux(
    f: BinaryIO, core: SyslinuxCore, *, offset: int, path: Path, format: str
) -> None:
    """Make the FAT volume at ``offset`` of the open image ``f`` boot syslinux.

    The volume holds the files of :func:`syslinux_disk_files`; this patches
    ``LDLINUX.SYS`` where it lies and writes syslinux's code into the boot sector, keeping
    the volume's parameters, exactly as ``syslinux --install`` does.

    Raises:
        OutputError: no FAT volume at ``offset`` or no ``LDLINUX.SYS`` in it.
    """
    try:
        install_syslinux_core(f, core, offset=offset, path=str(path))
    except OutputError as e:
        raise OutputError(f"{format}: {e}", format=format, path=str(path)) from None


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
