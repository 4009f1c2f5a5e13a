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

import attrs

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


@attrs.frozen
class _ImageJob:
    """What a format's ``make_image`` gets: the unique tar, the image path and its context."""

    tar: Path
    image: Path
    scratch: Path
    epoch: int
    seed: bytes
    name: str
    options: dict[str, Any]


class _KernelRootfs:
    name: ClassVar[str]
    description: ClassVar[str]
    files: ClassVar[tuple[str, ...]]
    streamable = False
    options: frozenset[str] = frozenset()
    image: ClassVar[str]
    # (option key, default, allowed values) of the format's one compression option
    compression: ClassVar[tuple[str, str, tuple[str, ...]] | None] = None

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
                write_unique_tar(bundle, f, format=self.name)
            digest = hashlib.sha256(b"moby_assemble rootfs\0" + name.encode() + b"\0")
            with open(unique, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
            self.make_image(
                _ImageJob(
                    tar=unique,
                    image=out.path(self.image.format(name=name)),
                    scratch=Path(scratch),
                    epoch=bundle.source_date_epoch,
                    seed=digest.digest(),
                    name=name,
                    options=options,
                )
            )
        return out.paths

    def check(self, options: dict[str, Any]) -> None:
        """Raise OutputError for an option value this format cannot use."""
        self.chosen_compression(options)

    def chosen_compression(self, options: dict[str, Any]) -> str:
        """The compression option's value (its default if not given), checked.

        Example::

            KernelSquashfsFormat().chosen_compression({})  # "gzip"
        """
        if self.compression is None:
            return ""
        key, default, allowed = self.compression
        value = options.get(key, default)
        if value not in allowed:
            raise OutputError(
                f"{self.name}: {key} {value!r} is not one of {', '.join(allowed)}",
                format=self.name,
            )
        return str(value)

    def make_image(self, job: _ImageJob) -> None:
        raise NotImplementedError


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
    compression = ("squashfs_compression", "gzip", SQUASHFS_COMPRESSIONS)

    def make_image(self, job: _ImageJob) -> None:
        write_squashfs(
            job.tar,
            job.image,
            compression=self.chosen_compression(job.options),  # type: ignore[arg-type]
            epoch=job.epoch,
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
    compression = ("erofs_compression", "none", EROFS_COMPRESSIONS)

    def make_image(self, job: _ImageJob) -> None:
        write_erofs(
            job.tar,
            job.image,
            seed=job.seed,
            epoch=job.epoch,
            compression=self.chosen_compression(job.options),  # type: ignore[arg-type]
            format=self.name,
        )


class KernelIsoFormat(_KernelRootfs):
    """``kernel+iso``: kernel, cmdline and ``<name>.iso`` (ISO 9660 + Rock Ridge)."""

    name = "kernel+iso"
    description = "kernel, cmdline and the root file system as an ISO 9660 image"
    files = ("{name}-kernel", "{name}-cmdline", "{name}.iso")
    image = "{name}.iso"

    def make_image(self, job: _ImageJob) -> None:
        work = job.scratch / "iso"
        work.mkdir()
        write_rootfs_iso(
            job.tar,
            job.image,
            volume_id=volume_id(job.name),
            epoch=job.epoch,
            workdir=work,
            format=self.name,
        )
