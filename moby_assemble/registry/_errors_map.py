"""Turn a registry's error response into one of moby_assemble's typed errors.

Registries answer failures with a status code and, usually, the distribution-spec error
body ``{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "...", "detail": ...}]}``. The
body may also be HTML from a proxy, or empty, so it is parsed defensively. The error names
the registry and the reference; it never holds request headers, tokens or query strings.

Example::

    >>> parse_error_body(b'{"errors":[{"code":"DENIED","message":"no"}]}')
    (('DENIED', 'no'),)
"""

from __future__ import annotations

from .._errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RegistryError,
    UnsupportedError,
)
from .._parse import loads_json

__all__ = ["error_for_status", "parse_error_body"]

_NOT_FOUND_CODES = frozenset(
    {"BLOB_UNKNOWN", "MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UPLOAD_UNKNOWN"}
)
#: How much of an error body we look at; error documents are small.
MAX_ERROR_BODY = 64 * 1024
_MAX_MESSAGE = 300


def parse_error_body(body: bytes) -> tuple[tuple[str, str], ...]:
    """``(code, message)`` pairs from a spec error body; empty if it is not one."""
    try:
        doc = loads_json(body[:MAX_ERROR_BODY])
    except (ValueError, UnicodeDecodeError):
        return ()
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return ()
    out = []
    for item in errors:
        if isinstance(item, dict):
            code = item.get("code")
            message = item.get("message")
            out.append(
                (
                    code if isinstance(code, str) else "",
                    message if isinstance(message, str) else "",
                )
            )
    return tuple(out)


def _summary(errors: tuple[tuple[str, str], ...]) -> str:
    parts = []
    for code, message in errors:
        text = f"{code}: {message}" if code and message else code or message
        if text:
            parts.append(text)
    summary = "; ".join(parts)
    if len(summary) > _MAX_MESSAGE:
        summary = summary[: _MAX_MESSAGE - 1] + "…"
    return summary


def error_for_status(
    status_code: int,
    body: bytes,
    *,
    registry: str,
    reference: str,
    action: str,
    retry_after: float | None = None,
) -> RegistryError:
    """The typed error for an unexpected response.

    Args:
        status_code: the HTTP status.
        body: the (start of the) response body.
        registry: the registry host, as in references.
        reference: what the request was about (a reference, ``repo@digest``).
        action: a short description of the request (``"GET manifest"``).
        retry_after: the parsed ``Retry-After``, for 429.
    """
    errors = parse_error_body(body)
    codes = {code for code, _ in errors}
    detail = _summary(errors)
    message = f"{action} {reference} on registry {registry} failed: HTTP {status_code}"
    if detail:
        message += f" ({detail})"
    code = errors[0][0] if errors and errors[0][0] else None
    if status_code == 401 or "UNAUTHORIZED" in codes:
        cls: type[RegistryError] = AuthenticationError
        message += ": credentials missing or rejected"
    elif status_code == 403 or "DENIED" in codes:
        cls = PermissionDeniedError
    elif status_code == 429 or "TOOMANYREQUESTS" in codes:
        if retry_after is not None:
            message += f"; the registry asks to retry after {retry_after:g} s"
        return RateLimitError(
            message,
            retry_after=retry_after,
            registry=registry,
            reference=reference,
            status_code=status_code,
            code=code,
        )
    elif status_code == 404 or codes & _NOT_FOUND_CODES:
        cls = NotFoundError
    elif status_code in (405, 501) or "UNSUPPORTED" in codes:
        cls = UnsupportedError
    else:
        cls = RegistryError
    return cls(message, registry=registry, reference=reference, status_code=status_code, code=code)
