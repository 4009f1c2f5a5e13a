"""Logging for the CLI: the library's ``moby_assemble`` logger, as text or JSON lines.

The library only creates loggers; the CLI is the one place that attaches a handler, and it
removes it again when the command ends (so running commands in one process, as tests do,
never stacks handlers).

Levels: ``--quiet`` shows errors only, the default shows warnings, ``-v`` adds info (one
line per request and per step), ``-vv`` debug, ``-vvv`` also httpx's own request log.

Example::

    undo = configure_logging(verbosity=1, quiet=False, json_lines=True, stream=sys.stderr)
    try:
        ...
    finally:
        undo()
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["JsonLinesFormatter", "configure_logging", "json_line"]

_TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Loggers whose records the CLI shows: ours always, httpx's only at -vvv (one INFO line per
# HTTP request is noise at -v, and ours already says what it fetches).
_OURS = "moby_assemble"
_HTTP = ("httpx", "httpcore")


def json_line(level: str, message: str, **fields: Any) -> str:
    """One JSON log object: ``time`` (UTC, ISO 8601), ``level``, ``message`` and ``fields``."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    record = {"time": now.replace("+00:00", "Z"), "level": level, "message": message}
    record.update(fields)
    return json.dumps(record, default=str)


class JsonLinesFormatter(logging.Formatter):
    """Format each record as one JSON object (``time``, ``level``, ``logger``, ``message``,
    and ``exception`` when one is attached)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(record.levelname.lower(), record.getMessage(), **fields)


def _level(verbosity: int, quiet: bool) -> int:
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)


def configure_logging(
    *, verbosity: int, quiet: bool, json_lines: bool, stream: TextIO
) -> Callable[[], None]:
    """Attach one handler writing to ``stream`` and set levels; return a function that
    restores what was there before."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter() if json_lines else logging.Formatter(_TEXT_FORMAT))
    names = [_OURS, *(_HTTP if verbosity >= 3 and not quiet else ())]
    saved: list[tuple[logging.Logger, int, bool]] = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.addHandler(handler)
        logger.setLevel(_level(verbosity, quiet))
        # The handler is ours; a root handler (a host program's, pytest's) gets nothing twice.
        logger.propagate = False

    def undo() -> None:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()

    return undo
