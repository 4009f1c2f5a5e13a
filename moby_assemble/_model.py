"""The system model: what a LinuxKit-style system is made of, as immutable values (no I/O).

A :class:`System` has a kernel, init images, containers in three stages (``onboot``,
``services``, ``onshutdown``), files and volumes, plus the platforms it is built for. It is
changed only through ``with_*`` methods that return new values, so re-running a notebook cell
never adds a component twice. Containers live in :mod:`._model_container`, the other components
in :mod:`._model_components` and the small value types in :mod:`._model_values`; they are
re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ._errors import ConfigError, PlatformError
from ._model_checks import check_instance, check_tuple_of, fail, join_path, prefixed, v_required
from ._model_components import File, InitImage, Kernel, Role, Stage, Volume
from ._model_container import IMAGE_CONFIG_FIELDS, Container, ImageConfig, yaml_key
from ._model_values import (
    BindNS,
    Device,
    FrozenDict,
    IDMapping,
    Interface,
    JSONObject,
    JSONValue,
    Mount,
    Runtime,
)
from ._platform import Platform

if TYPE_CHECKING:
    from pathlib import Path

    from ._diff import SystemDiff
    from ._lock import Lock

__all__ = [
    "IMAGE_CONFIG_FIELDS",
    "BindNS",
    "Component",
    "Container",
    "Device",
    "File",
    "FrozenDict",
    "IDMapping",
    "ImageConfig",
    "InitImage",
    "Interface",
    "JSONObject",
    "JSONValue",
    "Kernel",
    "Mount",
    "Role",
    "Runtime",
    "Stage",
    "System",
    "Volume",
    "yaml_key",
]

#: Anything a system holds: what :meth:`System.components` yields and :meth:`System.replace` swaps.
Component = Kernel | InitImage | Container | File | Volume

_CONTAINER_STAGES = (Stage.ONBOOT, Stage.ONSHUTDOWN, Stage.SERVICES)


class _InitLike(Protocol):
    """What :meth:`System.with_init` accepts besides strings: an ``image`` and a ``role``."""

    @property
    def image(self) -> str: ...


def _to_init_image(value: Any, path: str = "init") -> InitImage:
    if isinstance(value, InitImage):
        return value
    if isinstance(value, str):
        return InitImage(value)
    image = getattr(value, "image", None)
    if isinstance(image, str):
        role = getattr(value, "role", None) or Role.INIT
        return InitImage(image, role=role)
    fail(path, f"an init image is a reference or has an .image, got {type(value).__name__}")


def _to_init_tuple(value: Iterable[Any]) -> tuple[InitImage, ...]:
    if isinstance(value, str):
        value = (value,)
    return tuple(_to_init_image(v, join_path("init", i)) for i, v in enumerate(value))


def _to_containers(value: Iterable[Container]) -> tuple[Container, ...]:
    return tuple(value)


def _to_files(value: Iterable[File]) -> tuple[File, ...]:
    return tuple(value)


def _to_volumes(value: Iterable[Volume]) -> tuple[Volume, ...]:
    return tuple(value)


def _to_platforms(value: Iterable[Platform | str]) -> tuple[Platform, ...]:
    if isinstance(value, str | Platform):
        value = (value,)
    out: list[Platform] = []
    for p in value:
        platform = Platform.parse(p) if isinstance(p, str) else p
        if platform not in out:
            out.append(platform)
    return tuple(out)


def _to_kernel(value: Kernel | str | None) -> Kernel | None:
    return Kernel(value) if isinstance(value, str) else value


def _unique_service_names(services: tuple[Container, ...]) -> None:
    # LinuxKit checks services only: they run side by side under their names. onboot and
    # onshutdown bundles are numbered (000-format, 001-format), so LinuxKit's own examples
    # repeat names there, and so may we.
    seen: dict[str, int] = {}
    for i, c in enumerate(services):
        if c.name in seen:
            fail(
                join_path(join_path("services", i), "name"),
                f"duplicate service name {c.name!r} (also services[{seen[c.name]}])",
            )
        seen[c.name] = i


@attrs.frozen(init=False, repr=False)
class System:
    """A whole system: kernel, init images, containers by stage, files, volumes, platforms.

    Build it with keyword arguments or step by step; every ``with_*`` returns a new value and is
    idempotent for identical components::

        >>> s = (
        ...     System(platform="linux/amd64")
        ...     .with_kernel(Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0"))
        ...     .with_init("linuxkit/init:v1", InitImage("linuxkit/runc:v1", role="runtime"))
        ...     .with_service(Container("web", "nginx:1.27", binds=["/var/data:/data"]))
        ... )
        >>> s.with_service(Container("web", "nginx:1.27", binds=["/var/data:/data"])) == s
        True
        >>> s
        System(platform=linux/amd64, kernel=docker.io/linuxkit/kernel:6.6, init=2, services=1)

    Attributes:
        platforms: what to build for (``platform="linux/amd64"`` is accepted for one).
        kernel: the kernel, or ``None`` (a system without one builds no bootable output).
        init: images unpacked into the root filesystem, in order.
        onboot: containers run one after another at boot, each to completion.
        onshutdown: containers run at clean shutdown.
        services: long-running containers.
        files: files, directories and symlinks added last.
        volumes: named overlay volumes.
    """

    platforms: tuple[Platform, ...] = attrs.field(
        validator=v_required(check_tuple_of(check_instance(Platform)))
    )
    kernel: Kernel | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(Kernel))
    )
    init: tuple[InitImage, ...] = attrs.field(
        validator=v_required(check_tuple_of(check_instance(InitImage)))
    )
    onboot: tuple[Container, ...] = attrs.field(
        validator=v_required(check_tuple_of(check_instance(Container)))
    )
    onshutdown: tuple[Container, ...] = attrs.field(
        validator=v_required(check_tuple_of(check_instance(Container)))
    )
    services: tuple[Container, ...] = attrs.field(
        validator=v_required(check_tuple_of(check_instance(Container)))
    )
    files: tuple[File, ...] = attrs.field(
        validator=v_required(check_tuple_of(check_instance(File)))
    )
    volumes: tuple[Volume, ...] = attrs.field(
        validator=v_required(check_tuple_of(check_instance(Volume)))
    )

    def __init__(
        self,
        *,
        platform: Platform | str | None = None,
        platforms: Iterable[Platform | str] = (),
        kernel: Kernel | str | None = None,
        init: Iterable[InitImage | str | _InitLike] = (),
        onboot: Iterable[Container] = (),
        onshutdown: Iterable[Container] = (),
        services: Iterable[Container] = (),
        files: Iterable[File] = (),
        volumes: Iterable[Volume] = (),
    ) -> None:
        try:
            all_platforms = _to_platforms(
                ((platform,) if platform is not None else ()) + tuple(_to_platforms(platforms))
            )
        except PlatformError as e:
            raise ConfigError(str(e), path="platforms") from None
        self.__attrs_init__(
            all_platforms,
            _to_kernel(kernel),
            _to_init_tuple(init),
            _to_containers(onboot),
            _to_containers(onshutdown),
            _to_containers(services),
            _to_files(files),
            _to_volumes(volumes),
        )

    def __attrs_post_init__(self) -> None:
        _unique_service_names(self.services)
        seen: dict[str, int] = {}
        for i, v in enumerate(self.volumes):
            if v.name in seen:
                fail(
                    join_path(join_path("volumes", i), "name"), f"duplicate volume name {v.name!r}"
                )
            seen[v.name] = i

    # -- reading ---------------------------------------------------------------------------

    @property
    def platform(self) -> Platform | None:
        """The only platform, if exactly one is set (else ``None``)."""
        return self.platforms[0] if len(self.platforms) == 1 else None

    def containers(self, stage: Stage | str) -> tuple[Container, ...]:
        """The containers of one stage (``onboot``, ``onshutdown`` or ``services``)."""
        stage = Stage(stage)
        if stage is Stage.INIT:
            fail("init", "init images are InitImage values, not containers; use .init")
        return tuple(getattr(self, stage.value))

    def components(self) -> Iterator[tuple[Stage | None, Component]]:
        """Everything in build order: kernel, init, volumes, onboot, onshutdown, services, files.

        The stage is ``None`` for the kernel, volumes and files.
        """
        if self.kernel is not None:
            yield None, self.kernel
        for i in self.init:
            yield Stage.INIT, i
        for v in self.volumes:
            yield None, v
        for stage in _CONTAINER_STAGES:
            for c in self.containers(stage):
                yield stage, c
        for f in self.files:
            yield None, f

    def image_references(self) -> tuple[str, ...]:
        """Every image the system needs, once each, in build order."""
        refs: list[str] = []
        for _stage, c in self.components():
            image = getattr(c, "image", None)
            if isinstance(image, str) and image not in refs:
                refs.append(image)
        return tuple(refs)

    def __getitem__(self, name: str) -> Container:
        """The container called ``name`` (searched in onboot, onshutdown, services)."""
        found = [c for stage in _CONTAINER_STAGES for c in self.containers(stage) if c.name == name]
        if len(found) != 1:
            raise KeyError(name)
        return found[0]

    # -- composition -------------------------------------------------------------------------

    def with_platform(self, *platforms: Platform | str) -> System:
        """Add target platforms (already present ones are skipped)."""
        return attrs.evolve(
            self, platforms=_to_platforms(self.platforms + _to_platforms(platforms))
        )

    def with_kernel(self, kernel: Kernel | str) -> System:
        """Set the kernel (there is one; a different kernel replaces the current one)."""
        return attrs.evolve(self, kernel=_to_kernel(kernel))

    def with_init(self, *images: InitImage | str | _InitLike) -> System:
        """Append init images; an image already present with the same role is skipped.

        Raises:
            ConfigError: the image is present with another role (use :meth:`replace`).
        """
        out = list(self.init)
        for i, value in enumerate(images):
            image = _to_init_image(value, join_path("init", len(self.init) + i))
            same = [x for x in out if x.image == image.image]
            if image in same:
                continue
            if same:
                fail(
                    "init",
                    f"init image {image.image!r} is already present with role "
                    f"{same[0].role.value!r}; use replace({same[0].name!r}, ...) to change it",
                )
            out.append(image)
        return attrs.evolve(self, init=tuple(out))

    def _with_containers(self, stage: Stage, containers: tuple[Container, ...]) -> System:
        out = list(self.containers(stage))
        for c in containers:
            if not isinstance(c, Container):
                fail(stage.value, f"expected a Container, got {type(c).__name__}")
            if c in out:
                continue
            if any(x.name == c.name for x in out):
                fail(
                    stage.value,
                    f"{stage.value} already has a different container named {c.name!r}; "
                    f"use replace({c.name!r}, ...) to change it or without({c.name!r}) first",
                )
            out.append(c)
        changes: dict[str, Any] = {stage.value: tuple(out)}
        return attrs.evolve(self, **changes)

    def with_onboot(self, *containers: Container) -> System:
        """Append onboot containers (run in order at boot); identical ones are skipped.

        LinuxKit allows repeated onboot names (bundles are numbered), and so does the
        ``System`` constructor; ``with_onboot`` refuses a *different* container under a name
        already present, because re-running a cell with changed settings would otherwise add
        it twice. Give it another name, or use :meth:`replace`.

        Raises:
            ConfigError: a different container with the same name is already in onboot.
        """
        return self._with_containers(Stage.ONBOOT, containers)

    def with_onshutdown(self, *containers: Container) -> System:
        """Append onshutdown containers; identical ones are skipped (see :meth:`with_onboot`)."""
        return self._with_containers(Stage.ONSHUTDOWN, containers)

    def with_service(self, *containers: Container) -> System:
        """Add services; identical ones are skipped (see :meth:`with_onboot`)."""
        return self._with_containers(Stage.SERVICES, containers)

    def with_file(self, *files: File) -> System:
        """Append files; an identical file is skipped.

        Raises:
            ConfigError: another file with the same path is present (use :meth:`replace`).
        """
        out = list(self.files)
        for f in files:
            if not isinstance(f, File):
                fail("files", f"expected a File, got {type(f).__name__}")
            existing = next((x for x in out if x.path == f.path), None)
            if existing == f:
                continue
            if existing is not None:
                fail(
                    "files", f"a different file {f.path!r} is present; use replace({f.path!r}, ...)"
                )
            out.append(f)
        return attrs.evolve(self, files=tuple(out))

    def with_volume(self, *volumes: Volume) -> System:
        """Add volumes; an identical volume is skipped.

        Raises:
            ConfigError: a different volume with the same name exists (use :meth:`replace`).
        """
        out = list(self.volumes)
        for v in volumes:
            if not isinstance(v, Volume):
                fail("volumes", f"expected a Volume, got {type(v).__name__}")
            existing = next((x for x in out if x.name == v.name), None)
            if existing == v:
                continue
            if existing is not None:
                fail(
                    "volumes", f"a different volume {v.name!r} exists; use replace({v.name!r}, ...)"
                )
            out.append(v)
        return attrs.evolve(self, volumes=tuple(out))

    def _find(self, name: str, stage: Stage | str | None) -> list[tuple[str, int]]:
        """(field, index) of every component called ``name`` (container, volume, file, init)."""
        wanted = Stage(stage) if stage is not None else None
        hits: list[tuple[str, int]] = []
        for st in _CONTAINER_STAGES:
            if wanted in (None, st):
                hits += [(st.value, i) for i, c in enumerate(self.containers(st)) if c.name == name]
        if wanted in (None, Stage.INIT):
            hits += [("init", i) for i, x in enumerate(self.init) if name in (x.image, x.name)]
        if wanted is None:
            hits += [("volumes", i) for i, v in enumerate(self.volumes) if v.name == name]
            hits += [("files", i) for i, f in enumerate(self.files) if f.path == name]
        return hits

    def without(self, name: str, *, stage: Stage | str | None = None) -> System:
        """Remove every component called ``name`` (container name, volume name, file path, or
        init image reference/short name), optionally only from one ``stage``.

        Raises:
            ConfigError: nothing by that name.
        """
        hits = self._find(name, stage)
        if not hits:
            fail("", f"no component named {name!r} to remove")
        changes: dict[str, Any] = {}
        for field in {f for f, _ in hits}:
            drop = {i for f, i in hits if f == field}
            changes[field] = tuple(x for i, x in enumerate(getattr(self, field)) if i not in drop)
        return attrs.evolve(self, **changes)

    def replace(
        self,
        name: str,
        component: Component | None = None,
        /,
        *,
        stage: Stage | str | None = None,
        **changes: Any,
    ) -> System:
        """Swap the component called ``name`` for ``component``, or change some of its fields.

        Example::

            >>> s = System(services=[Container("web", "nginx:1.26")])
            >>> s.replace("web", image="nginx:1.27")["web"].image
            'docker.io/library/nginx:1.27'

        Raises:
            ConfigError: no such component, the name is ambiguous (pass ``stage``), or both a
                component and field changes were given.
        """
        hits = self._find(name, stage)
        if not hits:
            fail("", f"no component named {name!r} to replace")
        if len(hits) > 1:
            where = ", ".join(f"{f}[{i}]" for f, i in hits)
            fail("", f"{name!r} is ambiguous ({where}); pass stage=...")
        if component is not None and changes:
            fail("", "give either a replacement component or field changes, not both")
        field, index = hits[0]
        items = list(getattr(self, field))
        old = items[index]
        if component is None:
            try:
                new = attrs.evolve(old, **changes)
            except ConfigError as e:
                raise prefixed(e, f"{field}[{index}]") from None
            except TypeError as e:
                fail(f"{field}[{index}]", f"cannot change {name!r}: {e}")
        else:
            new = _to_init_image(component) if field == "init" else component
            if type(new) is not type(old):
                fail(
                    f"{field}[{index}]",
                    f"{name!r} is a {type(old).__name__}, not a {type(new).__name__}",
                )
        items[index] = new
        changes = {field: tuple(items)}
        return attrs.evolve(self, **changes)

    def merge(self, other: System) -> System:
        """LinuxKit's multi-file merge: ``other``'s non-empty kernel fields override, every list
        is appended, names are checked again.

        Raises:
            ConfigError: the result has duplicate service or volume names.
        """
        if self.kernel is None or other.kernel is None:
            kernel = other.kernel or self.kernel
        else:
            kernel = self.kernel.merged_with(other.kernel)
        return System(
            platforms=self.platforms + other.platforms,
            kernel=kernel,
            init=self.init + other.init,
            onboot=self.onboot + other.onboot,
            onshutdown=self.onshutdown + other.onshutdown,
            services=self.services + other.services,
            files=self.files + other.files,
            volumes=self.volumes + other.volumes,
        )

    # -- checks that need the whole system --------------------------------------------------

    def check(self) -> None:
        """Check cross references a single component cannot: volumes named in binds exist and
        read-only volumes are bound ``:ro``; uid/gid names are containers of this system.

        ``System`` values may be partial (one of several merged files), so this is separate.

        Raises:
            ConfigError: the first problem, with its path.
        """
        volumes = {v.name: v for v in self.volumes}
        names = {c.name for st in _CONTAINER_STAGES for c in self.containers(st)} | {"root", ""}
        for st in _CONTAINER_STAGES:
            for i, c in enumerate(self.containers(st)):
                base = f"{st.value}[{i}]"
                for key, binds in (("binds", c.binds), ("binds.add", c.binds_add)):
                    for j, bind in enumerate(binds or ()):
                        src, _, rest = bind.partition(":")
                        if src.startswith("/"):
                            continue
                        path = f"{base}.{key}[{j}]"
                        if src not in volumes:
                            fail(path, f"bind {bind!r} names volume {src!r}, which is not defined")
                        opts = rest.split(":")[1] if ":" in rest else ""
                        if volumes[src].readonly and opts != "ro":
                            fail(path, f"volume {src!r} is read-only: bind it with ':ro'")
                ids = [("uid", c.uid), ("gid", c.gid)]
                ids += [(f"additionalGids[{j}]", g) for j, g in enumerate(c.additional_gids or ())]
                for key, value in ids:
                    if isinstance(value, str) and value not in names:
                        fail(f"{base}.{key}", f"{value!r} is not a container of this system")
        for i, f in enumerate(self.files):
            for key, value in (("uid", f.uid), ("gid", f.gid)):
                if isinstance(value, str) and value not in names:
                    fail(f"files[{i}].{key}", f"{value!r} is not a container of this system")

    # -- I/O forms (implemented in _yaml / _model_codec) -------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The LinuxKit dict form (keys in LinuxKit's order, deterministic).

        LinuxKit's format has no place for :attr:`platforms` or component roles, so they are
        not written; pass ``platform=`` when reading back.
        """
        from ._yaml import system_to_dict

        return system_to_dict(self)

    @classmethod
    def from_dict(
        cls,
        data: Any,
        *,
        platform: Platform | str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> System:
        """Read the LinuxKit dict form (as YAML or JSON would give it), strictly.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values, with the path.
        """
        from ._yaml import system_from_dict

        return system_from_dict(data, platform=platform, base_dir=base_dir)

    def to_yaml(self) -> str:
        """LinuxKit YAML (``mode`` as quoted octal strings, sections in LinuxKit's order).

        Platforms and roles are not written (LinuxKit has no field for them).
        """
        from ._yaml import system_to_yaml

        return system_to_yaml(self)

    @classmethod
    def from_yaml(
        cls, *sources: str | Path | os.PathLike[str], platform: Platform | str | None = None
    ) -> System:
        """Read LinuxKit YAML from files or text; several sources are merged like
        ``linuxkit build a.yml b.yml``. Relative ``files[].source`` paths are made absolute
        against the directory of the file they appear in.

        Raises:
            ConfigError: with file, line and path (``services[2].binds[0]``).
        """
        from ._yaml import system_from_yaml

        return system_from_yaml(*sources, platform=platform)

    def to_toml(self) -> str:
        """The same dict shape as :meth:`to_yaml`, written as TOML."""
        from ._yaml import system_to_toml

        return system_to_toml(self)

    @classmethod
    def from_toml(
        cls, *sources: str | Path | os.PathLike[str], platform: Platform | str | None = None
    ) -> System:
        """Read the TOML form (files or text; several are merged like YAML)."""
        from ._yaml import system_from_toml

        return system_from_toml(*sources, platform=platform)

    # -- display ------------------------------------------------------------------------------

    def diff(self, other: System) -> SystemDiff:
        """What changed from this system to ``other``: components added, removed, changed
        (field by field, under their LinuxKit keys) or moved, and platforms.

        Example::

            >>> old = System(services=[Container("web", "nginx:1.26")])
            >>> print(old.diff(old.replace("web", image="nginx:1.27")))
            ~ services/web  image: docker.io/library/nginx:1.26 -> docker.io/library/nginx:1.27

        .. versionadded:: 0.1
        """
        from ._diff import diff_systems

        return diff_systems(self, other)

    def pinned(self, lock: Lock) -> System:
        """The same system with every image pinned to the lock's digest
        (``name:tag@sha256:…``).

        Raises:
            LockMismatchError: the lock does not pin every image of this system.
        """
        from ._lock import pin_system

        return pin_system(self, lock)

    def __repr__(self) -> str:
        parts = []
        if self.platforms:
            label = "platform" if len(self.platforms) == 1 else "platforms"
            parts.append(f"{label}={','.join(str(p) for p in self.platforms)}")
        if self.kernel is not None:
            parts.append(f"kernel={self.kernel.image or '-'}")
        for name in ("init", "volumes", "onboot", "onshutdown", "services", "files"):
            n = len(getattr(self, name))
            if n:
                parts.append(f"{name}={n}")
        return f"System({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from ._display import system_html

        return system_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from ._display import system_pretty

        p.text(repr(self) if cycle else system_pretty(self))
