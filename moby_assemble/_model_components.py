"""The other components of a system: init images, the kernel, files and volumes; roles, stages.

All classes are frozen attrs values, hashable and compared by content. Containers live in
:mod:`moby_assemble._model_container`.
"""

from __future__ import annotations

import enum
import os
import re
from typing import Any

import attrs

from ._model_checks import (
    check_bool,
    check_id,
    check_instance,
    check_mode,
    check_str,
    check_tuple_of,
    fail,
    meta,
    normalise_image,
    to_tuple,
    v_optional,
    v_required,
)

__all__ = [
    "File",
    "InitImage",
    "Kernel",
    "Role",
    "Stage",
    "Volume",
    "check_name",
    "to_image",
    "to_role",
]


class Role(enum.StrEnum):
    """What a component does in the system (LinuxKit's YAML has no field for it)."""

    KERNEL = "kernel"
    INIT = "init"
    RUNTIME = "runtime"
    NETWORK = "network"
    STORAGE = "storage"
    SERVICE = "service"
    BOOTLOADER = "bootloader"


class Stage(enum.StrEnum):
    """When a component runs: ``init`` (unpacked), ``onboot``, ``services``, ``onshutdown``."""

    INIT = "init"
    ONBOOT = "onboot"
    SERVICES = "services"
    ONSHUTDOWN = "onshutdown"


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

    #: The directory a relative ``oci-layout:`` image path is read from (the YAML file's
    #: directory when loaded from a file). Not part of the value's identity, never written out.
    base_dir: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)

    @role.validator
    def _check_role(self, _attribute: attrs.Attribute[Any], value: Role) -> None:
        if value not in (Role.INIT, Role.RUNTIME, Role.BOOTLOADER):
            roles = "'init' or 'runtime' (or 'bootloader')"
            fail("role", f"an init image has role {roles}, not {value.value!r}")

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

    #: The directory a relative ``oci-layout:`` image path is read from (the YAML file's
    #: directory when loaded from a file). Not part of the value's identity, never written out.
    base_dir: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)

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
    #: The directory a relative ``source`` is read from (the YAML file's directory when loaded
    #: from a file; ``None`` means the current directory at assembly time). Not part of the
    #: value's identity and never written out, so systems loaded from two checkouts compare
    #: equal and the ``metadata`` files they produce carry no build-machine paths.
    base_dir: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)

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

    def source_path(self) -> str | None:
        """Where ``source`` is read from: ``~`` expanded, a relative path joined to
        :attr:`base_dir` (or left relative to the current directory when there is none)."""
        if self.source is None:
            return None
        path = os.path.expanduser(self.source)
        if self.base_dir is not None and not os.path.isabs(path):
            path = os.path.normpath(os.path.join(self.base_dir, path))
        return path

    @property
    def kind(self) -> str:
        """``directory``, ``symlink`` or ``file``."""
        if self.directory:
            return "directory"
        return "symlink" if self.symlink is not None else "file"

    def __repr__(self) -> str:
        parts = [repr(self.path)]
        for f in attrs.fields(File)[1:]:
            if "key" not in f.metadata:
                continue
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

    #: The directory a relative ``oci-layout:`` image path is read from (the YAML file's
    #: directory when loaded from a file). Not part of the value's identity, never written out.
    base_dir: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)

    def __repr__(self) -> str:
        parts = [repr(self.name)]
        for name in ("image", "readonly", "format", "platforms"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}={value!r}")
        return f"Volume({', '.join(parts)})"
