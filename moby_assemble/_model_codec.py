"""Plain dicts (the YAML/TOML/JSON shape LinuxKit uses) ↔ model values, driven by field metadata.

Every attrs field of the model carries ``key`` (its LinuxKit key) and ``kind`` (how it is read and
written); this module is the one place that interprets them, so parsing, writing and error paths
cannot disagree. Reading is strict like LinuxKit's JSON schema: unknown keys, ``null`` values and
wrong types are :class:`~moby_assemble.ConfigError` s naming the full path
(``services[2].binds[0]``).

Example::

    >>> from moby_assemble._model import Container
    >>> c = decode(Container, {"name": "web", "image": "nginx", "binds.add": ["/a:/b"]})
    >>> encode(c)
    {'name': 'web', 'image': 'docker.io/library/nginx', 'binds.add': ['/a:/b']}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from ._errors import ConfigError
from ._model_checks import fail, format_mode, join_path, parse_mode, prefixed, type_name
from ._model_values import FrozenDict

__all__ = ["decode", "encode", "field_reference", "keyed_fields"]

T = TypeVar("T")

_EXPECTED = {
    "strings": "a list of strings",
    "ids": "a list of integers or names",
    "objects": "a list of objects",
    "object": "an object",
    "string_map": "an object of strings",
    "json": "an object",
    "str": "a string",
    "image": "an image reference string",
    "bool": "a boolean",
    "int": "an integer",
    "id": "an integer or a name",
    "mode": "an octal mode string",
}


def keyed_fields(cls: type) -> list[attrs.Attribute[Any]]:
    """The fields of ``cls`` that appear in the dict form, in LinuxKit's order.

    Fields marked ``first`` (a container's ``name`` and ``image``) come before the inherited
    :class:`ImageConfig` fields, as in LinuxKit's ``Image`` struct.
    """
    fields = [f for f in attrs.fields(cls) if "key" in f.metadata]
    return sorted(fields, key=lambda f: not f.metadata.get("first", False))


def field_reference(cls: type) -> list[tuple[str, str, str]]:
    """``(LinuxKit key, Python attribute, expected value)`` for every field of ``cls``.

    The YAML reference in the documentation is generated from this, so it cannot drift from
    what the parser accepts.

    Example::

        >>> from moby_assemble._model import Kernel
        >>> field_reference(Kernel)[:2]
        [('image', 'image', 'an image reference string'), ('cmdline', 'cmdline', 'a string')]
    """
    rows = []
    for field in keyed_fields(cls):
        kind = field.metadata["kind"]
        what = _EXPECTED[kind]
        if kind in ("object", "objects"):
            what += f" ({field.metadata['cls'].__name__})"
        rows.append((field.metadata["key"], field.name, what))
    return rows


def decode(cls: type[T], data: Any, path: str = "") -> T:
    """Build ``cls`` from its dict form, checking keys and types.

    Raises:
        ConfigError: with ``path`` set to the offending key, e.g. ``services[0].mounts[1].type``.
    """
    if not isinstance(data, Mapping):
        fail(path, f"expected an object, got {type_name(data)}")
    fields = {f.metadata["key"]: f for f in keyed_fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            fail(path, f"keys must be strings, got {type_name(key)} {key!r}")
        field = fields.get(key)
        if field is None:
            fail(join_path(path, key), f"unknown key {key!r}{_suggest(key, fields)}")
        kwargs[field.name] = _decode_value(field, value, join_path(path, key))
    for key, field in fields.items():
        if field.default is attrs.NOTHING and field.name not in kwargs:
            fail(path, f"missing required key {key!r}")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise prefixed(e, path) from None


def _decode_value(field: attrs.Attribute[Any], value: Any, path: str) -> Any:
    kind = field.metadata["kind"]
    if value is None:
        fail(path, f"expected {_EXPECTED.get(kind, 'a value')}, got null")
    if kind == "mode":
        return parse_mode(path, value)
    if kind == "object":
        return decode(field.metadata["cls"], value, path)
    if kind == "objects":
        if not isinstance(value, list | tuple):
            fail(path, f"expected a list of objects, got {type_name(value)}")
        cls = field.metadata["cls"]
        return tuple(decode(cls, item, join_path(path, i)) for i, item in enumerate(value))
    if kind in ("strings", "ids") and not isinstance(value, list | tuple):
        fail(path, f"expected {_EXPECTED[kind]}, got {type_name(value)}")
    if kind in ("string_map", "json") and not isinstance(value, Mapping):
        fail(path, f"expected {_EXPECTED[kind]}, got {type_name(value)}")
    if kind == "string_map":
        for k in value:
            if not isinstance(k, str):
                fail(path, f"keys must be strings, got {type_name(k)} {k!r}")
    # Scalars and lists of scalars: the model's own validators check the types and say where.
    return value


def _suggest(key: str, fields: Mapping[str, Any]) -> str:
    lowered = {k.lower(): k for k in fields}
    if key.lower() in lowered:
        return f" (did you mean {lowered[key.lower()]!r}?)"
    return ""


def encode(obj: Any) -> dict[str, Any]:
    """The dict form of a model value: LinuxKit keys, defaults and unset fields left out."""
    out: dict[str, Any] = {}
    for field in keyed_fields(type(obj)):
        value = getattr(obj, field.name)
        if value is None:
            continue
        if value == field.default and not field.metadata.get("always", False):
            continue
        out[field.metadata["key"]] = _encode_value(field.metadata["kind"], value)
    return out


def _encode_value(kind: str, value: Any) -> Any:
    if kind == "mode":
        return format_mode(value)
    if kind == "object":
        return encode(value)
    if kind == "objects":
        return [encode(v) for v in value]
    if kind in ("strings", "ids"):
        return list(value)
    if isinstance(value, FrozenDict):
        return value.thaw()
    return value
