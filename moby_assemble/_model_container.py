"""Containers: LinuxKit's per-image settings (:class:`ImageConfig`) plus a name and an image.

:class:`ImageConfig` holds exactly the per-image fields LinuxKit has (also what the
``org.mobyproject.config`` label may contain); :class:`Container` adds a name, an image and a
:class:`~moby_assemble._model_components.Role`. ``None`` always means *not set* (the label or
the image default applies); an empty tuple means *set to empty* (``binds: []`` removes the
label's binds). Lists become tuples and dicts frozen mappings on construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import attrs

from ._model_checks import (
    V_STR,
    V_STRINGS,
    build,
    check_bool,
    check_id,
    check_instance,
    check_int,
    check_str,
    check_tuple_of,
    fail,
    field_key,
    meta,
    to_objects,
    to_strings,
    to_tuple,
    v_optional,
    v_required,
)
from ._model_components import Role, check_name, to_image, to_role
from ._model_values import (
    Device,
    FrozenDict,
    IDMapping,
    JSONObject,
    Mount,
    Runtime,
    check_resources,
    check_string_map,
    to_frozen_dict,
    to_gid_mappings,
    to_json_object,
    to_mounts,
    to_uid_mappings,
)

__all__ = ["IMAGE_CONFIG_FIELDS", "Container", "ImageConfig", "yaml_key"]


# ---------------------------------------------------------------------------------------------
# Validators and converters of the per-image fields. Every field spells out attrs.field(...) so
# mypy's attrs plugin sees the converters (users may pass lists and dicts).


def _check_bind(path: str, value: Any) -> None:
    check_str(path, value)
    parts = value.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        fail(path, f"bind {value!r} is not src:dst[:options]")


def _check_tmpfs(path: str, value: Any) -> None:
    check_str(path, value)
    parts = value.split(":")
    if len(parts) > 2:
        fail(path, f"tmpfs {value!r} has more than one ':' (expected dst[:options])")
    if not parts[0]:
        fail(path, f"tmpfs {value!r} has no destination (expected dst[:options])")


def to_devices(value: Iterable[Device | Mapping[str, Any]] | None) -> tuple[Device, ...] | None:
    """Converter: mappings become :class:`Device`, lists become tuples."""
    return cast("tuple[Device, ...] | None", to_objects(Device, value, "devices"))


def to_ids(value: Iterable[int | str] | None) -> tuple[int | str, ...] | None:
    """Converter for ``additional_gids``."""
    return to_tuple(value)


def to_runtime(value: Runtime | Mapping[str, Any] | None) -> Runtime | None:
    """Converter: a mapping becomes :class:`Runtime`."""
    return cast("Runtime | None", build(Runtime, value, "runtime"))


_V_MOUNTS = v_optional(check_tuple_of(check_instance(Mount)))
_V_DEVICES = v_optional(check_tuple_of(check_instance(Device)))
_V_MAPPINGS = v_optional(check_tuple_of(check_instance(IDMapping)))
_V_BINDS = v_optional(check_tuple_of(_check_bind))
_V_TMPFS = v_optional(check_tuple_of(_check_tmpfs))
_V_BOOL = v_optional(check_bool)
_V_ID = v_optional(check_id)
_V_IDS = v_optional(check_tuple_of(check_id))
_V_OOM = v_optional(lambda p, v: check_int(p, v, -1000, 1000))
_V_RESOURCES = v_optional(check_resources)
_V_MAP = v_optional(check_string_map)
_V_RUNTIME = v_optional(check_instance(Runtime))


@attrs.frozen(kw_only=True, repr=False)
class ImageConfig:
    """The per-image settings of LinuxKit (YAML fields and ``org.mobyproject.config`` label).

    Python names are snake_case; :func:`yaml_key` gives the LinuxKit key
    (``capabilities_add`` ↔ ``capabilities.add``, ``masked_paths`` ↔ ``maskedPaths``).
    All fields are keyword-only and default to ``None`` (not set).

    Example::

        >>> cfg = ImageConfig(capabilities=["CAP_NET_ADMIN"], sysctl={"net.ipv4.ip_forward": "1"})
        >>> cfg.capabilities, cfg.sysctl["net.ipv4.ip_forward"], cfg.binds is None
        (('CAP_NET_ADMIN',), '1', True)
    """

    capabilities: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=to_strings,
        validator=V_STRINGS,
        metadata=meta("capabilities", "strings"),
    )
    capabilities_add: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=to_strings,
        validator=V_STRINGS,
        metadata=meta("capabilities.add", "strings"),
    )
    ambient: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_strings, validator=V_STRINGS, metadata=meta("ambient", "strings")
    )
    mounts: tuple[Mount, ...] | None = attrs.field(
        default=None,
        converter=to_mounts,
        validator=_V_MOUNTS,
        metadata=meta("mounts", "objects", cls=Mount),
    )
    binds: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_strings, validator=_V_BINDS, metadata=meta("binds", "strings")
    )
    binds_add: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=to_strings,
        validator=_V_BINDS,
        metadata=meta("binds.add", "strings"),
    )
    devices: tuple[Device, ...] | None = attrs.field(
        default=None,
        converter=to_devices,
        validator=_V_DEVICES,
        metadata=meta("devices", "objects", cls=Device),
    )
    tmpfs: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_strings, validator=_V_TMPFS, metadata=meta("tmpfs", "strings")
    )
    command: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_strings, validator=V_STRINGS, metadata=meta("command", "strings")
    )
    env: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_strings, validator=V_STRINGS, metadata=meta("env", "strings")
    )
    cwd: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("cwd", "str"))
    net: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("net", "str"))
    pid: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("pid", "str"))
    ipc: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("ipc", "str"))
    uts: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("uts", "str"))
    userns: str | None = attrs.field(default=None, validator=V_STR, metadata=meta("userns", "str"))
    hostname: str | None = attrs.field(
        default=None, validator=V_STR, metadata=meta("hostname", "str")
    )
    readonly: bool | None = attrs.field(
        default=None, validator=_V_BOOL, metadata=meta("readonly", "bool")
    )
    masked_paths: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=to_strings,
        validator=V_STRINGS,
        metadata=meta("maskedPaths", "strings"),
    )
    readonly_paths: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=to_strings,
        validator=V_STRINGS,
        metadata=meta("readonlyPaths", "strings"),
    )
    uid: int | str | None = attrs.field(default=None, validator=_V_ID, metadata=meta("uid", "id"))
    gid: int | str | None = attrs.field(default=None, validator=_V_ID, metadata=meta("gid", "id"))
    additional_gids: tuple[int | str, ...] | None = attrs.field(
        default=None, converter=to_ids, validator=_V_IDS, metadata=meta("additionalGids", "ids")
    )
    no_new_privileges: bool | None = attrs.field(
        default=None, validator=_V_BOOL, metadata=meta("noNewPrivileges", "bool")
    )
    oom_score_adj: int | None = attrs.field(
        default=None, validator=_V_OOM, metadata=meta("oomScoreAdj", "int")
    )
    rootfs_propagation: str | None = attrs.field(
        default=None, validator=V_STR, metadata=meta("rootfsPropagation", "str")
    )
    cgroups_path: str | None = attrs.field(
        default=None, validator=V_STR, metadata=meta("cgroupsPath", "str")
    )
    resources: JSONObject | None = attrs.field(
        default=None,
        converter=to_json_object,
        validator=_V_RESOURCES,
        metadata=meta("resources", "json"),
    )
    sysctl: FrozenDict[str, str] | None = attrs.field(
        default=None,
        converter=to_frozen_dict,
        validator=_V_MAP,
        metadata=meta("sysctl", "string_map"),
    )
    rlimits: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_strings, validator=V_STRINGS, metadata=meta("rlimits", "strings")
    )
    uid_mappings: tuple[IDMapping, ...] | None = attrs.field(
        default=None,
        converter=to_uid_mappings,
        validator=_V_MAPPINGS,
        metadata=meta("uidMappings", "objects", cls=IDMapping),
    )
    gid_mappings: tuple[IDMapping, ...] | None = attrs.field(
        default=None,
        converter=to_gid_mappings,
        validator=_V_MAPPINGS,
        metadata=meta("gidMappings", "objects", cls=IDMapping),
    )
    annotations: FrozenDict[str, str] | None = attrs.field(
        default=None,
        converter=to_frozen_dict,
        validator=_V_MAP,
        metadata=meta("annotations", "string_map"),
    )
    runtime: Runtime | None = attrs.field(
        default=None,
        converter=to_runtime,
        validator=_V_RUNTIME,
        metadata=meta("runtime", "object", cls=Runtime),
    )

    def set_fields(self) -> dict[str, Any]:
        """The fields that are set (not ``None``), by Python name, in declaration order."""
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(ImageConfig)
            if getattr(self, f.name) is not None
        }

    @property
    def config(self) -> ImageConfig:
        """Just the :class:`ImageConfig` part (for a :class:`Container`, without name/image)."""
        if type(self) is ImageConfig:
            return self
        return ImageConfig(**{f.name: getattr(self, f.name) for f in attrs.fields(ImageConfig)})

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.set_fields().items())
        return f"ImageConfig({inner})"


#: Python attribute names of the per-image fields, in LinuxKit's order.
IMAGE_CONFIG_FIELDS: tuple[str, ...] = tuple(f.name for f in attrs.fields(ImageConfig))


def yaml_key(name: str) -> str:
    """The LinuxKit key of an :class:`ImageConfig` field (``masked_paths`` → ``maskedPaths``)."""
    return field_key(attrs.fields_dict(ImageConfig)[name])


@attrs.frozen(repr=False)
class Container(ImageConfig):
    """A container: a name, an image and the per-image settings of :class:`ImageConfig`.

    The image is normalised like LinuxKit (``redis`` → ``docker.io/library/redis``, no tag
    added). ``role`` says what the container does; it is not part of LinuxKit's YAML.

    Example::

        >>> web = Container("web", "nginx:1.27", binds=["/var/data:/data"])
        >>> web.image, web.binds
        ('docker.io/library/nginx:1.27', ('/var/data:/data',))
        >>> web
        Container('web', 'docker.io/library/nginx:1.27', binds=('/var/data:/data',))
    """

    name: str = attrs.field(
        validator=v_required(check_name), metadata=meta("name", "str", first=True)
    )
    image: str = attrs.field(
        converter=to_image,
        validator=v_required(check_str),
        metadata=meta("image", "image", first=True),
    )
    role: Role | None = attrs.field(
        default=None,
        kw_only=True,
        converter=to_role,
        validator=v_optional(check_instance(Role)),
        metadata={"kind": "model-only"},
    )

    #: The directory a relative ``oci-layout:`` image path is read from (the YAML file's
    #: directory when loaded from a file). Not part of the value's identity, never written out.
    base_dir: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)

    def __repr__(self) -> str:
        parts = [repr(self.name), repr(self.image)]
        if self.role is not None:
            parts.append(f"role={self.role.value!r}")
        parts += [f"{k}={v!r}" for k, v in self.set_fields().items()]
        return f"Container({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from ._display import fields_html

        return fields_html(self)
