"""Output formats: an assembled system written as files, or pushed to a registry.

Formats are registered by name; :func:`write_formats` (what ``Bundle.write`` calls) writes
several of them from one assembly, reading the same root tar: nothing is fetched or
flattened again, and every output appears whole or not at all.

=====================  ==========================================================
``tar``                ``<name>.tar``: the root filesystem tar as assembled
``docker``             ``<name>.docker``: the tar plus LinuxKit's Dockerfile
``kernel+initrd``      ``<name>-kernel``, ``<name>-initrd.img``, ``<name>-cmdline``
``tar-kernel-initrd``  ``<name>-initrd.tar``: kernel, initrd.img, cmdline, ucode.cpio
``oci-layout``         ``<name>.oci/``: the system as a runnable OCI image (layout)
``oci-archive``        ``<name>.oci.tar``: the same as one tar
``oci-bundles``        ``<name>-bundles.tar``: config.json + rootfs/ per container
``push``               kernel, initrd, cmdline pushed as an OCI artifact
=====================  ==========================================================

Third-party formats register with :func:`register_format` or through the entry point
group ``moby_assemble.outputs`` (see :mod:`._registry`).

Example::

    from moby_assemble.outputs import available_formats, write_formats

    write_formats(bundle, "out", ["kernel+initrd", "tar"], name="web", compression="zstd")

.. versionadded:: 0.1
"""

from ._atomic import AtomicOutput
from ._boot import KernelInitrdFormat, TarKernelInitrdFormat
from ._cpio import CpioWriter
from ._format import BundleContainerView, BundleView, OutputFormat
from ._initrd import write_cpio, write_initrd
from ._oci_bundles import OciBundlesFormat
from ._oci_image import DEFAULT_ENTRYPOINT, OciArchiveFormat, OciLayoutFormat
from ._push import (
    SYSTEM_ARTIFACT_TYPE,
    BootFiles,
    PushFormat,
    pull_system,
    push_system,
)
from ._registry import (
    ENTRY_POINT_GROUP,
    available_formats,
    get_format,
    register_format,
    unregister_format,
    write_formats,
)
from ._tar import DockerFormat, TarFormat

__all__ = [
    "DEFAULT_ENTRYPOINT",
    "ENTRY_POINT_GROUP",
    "SYSTEM_ARTIFACT_TYPE",
    "AtomicOutput",
    "BootFiles",
    "BundleContainerView",
    "BundleView",
    "CpioWriter",
    "DockerFormat",
    "KernelInitrdFormat",
    "OciArchiveFormat",
    "OciBundlesFormat",
    "OciLayoutFormat",
    "OutputFormat",
    "PushFormat",
    "TarFormat",
    "TarKernelInitrdFormat",
    "available_formats",
    "get_format",
    "pull_system",
    "push_system",
    "register_format",
    "unregister_format",
    "write_cpio",
    "write_formats",
    "write_initrd",
]

for _fmt in (
    TarFormat(),
    DockerFormat(),
    KernelInitrdFormat(),
    TarKernelInitrdFormat(),
    OciLayoutFormat(),
    OciArchiveFormat(),
    OciBundlesFormat(),
    PushFormat(),
):
    register_format(_fmt, replace=True)
del _fmt
