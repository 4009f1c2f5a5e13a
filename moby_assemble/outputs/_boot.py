"""The boot outputs: ``kernel+initrd`` (three files) and ``tar-kernel-initrd`` (one tar of them).

``kernel+initrd`` writes, as LinuxKit does:

- ``<name>-kernel``: the kernel binary from the kernel image;
- ``<name>-initrd.img``: the microcode cpio (if the kernel section names one), then the root
  filesystem as a compressed newc cpio (see :mod:`._initrd`), gzip unless
  ``compression="zstd"`` (or ``"none"``) is asked for;
- ``<name>-cmdline``: the kernel command line, verbatim. Unlike LinuxKit, the file is
  written even when the command line is empty, so the set of files never changes.

``tar-kernel-initrd`` writes ``<name>-initrd.tar`` holding ``kernel``, ``initrd.img``
(*without* the microcode), ``cmdline`` and, if there is one, ``ucode.cpio``, each mode 0644
and dated ``source_date_epoch`` — the input LinuxKit's disk-image tools take.

Example::

    get_format("kernel+initrd").write(bundle, "out", "web", compression="zstd")
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import attrs

from .._errors import OutputError
from ..layers import TarEntry, TarWriter
from ._atomic import AtomicOutput
from ._format import BundleView
from ._initrd import check_compression, write_initrd

__all__ = ["KernelInitrdFormat", "TarKernelInitrdFormat", "open_kernel"]

_CHUNK = 1 << 20


def open_kernel(bundle: BundleView, format: str) -> tuple[BinaryIO, int]:
    """The kernel binary as an open stream and its size.

    Raises:
        OutputError: the system has no kernel.
    """
    kernel = bundle.kernel
    if kernel is None:
        raise OutputError(
            f"{format}: the system has no kernel section, so there is nothing to boot",
            format=format,
        )
    if isinstance(kernel, bytes | bytearray):
        return io.BytesIO(kernel), len(kernel)
    f = open(kernel, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    return f, os.fstat(f.fileno()).st_size


def _cmdline(bundle: BundleView) -> bytes:
    return (bundle.cmdline or "").encode()


@attrs.frozen
class _BootJob:
    """One write of a boot format: the kernel is open, ``initrd(f, ucode)`` writes the initrd."""

    bundle: BundleView
    out: AtomicOutput
    name: str
    kernel: BinaryIO
    kernel_size: int
    initrd: Callable[[BinaryIO, Path | None], None]


class _InitrdFormat:
    """What both boot formats share: the options, the kernel, the atomic output."""

    name: ClassVar[str]
    streamable = False
    options = frozenset({"compression", "compression_level"})

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        *,
        compression: str = "gzip",
        compression_level: int | None = None,
        **_other_formats_options: Any,
    ) -> tuple[Path, ...]:
        check_compression(compression, self.name)
        kernel, kernel_size = open_kernel(bundle, self.name)

        def initrd(out: BinaryIO, ucode: Path | None) -> None:
            write_initrd(
                bundle,
                out,
                compression=compression,
                level=compression_level,
                ucode=ucode,
                dir_mtime=bundle.source_date_epoch,
                format=self.name,
            )

        with kernel, AtomicOutput(directory, format=self.name) as out:
            self.write_parts(_BootJob(bundle, out, name, kernel, kernel_size, initrd))
        return out.paths

    def write_parts(self, job: _BootJob) -> None:
        """Write the format's files into ``job.out``."""
        raise NotImplementedError


class KernelInitrdFormat(_InitrdFormat):
    """``kernel+initrd``: ``<name>-kernel``, ``<name>-initrd.img``, ``<name>-cmdline``.

    Options:
        compression: ``"gzip"`` (default), ``"zstd"`` or ``"none"``.
        compression_level: the compressor's level (default 6 for gzip, 9 for zstd).
    """

    name = "kernel+initrd"
    description = "kernel, initrd (newc cpio, gzip or zstd, microcode prepended) and cmdline"
    files = ("{name}-kernel", "{name}-initrd.img", "{name}-cmdline")

    def write_parts(self, job: _BootJob) -> None:
        with job.out.open(f"{job.name}-kernel") as f:
            shutil.copyfileobj(job.kernel, f, _CHUNK)
        with job.out.open(f"{job.name}-initrd.img") as f:
            job.initrd(f, job.bundle.ucode)
        job.out.path(f"{job.name}-cmdline").write_bytes(_cmdline(job.bundle))


class TarKernelInitrdFormat(_InitrdFormat):
    """``tar-kernel-initrd``: ``<name>-initrd.tar`` with ``kernel``, ``initrd.img``,
    ``cmdline`` and (if configured) ``ucode.cpio``.

    Options:
        compression, compression_level: of the initrd, as for ``kernel+initrd``.
    """

    name = "tar-kernel-initrd"
    description = "one tar of kernel, initrd.img, cmdline (and ucode.cpio)"
    files = ("{name}-initrd.tar",)

    def write_parts(self, job: _BootJob) -> None:
        bundle = job.bundle
        mtime = bundle.source_date_epoch
        target = job.out.path(f"{job.name}-initrd.tar")
        # The tar header needs the initrd's size first: build it in an unnamed temp file.
        with tempfile.TemporaryFile(dir=target.parent) as initrd_file:
            job.initrd(initrd_file, None)  # the microcode goes beside it, as ucode.cpio
            initrd_size = initrd_file.tell()
            initrd_file.seek(0)
            cmdline = _cmdline(bundle)
            with open(target, "wb") as f, TarWriter(f) as tw:
                tw.add(TarEntry("kernel", size=job.kernel_size, mtime=mtime), job.kernel)
                tw.add(TarEntry("initrd.img", size=initrd_size, mtime=mtime), initrd_file)
                tw.add(TarEntry("cmdline", size=len(cmdline), mtime=mtime), cmdline)
                if bundle.ucode is not None:
                    with open(bundle.ucode, "rb") as u:
                        size = os.fstat(u.fileno()).st_size
                        tw.add(TarEntry("ucode.cpio", size=size, mtime=mtime), u)
