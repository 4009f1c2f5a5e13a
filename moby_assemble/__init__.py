"""moby_assemble: assemble container-based Linux systems from OCI component images.

This module only re-exports the public API; everything lives in private modules.
"""

from ._errors import (
    AuthenticationError,
    ConfigError,
    ImageReferenceError,
    IntegrityError,
    LayerError,
    LockError,
    LockMismatchError,
    MobyAssembleError,
    NotFoundError,
    OfflineError,
    OutputError,
    PermissionDeniedError,
    PlatformError,
    RateLimitError,
    RegistryError,
    RegistryTransportError,
    SignatureError,
    StoreError,
    UnsupportedError,
)
from ._oci import Descriptor, MediaType
from ._platform import Platform
from ._version import __version__
from .registry import ImageReference

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "Descriptor",
    "ImageReference",
    "ImageReferenceError",
    "IntegrityError",
    "LayerError",
    "LockError",
    "LockMismatchError",
    "MediaType",
    "MobyAssembleError",
    "NotFoundError",
    "OfflineError",
    "OutputError",
    "PermissionDeniedError",
    "Platform",
    "PlatformError",
    "RateLimitError",
    "RegistryError",
    "RegistryTransportError",
    "SignatureError",
    "StoreError",
    "UnsupportedError",
    "__version__",
]
