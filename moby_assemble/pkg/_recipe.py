"""Component recipes: the ``recipe.toml`` data file of a component folder, read strictly.

A recipe says what a component is (name, version, role, stage), its default runtime settings
(the ``[config]`` table, written to the ``org.mobyproject.config`` label with LinuxKit's field
names) and how its image is made: Debian packages to unpack, files and symlinks from the
recipe folder, the image config, and the target platforms. Every unknown key, wrong type or
impossible combination is a :class:`~moby_assemble.ConfigError` naming the file and the
field path (``packages[1].include[0]``).

A complete recipe (``components/dhcp/recipe.toml``)::

    name = "dhcp"
    version = "1.35.0-1"
    role = "network"
    stage = "onboot"
    description = "DHCP on the first network interface (busybox udhcpc)"
    platforms = ["linux/amd64"]          # the default
    usrmerge = false                     # the default: paths as the packages ship them

    [[packages]]
    name = "busybox-static"
    version = "1:1.35.0-4+deb12u1+b1"    # optional pin (apt-get download name=version)
    include = ["bin/busybox"]            # optional globs; "**" crosses directories
    exclude = ["usr/share/**"]           # optional globs

    [[files]]
    path = "usr/bin/moby-dhcp"
    source = "moby-dhcp.sh"              # relative to the recipe folder
    mode = "0755"                        # octal string (or a TOML 0o755)

    [[symlinks]]
    target = "/bin/busybox"
    paths = ["bin/sh", "sbin/udhcpc", "sbin/ip"]

    [image]
    cmd = ["/usr/bin/moby-dhcp"]

    [config]                             # LinuxKit ImageConfig keys, as in build.yml config:
    net = "host"
    capabilities = ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]

A kernel recipe has ``role = "kernel"``, no stage, no ``[config]`` and a ``[kernel]`` table
(``binary`` glob of the kernel image inside the packages, ``modules`` directory that becomes
``kernel.tar``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .._errors import ConfigError, PlatformError
from .._model import ImageConfig, Role, Stage
from .._model_codec import decode, encode
from .._platform import Platform
from ._strict import TableReader

__all__ = [
    "FileSpec",
    "ImageSettings",
    "KernelLayout",
    "PackageSpec",
    "Recipe",
    "load_recipe",
    "parse_recipe",
]

RECIPE_FILE = "recipe.toml"

_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
# A tag (the version becomes the image tag by default).
_VERSION_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Debian package names and versions (policy 5.6.1 and 5.6.12).
_DEB_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_DEB_VERSION_RE = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$")


@attrs.frozen
class PackageSpec:
    """A Debian package whose ``data.tar`` goes into the image.

    Attributes:
        name: the package name (``runc``).
        version: a pinned version (``1.1.5+ds1-1+deb12u1``), or ``None`` for apt's candidate
            (or the newest in the package directory).
        include: globs of the paths (as the package ships them, no leading ``/``) to keep;
            empty keeps everything. ``*`` stays within one directory, ``**`` crosses them, and a
            pattern that names a directory keeps everything under it.
        exclude: globs of paths to drop (applied after ``include``).
        metapackage: the package is only a pointer: what is unpacked is the first package
            of its ``Depends`` (``linux-image-cloud-amd64`` → ``linux-image-6.1.0-…``).
        keep_ownership: keep the uid/gid the package gives (else everything is 0:0).
    """

    name: str
    version: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    metapackage: bool = False
    keep_ownership: bool = False


@attrs.frozen
class FileSpec:
    """A file, directory or symlink the recipe adds (after the packages, which it overrides).

    Attributes:
        path: where in the image (relative, ``etc/inittab``).
        source: a file in the recipe folder, resolved to an absolute path on load.
        contents: inline contents (UTF-8).
        directory: an empty directory.
        symlink: the symlink's target.
        mode: permission bits; default ``0o644`` (``0o755`` for directories).
        uid, gid: ownership (default root).
    """

    path: str
    source: Path | None = None
    contents: str | None = None
    directory: bool = False
    symlink: str | None = None
    mode: int | None = None
    uid: int = 0
    gid: int = 0

    @property
    def kind(self) -> str:
        """``directory``, ``symlink`` or ``file``."""
        if self.directory:
            return "directory"
        return "symlink" if self.symlink is not None else "file"


@attrs.frozen
class ImageSettings:
    """The OCI image config of the built image (``Entrypoint``, ``Cmd``, ``Env`` …)."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    workdir: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class KernelLayout:
    """How a kernel recipe's packages become LinuxKit's kernel image layout.

    Attributes:
        binary: glob of the kernel image inside the packages; it becomes ``/kernel``.
        modules: the directory (``lib/modules``) whose tree becomes ``/kernel.tar``, with a
            generated ``modules.dep`` and ``modules.alias`` per kernel version.
    """

    binary: str = "boot/vmlinuz-*"
    modules: str = "lib/modules"


