"""Helpers for tests of code that uses moby_assemble: a real local registry, image writers.

.. versionadded:: 0.1
"""

from ._images import Image, ImageIndex, ImageSet, Layer, LayerBlob
from ._proxy import Fault, FaultProxy, InjectedFault, Match, ProxiedRequest
from ._registry import LocalRegistry, RegistryTLS, make_tls_files
from ._token_server import TokenRequest, TokenServer

__all__ = [
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
    "RegistryTLS",
    "TokenRequest",
    "TokenServer",
    "make_tls_files",
]
