"""Checking and converting model field values, with the path of what is wrong.

Converters are lenient (they leave what they cannot convert for the validator); validators are
strict and raise :class:`~moby_assemble.ConfigError` whose ``path`` names the LinuxKit key
relative to the value being built (``options[1]``); the containing object or the YAML loader
prefixes it (``services[2].mounts[0].options[1]``).

Field metadata drives the dict (YAML/TOML) form: every attrs field carries the LinuxKit key it
is written under (``key``) and the kind of value (``kind``), so one table serves parsing,
writing and error paths (see :mod:`moby_assemble._model_codec`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, TypeVar

import attrs

from ._errors import ConfigError, ImageReferenceError

__all__ = [
    "check_str",
    "fail",
    "join_path",
    "meta",
    "normalise_image",
    "prefixed",
    "type_name",
]

T = TypeVar("T")


_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


_UINT32 = 2**32


def join_path(parent: str, key: str | int) -> str:
    """Append a key or index to a field path the way every error message writes it.

    Example::

        >>> join_path(join_path("services", 2), "binds")
        'services[2].binds'
        >>> join_path("sysctl", "a b")
        'sysctl["a b"]'
    """
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENT_RE.match(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key)}]"


def fail(path: str, message: str) -> NoReturn:
    """Raise a :class:`ConfigError` at ``path``."""
    raise ConfigError(message, path=path)


def prefixed(error: ConfigError, prefix: str) -> ConfigError:
    """The same error with ``prefix`` put in front of its path."""
    if not prefix:
        return error
    if not error.path:
        path = prefix
    elif error.path.startswith("["):
        path = prefix + error.path
    else:
        path = f"{prefix}.{error.path}"
    out = ConfigError(error.reason, path=path, file=error.file, line=error.line)
    return out


def type_name(value: object) -> str:
    """The JSON-ish name of a Python value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def to_tuple(value: Iterable[T] | None) -> tuple[T, ...] | None:
    """``list``/``tuple`` → ``tuple``; ``None`` stays ``None``; anything else is left as is."""
    if isinstance(value, list | tuple):
        return tuple(value)
    return value  # type: ignore[return-value]


def to_strings(value: Iterable[str] | None) -> tuple[str, ...] | None:
    """A converter for ``tuple[str, ...] | None`` fields (lenient, see :func:`to_tuple`)."""
    return to_tuple(value)


def build(cls: Callable[..., T], value: Any, path: str) -> T | Any:
    """``cls(**value)`` for a mapping (errors prefixed with ``path``), else ``value`` as is."""
    if not isinstance(value, Mapping):
        return value
    try:
        return cls(**value)
    except ConfigError as e:
        raise prefixed(e, path) from None
    except TypeError as e:
        fail(path, f"cannot build {getattr(cls, '__name__', cls)}: {e}")


def to_objects(cls: Callable[..., T], value: Any, key: str) -> tuple[T, ...] | Any:
    """Lists of ``cls`` or mappings → ``tuple[cls, ...]``; anything else is left as is.

    ``key`` is the field's LinuxKit key, so an error in item 2 says ``key[2].…``.
    """
    if not isinstance(value, list | tuple):
        return value
    return tuple(build(cls, item, join_path(key, i)) for i, item in enumerate(value))


def short_repr(obj: Any) -> str:
    """``Cls(a=1)``: an attrs value showing only the fields that differ from their defaults."""
    parts = []
    for f in attrs.fields(type(obj)):
        value = getattr(obj, f.name)
        default = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if value != default:
            parts.append(f"{f.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def field_key(attribute: attrs.Attribute[Any]) -> str:
    """The LinuxKit key of an attrs field (its metadata ``key``, else the attribute name)."""
    return str(attribute.metadata.get("key", attribute.name))


Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def check_str(path: str, value: Any) -> None:
    if not isinstance(value, str):
        fail(path, f"expected a string, got {type_name(value)}")


def check_int(path: str, value: Any, lo: int | None = None, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, f"expected an integer, got {type_name(value)}")
    if lo is not None and value < lo:
        fail(path, f"{value} is below the minimum {lo}")
    if hi is not None and value > hi:
        fail(path, f"{value} is above the maximum {hi}")


def check_id(path: str, value: Any) -> None:
    """A uid/gid: a non-negative 32-bit integer, or a name (another container, or ``root``)."""
    if isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, f"expected an integer or a container name, got {type_name(value)}")
    check_int(path, value, 0, _UINT32 - 1)


