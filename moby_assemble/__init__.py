"""moby_assemble: assemble container-based Linux systems from OCI component images.

This module only re-exports the public API; everything lives in private modules.

Only the exceptions and the version are imported with the package. Every other name is
imported from its module the first time it is used (PEP 562), so a process that only
flattens layers or reads a store does not pay for the registry client's HTTP stack
(httpx, which imports its own command-line dependencies when they are installed) or
the build pipeline. ``from moby_assemble import System`` works as usual.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._diff import ChangeKind, ComponentChange, FieldChange, SystemDiff
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
from ._version import __version__

if _TYPE_CHECKING:
    from ._lock import Lock, LockedImage
    from ._model import (
        BindNS,
        Container,
        Device,
        File,
        FrozenDict,
        IDMapping,
        ImageConfig,
        InitImage,
        Interface,
        JSONObject,
        Kernel,
        Mount,
        Role,
        Runtime,
        Stage,
        System,
        Volume,
    )
    from ._oci import Descriptor, MediaType
    from ._platform import Platform
    from .assemble import (
        Assembler,
        AssemblyEvent,
        AssemblyFinished,
        Bundle,
        BundleContainer,
        ImageCopied,
        ImageFlattened,
        ImageReused,
        StepFailed,
        StepFinished,
        StepStarted,
    )
    from .outputs import OutputFormat, available_formats, register_format
    from .registry import ImageReference

# Where each lazily imported name lives (the same names as the imports above, which are
# there for type checkers; tests/test_exported_members.py resolves every one at run time).
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "._lock": ("Lock", "LockedImage"),
    "._model": (
        "BindNS",
        "Container",
        "Device",
        "File",
        "FrozenDict",
        "IDMapping",
        "ImageConfig",
        "InitImage",
        "Interface",
        "JSONObject",
        "Kernel",
        "Mount",
        "Role",
        "Runtime",
        "Stage",
        "System",
        "Volume",
    ),
    "._oci": ("Descriptor", "MediaType"),
    "._platform": ("Platform",),
    ".assemble": (
        "Assembler",
        "AssemblyEvent",
        "AssemblyFinished",
        "Bundle",
        "BundleContainer",
        "ImageCopied",
        "ImageFlattened",
        "ImageReused",
        "StepFailed",
        "StepFinished",
        "StepStarted",
    ),
    ".outputs": ("OutputFormat", "available_formats", "register_format"),
    ".registry": ("ImageReference",),
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}
# Subpackages reachable as attributes after a bare ``import moby_assemble``, as they
# were when this module imported them eagerly.
_SUBPACKAGES = frozenset(
    {
        "assemble",
        "components",
        "disk",
        "layers",
        "outputs",
        "pkg",
        "progress",
        "registry",
        "runtime_spec",
        "sbom",
        "store",
        "testing",
        "trust",
    }
)


def __getattr__(name: str) -> object:
    """Import a public name (or subpackage) on first use and keep it (PEP 562)."""
    module = _LAZY.get(name)
    if module is not None:
        value: object = getattr(_importlib.import_module(module, __name__), name)
    elif name in _SUBPACKAGES:
        value = _importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Assembler",
    "AssemblyEvent",
    "AssemblyFinished",
    "AuthenticationError",
    "BindNS",
    "Bundle",
    "BundleContainer",
    "ChangeKind",
    "ComponentChange",
    "ConfigError",
    "Container",
    "Descriptor",
    "Device",
    "FieldChange",
    "File",
    "FrozenDict",
    "IDMapping",
    "ImageConfig",
    "ImageCopied",
    "ImageFlattened",
    "ImageReference",
    "ImageReferenceError",
    "ImageReused",
    "InitImage",
    "IntegrityError",
    "Interface",
    "JSONObject",
    "Kernel",
    "LayerError",
    "Lock",
    "LockError",
    "LockMismatchError",
    "LockedImage",
    "MediaType",
    "MobyAssembleError",
    "Mount",
    "NotFoundError",
    "OfflineError",
    "OutputError",
    "OutputFormat",
    "PermissionDeniedError",
    "Platform",
    "PlatformError",
    "RateLimitError",
    "RegistryError",
    "RegistryTransportError",
    "Role",
    "Runtime",
    "SignatureError",
    "Stage",
    "StepFailed",
    "StepFinished",
    "StepStarted",
    "StoreError",
    "System",
    "SystemDiff",
    "UnsupportedError",
    "Volume",
    "__version__",
    "available_formats",
    "register_format",
]
