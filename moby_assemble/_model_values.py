"""Small value types of the system model: frozen mappings, JSON objects, mounts, devices, runtime.

Everything here is an immutable, hashable value that converts from the plain ``dict``/``list``
shapes users (and YAML) give it. Validation failures are :class:`~moby_assemble.ConfigError`
whose ``path`` is relative to the value (``options[1]``); the containing object or the YAML
loader prefixes it (``services[2].mounts[0].options[1]``).

Field metadata drives the dict (YAML/TOML) form: every attrs field carries the LinuxKit key it
is written under (``key``) and the kind of value (``kind``), so one table serves parsing,
writing and error paths. See :mod:`moby_assemble._model_codec`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NoReturn, TypeAlias, TypeVar, Union, cast

import attrs

from ._errors import ConfigError, ImageReferenceError

__all__ = [
    "BindNS",
    "Device",
    "FrozenDict",
    "IDMapping",
    "Interface",
    "JSONObject",
    "JSONValue",
    "Mount",
    "Runtime",
    "join_path",
    "normalise_image",
]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

#: What a JSON document can hold once frozen.
JSONValue: TypeAlias = Union[  # a recursive alias with forward references needs Union
    bool, int, float, str, tuple["JSONValue", ...], "JSONObject", None
]

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_UINT32 = 2**32


# ---------------------------------------------------------------------------------------------
# Paths in error messages


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


# ---------------------------------------------------------------------------------------------
# Frozen containers


class FrozenDict(Mapping[K, V]):
    """An immutable, hashable mapping kept sorted by key.

    Equal to any mapping with the same items; hashes by content. Used for ``sysctl`` and
    ``annotations``.

    Example::

        >>> d = FrozenDict({"b": "2", "a": "1"})
        >>> list(d), d == {"a": "1", "b": "2"}, hash(d) == hash(FrozenDict(a="1", b="2"))
        (['a', 'b'], True, True)
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = (), **kwargs: V) -> None:
        data: dict[Any, V] = dict(items, **kwargs)
        self._data: dict[K, V] = dict(sorted(data.items(), key=lambda kv: kv[0]))  # type: ignore[assignment]
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._data,))

    def thaw(self) -> dict[K, Any]:
        """A plain (mutable) ``dict`` copy; nested frozen values are thawed too."""
        return {k: _thaw(v) for k, v in self._data.items()}


class JSONObject(FrozenDict[str, JSONValue]):
    """A deep-frozen JSON object: nested objects are ``JSONObject``, arrays are tuples.

    Example::

        >>> r = JSONObject({"memory": {"limit": 1024}, "devices": [{"allow": False}]})
        >>> r["memory"]["limit"], r["devices"][0]["allow"], r.thaw()["devices"]
        (1024, False, [{'allow': False}])
    """

    __slots__ = ()

    def __init__(
        self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), **kwargs: Any
    ) -> None:
        data = dict(items, **kwargs)
        for key in data:
            if not isinstance(key, str):
                fail(join_path("", str(key)), f"object keys must be strings, got {type_name(key)}")
        super().__init__({k: freeze_json(v, k) for k, v in data.items()})