def v_optional(inner: Callable[[str, Any], None]) -> Validator:
    """A validator: ``None`` or a value ``inner`` accepts."""

    def validate(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            inner(field_key(attribute), value)

    return validate


def v_required(inner: Callable[[str, Any], None]) -> Validator:
    """A validator: a value ``inner`` accepts (``None`` is an error)."""

    def validate(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            fail(field_key(attribute), "missing value")
        inner(field_key(attribute), value)

    return validate


def check_bool(path: str, value: Any) -> None:
    if not isinstance(value, bool):
        fail(path, f"expected a boolean, got {type_name(value)}")


def check_tuple_of(inner: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    def check(path: str, value: Any) -> None:
        if not isinstance(value, tuple):
            fail(path, f"expected a list, got {type_name(value)}")
        for i, item in enumerate(value):
            inner(join_path(path, i), item)

    return check


V_STRINGS = v_optional(check_tuple_of(check_str))


V_STR = v_optional(check_str)


def check_instance(cls: type) -> Callable[[str, Any], None]:
    def check(path: str, value: Any) -> None:
        if not isinstance(value, cls):
            fail(path, f"expected {cls.__name__} (or an object), got {type_name(value)}")

    return check


def check_mode(path: str, value: Any) -> None:
    check_int(path, value, 0, 0o7777)


def parse_mode(path: str, value: Any) -> int:
    """An octal mode string as LinuxKit writes it (``"0644"``) → ``int``.

    Raises:
        ConfigError: not a string (LinuxKit rejects an unquoted ``0644``, which YAML reads as
            an integer) or not octal digits.
    """
    if not isinstance(value, str):
        hint = ' (quote it: mode: "0644")' if isinstance(value, int) else ""
        fail(path, f"mode must be an octal string, got {type_name(value)}{hint}")
    if not re.fullmatch(r"[0-7]{1,6}", value):
        fail(path, f"invalid octal mode {value!r}")
    mode = int(value, 8)
    if mode > 0o7777:
        fail(path, f"mode {value!r} is larger than 07777")
    return mode


def format_mode(mode: int) -> str:
    """``0o644`` → ``"0644"`` (LinuxKit's quoted octal string)."""
    return "0" + format(mode, "03o")


def normalise_image(value: Any, path: str = "image") -> str:
    """Expand an image reference the way LinuxKit's ``util.ReferenceExpand`` does, and check it.

    ``redis`` → ``docker.io/library/redis``, ``foo/bar`` → ``docker.io/foo/bar``; no tag is added.

    ``oci-layout:PATH[:TAG][@DIGEST]`` names an image in an OCI image layout directory
    (see :mod:`moby_assemble.store`); it is checked and kept exactly as written. A relative
    ``PATH`` is resolved only when the image is used, like ``files[].source``. LinuxKit has
    no such references: a YAML file that uses them builds here but not with ``linuxkit
    build`` (push the layout to a registry with ``moby-assemble push`` for that).

    Example::

        >>> normalise_image("linuxkit/init:v1.2")
        'docker.io/linuxkit/init:v1.2'
        >>> normalise_image("oci-layout:images:init:v1.2")
        'oci-layout:images:init:v1.2'

    Raises:
        ConfigError: not a string, or not a valid reference.
    """
    if not isinstance(value, str):
        fail(path, f"expected an image reference string, got {type_name(value)}")
    from .store._reference import is_layout_reference, parse_layout_reference

    if is_layout_reference(value):
        try:
            parse_layout_reference(value)
        except ImageReferenceError as e:
            fail(path, f"invalid image reference {value!r}: {e.reason}")
        return value
    parts = value.split("/")
    out = value
    if len(parts) == 1:
        out = "docker.io/library/" + value
    elif len(parts) == 2 and not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        out = "docker.io/" + value
    from .registry import ImageReference

    try:
        ImageReference.parse(out, default_tag=None)
    except ImageReferenceError as e:
        fail(path, f"invalid image reference {value!r}: {e.reason}")
    return out


def meta(key: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "kind": kind, **extra}


def check_shape(path: str, value: Any, shape: Any) -> None:
    """Check a JSON value against a tiny closed-schema description (see ``RESOURCES_SHAPE``)."""
    if isinstance(shape, dict):
        if not isinstance(value, Mapping):
            fail(path, f"expected an object, got {type_name(value)}")
        for key, item in value.items():
            if key not in shape:
                fail(join_path(path, str(key)), f"unknown key {key!r}")
            check_shape(join_path(path, key), item, shape[key])
    elif isinstance(shape, list):
        if not isinstance(value, list | tuple):
            fail(path, f"expected a list, got {type_name(value)}")
        for i, item in enumerate(value):
            check_shape(join_path(path, i), item, shape[0])
    elif shape == "integer":
        check_int(path, value)
    elif shape == "boolean":
        check_bool(path, value)
    else:
        check_str(path, value)
