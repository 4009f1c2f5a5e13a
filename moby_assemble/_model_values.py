"""Small value types of the system model: frozen mappings, JSON objects, mounts, devices, runtime.

Everything here is an immutable, hashable value that converts from the plain ``dict``/``list``
shapes users (and YAML) give it; invalid values are :class:`~moby_assemble.ConfigError` s with
a path relative to the value (see :mod:`moby_assemble._model_checks`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeAlias, TypeVar, Union, cast

import attrs

from ._errors import ConfigError
from ._model_checks import (
    V_STR,
    V_STRINGS,
    build,
    check_bool,
    check_instance,
    check_int,
    check_mode,
    check_shape,
    check_str,
    check_tuple_of,
    fail,
    join_path,
    meta,
    prefixed,
    short_repr,
    to_objects,
    to_strings,
    type_name,
    v_optional,
    v_required,
)

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
]

K = TypeVar("K")
V = TypeVar("V")

_UINT32 = 2**32


#: What a JSON document can hold once frozen.
JSONValue: TypeAlias = Union[  # a recursive alias with forward references needs Union
    bool, int, float, str, tuple["JSONValue", ...], "JSONObject", None
]


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


def check_string_map(path: str, value: Any) -> None:
    if not isinstance(value, FrozenDict):
        fail(path, f"expected an object of strings, got {type_name(value)}")
    for key, item in value.items():
        check_str(join_path(path, key), item)


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


def check_resources(path: str, value: Any) -> None:
    check_shape(path, value, RESOURCES_SHAPE)
    if not isinstance(value, JSONObject):
        fail(path, f"expected a JSON object, got {type_name(value)}")
