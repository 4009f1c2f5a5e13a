"""The components of a system: containers, init images, the kernel, files and volumes.

:class:`ImageConfig` holds exactly the per-image fields LinuxKit has (also what the
``org.mobyproject.config`` label may contain); :class:`Container` adds a name, an image and a
:class:`Role`. ``None`` always means *not set* (the label or the image default applies); an
empty tuple means *set to empty* (``binds: []`` removes the label's binds).

All classes are frozen attrs values, hashable and compared by content; lists become tuples and
dicts become :class:`~moby_assemble._model_values.FrozenDict` on construction.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

import attrs

from ._model_values import (
    V_STR,
    V_STRINGS,
    BindNS,
    Device,
    FrozenDict,
    IDMapping,
    Interface,
    JSONObject,
    Mount,
    Runtime,
    build,
    check_bool,
    check_id,
    check_instance,
    check_int,
    check_mode,
    check_resources,
    check_str,
    check_string_map,
    check_tuple_of,
    fail,
    field_key,
    meta,
    normalise_image,
    to_frozen_dict,
    to_gid_mappings,
    to_json_object,
    to_mounts,
    to_objects,
    to_strings,
    to_tuple,
    to_uid_mappings,
    v_optional,
    v_required,
)

__all__ = [
    "IMAGE_CONFIG_FIELDS",
    "BindNS",
    "Container",
    "Device",
    "File",
    "IDMapping",
    "ImageConfig",
    "InitImage",
    "Interface",
    "Kernel",
    "Mount",
    "Role",
    "Runtime",
    "Stage",
    "Volume",
    "check_name",
    "yaml_key",
]


class Role(enum.StrEnum):
    """What a component does in the system (LinuxKit's YAML has no field for it)."""

    KERNEL = "kernel"
    INIT = "init"
    RUNTIME = "runtime"
    NETWORK = "network"
    STORAGE = "storage"
    SERVICE = "service"


class Stage(enum.StrEnum):
    """When a component runs: ``init`` (unpacked), ``onboot``, ``services``, ``onshutdown``."""

    INIT = "init"
    ONBOOT = "onboot"
    SERVICES = "services"
    ONSHUTDOWN = "onshutdown"


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


_NAME_RE = re.compile(r"^[^/\x00]+$")


def check_name(path: str, value: Any) -> None:
    """Container names become directory names and containerd ids: no ``/``, not ``.``/``..``."""
    check_str(path, value)
    if not value or value in (".", "..") or not _NAME_RE.match(value):
        fail(path, f"invalid container name {value!r} (it becomes a directory name)")


def to_image(value: str) -> str:
    """Converter: normalise a reference like LinuxKit (non-strings are left for the validator)."""
    return normalise_image(value, "image") if isinstance(value, str) else value


def to_role(value: Role | str | None) -> Role | None:
    """Converter: role names become :class:`Role` (unknown names are an error)."""
    if isinstance(value, str) and not isinstance(value, Role):
        try:
            return Role(value)
        except ValueError:
            fail("role", f"unknown role {value!r} (one of {', '.join(r.value for r in Role)})")
    return value


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

    def __repr__(self) -> str:
        parts = [repr(self.name), repr(self.image)]
        if self.role is not None:
            parts.append(f"role={self.role.value!r}")
        parts += [f"{k}={v!r}" for k, v in self.set_fields().items()]
        return f"Container({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from ._display import fields_html

        return fields_html(self)


@attrs.frozen(repr=False)
class InitImage:
    """An image unpacked straight into the root filesystem (LinuxKit's ``init`` section).

    ``role`` is :attr:`Role.INIT` (init system, base files) or :attr:`Role.RUNTIME` (runc,
    containerd). In YAML an init image is just its reference.

    Example::

        >>> InitImage("linuxkit/runc:v1", role="runtime")
        InitImage('docker.io/linuxkit/runc:v1', role='runtime')
    """

    image: str = attrs.field(
        converter=to_image, validator=v_required(check_str), metadata=meta("image", "image")
    )
    role: Role = attrs.field(
        default=Role.INIT,
        kw_only=True,
        converter=to_role,
        validator=v_required(check_instance(Role)),
    )

    @role.validator
    def _check_role(self, _attribute: attrs.Attribute[Any], value: Role) -> None:
        if value not in (Role.INIT, Role.RUNTIME):
            fail("role", f"an init image has role 'init' or 'runtime', not {value.value!r}")

    @property
    def name(self) -> str:
        """A display name: the last path component of the repository."""
        repo = self.image.split("@")[0].rsplit("/", 1)[-1]
        return repo.split(":")[0]

    def __repr__(self) -> str:
        role = "" if self.role is Role.INIT else f", role={self.role.value!r}"
        return f"InitImage({self.image!r}{role})"


def to_optional_image(value: str | None) -> str | None:
    """Converter: like :func:`to_image`; ``""`` means not set."""
    if value == "":
        return None
    return normalise_image(value, "image") if isinstance(value, str) else value


@attrs.frozen(repr=False)
class Kernel:
    """The kernel image and how to use it.

    Attributes:
        image: the OCI image holding the kernel (``None`` in a partial configuration).
        cmdline: the kernel command line (``boot/cmdline``).
        binary: the kernel's file name at the image root (LinuxKit's default ``kernel``).
        tar: the modules tarball at the image root (default ``kernel.tar``; ``"none"`` or ``""``
            disables it).
        ucode: a CPU microcode cpio at the image root, prepended to the initrd.

    Example::

        >>> Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0")
        Kernel('docker.io/linuxkit/kernel:6.6', cmdline='console=ttyS0')
    """

    image: str | None = attrs.field(
        default=None,
        converter=to_optional_image,
        validator=v_optional(check_str),
        metadata=meta("image", "image"),
    )
    cmdline: str = attrs.field(
        default="", kw_only=True, validator=v_required(check_str), metadata=meta("cmdline", "str")
    )
    binary: str | None = attrs.field(
        default=None, kw_only=True, validator=v_optional(check_str), metadata=meta("binary", "str")
    )
    tar: str | None = attrs.field(
        default=None, kw_only=True, validator=v_optional(check_str), metadata=meta("tar", "str")
    )
    ucode: str | None = attrs.field(
        default=None, kw_only=True, validator=v_optional(check_str), metadata=meta("ucode", "str")
    )

    @property
    def role(self) -> Role:
        return Role.KERNEL

    def merged_with(self, later: Kernel) -> Kernel:
        """LinuxKit's multi-file merge: ``later``'s non-empty fields override this one's."""
        return Kernel(
            later.image or self.image,
            cmdline=later.cmdline or self.cmdline,
            binary=later.binary or self.binary,
            tar=later.tar if later.tar is not None else self.tar,
            ucode=later.ucode if later.ucode is not None else self.ucode,
        )

    def __repr__(self) -> str:
        parts = [repr(self.image)]
        for name in ("cmdline", "binary", "tar", "ucode"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}={value!r}")
        return f"Kernel({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from ._display import fields_html

        return fields_html(self)


_METADATA_FORMATS = ("yaml", "json")


@attrs.frozen(repr=False)
class File:
    """A file, directory or symlink added to the root filesystem after all images.

    Exactly one of ``contents``, ``source`` and ``metadata`` gives a regular file its content
    (none of them: an empty file). ``mode`` is an ``int`` (YAML writes ``"0644"``); LinuxKit's
    defaults are ``0o600`` for files and ``0o700`` for directories. ``uid``/``gid`` may name a
    container (its allocated id) or be ``"root"``. A relative ``source`` is resolved against the
    directory of the YAML file it was read from.

    Example::

        >>> File("etc/motd", contents="hello\\n", mode=0o644)
        File('etc/motd', contents='hello\\n', mode=0o644)
    """

    path: str = attrs.field(validator=v_required(check_str), metadata=meta("path", "str"))
    directory: bool = attrs.field(
        default=False,
        kw_only=True,
        validator=v_required(check_bool),
        metadata=meta("directory", "bool"),
    )
    symlink: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=v_optional(check_str),
        metadata=meta("symlink", "str"),
    )
    contents: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=v_optional(check_str),
        metadata=meta("contents", "str"),
    )
    source: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=v_optional(check_str),
        metadata=meta("source", "str"),
    )
    metadata: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=v_optional(check_str),
        metadata=meta("metadata", "str"),
    )
    optional: bool = attrs.field(
        default=False,
        kw_only=True,
        validator=v_required(check_bool),
        metadata=meta("optional", "bool"),
    )
    mode: int | None = attrs.field(
        default=None,
        kw_only=True,
        validator=v_optional(check_mode),
        metadata=meta("mode", "mode"),
    )
    uid: int | str | None = attrs.field(
        default=None, kw_only=True, validator=v_optional(check_id), metadata=meta("uid", "id")
    )
    gid: int | str | None = attrs.field(
        default=None, kw_only=True, validator=v_optional(check_id), metadata=meta("gid", "id")
    )

    def __attrs_post_init__(self) -> None:
        if not self.path.strip("/"):
            fail("path", f"file path {self.path!r} names the root directory")
        given = [n for n in ("contents", "source", "metadata") if getattr(self, n) is not None]
        if len(given) > 1:
            fail(given[1], f"file {self.path!r}: {' and '.join(given)} are mutually exclusive")
        if self.directory and (given or self.symlink is not None):
            what = given[0] if given else "symlink"
            fail(what, f"file {self.path!r} is a directory and cannot have {what}")
        if self.symlink is not None and given:
            fail(given[0], f"file {self.path!r} is a symlink and cannot have {given[0]}")
        if self.metadata is not None and self.metadata not in _METADATA_FORMATS:
            fail("metadata", f"metadata format must be 'yaml' or 'json', not {self.metadata!r}")

    @property
    def kind(self) -> str:
        """``directory``, ``symlink`` or ``file``."""
        if self.directory:
            return "directory"
        return "symlink" if self.symlink is not None else "file"

    def __repr__(self) -> str:
        parts = [repr(self.path)]
        for f in attrs.fields(File)[1:]:
            value = getattr(self, f.name)
            if value is None or value is False:
                continue
            parts.append(f"{f.name}={oct(value) if f.name == 'mode' else repr(value)}")
        return f"File({', '.join(parts)})"