def freeze_json(value: Any, path: str = "") -> JSONValue:
    """Deep-freeze a JSON value (dicts → :class:`JSONObject`, lists → tuples).

    Raises:
        ConfigError: the value is not JSON (a set, bytes, a non-finite float, a non-string key).
    """
    if value is None or isinstance(value, bool | int | str):
        return cast(JSONValue, value)
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(path, f"{value!r} is not a JSON number")
        return value
    if isinstance(value, Mapping):
        if isinstance(value, JSONObject):
            return value
        try:
            return JSONObject(value)
        except ConfigError as e:
            raise prefixed(e, path) from None
    if isinstance(value, list | tuple):
        return tuple(freeze_json(v, join_path(path, i)) for i, v in enumerate(value))
    fail(path, f"{type_name(value)} is not a JSON value")


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenDict):
        return value.thaw()
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Converters (lenient: anything they cannot convert is left for the validator to reject with
# a precise message) and validators (strict, path-qualified).


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


def to_frozen_dict(value: Mapping[str, str] | None) -> FrozenDict[str, str] | None:
    """Plain mappings of strings → :class:`FrozenDict`; anything else is left as is."""
    if (
        isinstance(value, Mapping)
        and not isinstance(value, FrozenDict)
        and all(isinstance(k, str) for k in value)
    ):
        return FrozenDict(value)
    return value  # type: ignore[return-value]


def to_json_object(value: Mapping[str, Any] | None) -> JSONObject | None:
    """Plain mappings → :class:`JSONObject`; values that are not JSON are left for the validator."""
    if isinstance(value, Mapping) and not isinstance(value, JSONObject):
        try:
            return JSONObject(value)
        except ConfigError:
            return value  # type: ignore[return-value]
    return value


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


def check_string_map(path: str, value: Any) -> None:
    if not isinstance(value, FrozenDict):
        fail(path, f"expected an object of strings, got {type_name(value)}")
    for key, item in value.items():
        check_str(join_path(path, key), item)


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

    Example::

        >>> normalise_image("linuxkit/init:v1.2")
        'docker.io/linuxkit/init:v1.2'

    Raises:
        ConfigError: not a string, or not a valid reference.
    """
    if not isinstance(value, str):
        fail(path, f"expected an image reference string, got {type_name(value)}")
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


# ---------------------------------------------------------------------------------------------
# Nested value classes. ``metadata`` keys: ``key`` = LinuxKit key, ``kind`` = how the codec reads
# and writes it (see _model_codec).


def meta(key: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "kind": kind, **extra}


@attrs.frozen(repr=False)
class IDMapping:
    """One user-namespace id range (``hostID``, ``containerID``, ``size``).

    Example::

        >>> IDMapping(host_id=100000, container_id=0, size=65536).size
        65536
    """

    host_id: int = attrs.field(
        default=0,
        validator=v_required(lambda p, v: check_int(p, v, 0, _UINT32 - 1)),
        metadata=meta("hostID", "int", always=True),
    )
    container_id: int = attrs.field(
        default=0,
        validator=v_required(lambda p, v: check_int(p, v, 0, _UINT32 - 1)),
        metadata=meta("containerID", "int", always=True),
    )
    size: int = attrs.field(
        default=0,
        validator=v_required(lambda p, v: check_int(p, v, 0, _UINT32)),
        metadata=meta("size", "int", always=True),
    )


_check_mappings = check_tuple_of(check_instance(IDMapping))


def _to_mappings(
    value: Iterable[IDMapping | Mapping[str, Any]] | None, key: str
) -> tuple[IDMapping, ...] | None:
    return cast("tuple[IDMapping, ...] | None", to_objects(IDMapping, value, key))


def to_uid_mappings(
    value: Iterable[IDMapping | Mapping[str, Any]] | None,
) -> tuple[IDMapping, ...] | None:
    """Converter for ``uidMappings``: mappings become :class:`IDMapping`, lists tuples."""
    return _to_mappings(value, "uidMappings")


def to_gid_mappings(
    value: Iterable[IDMapping | Mapping[str, Any]] | None,
) -> tuple[IDMapping, ...] | None:
    """Converter for ``gidMappings``: mappings become :class:`IDMapping`, lists tuples."""
    return _to_mappings(value, "gidMappings")


def _to_mount_uid_mappings(
    value: Iterable[IDMapping | Mapping[str, Any]] | None,
) -> tuple[IDMapping, ...] | None:
    return _to_mappings(value, "uidmappings")


def _to_mount_gid_mappings(
    value: Iterable[IDMapping | Mapping[str, Any]] | None,
) -> tuple[IDMapping, ...] | None:
    return _to_mappings(value, "gidmappings")


@attrs.frozen(repr=False)
class Mount:
    """A mount as in the OCI runtime spec (LinuxKit infers ``type``/``source`` defaults later).

    Example::

        >>> Mount("/var/log", type="bind", source="/var/log", options=["rbind", "rw"]).options
        ('rbind', 'rw')
    """

    destination: str = attrs.field(
        default="", validator=v_required(check_str), metadata=meta("destination", "str")
    )
    type: str = attrs.field(
        default="", validator=v_required(check_str), metadata=meta("type", "str")
    )
    source: str = attrs.field(
        default="", validator=v_required(check_str), metadata=meta("source", "str")
    )
    options: tuple[str, ...] = attrs.field(
        default=(),
        converter=to_strings,
        validator=v_required(check_tuple_of(check_str)),
        metadata=meta("options", "strings"),
    )
    uid_mappings: tuple[IDMapping, ...] = attrs.field(
        default=(),
        converter=_to_mount_uid_mappings,
        validator=v_required(_check_mappings),
        metadata=meta("uidmappings", "objects", cls=IDMapping),
    )
    gid_mappings: tuple[IDMapping, ...] = attrs.field(
        default=(),
        converter=_to_mount_gid_mappings,
        validator=v_required(_check_mappings),
        metadata=meta("gidmappings", "objects", cls=IDMapping),
    )


@attrs.frozen(repr=False)
class Device:
    """A device node exposed to a container (``path: all`` means a cgroup rule for a whole type).

    ``mode`` is an ``int`` here and a quoted octal string in YAML; LinuxKit requires it except
    for ``path: all``.

    Example::

        >>> Device("/dev/fuse", "c", 10, 229, mode=0o666).mode == 0o666
        True
    """

    path: str = attrs.field(
        validator=v_required(check_str), metadata=meta("path", "str", always=True)
    )
    type: str = attrs.field(
        validator=v_required(check_str), metadata=meta("type", "str", always=True)
    )
    major: int = attrs.field(
        default=0, validator=v_required(check_int), metadata=meta("major", "int", always=True)
    )
    minor: int = attrs.field(
        default=0, validator=v_required(check_int), metadata=meta("minor", "int", always=True)
    )
    mode: int | None = attrs.field(
        default=None, validator=v_optional(check_mode), metadata=meta("mode", "mode")
    )


@attrs.frozen(repr=False)
class Interface:
    """A network interface moved into (or created for) a container at boot (``runtime``).

    Example::

        >>> Interface(name="wg0", add="wireguard").add
        'wireguard'
    """

    name: str | None = attrs.field(
        default=None, validator=v_optional(check_str), metadata=meta("name", "str")
    )
    add: str | None = attrs.field(
        default=None, validator=v_optional(check_str), metadata=meta("add", "str")
    )
    peer: str | None = attrs.field(
        default=None, validator=v_optional(check_str), metadata=meta("peer", "str")
    )
    create_in_root: bool = attrs.field(
        default=False, validator=v_required(check_bool), metadata=meta("createInRoot", "bool")
    )


@attrs.frozen(repr=False)
class BindNS:
    """Paths where a container's new namespaces are bind-mounted, so others can join them.

    Example::

        >>> BindNS(net="/run/netns/wg").net
        '/run/netns/wg'
    """

    cgroup: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("cgroup", "str"))
    ipc: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("ipc", "str"))
    mnt: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("mnt", "str"))
    net: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("net", "str"))
    pid: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("pid", "str"))
    user: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("user", "str"))
    uts: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("uts", "str"))


def to_bind_ns(value: BindNS | Mapping[str, str] | None) -> BindNS | None:
    """Converter: a mapping becomes :class:`BindNS`."""
    return cast("BindNS | None", build(BindNS, value, "bindNS"))


def to_mounts(value: Iterable[Mount | Mapping[str, Any]] | None) -> tuple[Mount, ...] | None:
    """Converter: mappings become :class:`Mount`, lists become tuples."""
    return cast("tuple[Mount, ...] | None", to_objects(Mount, value, "mounts"))


def to_interfaces(
    value: Iterable[Interface | Mapping[str, Any]] | None,
) -> tuple[Interface, ...] | None:
    """Converter: mappings become :class:`Interface`, lists become tuples."""
    return cast("tuple[Interface, ...] | None", to_objects(Interface, value, "interfaces"))


@attrs.frozen(repr=False)
class Runtime:
    """Settings applied at boot by LinuxKit's ``service`` tool (written to ``runtime.json``).

    Each sub-field is ``None`` when unset, so label and YAML values merge field by field.

    Example::

        >>> Runtime(mkdir=["/var/lib/docker"], bind_ns={"net": "/run/netns/x"}).bind_ns.net
        '/run/netns/x'
    """

    cgroups: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_strings, validator=V_STRINGS, metadata=meta("cgroups", "strings")
    )
    mounts: tuple[Mount, ...] | None = attrs.field(
        default=None,
        converter=to_mounts,
        validator=v_optional(check_tuple_of(check_instance(Mount))),
        metadata=meta("mounts", "objects", cls=Mount),
    )
    mkdir: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_strings, validator=V_STRINGS, metadata=meta("mkdir", "strings")
    )
    interfaces: tuple[Interface, ...] | None = attrs.field(
        default=None,
        converter=to_interfaces,
        validator=v_optional(check_tuple_of(check_instance(Interface))),
        metadata=meta("interfaces", "objects", cls=Interface),
    )
    bind_ns: BindNS | None = attrs.field(
        default=None,
        converter=to_bind_ns,
        validator=v_optional(check_instance(BindNS)),
        metadata=meta("bindNS", "object", cls=BindNS),
    )
    namespace: str | None = attrs.field(
        default=None, validator=v_optional(check_str), metadata=meta("namespace", "str")
    )


for _cls in (IDMapping, Mount, Device, Interface, BindNS, Runtime):
    _cls.__repr__ = short_repr  # type: ignore[method-assign]

# ---------------------------------------------------------------------------------------------
# ``resources``: the OCI LinuxResources object, checked against the shape LinuxKit's schema
# allows (every object closed, integer/boolean/string leaves).

_I, _B, _S = "integer", "boolean", "string"
_THROTTLE = [{"major": _I, "minor": _I, "rate": _I}]
RESOURCES_SHAPE: dict[str, Any] = {
    "devices": [{"allow": _B, "type": _S, "major": _I, "minor": _I, "access": _S}],
    "memory": {
        "limit": _I,
        "reservation": _I,
        "swap": _I,
        "kernel": _I,
        "kernelTCP": _I,
        "swappiness": _I,
        "disableOOMKiller": _B,
    },
    "cpu": {
        "shares": _I,
        "quota": _I,
        "period": _I,
        "realtimeRuntime": _I,
        "realtimePeriod": _I,
        "cpus": _S,
        "mems": _S,
    },
    "pids": {"limit": _I},
    "blockio": {
        "weight": _I,
        "leafWeight": _I,
        "weightDevice": [{"major": _I, "minor": _I, "weight": _I, "leafWeight": _I}],
        "throttleReadBpsDevice": _THROTTLE,
        "throttleWriteBpsDevice": _THROTTLE,
        "throttleReadIOPSDevice": _THROTTLE,
        "throttleWriteIOPSDevice": _THROTTLE,
    },
    "hugepageLimits": [{"pageSize": _I, "limit": _I}],
    "network": {"classID": _I, "priorities": [{"name": _S, "priority": _I}]},
}


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
    elif shape == _I:
        check_int(path, value)
    elif shape == _B:
        check_bool(path, value)
    else:
        check_str(path, value)


def check_resources(path: str, value: Any) -> None:
    check_shape(path, value, RESOURCES_SHAPE)
    if not isinstance(value, JSONObject):
        fail(path, f"expected a JSON object, got {type_name(value)}")
