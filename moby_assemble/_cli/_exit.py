"""Exit codes of the CLI, one per error class, and the one-line form of an error.

Scripts and CI jobs branch on these, so they are part of the CLI's interface: never
renumber, only add.

==== ==================================================================================
code meaning
==== ==================================================================================
0    success
1    any other moby_assemble error (e.g. a layer that cannot be flattened safely)
2    usage: unknown command or option, missing argument (click's own code)
3    configuration: invalid system file, image reference or platform
4    registry: refused, not found, authentication failed, unreachable
5    integrity: content does not match its digest, size or diff_id
6    store: the local cache is unusable, or offline and something is not in it
7    signature: missing or not verifying
8    output: an output could not be written
9    lock: the lock file is malformed or no longer matches the system
70   internal error: a bug in moby-assemble (please report it, with ``--debug`` output)
130  interrupted (Ctrl-C)
==== ==================================================================================

Example::

    >>> from moby_assemble import NotFoundError
    >>> exit_code_for(NotFoundError("127.0.0.1:5000/app:1: manifest unknown"))
    4
"""

from __future__ import annotations

from typing import Any

from .._errors import (
    ConfigError,
    ImageReferenceError,
    IntegrityError,
    LockError,
    MobyAssembleError,
    OutputError,
    PlatformError,
    RegistryError,
    SignatureError,
    StoreError,
)

__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_INTEGRITY",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_LOCK",
    "EXIT_OUTPUT",
    "EXIT_REGISTRY",
    "EXIT_SIGNATURE",
    "EXIT_STORE",
    "EXIT_USAGE",
    "error_details",
    "exit_code_for",
    "one_line",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_REGISTRY = 4
EXIT_INTEGRITY = 5
EXIT_STORE = 6
EXIT_SIGNATURE = 7
EXIT_OUTPUT = 8
EXIT_LOCK = 9
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

# Most specific first: the first class an error is an instance of decides.
_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_CONFIG),
    (ImageReferenceError, EXIT_CONFIG),
    (PlatformError, EXIT_CONFIG),
    (RegistryError, EXIT_REGISTRY),
    (IntegrityError, EXIT_INTEGRITY),
    (StoreError, EXIT_STORE),
    (SignatureError, EXIT_SIGNATURE),
    (OutputError, EXIT_OUTPUT),
    (LockError, EXIT_LOCK),
    (MobyAssembleError, EXIT_ERROR),
)

#: The table above as the help epilog shows it (click keeps lines after ``\b``).
EXIT_CODES_HELP = """\b
Exit codes:
  0 success            1 other error         2 usage
  3 config/reference   4 registry/auth       5 integrity
  6 store/offline      7 signature           8 output
  9 lock               70 internal error     130 interrupted"""

# Attributes of the error classes worth showing to a machine reader. None of them can hold
# a credential: the library strips those before it builds an error.
_DETAIL_ATTRIBUTES = (
    "reference",
    "registry",
    "status_code",
    "code",
    "digest",
    "actual",
    "subject",
    "path",
    "file",
    "line",
    "format",
    "layer",
    "member",
    "wanted",
    "available",
    "differences",
    "retry_after",
)


def exit_code_for(error: BaseException) -> int:
    """The exit code for an error (70 for anything that is not a moby_assemble error)."""
    for cls, code in _TABLE:
        if isinstance(error, cls):
            return code
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_INTERNAL


def one_line(error: BaseException) -> str:
    """The error's message on one line (line breaks become ``"; "``)."""
    text = str(error) or type(error).__name__
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def error_details(error: BaseException) -> dict[str, Any]:
    """The context attributes an error carries (those that are set), JSON-compatible."""
    details: dict[str, Any] = {}
    for name in _DETAIL_ATTRIBUTES:
        value = getattr(error, name, None)
        if value is None or value in ((), ""):
            continue
        details[name] = list(value) if isinstance(value, tuple) else value
    return details
