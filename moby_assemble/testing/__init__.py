"""Helpers for tests of code that uses moby_assemble: a real local registry, image writers.

.. versionadded:: 0.1
"""

from ._images import Image, ImageIndex, ImageSet, Layer, LayerBlob
from ._proxy import Fault, FaultProxy, InjectedFault, Match, ProxiedRequest
from ._qemu import DEFAULT_CMDLINE, QemuResult, boot_qemu, qemu_available
from ._registry import LocalRegistry, RegistryTLS, make_tls_files
from ._token_server import TokenRequest, TokenServer

__all__ = [
    "DEFAULT_CMDLINE",
    "Fault",
    "FaultProxy",
    "Image",
    "ImageIndex",
    "ImageSet",
    "InjectedFault",
    "Layer",
    "LayerBlob",
    "LocalRegistry",
    "Match",
    "ProxiedRequest",
    "QemuResult",
    "RegistryTLS",
    "TokenRequest",
    "TokenServer",
    "boot_qemu",
    "make_tls_files",
    "qemu_available",
]
