"""JSON that cannot nest deeper than the library's code can follow.

Every JSON document the library reads from outside (manifests, image configs, ``index.json``,
lock files) goes through :func:`loads_json`. Python's ``json`` parser recurses once per
nesting level, so a few kilobytes of ``[[[[...`` raise ``RecursionError``, and a document
that parses just under the interpreter's limit can still overflow whatever walks it later.
:func:`loads_json` turns both into :class:`NestingError`, a ``ValueError`` like every other
malformed-JSON error, so the callers' existing handling names the file or image in their
typed error.

Example:
    >>> loads_json(b'{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> loads_json("[" * 200 + "]" * 200)
    Traceback (most recent call last):
    ...
    moby_assemble._parse.NestingError: nested more than 100 levels deep
"""

from __future__ import annotations

import json
from typing import Any

#: How deep a document may nest. Real ones (OCI documents, locks, labels) stay under ten.
MAX_DEPTH = 100


class NestingError(ValueError):
    """A document nests deeper than :data:`MAX_DEPTH` (or than the parser could follow)."""

    def __init__(self) -> None:
        super().__init__(f"nested more than {MAX_DEPTH} levels deep")


def loads_json(data: str | bytes | bytearray) -> Any:
    """``json.loads`` with a bound on nesting.

    Raises:
        NestingError: arrays/objects nest deeper than :data:`MAX_DEPTH`.
        ValueError: not JSON (``json.JSONDecodeError``); ``UnicodeDecodeError`` for bytes
            that are not UTF-8/16/32, as ``json.loads`` raises them.
    """
    try:
        doc = json.loads(data)
    except RecursionError:
        raise NestingError from None
    # Without MAX_DEPTH brackets the document cannot be that deep: two C-speed counts keep
    # the walk off every small document.
    if isinstance(data, str):
        opened = data.count("[") + data.count("{")
    else:
        opened = data.count(b"[") + data.count(b"{")
    if opened > MAX_DEPTH:
        _check_depth(doc)
    return doc


def _check_depth(doc: Any) -> None:
    # Iterative, so the check itself cannot overflow.
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise NestingError
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
