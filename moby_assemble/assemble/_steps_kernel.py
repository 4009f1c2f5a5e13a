"""The ``kernel`` step: ``boot/kernel``, ``boot/cmdline``, ``boot/ucode.cpio`` and the modules.

From the kernel image only three files at its root are used, as in LinuxKit's kernel filter:
the kernel binary (``binary``, default ``kernel``) becomes ``boot/kernel``, the microcode
cpio (``ucode``, if configured) becomes ``boot/ucode.cpio``, and the entries of the modules
tarball (``tar``, default ``kernel.tar``; ``none`` or ``""`` turns it off) are unpacked into
the root. ``boot/cmdline`` holds the configured command line. Everything else in the image
(headers, sources) is left out.

Written in this order: ``boot/``, ``boot/cmdline``, ``boot/kernel``, ``boot/ucode.cpio``,
then the modules tarball's entries with their own metadata. The kernel and microcode are
also copied next to the root filesystem tar (:attr:`Bundle.kernel
<moby_assemble.assemble.Bundle.kernel>`), so output formats need not search the tar.

Deliberate difference: a configured ``ucode`` file missing from the image is an error
(LinuxKit silently builds without microcode).

Example::

    kernel_step(ctx)
    ctx.kernel.read_bytes()[:2]
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import ConfigError
from ..layers import EntryType, TarEntry, read_tar
from ._events import ImageCopied

if TYPE_CHECKING:
    from ._context import BuildContext
    from ._rootfs import RootfsWriter
    from ._segments import Segment

__all__ = ["kernel_step"]

_LOCATION = "kernel"


def _member(value: str | None, default: str | None) -> str | None:
    if value is None:
        value = default
    if value is None or value in ("", "none"):
        return None
    return value.strip("/") or None


def kernel_step(ctx: BuildContext) -> bool:
    """Write the boot files and the kernel modules; no-op without a kernel."""
    kernel = ctx.system.kernel
    if kernel is None or not kernel.image:
        return False
    reference = kernel.image
    binary = _member(kernel.binary, "kernel") or "kernel"
    tarball = _member(kernel.tar, "kernel.tar")
    ucode = _member(kernel.ucode, None)
    kernel_file = ctx.work_dir / "kernel"
    ucode_file = ctx.work_dir / "ucode.cpio"
    image = ctx.record_use(_LOCATION, reference)
    digest = image.manifest.digest

    # boot/kernel and boot/ucode.cpio are one section, the modules another; both are a
    # function of the image (see _segments), and the section store keeps the kernel and
    # microcode files next to the first, so a rebuild need not read the image at all.
    boot_key = ctx.section_key(
        digest, prefix="boot", source=reference, location=_LOCATION, kind=f"boot:{binary}:{ucode}"
    )
    modules_key = (
        ctx.section_key(
            digest, prefix=tarball, source=reference, location=_LOCATION, kind="kernel.tar"
        )
        if tarball is not None
        else None
    )
    boot = _stored_boot(ctx, boot_key, kernel_file, ucode_file if ucode is not None else None)
    modules = ctx.segments.lookup(modules_key) if modules_key is not None else None
    if boot is None or (modules_key is not None and modules is None):
        # One pass over the image: the files, and the modules as a section of their own.
        found: dict[str, TarEntry] = {}
        wanted: dict[str, tuple[str, Path]] = {}
        if boot is None:  # (else the files are in place, hard links to the kept ones)
            wanted[binary] = ("binary", kernel_file)
            if ucode is not None:
                wanted[ucode] = ("ucode", ucode_file)
        with ctx.image_entries(reference, _LOCATION) as entries:
            for entry in entries:
                if entry.name in wanted:
                    key, path = wanted[entry.name]
                    _check_file(entry, reference, key)
                    with open(path, "wb") as out:
                        shutil.copyfileobj(entry.open(), out, 1 << 20)
                    found[key] = entry
                elif entry.name == tarball and modules_key is not None:
                    _check_file(entry, reference, "tar")
                    found["tar"] = entry
                    if modules is None:
                        modules = _modules(ctx, modules_key, entry, reference)
        checked = (("binary", binary), ("ucode", ucode)) if boot is None else ()
        for key, name in (*checked, ("tar", tarball)):
            if name is not None and key not in found:
                raise ConfigError(
                    f"kernel image {reference} has no file {name!r} at its root",
                    path=f"kernel.{key}",
                )
        if boot is None:
            boot = _boot(ctx, boot_key, found, kernel_file, ucode_file, reference)
    else:
        ctx.emit(ImageCopied(_LOCATION, reference, digest, True))
    # Both sections are written (and stored) before boot/ goes into the root tar: the
    # modules come after it in the tar but out of the image first.
    w = ctx.writer
    w.directory("boot", source=reference, location=_LOCATION)
    w.file("boot/cmdline", kernel.cmdline.encode(), source=reference, location=_LOCATION)
    w.add_section(boot)
    if modules is not None:
        w.add_section(modules)
    ctx.kernel = kernel_file
    ctx.cmdline = kernel.cmdline
    ctx.ucode = ucode_file if ucode is not None else None
    return True


def _stored_boot(
    ctx: BuildContext, key: str, kernel_file: Path, ucode_file: Path | None
) -> Segment | None:
    """The stored boot section ``key``, with its kernel (and microcode) files put in the
    work directory; ``None`` if any of it is missing."""
    sections = ctx.segments
    found = sections.lookup(key)
    if found is None:
        return None
    for name, path in (("kernel", kernel_file), ("ucode", ucode_file)):
        if path is not None and not sections.take_extra(key, name, path):
            kernel_file.unlink(missing_ok=True)
            return None
    return found


def _modules(ctx: BuildContext, key: str, tarball: TarEntry, reference: str) -> Segment:
    """The entries of the modules tarball, written as a section of their own."""
    section = ctx.detached(key)
    try:
        count = 0
        for inner in read_tar(tarball.open(), layer=f"{reference} {tarball.name}"):
            if inner.name != ".":
                section.writer.add(inner, source=reference, location=_LOCATION)
                count += 1
        return section.finish(count)
    except BaseException:
        section.abort()
        raise


def _boot(
    ctx: BuildContext,
    key: str,
    found: dict[str, TarEntry],
    kernel_file: Path,
    ucode_file: Path,
    reference: str,
) -> Segment:
    """``boot/kernel`` (and ``boot/ucode.cpio``) as a section; the files kept with it."""
    section = ctx.detached(key)
    try:
        _copy_boot_file(section.writer, ctx, "boot/kernel", found["binary"], kernel_file, reference)
        if "ucode" in found:
            _copy_boot_file(
                section.writer, ctx, "boot/ucode.cpio", found["ucode"], ucode_file, reference
            )
        segment = section.finish(0)
    except BaseException:
        section.abort()
        raise
    ctx.segments.keep_extra(key, "kernel", kernel_file)
    if "ucode" in found:
        ctx.segments.keep_extra(key, "ucode", ucode_file)
    return segment


def _check_file(entry: TarEntry, reference: str, key: str) -> None:
    if entry.type is not EntryType.FILE:
        raise ConfigError(
            f"kernel image {reference}: {entry.name!r} is a {entry.type.name.lower()}, "
            "not a regular file",
            path=f"kernel.{key}",
        )


def _copy_boot_file(
    writer: RootfsWriter,
    ctx: BuildContext,
    name: str,
    original: TarEntry,
    path: Path,
    reference: str,
) -> None:
    size = path.stat().st_size
    entry = TarEntry(name, EntryType.FILE, original.mode, size=size, mtime=ctx.source_date_epoch)
    with open(path, "rb") as data:
        writer.stream_file(entry, data, source=reference, location=_LOCATION)
