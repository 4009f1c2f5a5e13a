"""The OCI distribution client: references, authentication, pull and push over httpx.

One HTTP stack (httpx) carries every request: manifests and blobs are verified against their
digests while they stream, tokens are cached per scope, retries are bounded, and nothing is
used before it has been checked.

Example::

    from moby_assemble import Platform
    from moby_assemble.registry import DockerConfig, ImageReference, Puller, RegistryClient
    from moby_assemble.store import Store

    ref = ImageReference.parse("127.0.0.1:5000/kernel:6.1")
    with RegistryClient(credentials=DockerConfig()) as client, Puller(client, Store("cache")) as p:
        image = p.pull(ref, Platform.parse("linux/amd64"))
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:
    from ._auth import Authenticator, RegistryAuth, merge_scopes, repository_scope
    from ._blobs import BlobSink, HashingBlobSink
    from ._client import (
        DEFAULT_MAX_MANIFEST_SIZE,
        DEFAULT_TIMEOUT,
        RegistryClient,
        pull_scope,
        push_scope,
    )
    from ._config import RegistryConfig, is_loopback
    from ._credentials import (
        DOCKER_HUB_CONFIG_KEY,
        CredentialProvider,
        Credentials,
        DockerConfig,
        StaticCredentials,
    )
    from ._events import BlobFinished, BlobProgress, BlobStarted, ProgressCallback, ProgressEvent
    from ._manifest import Manifest, is_attestation
    from ._pull import ImageSource, PulledImage, Puller
    from ._push import (
        ORAS_TITLE,
        BlobPushResult,
        attach_referrer,
        push_artifact,
        push_blob,
        push_bytes,
        push_from_store,
        push_manifest,
        push_scopes,
    )
    from ._push_upload import DEFAULT_CHUNK_SIZE
    from ._reference import DOCKER_HUB, DOCKER_HUB_API, ImageReference
    from ._referrers import add_referrer, referrer_entry, referrers, referrers_tag, remove_referrer
    from ._retry import RetryPolicy
    from ._tags import list_tags

# Where each name lives (the imports above are for type checkers). Importing a name
# imports only its module: ImageReference or the progress events do not bring in httpx.
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "._auth": ("Authenticator", "RegistryAuth", "merge_scopes", "repository_scope"),
    "._blobs": ("BlobSink", "HashingBlobSink"),
    "._client": (
        "DEFAULT_MAX_MANIFEST_SIZE",
        "DEFAULT_TIMEOUT",
        "RegistryClient",
        "pull_scope",
        "push_scope",
    ),
    "._config": ("RegistryConfig", "is_loopback"),
    "._credentials": (
        "DOCKER_HUB_CONFIG_KEY",
        "CredentialProvider",
        "Credentials",
        "DockerConfig",
        "StaticCredentials",
    ),
    "._events": (
        "BlobFinished",
        "BlobProgress",
        "BlobStarted",
        "ProgressCallback",
        "ProgressEvent",
    ),
    "._manifest": ("Manifest", "is_attestation"),
    "._pull": ("ImageSource", "PulledImage", "Puller"),
    "._push": (
        "ORAS_TITLE",
        "BlobPushResult",
        "attach_referrer",
        "push_artifact",
        "push_blob",
        "push_bytes",
        "push_from_store",
        "push_manifest",
        "push_scopes",
    ),
    "._push_upload": ("DEFAULT_CHUNK_SIZE",),
    "._reference": ("DOCKER_HUB", "DOCKER_HUB_API", "ImageReference"),
    "._referrers": (
        "add_referrer",
        "referrer_entry",
        "referrers",
        "referrers_tag",
        "remove_referrer",
    ),
    "._retry": ("RetryPolicy",),
    "._tags": ("list_tags",),
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    """Import a public name from its module on first use and keep it (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: object = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_MANIFEST_SIZE",
    "DEFAULT_TIMEOUT",
    "DOCKER_HUB",
    "DOCKER_HUB_API",
    "DOCKER_HUB_CONFIG_KEY",
    "ORAS_TITLE",
    "Authenticator",
    "BlobFinished",
    "BlobProgress",
    "BlobPushResult",
    "BlobSink",
    "BlobStarted",
    "CredentialProvider",
    "Credentials",
    "DockerConfig",
    "HashingBlobSink",
    "ImageReference",
    "ImageSource",
    "Manifest",
    "ProgressCallback",
    "ProgressEvent",
    "PulledImage",
    "Puller",
    "RegistryAuth",
    "RegistryClient",
    "RegistryConfig",
    "RetryPolicy",
    "StaticCredentials",
    "add_referrer",
    "attach_referrer",
    "is_attestation",
    "is_loopback",
    "list_tags",
    "merge_scopes",
    "pull_scope",
    "push_artifact",
    "push_blob",
    "push_bytes",
    "push_from_store",
    "push_manifest",
    "push_scope",
    "push_scopes",
    "referrer_entry",
    "referrers",
    "referrers_tag",
    "remove_referrer",
    "repository_scope",
]
