"""The exception tree of moby_assemble.

Every error the library raises on purpose derives from :class:`MobyAssembleError`, so one
``except moby_assemble.MobyAssembleError`` catches them all. Each carries the context it is
about (the reference, digest, registry, file or field) both in its message and as attributes::

    MobyAssembleError
    ├── ConfigError                 a system description is invalid (file, line, field path)
    ├── ImageReferenceError         an image reference cannot be parsed
    ├── PlatformError               no manifest for the requested platform (lists those that exist)
    ├── RegistryError               a registry said no, or could not be reached
    │   ├── AuthenticationError     401: no or wrong credentials, token endpoint failed
    │   ├── PermissionDeniedError   403 / DENIED: credentials are fine, access is not
    │   ├── NotFoundError           MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN, 404
    │   ├── RateLimitError          429 / TOOMANYREQUESTS after the retry budget (``retry_after``)
    │   ├── RegistryTransportError  connection errors and timeouts after the retry budget
    │   └── UnsupportedError        a document or operation this library will not handle
    ├── IntegrityError              content does not match its digest, size or diff_id
    ├── StoreError                  the local OCI layout store is unusable
    │   └── OfflineError            offline, and the store does not hold what was asked for
    ├── LayerError                  a layer cannot be read or flattened safely
    ├── LockError                   a lock file is malformed
    │   └── LockMismatchError       a lock no longer matches the system it is used with
    ├── OutputError                 an output could not be written
    └── SignatureError              a signature is missing or does not verify

``ReferenceError`` is a Python builtin, so the reference error is called
:class:`ImageReferenceError` rather than shadowing it.

No message, ``repr`` or attribute of these errors ever holds a password or token: the
registry client strips credentials before it builds them.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ImageReferenceError",
    "IntegrityError",
    "LayerError",
    "LockError",
    "LockMismatchError",
    "MobyAssembleError",
    "NotFoundError",
    "OfflineError",
    "OutputError",
    "PermissionDeniedError",
    "PlatformError",
    "RateLimitError",
    "RegistryError",
    "RegistryTransportError",
    "SignatureError",
    "StoreError",
    "UnsupportedError",
]


class MobyAssembleError(Exception):
    """Base class of every error moby_assemble raises on purpose."""


class ConfigError(MobyAssembleError):
    """A system description (Python values, YAML, TOML or a label) is invalid.

    Attributes:
        path: the field path inside the document, e.g. ``services[2].binds[0]`` (or ``""``).
        file: the file the document came from, if any.
        line: the 1-based line in that file, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = message
        self.path = path
        self.file = file
        self.line = line
        where = ""
        if file is not None:
            where = file if line is None else f"{file}:{line}"
        elif line is not None:
            where = f"line {line}"
        prefix = ", ".join(p for p in (where, path) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ImageReferenceError(MobyAssembleError, ValueError):
    """An image reference cannot be parsed.

    Attributes:
        reference: the text that was given.
    """

    def __init__(self, reference: str, reason: str) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(f"invalid image reference {reference!r}: {reason}")


class PlatformError(MobyAssembleError):
    """No manifest matches the requested platform, or a platform string is invalid.

    Attributes:
        reference: the image (index) that was searched, if any.
        wanted: the platform that was asked for.
        available: the platforms the index does offer.
    """

    def __init__(
        self,
        message: str,
        *,
        reference: str | None = None,
        wanted: str | None = None,
        available: tuple[str, ...] = (),
    ) -> None:
        self.reference = reference
        self.wanted = wanted
        self.available = available
        super().__init__(message)


class RegistryError(MobyAssembleError):
    """A registry refused a request, answered something invalid, or could not be reached.

    Attributes:
        registry: the registry host (``host[:port]``).
        reference: the repository, reference or digest the request was about.
        status_code: the HTTP status, if there was a response.
        code: the distribution-spec error code (``MANIFEST_UNKNOWN`` …), if the body had one.
    """

    def __init__(
        self,
        message: str,
        *,
        registry: str | None = None,
        reference: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        self.registry = registry
        self.reference = reference
        self.status_code = status_code
        self.code = code
        super().__init__(message)


class AuthenticationError(RegistryError):
    """The registry wants credentials we do not have, or rejected the ones we sent."""


class PermissionDeniedError(RegistryError):
    """The registry knows who we are and still refuses (403, ``DENIED``)."""


class NotFoundError(RegistryError):
    """The repository, manifest or blob does not exist."""


class RateLimitError(RegistryError):
    """The registry kept answering 429 after the retry budget was spent.

    Attributes:
        retry_after: seconds the registry asked us to wait, if it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class RegistryTransportError(RegistryError):
    """The connection failed or timed out, and retrying did not help."""


class UnsupportedError(RegistryError):
    """A media type, schema version or operation this library does not handle."""


class IntegrityError(MobyAssembleError):
    """Content does not match its descriptor: wrong digest, size or diff_id.

    Nothing that fails this check is committed to the store or used.

    Attributes:
        digest: the digest that was expected.
        actual: what the content actually hashed to, if known.
        subject: what the content was (a reference, a layer, a file path).
    """

    def __init__(
        self,
        message: str,
        *,
        digest: str | None = None,
        actual: str | None = None,
        subject: str | None = None,
    ) -> None:
        self.digest = digest
        self.actual = actual
        self.subject = subject
        super().__init__(message)


class StoreError(MobyAssembleError):
    """The local OCI image layout store is unusable or inconsistent.

    Attributes:
        path: the store directory or file involved.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class OfflineError(StoreError):
    """Working offline, and the store does not hold the image, manifest or blob asked for.

    Attributes:
        reference: what was asked for.
    """

    def __init__(self, message: str, *, reference: str, path: str | None = None) -> None:
        self.reference = reference
        super().__init__(message, path=path)


class LayerError(MobyAssembleError):
    """A layer is malformed, unsafe or too large to flatten.

    Attributes:
        layer: the layer's digest (or a description of it).
        member: the archive member involved, if any.
    """

    def __init__(
        self, message: str, *, layer: str | None = None, member: str | None = None
    ) -> None:
        self.layer = layer
        self.member = member
        super().__init__(message)


class LockError(MobyAssembleError):
    """A lock file is malformed or from an unsupported version.

    Attributes:
        file: the lock file, if read from one.
    """

    def __init__(self, message: str, *, file: str | None = None) -> None:
        self.file = file
        super().__init__(message)


class LockMismatchError(LockError):
    """A lock does not match the system it is used with.

    Attributes:
        differences: human-readable lines naming what differs.
    """

    def __init__(
        self, message: str, *, differences: tuple[str, ...] = (), file: str | None = None
    ) -> None:
        self.differences = differences
        super().__init__(message, file=file)


class OutputError(MobyAssembleError):
    """An output format could not be written.

    Attributes:
        format: the output format name.
        path: the output path.
    """

    def __init__(self, message: str, *, format: str | None = None, path: str | None = None) -> None:
        self.format = format
        self.path = path
        super().__init__(message)


class SignatureError(MobyAssembleError):
    """An image that a policy requires to be signed is unsigned or badly signed.

    Attributes:
        reference: the image.
    """

    def __init__(self, message: str, *, reference: str | None = None) -> None:
        self.reference = reference
        super().__init__(message)