@attrs.frozen
class Recipe:
    """A component recipe (see the module docstring for the file format).

    Attributes:
        name: the component name (also the default repository name).
        version: the component version, the default image tag.
        role: what the component does.
        stage: when it runs (``init`` for init and runtime images, ``None`` for the kernel).
        description: one line, written to ``org.opencontainers.image.description``.
        platforms: what to build for.
        usrmerge: rewrite ``bin``, ``sbin``, ``lib*`` into ``usr/`` and add the Debian 12
            compatibility symlinks (``bin -> usr/bin``); off by default.
        packages: the Debian packages, in order (a later one may not replace a file of an
            earlier one with different content).
        exclude: globs dropped from every package.
        files: files, directories and symlinks added by the recipe.
        image: the OCI image config.
        config: the ``org.mobyproject.config`` defaults, or ``None`` for no label.
        kernel: the kernel layout (kernel recipes only).
        directory: the recipe folder (``None`` for a recipe parsed from text).
    """

    name: str
    version: str
    role: Role
    stage: Stage | None
    description: str = ""
    platforms: tuple[Platform, ...] = (Platform("linux", "amd64"),)
    usrmerge: bool = False
    packages: tuple[PackageSpec, ...] = ()
    exclude: tuple[str, ...] = ()
    files: tuple[FileSpec, ...] = ()
    image: ImageSettings = ImageSettings()
    config: ImageConfig | None = None
    kernel: KernelLayout | None = None
    directory: Path | None = None

    @property
    def label(self) -> str | None:
        """The ``org.mobyproject.config`` label text: compact JSON in LinuxKit's field order.

        Example::

            >>> r = parse_recipe('name="a"\\nversion="1"\\nrole="service"\\nstage="services"\\n'
            ...                  '[config]\\nnet="host"\\n')
            >>> r.label
            '{"net":"host"}'
        """
        if self.config is None:
            return None
        import json

        return json.dumps(encode(self.config), separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Reading


def _relative_path(reader: TableReader, key: str, value: str) -> str:
    """A clean relative path inside the image: no leading ``/``, no ``..``, no empty parts."""
    path = value.strip("/")
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or "\0" in path:
        reader.fail(reader.at(key), f"{value!r} is not a clean path inside the image")
    return path


def _check_globs(reader: TableReader, key: str, globs: tuple[str, ...] | None) -> tuple[str, ...]:
    for i, pattern in enumerate(globs or ()):
        if not pattern.strip("/") or ".." in pattern.split("/"):
            reader.fail(f"{reader.at(key)}[{i}]", f"{pattern!r} is not a usable path glob")
    return tuple(p.strip("/") for p in globs or ())


def _mode(reader: TableReader, key: str) -> int | None:
    value = reader.get(key)
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3,4}", value):
        return int(value, 8)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
        return value
    reader.fail(reader.at(key), f'expected an octal mode string like "0755", got {value!r}')


def _package(reader: TableReader) -> PackageSpec:
    name = reader.string("name", required=True)
    assert name is not None
    if not _DEB_NAME_RE.match(name):
        reader.fail(reader.at("name"), f"{name!r} is not a Debian package name")
    version = reader.string("version")
    if version is not None and not _DEB_VERSION_RE.match(version):
        reader.fail(reader.at("version"), f"{version!r} is not a Debian version")
    spec = PackageSpec(
        name,
        version,
        include=_check_globs(reader, "include", reader.strings("include")),
        exclude=_check_globs(reader, "exclude", reader.strings("exclude")),
        metapackage=reader.boolean("metapackage"),
        keep_ownership=reader.boolean("keep_ownership"),
    )
    reader.done()
    return spec


