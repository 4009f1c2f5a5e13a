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
from typing import TYPE_CHECKING

from .._errors import ConfigError
from ..layers import EntryType, TarEntry, read_tar

if TYPE_CHECKING:
    from pathlib import Path

    from ._context import BuildContext

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
    ctx.record_use(_LOCATION, reference)

    found: dict[str, TarEntry] = {}
    wanted = {binary: ("binary", kernel_file)}
    if ucode is not None:
        wanted[ucode] = ("ucode", ucode_file)
    # Read twice when there are modules (cache=True keeps the second pass off the layers).
    with ctx.image_entries(reference, _LOCATION, cache=tarball is not None) as entries:
        for entry in entries:
            if entry.name in wanted:
                key, path = wanted[entry.name]
                _check_file(entry, reference, key)
                with open(path, "wb") as out:
                    shutil.copyfileobj(entry.open(), out, 1 << 20)
                found[key] = entry
            elif entry.name == tarball:
                _check_file(entry, reference, "tar")
                found["tar"] = entry
    for key, name in (("binary", binary), ("tar", tarball), ("ucode", ucode)):
        if name is not None and key not in found:
            raise ConfigError(
                f"kernel image {reference} has no file {name!r} at its root",
                path=f"kernel.{key}",
            )

    w = ctx.writer
    w.directory("boot", source=reference, location=_LOCATION)
    w.file("boot/cmdline", kernel.cmdline.encode(), source=reference, location=_LOCATION)
    _copy_boot_file(ctx, "boot/kernel", found["binary"], kernel_file, reference)
    if ucode is not None:
        _copy_boot_file(ctx, "boot/ucode.cpio", found["ucode"], ucode_file, reference)
    if tarball is not None:
        digest = ctx.image(reference).manifest.digest
        section = ctx.section_key(
            digest, prefix=tarball, source=reference, location=_LOCATION, kind="kernel.tar"
        )
        if ctx.reuse_section(section) is None:
            # A second pass over the cached, flattened image: the modules go after boot/.
            count = 0
            with ctx.image_entries(reference, _LOCATION, announce=False) as entries:
                ctx.begin_section(section)
                for entry in entries:
                    if entry.name == tarball:
                        for inner in read_tar(entry.open(), layer=f"{reference} {tarball}"):
                            if inner.name != ".":
                                w.add(inner, source=reference, location=_LOCATION)
                                count += 1
                        break
            ctx.end_section(section, count)
    ctx.kernel = kernel_file
    ctx.cmdline = kernel.cmdline
    ctx.ucode = ucode_file if ucode is not None else None
    return True


def _check_file(entry: TarEntry, reference: str, key: str) -> None:
    if entry.type is not EntryType.FILE:
        raise ConfigError(
            f"kernel image {reference}: {entry.name!r} is a {entry.type.name.lower()}, "
            "not a regular file",
            path=f"kernel.{key}",
        )


def _copy_boot_file(
    ctx: BuildContext, name: str, original: TarEntry, path: Path, reference: str
) -> None:
    size = path.stat().st_size
    entry = TarEntry(name, EntryType.FILE, original.mode, size=size, mtime=ctx.source_date_epoch)
    with open(path, "rb") as data:
        ctx.writer.stream_file(entry, data, source=reference, location=_LOCATION)
