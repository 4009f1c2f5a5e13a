"""What an output format is, and what it reads: the :class:`OutputFormat` and bundle protocols.

An output format turns one assembled system (a :class:`BundleView`: the root-filesystem tar
plus the boot parts and per-container details, which ``Assembler.assemble`` returns as a
``Bundle``) into files in a directory. Formats are looked up by name in the registry of
:mod:`moby_assemble.outputs`; third parties add their own through the entry point group
``moby_assemble.outputs``.

Example, a format that writes the kernel command line only::

    class CmdlineFormat:
        name = "cmdline"
        description = "the kernel command line as a text file"
        files = ("{name}.cmdline",)
        streamable = False
        options = frozenset()

        def write(self, bundle, directory, name):
            with AtomicOutput(directory, format=self.name) as out:
                out.path(f"{name}.cmdline").write_text(bundle.cmdline or "")
            return out.paths
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeAlias, runtime_checkable

from .._platform import Platform

__all__ = [
    "BundleContainerView",
    "BundleView",
    "OutputFormat",
    "RootTar",
    "open_root_tar",
    "root_tar_name",
]


class BundleContainerView(Protocol):
    """One container of an assembled system, as the output formats see it.

    Attributes:
        stage: ``"onboot"``, ``"onshutdown"`` or ``"services"``.
        name: the container's name.
        directory: its bundle directory in the root tar (``"containers/onboot/000-dhcpcd"``).
        readonly: whether its root filesystem is read-only.
        config_json: the exact bytes of its OCI runtime ``config.json``.
        rootfs: where its root filesystem is in the root tar (``".../rootfs"``, ``".../lower"``,
            or another container's directory when the image was written once for both).
    """

    @property
    def stage(self) -> Any: ...
    @property
    def name(self) -> str: ...
    @property
    def directory(self) -> str: ...
    @property
    def readonly(self) -> bool: ...
    @property
    def config_json(self) -> bytes: ...
    @property
    def rootfs(self) -> str: ...


class BundleView(Protocol):
    """An assembled system, as the output formats read it (``moby_assemble.assemble.Bundle``).

    Attributes:
        platform: the platform the system was assembled for.
        kernel: the kernel binary (bytes or a file), ``None`` for a system without a kernel.
        cmdline: the kernel command line, ``None`` without a kernel.
        ucode: a CPU microcode cpio archive to prepend to the initrd, if configured.
        containers: the containers, in assembly order.
        source_date_epoch: the time of every generated entry (seconds since the epoch).
    """

    @property
    def platform(self) -> Platform: ...
    def open_rootfs(self) -> BinaryIO:
        """The complete root filesystem tar (PAX, ``boot/`` entries included), as a
        seekable stream to read and close."""
        ...

    @property
    def kernel(self) -> bytes | Path | None: ...
    @property
    def cmdline(self) -> str | None: ...
    @property
    def ucode(self) -> Path | None: ...
    @property
    def containers(self) -> Sequence[BundleContainerView]: ...
    @property
    def source_date_epoch(self) -> int: ...


#: Where an output reads a root filesystem tar: a file, or a bundle (its
#: :meth:`~BundleView.open_rootfs`, which needs no single file).
RootTar: TypeAlias = "Path | BundleView"


def open_root_tar(root: RootTar) -> BinaryIO:
    """Open ``root`` for reading."""
    if isinstance(root, Path):
        return open(root, "rb")
    return root.open_rootfs()


def root_tar_name(root: RootTar) -> str:
    """How messages name ``root``."""
    return str(root) if isinstance(root, Path) else "the root filesystem tar"


@runtime_checkable
class OutputFormat(Protocol):
    """An output format, registered by :attr:`name`.

    Attributes:
        name: the registry key (``"kernel+initrd"``).
        description: one line for help texts.
        files: the file (or directory) names it produces, with ``{name}`` standing for the
            output name (``("{name}-kernel", "{name}-initrd.img", "{name}-cmdline")``).
        streamable: true if the output is one stream that could go to a pipe.
        options: the keyword options :meth:`write` understands.
    """

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def files(self) -> tuple[str, ...]: ...
    @property
    def streamable(self) -> bool: ...
    @property
    def options(self) -> frozenset[str]: ...

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        *args: Any,
        **options: Any,
    ) -> tuple[Path, ...]:
        """Write the output for ``bundle`` into ``directory``; return the paths written.

        The output appears whole or not at all. ``options`` are keyword options: those
        named in :attr:`options` are used, any other is ignored, so one set of options can
        be handed to several formats (:func:`~moby_assemble.outputs.write_formats` checks
        that each option is understood by at least one of the formats written).

        Raises:
            OutputError: the output cannot be made (naming the format and the file).
        """
        ...
