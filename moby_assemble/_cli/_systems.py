"""Reading system descriptions for the CLI: files, ``-`` for stdin, several merged.

LinuxKit merges several YAML files given on the command line in order (kernel fields
overridden, lists appended); so does :func:`load_system`, for YAML and TOML alike.

Example::

    system = load_system(["base.yml", "extra.yml"], stdin=sys.stdin)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .._errors import ConfigError
from .._model import System

__all__ = ["STDIN", "default_name", "is_system_file", "load_system"]

#: The file name that means "read standard input".
STDIN = "-"
_YAML = (".yml", ".yaml")
_TOML = (".toml",)


def is_system_file(text: str) -> bool:
    """Whether ``text`` names a system description (``-``, or a ``.yml``/``.yaml``/``.toml``
    path, or any existing file)."""
    if text == STDIN:
        return True
    path = Path(text)
    return path.suffix in _YAML + _TOML or path.is_file()


def load_system(sources: Sequence[str], *, stdin: TextIO) -> System:
    """Read and merge the system descriptions ``sources`` (paths, or ``-`` once for stdin).

    Raises:
        ConfigError: a file is unreadable or invalid (with file, line and field path), or
            ``-`` is given twice.
    """
    if not sources:
        raise ConfigError("no system file given")
    if list(sources).count(STDIN) > 1:
        raise ConfigError("standard input ('-') can only be read once")
    parts: list[str | Path] = []
    for source in sources:
        if source == STDIN:
            # Standard input is YAML (LinuxKit's format); a text with a line break is never
            # taken for a file name.
            text = stdin.read()
            parts.append(text if "\n" in text else text + "\n")
            continue
        path = Path(source)
        if not path.is_file():
            raise ConfigError("no such file", file=source)
        parts.append(path)
    if not any(isinstance(p, Path) and p.suffix in _TOML for p in parts):
        # One call, so an error while merging names the file it comes from.
        return System.from_yaml(*parts)
    systems = [
        System.from_toml(p) if isinstance(p, Path) and p.suffix in _TOML else System.from_yaml(p)
        for p in parts
    ]
    return functools.reduce(System.merge, systems)


def default_name(sources: Sequence[str]) -> str:
    """LinuxKit's default output name: the first file's name without its extension, or
    ``moby`` for standard input."""
    first = sources[0] if sources else STDIN
    if first == STDIN:
        return "moby"
    return Path(first).stem
