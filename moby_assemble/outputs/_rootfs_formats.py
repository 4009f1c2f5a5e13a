"""Kernel plus a root file system image: ``kernel+squashfs``, ``kernel+erofs``, ``kernel+iso``.

Each writes ``<name>-kernel`` and ``<name>-cmdline`` as ``kernel+initrd`` does, and instead
of the initrd the root file system as a read-only image for the kernel to mount
(``root=/dev/vda`` or the like in the command line, with the file system built into the
kernel or loaded by an initrd):

=====================  ===========================  ==================================
format                 image                        made by
=====================  ===========================  ==================================
``kernel+squashfs``    ``<name>-squashfs.img``      ``tar2sqfs`` (squashfs-tools-ng)
``kernel+erofs``       ``<name>-erofs.img``         Python (``mkfs.erofs`` if compressed)
``kernel+iso``         ``<name>.iso``               ``xorriso`` (no device nodes)
=====================  ===========================  ==================================

The image holds the root tar minus ``boot/*``, each name once (the last occurrence wins,
see :mod:`._rootfs_tar`). Ownership, modes, links, device nodes (not on the ISO) and
extended attributes (squashfs, EROFS) come from the tar; nothing is extracted. The names
are LinuxKit's, so ``kernel+iso`` and ``iso-bios`` both write ``<name>.iso``.

Options:
    squashfs_compression: ``gzip`` (default; every kernel reads it), ``xz``, ``zstd``,
        ``lz4`` or ``lzo``.
    erofs_compression: ``none`` (default, no tool needed), ``lz4`` or ``lz4hc``
        (``mkfs.erofs`` 1.7 or newer).

Example::

    write_formats(bundle, "out", ["kernel+squashfs"], name="web", squashfs_compression="zstd")
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from .._errors import OutputError
from ..disk import EROFS_COMPRESSIONS, SQUASHFS_COMPRESSIONS, write_erofs, write_squashfs
from ._atomic import AtomicOutput
from ._boot import open_kernel
from ._format import BundleView
from ._iso_formats import volume_id
from ._rootfs_iso import write_rootfs_iso
from ._rootfs_tar import write_unique_tar

__all__ = ["KernelErofsFormat", "KernelIsoFormat", "KernelSquashfsFormat"]

_CHUNK = 1 << 20


class _KernelRootfs:
    name: ClassVar[str]
    description: ClassVar[str]
    files: ClassVar[tuple[str, ...]]
    streamable = False
    options: frozenset[str] = frozenset()
    image: ClassVar[str]

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        **options: Any,
    ) -> tuple[Path, ...]:
        self.check(options)
        kernel, _ = open_kernel(bundle, self.name)
        Path(directory).mkdir(parents=True, exist_ok=True)
        with (
            kernel,
            tempfile.TemporaryDirectory(prefix=".moby-rootfs-", dir=directory) as scratch,
            AtomicOutput(directory, format=self.name) as out,
        ):
            with out.open(f"{name}-kernel") as f:
                shutil.copyfileobj(kernel, f, _CHUNK)
            out.path(f"{name}-cmdline").write_bytes((bundle.cmdline or "").encode())
            unique = Path(scratch, "rootfs.tar")
            with open(unique, "wb") as f:
                write_unique_tar(bundle.rootfs_tar, f, format=self.name)
            image = out.path(self.image.format(name=name))
            digest = hashlib.sha256(b"moby_assemble rootfs\0" + name.encode() + b"\0")
            with open(unique, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
            self.make_image(
                unique,
                image,
                Path(scratch),
                epoch=bundle.source_date_epoch,
                seed=digest.digest(),
                name=name,
                options=options,
            )
        return out.paths

    def check(self, options: dict[str, Any]) -> None:
        """Raise OutputError for an option value this format cannot use."""

    def make_image(
        self,
        tar: Path,
        image: Path,
        scratch: Path,
        *,
        epoch: int,
        seed: bytes,
        name: str,
        options: dict[str, Any],
    ) -> None:
        raise NotImplementedError


def _choice(
    options: dict[str, Any], key: str, default: str, allowed: tuple[str, ...], fmt: str
) -> str:
    value = options.get(key, default)
    if value not in allowed:
        raise OutputError(f"{fmt}: {key} {value!r} is not one of {', '.join(allowed)}", format=fmt)
    return str(value)


class KernelSquashfsFormat(_KernelRootfs):
    """``kernel+squashfs``: kernel, cmdline and ``<name>-squashfs.img``.

    Options:
        squashfs_compression: the block compression (default ``gzip``).
    """

    name = "kernel+squashfs"
    description = "kernel, cmdline and the root file system as squashfs"
    files = ("{name}-kernel", "{name}-cmdline", "{name}-squashfs.img")
    options = frozenset({"squashfs_compression"})
    image = "{name}-squashfs.img"

    def check(self, options: dict[str, Any]) -> None:
        _choice(options, "squashfs_compression", "gzip", SQUASHFS_COMPRESSIONS, self.name)

    def make_image(
        self,
        tar: Path,
        image: Path,
        scratch: Path,
        *,
        epoch: int,
        seed: bytes,
        name: str,
        options: dict[str, Any],
    ) -> None:
        compression = _choice(
            options, "squashfs_compression", "gzip", SQUASHFS_COMPRESSIONS, self.name
        )
        write_squashfs(
            tar,
            image,
            compression=compression,  # type: ignore[arg-type]
            epoch=epoch,
            format=self.name,
        )


class KernelErofsFormat(_KernelRootfs):
    """``kernel+erofs``: kernel, cmdline and ``<name>-erofs.img``.

    Options:
        erofs_compression: ``none`` (default), ``lz4`` or ``lz4hc``.
    """

    name = "kernel+erofs"
    description = "kernel, cmdline and the root file system as EROFS"
    files = ("{name}-kernel", "{name}-cmdline", "{name}-erofs.img")
    options = frozenset({"erofs_compression"})
    image = "{name}-erofs.img"

    def check(self, options: dict[str, Any]) -> None:
        _choice(options, "erofs_compression", "none", EROFS_COMPRESSIONS, self.name)

    def make_image(
        self,
        tar: Path,
        image: Path,
        scratch: Path,
        *,
        epoch: int,
        seed: bytes,
        name: str,
        options: dict[str, Any],
    ) -> None:
        compression = _choice(options, "erofs_compression", "none", EROFS_COMPRESSIONS, self.name)
        write_erofs(
            tar,
            image,
            seed=seed,
            epoch=epoch,
            compression=compression,  # type: ignore[arg-type]
            format=self.name,
        )


class KernelIsoFormat(_KernelRootfs):
    """``kernel+iso``: kernel, cmdline and ``<name>.iso`` (ISO 9660 + Rock Ridge)."""

    name = "kernel+iso"
    description = "kernel, cmdline and the root file system as an ISO 9660 image"
    files = ("{name}-kernel", "{name}-cmdline", "{name}.iso")
    image = "{name}.iso"

    def make_image(
        self,
        tar: Path,
        image: Path,
        scratch: Path,
        *,
        epoch: int,
        seed: bytes,
        name: str,
        options: dict[str, Any],
    ) -> None:
        work = scratch / "iso"
        work.mkdir()
        write_rootfs_iso(
            tar,
            image,
            volume_id=volume_id(name),
            epoch=epoch,
            workdir=work,
            format=self.name,
        )
