"""The result of an assembly: the root filesystem tar in the cache plus what outputs need.

A :class:`Bundle` is an immutable view of one assembled system for one platform. Its files
live in the assembler's cache (``<cache>/bundles/<id>/``), named after its content, so
assembling the same locked system again gives the same directory. Its root filesystem tar
is stored as parts (this system's own entries, and the sections of its images, which every
bundle that has them shares, see ``_parts``): :meth:`Bundle.open_rootfs` reads it as one
stream; :attr:`Bundle.rootfs_tar` and :attr:`Bundle.rootfs_sha256` make the single file and
the digest on first use. Output formats (``kernel+initrd``, ``tar``, ISO, …) read it through
:meth:`Bundle.write`.

Example::

    bundle = asm.assemble(system, lock=lock)
    bundle.rootfs_sha256            # identical for every assembly of this lock
    bundle.write("out/", formats=["kernel+initrd", "tar"], name="demo")
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs

from .._model import Stage
from ._display import WrittenOutputs, bundle_html, bundle_pretty
from ._parts import RootfsParts

if TYPE_CHECKING:
    from .._lock import Lock
    from .._model import System
    from .._platform import Platform

__all__ = ["Bundle", "BundleContainer"]


@attrs.frozen
class BundleContainer:
    """One container bundle inside the root filesystem.

    Attributes:
        stage: ``onboot``, ``onshutdown`` or ``services``.
        index: its position in that stage.
        name: the container's name.
        directory: the bundle directory in the tar (``containers/onboot/000-dhcpcd``).
        image: the image reference as the system writes it.
        manifest_digest: the image manifest used.
        readonly: whether the root filesystem is read-only (image in ``rootfs/``) or an
            overlay (image in ``lower/``).
        config_json: the exact bytes of ``config.json``.
        runtime_json: the exact bytes of ``runtime.json``.
        rootfs: where the image's files are in the tar: ``<directory>/rootfs`` or
            ``<directory>/lower``, or the directory of an earlier container with the same
            image (written once, shared).
    """

    stage: Stage
    index: int
    name: str
    directory: str
    image: str
    manifest_digest: str
    readonly: bool
    config_json: bytes = attrs.field(repr=False)
    runtime_json: bytes = attrs.field(repr=False)
    rootfs: str

    @property
    def config(self) -> dict[str, Any]:
        """``config.json`` parsed."""
        result: dict[str, Any] = json.loads(self.config_json)
        return result

    @property
    def runtime(self) -> dict[str, Any]:
        """``runtime.json`` parsed."""
        result: dict[str, Any] = json.loads(self.runtime_json)
        return result

    @property
    def shared(self) -> bool:
        """True when the image's files are another container's copy."""
        return not self.rootfs.startswith(self.directory + "/")


@attrs.frozen
class Bundle:
    """An assembled system (see the module documentation).

    Attributes:
        system: the system, as given (references not pinned; see ``lock``).
        lock: the pins it was assembled from.
        platform: the platform it was assembled for.
        directory: the bundle's directory in the cache.
        rootfs_parts: how the root filesystem tar is stored (see :meth:`open_rootfs`).
        kernel: the kernel binary (also ``boot/kernel`` in the tar), or ``None``.
        cmdline: the kernel command line, or ``None`` without a kernel.
        ucode: the CPU microcode cpio (also ``boot/ucode.cpio``), or ``None``.
        containers: the container bundles, in build order.
        source_date_epoch: the mtime of every generated entry.
    """

    system: System = attrs.field(repr=False)
    lock: Lock = attrs.field(repr=False)
    platform: Platform
    directory: Path
    rootfs_parts: RootfsParts = attrs.field(repr=False)
    kernel: Path | None
    cmdline: str | None
    ucode: Path | None
    containers: tuple[BundleContainer, ...] = attrs.field(repr=False)
    source_date_epoch: int

    @property
    def rootfs_size(self) -> int:
        """The size of the root filesystem tar."""
        return self.rootfs_parts.size

    def open_rootfs(self) -> BinaryIO:
        """The complete root filesystem tar (PAX, with the ``boot/`` entries) as a seekable
        binary stream; close it after use.

        Each part is checked against its CRC-32 as it is read through.

        Raises:
            IntegrityError: a part is damaged or gone (assemble the system again).
        """
        return self.rootfs_parts.open()

    @property
    def rootfs_tar(self) -> Path:
        """The complete root filesystem tar as one file (``rootfs.tar`` in
        :attr:`directory`), written the first time it is asked for (one copy of the tar:
        :meth:`open_rootfs` reads the same bytes without it).

        Raises:
            IntegrityError: a part is damaged or gone (assemble the system again).
            StoreError: the file cannot be written.
        """
        return self.rootfs_parts.tar()

    @property
    def rootfs_sha256(self) -> str:
        """The root filesystem tar's digest (``sha256:…``): computed by reading it the
        first time it is asked for, then kept in the bundle directory.

        Raises:
            IntegrityError: a part is damaged or gone (assemble the system again).
        """
        return self.rootfs_parts.sha256()

    def container(self, name: str, stage: Stage | str | None = None) -> BundleContainer:
        """The bundle of the container called ``name`` (optionally only in ``stage``).

        Raises:
            KeyError: no such container, or more than one (pass ``stage``).
        """
        wanted = Stage(stage) if stage is not None else None
        found = [c for c in self.containers if c.name == name and wanted in (None, c.stage)]
        if len(found) != 1:
            raise KeyError(name)
        return found[0]

    def write(
        self,
        directory: str | os.PathLike[str],
        formats: str | Iterable[str] = ("kernel+initrd",),
        *,
        name: str = "system",
        **options: Any,
    ) -> WrittenOutputs:
        """Write output formats into ``directory`` (created if needed).

        Delegates to :func:`moby_assemble.outputs.write_formats`, which checks every name
        and option first and writes each output whole or not at all.

        Args:
            directory: where outputs go.
            formats: format names (``"kernel+initrd"``, ``"tar"``, …), or one string (a name
                or a comma-separated list).
            name: the base name of the output files (LinuxKit's ``--name``).
            options: passed to every format.

        Returns:
            format name → the files it wrote (a ``dict`` that notebooks show as a table of
            files with sizes and digests).

        Raises:
            OutputError: an unknown format or option, or a format that failed.
        """
        # The one place that knows where output formats live.
        from ..outputs import write_formats

        return WrittenOutputs(write_formats(self, directory, formats, name=name, **options))

    # -- display ------------------------------------------------------------------------

    def _summary(self) -> str:
        kernel = "kernel" if self.kernel is not None else "no kernel"
        return (
            f"Bundle({self.platform}, {kernel}, {len(self.containers)} containers, "
            f"{self.rootfs_size} bytes, {self.directory.name[:12]})"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._summary() if cycle else bundle_pretty(self, self._summary()))

    def _repr_html_(self) -> str:
        return bundle_html(self, self._summary())
