"""What every bootable output is made of: kernel, initrd, command line and boot loader files.

The boot formats (ISOs, disks) all start the same way: the kernel binary and command line
of the assembled system, its root filesystem as an initrd (exactly what ``kernel+initrd``
writes), and the files of a boot loader. :func:`stage_boot_media` puts them in a private
temporary directory beside the output, so a format only arranges them.

Boot loaders are components like any other (role ``bootloader``): images built from
Debian packages and listed in the system's ``init`` section, so they are pinned in the
lock with every other image and their files land in the root tar at the paths Debian
installs them (``usr/lib/ISOLINUX/isolinux.bin``...). The formats read them from there.
A system without them can take the same files from a directory laid out the same way
with the option ``bootloader_root`` (``"/"``: the host's own Debian packages) — not
pinned then, which is why it has to be asked for.

Example::

    loader = (ISOLINUX_BIN, LDLINUX_C32)
    with stage_boot_media(bundle, "out", format="iso-bios", name="web", loader=loader) as media:
        media.kernel, media.initrd, media.cmdline, media.files["isolinux.bin"]
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import attrs

from .._errors import OutputError
from ..layers import EntryType, read_tar
from ._atomic import AtomicOutput
from ._format import BundleView, RootTar, open_root_tar, root_tar_name
from ._initrd import check_compression, write_initrd

__all__ = [
    "BOOT_OPTIONS",
    "EFI_STUB",
    "EFI_SYSTEMD_BOOT",
    "ISOHDPFX_BIN",
    "ISOLINUX_BIN",
    "LDLINUX_C32",
    "MBR_BIN",
    "SYSLINUX_PROGRAM",
    "BootFormat",
    "BootMedia",
    "BootloaderFile",
    "stage_boot_media",
]

_CHUNK = 1 << 20


@attrs.frozen
class BootloaderFile:
    """A file a boot format needs from a boot loader component.

    Attributes:
        key: how the format refers to it (``"isolinux.bin"``).
        path: where the component (and Debian) puts it, relative to the root.
        package: the Debian package that ships it.
        component: the factory of the component that carries it.
    """

    key: str
    path: str
    package: str
    component: str


_SYSLINUX = "moby_assemble.components.bootloader.syslinux()"
_EFI = "moby_assemble.components.bootloader.efi()"
ISOLINUX_BIN = BootloaderFile(
    "isolinux.bin", "usr/lib/ISOLINUX/isolinux.bin", "isolinux", _SYSLINUX
)
ISOHDPFX_BIN = BootloaderFile(
    "isohdpfx.bin", "usr/lib/ISOLINUX/isohdpfx.bin", "isolinux", _SYSLINUX
)
LDLINUX_C32 = BootloaderFile(
    "ldlinux.c32", "usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common", _SYSLINUX
)
MBR_BIN = BootloaderFile("mbr.bin", "usr/lib/syslinux/mbr/mbr.bin", "syslinux-common", _SYSLINUX)
#: Debian's syslinux installer: the syslinux core (boot sector and ldlinux.sys) is only
#: shipped inside it. It is read, never run (see ``moby_assemble.disk._syslinux``).
SYSLINUX_PROGRAM = BootloaderFile("syslinux", "usr/bin/syslinux", "syslinux", _SYSLINUX)
EFI_STUB = BootloaderFile(
    "linuxx64.efi.stub", "usr/lib/systemd/boot/efi/linuxx64.efi.stub", "systemd-boot-efi", _EFI
)
EFI_SYSTEMD_BOOT = BootloaderFile(
    "systemd-bootx64.efi", "usr/lib/systemd/boot/efi/systemd-bootx64.efi", "systemd-boot-efi", _EFI
)

#: Files that come with another: every format that writes syslinux's MBR code (the BIOS
#: disk formats) installs syslinux's core behind it, so asking for ``mbr.bin`` stages the
#: program holding the core and its module too.
_COMES_WITH = {MBR_BIN.key: (LDLINUX_C32, SYSLINUX_PROGRAM)}


def _with_companions(loader: Sequence[BootloaderFile]) -> tuple[BootloaderFile, ...]:
    wanted = list(loader)
    for want in loader:
        wanted += [c for c in _COMES_WITH.get(want.key, ()) if c not in wanted]
    return tuple(wanted)


#: The options every boot format understands.
BOOT_OPTIONS = frozenset({"compression", "compression_level", "bootloader_root"})


@attrs.frozen
class BootMedia:
    """The staged parts of one bootable system.

    Attributes:
        kernel: the kernel binary (a file).
        initrd: the initrd: microcode (if any), then the compressed cpio of the root.
        cmdline: the kernel command line (``""`` if the system has none).
        files: the boot loader files by :attr:`BootloaderFile.key`.
        workdir: a private temporary directory for the format's own scratch files.
        seed: what disk GUIDs and serial numbers are derived from: the output name and a
            hash of kernel, initrd and command line, so the same system gives the same
            bytes and another system other identifiers.
        epoch: ``source_date_epoch`` of the system.
    """

    kernel: Path
    initrd: Path
    cmdline: str
    files: dict[str, Path]
    workdir: Path
    seed: bytes
    epoch: int


def _hash_file(path: Path, digest: hashlib._Hash) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)


def _bootloader_from_root(
    root_tar: RootTar, wanted: Sequence[BootloaderFile], target: Path, format: str
) -> dict[str, Path]:
    by_path = {w.path: w for w in wanted}
    found: dict[str, Path] = {}
    with open_root_tar(root_tar) as f:
        for entry in read_tar(f, layer=root_tar_name(root_tar)):
            want = by_path.get(entry.name)
            if want is None:
                continue
            if entry.type is not EntryType.FILE:
                # Debian ships these as plain files; anything else was put there by hand.
                raise OutputError(
                    f"{format}: boot loader file {entry.name} in the system is a "
                    f"{entry.type.name.lower()}, not a regular file",
                    format=format,
                    path=entry.name,
                )
            staged = target / want.key
            with open(staged, "wb") as out:  # a later entry of the same name wins
                shutil.copyfileobj(entry.open(), out, _CHUNK)
            found[want.key] = staged
    return found


def _bootloader_from_directory(
    root: Path, wanted: Sequence[BootloaderFile], format: str
) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for want in wanted:
        path = root / want.path
        if not path.is_file():
            raise OutputError(
                f"{format}: boot loader file {path} is missing (bootloader_root={root}; "
                f"Debian package {want.package})",
                format=format,
                path=str(path),
            )
        found[want.key] = path
    return found


def _missing_message(missing: Sequence[BootloaderFile], format: str) -> str:
    components = sorted({m.component for m in missing})
    packages = sorted({m.package for m in missing})
    return (
        f"{format}: the system has no {', '.join(m.path for m in missing)}: add the boot "
        f"loader component to its init section ({', '.join(components)}), or pass "
        f"bootloader_root='/' to take the files from this host's Debian packages "
        f"({', '.join(packages)}), unpinned"
    )


@contextmanager
def stage_boot_media(
    bundle: BundleView,
    directory: str | os.PathLike[str],
    *,
    format: str,
    name: str,
    loader: Sequence[BootloaderFile] = (),
    compression: str = "gzip",
    compression_level: int | None = None,
    bootloader_root: str | os.PathLike[str] | None = None,
) -> Iterator[BootMedia]:
    """Stage kernel, initrd and boot loader files of ``bundle``; remove them afterwards.

    Args:
        bundle: the assembled system.
        directory: the output directory; the scratch directory is made there (hidden),
            so large files are never copied across file systems.
        format: the output format, named in errors.
        name: the output name (part of the seed).
        loader: the boot loader files needed (syslinux's MBR brings its core along).
        compression, compression_level: of the initrd, as for ``kernel+initrd``.
        bootloader_root: take the boot loader files from this directory (laid out as
            Debian installs them) instead of from the system.

    Raises:
        OutputError: no kernel, an unknown compression, or a boot loader file missing
            (the message names the component to add and the Debian package).
    """
    check_compression(compression, format)
    loader = _with_companions(loader)
    if bundle.kernel is None:
        raise OutputError(
            f"{format}: the system has no kernel section, so there is nothing to boot",
            format=format,
        )
    Path(directory).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".moby-boot-", dir=directory) as scratch:
        work = Path(scratch)
        if isinstance(bundle.kernel, bytes | bytearray):
            kernel = work / "kernel"
            kernel.write_bytes(bundle.kernel)
        else:
            kernel = Path(bundle.kernel)
        if bootloader_root is not None:
            files = _bootloader_from_directory(Path(bootloader_root), loader, format)
        else:
            files = _bootloader_from_root(bundle, loader, work, format)
            missing = [w for w in loader if w.key not in files]
            if missing:
                raise OutputError(_missing_message(missing, format), format=format)
        initrd = work / "initrd.img"
        with open(initrd, "wb") as f:
            write_initrd(
                bundle,
                f,
                compression=compression,
                level=compression_level,
                ucode=bundle.ucode,
                dir_mtime=bundle.source_date_epoch,
                format=format,
            )
        cmdline = bundle.cmdline or ""
        digest = hashlib.sha256(b"moby_assemble boot media\0" + name.encode() + b"\0")
        digest.update(cmdline.encode() + b"\0")
        _hash_file(kernel, digest)
        _hash_file(initrd, digest)
        yield BootMedia(
            kernel=kernel,
            initrd=initrd,
            cmdline=cmdline,
            files=files,
            workdir=work,
            seed=digest.digest(),
            epoch=bundle.source_date_epoch,
        )


class BootFormat:
    """The shape of every boot format: stage the media, build the files, commit them.

    A subclass sets the :class:`~moby_assemble.outputs.OutputFormat` attributes and
    :attr:`loader`, and implements :meth:`build`.

    Options:
        compression: of the initrd, ``"gzip"`` (default), ``"zstd"`` or ``"none"``.
        compression_level: the compressor's level.
        bootloader_root: take the boot loader files from this directory (``"/"``: the
            host's Debian packages) instead of the system's boot loader component.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    files: ClassVar[tuple[str, ...]]
    streamable = False
    options: frozenset[str] = BOOT_OPTIONS
    #: The boot loader files :meth:`build` uses.
    loader: ClassVar[tuple[BootloaderFile, ...]] = ()

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        *,
        compression: str = "gzip",
        compression_level: int | None = None,
        bootloader_root: str | os.PathLike[str] | None = None,
        **_other_formats_options: Any,
    ) -> tuple[Path, ...]:
        """Write the output for ``bundle`` into ``directory`` (see the class options)."""
        with (
            stage_boot_media(
                bundle,
                directory,
                format=self.name,
                name=name,
                loader=self.loader,
                compression=compression,
                compression_level=compression_level,
                bootloader_root=bootloader_root,
            ) as media,
            AtomicOutput(directory, format=self.name) as out,
        ):
            self.build(media, out, name)
        return out.paths

    def build(self, media: BootMedia, out: AtomicOutput, name: str) -> None:
        """Write this format's files of ``media`` into ``out``."""
        raise NotImplementedError