def _file(reader: TableReader, directory: Path | None) -> FileSpec:
    path = _relative_path(reader, "path", reader.string("path", required=True) or "")
    source_text = reader.string("source")
    contents = reader.string("contents")
    is_dir = reader.boolean("directory")
    symlink = reader.string("symlink")
    given = [
        k
        for k, v in (
            ("source", source_text),
            ("contents", contents),
            ("directory", is_dir or None),
            ("symlink", symlink),
        )
        if v is not None
    ]
    if len(given) > 1:
        reader.fail(reader.at(given[1]), f"{' and '.join(given)} are mutually exclusive")
    source: Path | None = None
    if source_text is not None:
        if directory is None:
            reader.fail(reader.at("source"), "a recipe read from text cannot name source files")
        assert directory is not None
        rel = Path(source_text)
        if rel.is_absolute() or ".." in rel.parts:
            reader.fail(reader.at("source"), f"{source_text!r} must stay inside the recipe folder")
        source = (directory / rel).resolve()
        if not source.is_file():
            reader.fail(reader.at("source"), f"{source_text!r} is not a file in {directory}")
    if symlink is not None and not symlink:
        reader.fail(reader.at("symlink"), "a symlink needs a target")
    spec = FileSpec(
        path,
        source=source,
        contents=contents,
        directory=is_dir,
        symlink=symlink,
        mode=_mode(reader, "mode"),
        uid=reader.integer("uid"),
        gid=reader.integer("gid"),
    )
    if spec.symlink is not None and spec.mode is not None:
        reader.fail(reader.at("mode"), "a symlink has no mode")
    reader.done()
    return spec


def _symlinks(reader: TableReader) -> list[FileSpec]:
    target = reader.string("target", required=True)
    paths = reader.strings("paths")
    if not target:
        reader.fail(reader.at("target"), "a symlink needs a target")
    if not paths:
        reader.fail(reader.at("paths"), "list at least one path")
    assert target is not None
    assert paths is not None
    out = [
        FileSpec(_relative_path(reader, f"paths[{i}]", p), symlink=target)
        for i, p in enumerate(paths)
    ]
    reader.done()
    return out


def _image(reader: TableReader | None) -> ImageSettings:
    if reader is None:
        return ImageSettings()
    labels_reader = reader.table("labels")
    labels: list[tuple[str, str]] = []
    if labels_reader is not None:
        for key in labels_reader.data:
            value = labels_reader.string(key, required=True)
            assert value is not None
            if key.startswith("org.mobyproject."):
                labels_reader.fail(
                    labels_reader.at(key), "org.mobyproject.* labels are written by the build"
                )
            labels.append((key, value))
        labels_reader.done()
    env = reader.strings("env") or ()
    for i, item in enumerate(env):
        if "=" not in item:
            reader.fail(f"{reader.at('env')}[{i}]", f"{item!r} is not NAME=value")
    settings = ImageSettings(
        entrypoint=reader.strings("entrypoint"),
        cmd=reader.strings("cmd"),
        env=env,
        workdir=reader.string("workdir"),
        labels=tuple(sorted(labels)),
    )
    reader.done()
    return settings


def _platforms(reader: TableReader) -> tuple[Platform, ...]:
    values = reader.strings("platforms")
    if values is None:
        return (Platform("linux", "amd64"),)
    if not values:
        reader.fail(reader.at("platforms"), "list at least one platform")
    out: list[Platform] = []
    for i, text in enumerate(values):
        try:
            platform = Platform.parse(text)
        except PlatformError as e:
            reader.fail(f"{reader.at('platforms')}[{i}]", str(e))
        if platform in out:
            reader.fail(f"{reader.at('platforms')}[{i}]", f"platform {text!r} is listed twice")
        out.append(platform)
    return tuple(sorted(out))


def _role_and_stage(reader: TableReader) -> tuple[Role, Stage | None]:
    role_text = reader.string("role", required=True) or ""
    try:
        role = Role(role_text)
    except ValueError:
        reader.fail(
            reader.at("role"),
            f"unknown role {role_text!r} (one of {', '.join(r.value for r in Role)})",
        )
    stage_text = reader.string("stage")
    stage: Stage | None = None
    if stage_text is not None:
        try:
            stage = Stage(stage_text)
        except ValueError:
            reader.fail(
                reader.at("stage"),
                f"unknown stage {stage_text!r} (one of {', '.join(s.value for s in Stage)})",
            )
    if role is Role.KERNEL:
        if stage is not None:
            reader.fail(reader.at("stage"), "a kernel has no stage")
    elif role in (Role.INIT, Role.RUNTIME, Role.BOOTLOADER):
        if stage not in (None, Stage.INIT):
            reader.fail(reader.at("stage"), f"a {role.value} component is unpacked at 'init'")
        stage = Stage.INIT
    elif stage is None or stage is Stage.INIT:
        reader.fail(
            reader.at("stage"),
            f"a {role.value} component runs as a container: stage must be onboot, services "
            "or onshutdown",
        )
    return role, stage


