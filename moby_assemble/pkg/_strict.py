"""Strict, typed reading of one TOML table, with path-qualified :class:`ConfigError` s.

Every getter marks its key as known; :meth:`TableReader.done` then rejects any other key, so a
misspelt field is an error naming its full path (``packages[1].inclde``) and the file.

Example::

    >>> r = TableReader({"name": "x", "colour": 1}, "", "recipe.toml")
    >>> r.string("name")
    'x'
    >>> r.done()
    Traceback (most recent call last):
    ...
    moby_assemble._errors.ConfigError: recipe.toml, colour: unknown key 'colour' (known here: name)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from .._errors import ConfigError

__all__ = ["TableReader", "type_name"]


class TableReader:
    """Typed access to one table of a parsed TOML document (see the module docstring)."""

    def __init__(self, data: Any, path: str, file: str | None) -> None:
        self.file = file
        self.path = path
        if not isinstance(data, Mapping):
            self.fail(path, f"expected a table, got {type_name(data)}")
        self.data: Mapping[str, Any] = data
        self.used: set[str] = set()

    def fail(self, path: str, message: str) -> NoReturn:
        raise ConfigError(message, path=path, file=self.file)

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def string(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.get(key)
        if value is None:
            if required:
                self.fail(self.at(key), "missing required key")
            return default
        if not isinstance(value, str):
            self.fail(self.at(key), f"expected a string, got {type_name(value)}")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(self.at(key), f"expected true or false, got {type_name(value)}")
        return value

    def integer(self, key: str, default: int = 0) -> int:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.fail(self.at(key), f"expected a non-negative integer, got {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(self.at(key), f"expected a list of strings, got {type_name(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{self.at(key)}[{i}]", f"expected a string, got {type_name(item)}")
        return tuple(value)

    def tables(self, key: str) -> list[TableReader]:
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(
                self.at(key), f"expected an array of tables ([[{key}]]), got {type_name(value)}"
            )
        path = self.at(key)
        return [TableReader(item, f"{path}[{i}]", self.file) for i, item in enumerate(value)]

    def table(self, key: str) -> TableReader | None:
        value = self.get(key)
        if value is None:
            return None
        return TableReader(value, self.at(key), self.file)

    def done(self) -> None:
        for key in self.data:
            if key not in self.used:
                known = ", ".join(sorted(self.used))
                self.fail(self.at(key), f"unknown key {key!r} (known here: {known})")


def type_name(value: Any) -> str:
    """How a value is called in messages (``a string``, ``a table`` …)."""
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
