"""ISO 9660 images (Rock Ridge + Joliet) with El Torito BIOS and EFI boot, via xorriso.

Why xorriso and not a Python library: it is what Debian's live images, GRUB's
``grub-mkrescue`` and LinuxKit's own ISO formats use; it is reproducible by design
(``SOURCE_DATE_EPOCH``, fixed file dates, volume UUID and hybrid MBR id from the
modification date); and it writes the isohybrid MBR and GPT that make one image boot as a
CD and as a USB disk. ``pycdlib`` reads the clock and the local time zone in many places
and would need patching to be deterministic.

Files are grafted from where they are (``bytes`` sources are staged in a temporary
directory first); nothing else of the host is read. File dates are all ``epoch``,
ownership is root and permissions are normalised (``-r``).

An EFI-only ISO is made USB-hybrid by ``EfiBoot(..., partition=True)``: its El Torito
FAT image is also the EFI system partition of a GPT, so UEFI firmware boots the same file
as a CD and as a disk.

Example, a hybrid ISO that boots with isolinux (BIOS) and from an EFI FAT image::

    files = (
        IsoFile("isolinux/isolinux.bin", Path("/usr/lib/ISOLINUX/isolinux.bin")),
        IsoFile("isolinux/ldlinux.c32", Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")),
        IsoFile("isolinux/isolinux.cfg", b"default linux\\nlabel linux\\n kernel /kernel\\n"),
        IsoFile("kernel", Path("vmlinuz")),
        IsoFile("EFI/BOOT/efiboot.img", Path("efiboot.img")),
    )
    write_iso("system.iso", files, volume_id="SYSTEM", epoch=0,
              bios=BiosBoot("isolinux/isolinux.bin",
                            hybrid_mbr=Path("/usr/lib/ISOLINUX/isohdpfx.bin")),
              efi=EfiBoot("EFI/BOOT/efiboot.img"))
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import attrs

from .._errors import OutputError
from ._tools import find_tool, run_tool

__all__ = ["BiosBoot", "EfiBoot", "IsoFile", "write_iso"]

_VOLUME_ID = re.compile(r"[A-Z0-9_]{1,32}")
_PACKAGE = "xorriso"


def _to_source(value: bytes | str | os.PathLike[str]) -> bytes | Path:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return Path(value)


def _to_optional_source(value: bytes | str | os.PathLike[str] | None) -> bytes | Path | None:
    return None if value is None else _to_source(value)


@attrs.frozen
class IsoFile:
    """One file of an ISO image.

    Attributes:
        path: where it goes, ``/``-separated (``"boot/kernel"``); directories are implied.
        source: the contents, or the host file they are read from.
    """

    path: str
    source: bytes | Path = attrs.field(converter=_to_source)


@attrs.frozen
class BiosBoot:
    """An El Torito BIOS boot entry (no emulation, isolinux style, boot info table).

    Attributes:
        image: the ISO path of the boot image (``"isolinux/isolinux.bin"``), one of the files.
        catalog: the ISO path of the boot catalog xorriso writes.
        hybrid_mbr: an isohybrid MBR template (syslinux's ``isohdpfx.bin``): the ISO then
            also boots from a disk or USB stick, and with an :class:`EfiBoot` it gets a
            GPT entry for the EFI image.
    """

    image: str
    catalog: str = "isolinux/boot.cat"
    hybrid_mbr: bytes | Path | None = attrs.field(default=None, converter=_to_optional_source)


@attrs.frozen
class EfiBoot:
    """An El Torito EFI boot entry.

    Attributes:
        image: the ISO path of a FAT image holding ``EFI/BOOT/BOOTX64.EFI`` (made with
            :func:`~moby_assemble.disk.write_fat`), one of the files.
        partition: also make the image the EFI system partition of a GPT (xorriso's
            ``-efi-boot-part --efi-boot-image``), so the ``.iso`` written to a disk or USB
            stick boots on UEFI too. The partition is the image where it lies in the ISO:
            it is not stored twice. (An ISO with an isohybrid MBR gets this anyway.)
    """

    image: str
    partition: bool = attrs.field(default=False, kw_only=True)


def _iso_path(path: str) -> str:
    parts = PurePosixPath("/" + path).parts[1:]
    if not parts or any(p in (".", "..") for p in parts):
        raise OutputError(f"ISO file path {path!r} is empty or holds '.' or '..'", path=path)
    return "/" + "/".join(parts)


def _graft_escape(path: str) -> str:
    # mkisofs graft points split on '=' and treat '\' as the escape character.
    return path.replace("\\", "\\\\").replace("=", "\\=")


def _timestring(epoch: int) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y%m%d%H%M%S") + "00"


def write_iso(
    target: str | os.PathLike[str],
    files: Sequence[IsoFile],
    *,
    volume_id: str = "MOBY",
    epoch: int = 0,
    bios: BiosBoot | None = None,
    efi: EfiBoot | None = None,
    format: str = "iso",
) -> None:
    """Write an ISO 9660 image holding ``files`` to ``target``.

    Args:
        target: the image file (replaced if it exists).
        files: the files; each path at most once.
        volume_id: the volume label (``A-Z``, ``0-9``, ``_``, at most 32).
        epoch: every date in the image (``SOURCE_DATE_EPOCH``).
        bios: an El Torito BIOS boot entry (and optionally the isohybrid MBR).
        efi: an El Torito EFI boot entry.
        format: the output format named in errors.

    Raises:
        OutputError: xorriso is missing (naming its Debian package), a path is invalid,
            given twice or a boot image is not among the files, or xorriso fails.
    """
    if not _VOLUME_ID.fullmatch(volume_id):
        raise OutputError(
            f"{format}: ISO volume id {volume_id!r} must be 1-32 of A-Z, 0-9 and _",
            format=format,
        )
    paths = [_iso_path(f.path) for f in files]
    if len(set(paths)) != len(paths):
        twice = sorted({p for p in paths if paths.count(p) > 1})
        raise OutputError(f"{format}: ISO paths given twice: {', '.join(twice)}", format=format)
    for entry in (bios, efi):
        if entry is not None and _iso_path(entry.image) not in paths:
            raise OutputError(
                f"{format}: boot image {entry.image} is not one of the ISO's files",
                format=format,
                path=entry.image,
            )
    for f in files:
        if isinstance(f.source, Path) and not f.source.is_file():
            raise OutputError(
                f"{format}: ISO file {f.path}: {f.source} is not a readable file",
                format=format,
                path=str(f.source),
            )
    tool = find_tool("xorriso", package=_PACKAGE, format=format)
    with tempfile.TemporaryDirectory(prefix="moby-iso-") as staging:
        grafts = []
        for index, (path, f) in enumerate(zip(paths, files, strict=True)):
            source = f.source
            if isinstance(source, bytes):
                staged = Path(staging, f"file-{index}")
                staged.write_bytes(source)
                source = staged
            # resolve(): a symlink given as a source means its target's contents, while
            # xorriso would record the link itself.
            grafts.append(f"{_graft_escape(path)}={_graft_escape(str(source.resolve()))}")
        args: list[str] = [
            tool,
            "-as",
            "mkisofs",
            "-quiet",
            "-o",
            os.fspath(target),
            "-V",
            volume_id,
            "-iso-level",
            "3",  # files over 4 GiB (an initrd can be large) span several extents
            "-r",  # Rock Ridge, root-owned, normalised permissions
            "-J",
            "-joliet-long",
            f"--modification-date={_timestring(epoch)}",
            "--set_all_file_dates",
            f"={epoch}",
        ]
        if bios is not None:
            args += [
                "-b",
                _iso_path(bios.image).lstrip("/"),
                "-c",
                _iso_path(bios.catalog).lstrip("/"),
                "-no-emul-boot",
                "-boot-load-size",
                "4",
                "-boot-info-table",
            ]
            if bios.hybrid_mbr is not None:
                template = bios.hybrid_mbr
                if isinstance(template, bytes):
                    staged_mbr = Path(staging, "isohybrid-mbr")
                    staged_mbr.write_bytes(template)
                    template = staged_mbr
                args += ["-isohybrid-mbr", str(template)]
        if efi is not None:
            if bios is not None:
                args.append("-eltorito-alt-boot")
            args += ["-e", _iso_path(efi.image).lstrip("/"), "-no-emul-boot"]
            if bios is not None and bios.hybrid_mbr is not None:
                args.append("-isohybrid-gpt-basdat")
            elif efi.partition:
                args += ["-efi-boot-part", "--efi-boot-image"]
        args += ["-graft-points", *grafts]
        run_tool(
            args,
            format=format,
            path=os.fspath(target),
            env={"SOURCE_DATE_EPOCH": str(epoch)},
        )