def parse_recipe(
    data: str | Mapping[str, Any],
    *,
    file: str | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> Recipe:
    """Parse a recipe from TOML text (or an already parsed table).

    Args:
        data: the TOML text, or the parsed table.
        file: the file it came from, for messages.
        directory: the recipe folder, against which ``source`` files are resolved.

    Raises:
        ConfigError: invalid TOML, an unknown key, a wrong type, a bad value or combination;
            the error's ``file`` and ``path`` say where.

    Example::

        >>> r = parse_recipe('name = "demo"\\nversion = "1"\\nrole = "service"\\n'
        ...                  'stage = "services"\\n')
        >>> r.role.value, r.stage.value, str(r.platforms[0])
        ('service', 'services', 'linux/amd64')
    """
    if isinstance(data, str):
        try:
            data = tomllib.loads(data)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"not valid TOML: {e}", file=file) from None
        except RecursionError:  # tomllib recurses once per nested array or inline table
            raise ConfigError("not valid TOML: nested too deeply", file=file) from None
    folder = Path(directory).resolve() if directory is not None else None
    top = TableReader(data, "", file)
    name = top.string("name", required=True) or ""
    if not _NAME_RE.match(name):
        top.fail("name", f"{name!r} is not a valid component name (lower-case, digits, . _ -)")
    version = top.string("version", required=True) or ""
    if not _VERSION_RE.match(version):
        top.fail("version", f"{version!r} cannot be an image tag")
    role, stage = _role_and_stage(top)
    files: list[FileSpec] = [_file(r, folder) for r in top.tables("files")]
    for r in top.tables("symlinks"):
        files.extend(_symlinks(r))
    seen: dict[str, int] = {}
    for i, f in enumerate(files):
        if f.path in seen:
            top.fail(f"files[{i}].path", f"{f.path!r} is added twice by the recipe")
        seen[f.path] = i
    config_table = top.get("config")
    config: ImageConfig | None = None
    if config_table is not None:
        if role is Role.KERNEL:
            top.fail("config", "a kernel has no runtime settings")
        try:
            config = decode(ImageConfig, config_table, "config")
        except ConfigError as e:
            raise ConfigError(e.reason, path=e.path, file=file) from None
    kernel_reader = top.table("kernel")
    kernel: KernelLayout | None = None
    if kernel_reader is not None:
        if role is not Role.KERNEL:
            kernel_reader.fail("kernel", "only a kernel recipe has a [kernel] table")
        binary = kernel_reader.string("binary") or "boot/vmlinuz-*"
        kernel = KernelLayout(
            binary=_check_globs(kernel_reader, "binary", (binary,))[0],
            modules=_relative_path(
                kernel_reader, "modules", kernel_reader.string("modules") or "lib/modules"
            ),
        )
        kernel_reader.done()
    elif role is Role.KERNEL:
        kernel = KernelLayout()
    packages = tuple(_package(r) for r in top.tables("packages"))
    if role is Role.KERNEL and not packages:
        top.fail("packages", "a kernel recipe needs the kernel package")
    recipe = Recipe(
        name=name,
        version=version,
        role=role,
        stage=stage,
        description=top.string("description", default="") or "",
        platforms=_platforms(top),
        usrmerge=top.boolean("usrmerge"),
        packages=packages,
        exclude=_check_globs(top, "exclude", top.strings("exclude")),
        files=tuple(files),
        image=_image(top.table("image")),
        config=config,
        kernel=kernel,
        directory=folder,
    )
    top.done()
    return recipe


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read a recipe from a component folder (its ``recipe.toml``) or the file itself.

    Raises:
        ConfigError: the file is missing or invalid (see :func:`parse_recipe`).

    Example::

        recipe = load_recipe("components/runc")
        recipe.name, recipe.version, [p.name for p in recipe.packages]
    """
    path = Path(path)
    file = path / RECIPE_FILE if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the recipe: {e.strerror}", file=str(file)) from None
    return parse_recipe(text, file=str(file), directory=file.parent)