_VOLUME_NAME_RE = re.compile(r"^[a-z0-9_-]+$")


def _check_volume_name(path: str, value: Any) -> None:
    check_str(path, value)
    if not _VOLUME_NAME_RE.match(value):
        fail(path, f"invalid volume name {value!r}: use lower-case letters, digits, '_' and '-'")


def _check_volume_format(path: str, value: Any) -> None:
    if value not in ("filesystem", "oci"):
        fail(path, f"volume format must be 'filesystem' or 'oci', not {value!r}")


@attrs.frozen(repr=False)
class Volume:
    """A named overlay volume (``/containers/volumes/<name>``) that binds can refer to by name.

    Example::

        >>> Volume("data", image="alpine:3.20", readonly=True)
        Volume('data', image='docker.io/library/alpine:3.20', readonly=True)
    """

    name: str = attrs.field(validator=v_required(_check_volume_name), metadata=meta("name", "str"))
    image: str | None = attrs.field(
        default=None,
        kw_only=True,
        converter=to_optional_image,
        validator=v_optional(check_str),
        metadata=meta("image", "image"),
    )
    readonly: bool = attrs.field(
        default=False,
        kw_only=True,
        validator=v_required(check_bool),
        metadata=meta("readonly", "bool"),
    )
    format: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=v_optional(_check_volume_format),
        metadata=meta("format", "str"),
    )
    platforms: tuple[str, ...] = attrs.field(
        default=(),
        kw_only=True,
        converter=to_tuple,
        validator=v_required(check_tuple_of(check_str)),
        metadata=meta("platforms", "strings"),
    )

    def __repr__(self) -> str:
        parts = [repr(self.name)]
        for name in ("image", "readonly", "format", "platforms"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}={value!r}")
        return f"Volume({', '.join(parts)})"
