"""LinuxKit YAML (and TOML, and plain dicts) ↔ :class:`~moby_assemble.System`, strictly.

Reading follows what ``linuxkit build`` accepts: YAML is decoded the way Go's ``yaml.v3`` decodes
into ``interface{}`` (so ``mode: 0644`` unquoted is an *integer* and rejected, ``yes`` is a
string), then checked like LinuxKit's JSON schema (every object closed, types exact). Errors are
:class:`~moby_assemble.ConfigError` s carrying the file, the line and the path
(``services[2].binds[0]``). Duplicate keys, non-string keys, unknown tags, alias bombs and
oversized documents are rejected.

Example::

    >>> s = system_from_yaml("services:\\n  - name: web\\n    image: nginx:1.27\\n")
    >>> print(system_to_yaml(s), end="")
    services:
      - name: web
        image: docker.io/library/nginx:1.27
"""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import tomli_w
import yaml

from ._errors import ConfigError
from ._model_checks import fail, join_path, prefixed, type_name
from ._model_codec import decode, encode
from ._model_components import File, InitImage, Kernel, Volume
from ._model_container import Container, ImageConfig
from ._platform import Platform

if TYPE_CHECKING:
    from ._model import System

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_NODES",
    "image_config_from_label",
    "load_yaml",
    "system_from_dict",
    "system_from_toml",
    "system_from_yaml",
    "system_to_dict",
    "system_to_toml",
    "system_to_yaml",
]

logger = logging.getLogger("moby_assemble.config")

#: Larger documents are refused before parsing.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: Most values one document may expand to (aliases counted each time they are used).
MAX_NODES = 200_000

_SECTIONS = ("kernel", "init", "onboot", "onshutdown", "services", "trust", "files", "volumes")
_PLAIN = "tag:moby-assemble:plain"
_TAG = "tag:yaml.org,2002:"

# ---------------------------------------------------------------------------------------------
# YAML → plain data, the yaml.v3 way, with a line for every path


class _Loader(yaml.SafeLoader):
    """Composes nodes only; plain scalars get a private tag so we can resolve them like yaml.v3
    (PyYAML's YAML 1.1 rules read ``yes`` as a boolean, Go's yaml.v3 reads a string)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


_INT_RE = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
}


def resolve_plain(text: str) -> Any:
    """What Go's yaml.v3 makes of an unquoted scalar decoded into ``interface{}``.

    Example::

        >>> resolve_plain("0644"), resolve_plain("yes"), resolve_plain("~"), resolve_plain("1e3")
        (420, 'yes', None, 1000.0)
    """
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT_RE.fullmatch(text):
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xXoObB":
            value = int(digits, 8)  # Go's ParseInt(s, 0, 64): a leading 0 means octal
        else:
            value = int(digits, 0)
        value *= sign
        if -(2**63) <= value < 2**64:
            return value
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    return text


class _Builder:
    """Turns a composed node tree into plain data, recording the line of every path."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.lines: dict[str, int] = {}
        self.count = 0
        self.active: set[int] = set()

    def error(self, node: yaml.Node, path: str, message: str) -> ConfigError:
        return ConfigError(message, path=path, file=self.file, line=node.start_mark.line + 1)

    def build(self, node: yaml.Node, path: str) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error(
                node, path, f"document expands to more than {MAX_NODES} values (alias bomb?)"
            )
        if id(node) in self.active:
            raise self.error(node, path, "recursive alias")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self.check_tag(node, path, "seq")
                return [self.build(child, join_path(path, i)) for i, child in enumerate(node.value)]
            self.check_tag(node, path, "map")
            assert isinstance(node, yaml.MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def check_tag(self, node: yaml.Node, path: str, expected: str) -> None:
        if node.tag != _TAG + expected:
            raise self.error(node, path, f"unsupported YAML tag {node.tag!r}")

    def scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        tag, text = node.tag, node.value
        if tag == _PLAIN:
            return resolve_plain(text)
        if tag == _TAG + "str":
            return text
        if tag in (_TAG + "int", _TAG + "bool", _TAG + "null", _TAG + "float"):
            value = resolve_plain(text)
            wanted = {"int": int, "bool": bool, "null": type(None), "float": float}[tag[18:]]
            if isinstance(value, wanted) and not (wanted is int and isinstance(value, bool)):
                return value
            if wanted is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            raise self.error(node, path, f"{text!r} is not a valid !!{tag[18:]}")
        raise self.error(node, path, f"unsupported YAML tag {tag!r}")

    def mapping(self, node: yaml.MappingNode, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if (
                isinstance(key_node, yaml.ScalarNode)
                and key_node.tag == _PLAIN
                and (key_node.value == "<<")
            ):
                merged.update(self.merge_sources(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(key_node, path, "mapping keys must be strings, got a collection")
            key = self.scalar(key_node, path)
            if not isinstance(key, str):
                raise self.error(key_node, path, f"mapping keys must be strings, got {key!r}")
            line = key_node.start_mark.line + 1
            if key in out:
                raise self.error(
                    key_node,
                    join_path(path, key),
                    f"duplicate key {key!r} (first defined at line {first_line[key]})",
                )
            first_line[key] = line
            self.lines[join_path(path, key)] = line
            out[key] = self.build(value_node, join_path(path, key))
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def merge_sources(self, node: yaml.Node, path: str) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # earlier sources win, as in YAML's merge key
            if not isinstance(source, yaml.MappingNode):
                raise self.error(source, path, "a '<<' merge needs a mapping or a list of them")
            merged.update(self.build(source, path))
        return merged


def load_yaml(text: str | bytes, *, file: str | None = None) -> tuple[Any, dict[str, int]]:
    """Parse one YAML document into plain data the way LinuxKit's yaml.v3 sees it.

    Returns:
        The data and a map from field path (``services[0].binds``) to its 1-based line.

    Raises:
        ConfigError: syntax errors, several documents, duplicate keys, alias bombs (with line).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_DOCUMENT_BYTES:
            raise ConfigError(f"document larger than {MAX_DOCUMENT_BYTES} bytes", file=file)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"not UTF-8: {e.reason} at byte {e.start}", file=file) from None
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"document larger than {MAX_DOCUMENT_BYTES} bytes", file=file)
    loader: _Loader | None = None
    try:
        # Inside the try: PyYAML's Reader rejects characters YAML does not allow (controls,
        # U+FFFE ...) while the loader is being built.
        loader = _Loader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (e.context, e.problem) if p) or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.reader.ReaderError as e:
        # (``character`` is the code point; ``position`` counts characters.)
        line = text.count("\n", 0, e.position) + 1
        raise ConfigError(
            f"invalid YAML: the character U+{int(e.character):04X} is not allowed in YAML",
            file=file,
            line=line,
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=file) from None
    except RecursionError:
        # PyYAML composes nodes recursively, once per nesting level.
        raise _too_deep(file) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise ConfigError("empty document", file=file, line=1)
    builder = _Builder(file)
    try:
        data = builder.build(node, "")
    except RecursionError:
        raise _too_deep(file) from None
    return data, builder.lines


def _too_deep(file: str | None) -> ConfigError:
    return ConfigError(
        "the document is nested too deeply for the parser (arrays or objects inside each "
        "other hundreds of levels deep)",
        file=file,
    )


def line_of(lines: Mapping[str, int], path: str) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""


# ---------------------------------------------------------------------------------------------
# plain data ↔ System


def _list(data: Any, path: str) -> list[Any]:
    if not isinstance(data, list | tuple):
        fail(path, f"expected a list, got {type_name(data)}")
    return list(data)


def _check_trust(data: Any) -> None:
    # Removed from LinuxKit in 2021 (PR #3609) but still in its schema: accepted and ignored.
    if not isinstance(data, Mapping):
        fail("trust", f"expected an object, got {type_name(data)}")
    for key, value in data.items():
        if key not in ("image", "org"):
            fail(join_path("trust", str(key)), f"unknown key {key!r}")
        for i, item in enumerate(_list(value, join_path("trust", key))):
            if not isinstance(item, str):
                fail(
                    join_path(join_path("trust", key), i),
                    f"expected a string, got {type_name(item)}",
                )
    logger.warning("the 'trust' section is ignored (LinuxKit removed content trust in 2021)")


def _resolve_source(file: File, base_dir: str | os.PathLike[str] | None) -> File:
    # Keep ``source`` as written (so ``to_yaml()`` and ``metadata`` files stay free of
    # build-machine paths) and remember where a relative one is read from.
    if base_dir is None or file.source is None:
        return file
    import attrs

    return attrs.evolve(file, base_dir=os.fspath(base_dir))


_Anchored = TypeVar("_Anchored", Kernel, InitImage, Container, Volume)


def _anchor(component: _Anchored, base_dir: str | os.PathLike[str] | None) -> _Anchored:
    # Remember where a relative oci-layout: image path is read from; the reference itself
    # stays as written (like files[].source).
    image = component.image
    if base_dir is None or image is None or not image.startswith("oci-layout:"):
        return component
    import attrs

    return attrs.evolve(component, base_dir=os.fspath(base_dir))


def system_from_dict(
    data: Any,
    *,
    platform: Platform | str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> System:
    """Build a :class:`System` from LinuxKit's dict form (strict; errors carry the path).

    ``base_dir`` makes relative ``files[].source`` paths absolute.
    """
    from ._model import System

    if not isinstance(data, Mapping):
        fail("", f"a configuration is an object, got {type_name(data)}")
    for key in data:
        if key not in _SECTIONS:
            fail(join_path("", str(key)), f"unknown key {key!r} (sections: {', '.join(_SECTIONS)})")
        if data[key] is None:
            fail(key, f"{key} is null: remove it or give it a value")
    kernel = decode(Kernel, data["kernel"], "kernel") if "kernel" in data else None
    if kernel is not None:
        kernel = _anchor(kernel, base_dir)
    init = []
    for i, item in enumerate(_list(data.get("init", []), "init")):
        if not isinstance(item, str):
            fail(join_path("init", i), f"expected an image reference string, got {type_name(item)}")
        try:
            init.append(_anchor(InitImage(item), base_dir))
        except ConfigError as e:
            raise ConfigError(e.reason, path=join_path("init", i)) from None
    stages: dict[str, Any] = {
        name: tuple(
            _anchor(decode(Container, item, join_path(name, i)), base_dir)
            for i, item in enumerate(_list(data.get(name, []), name))
        )
        for name in ("onboot", "onshutdown", "services")
    }
    files = tuple(
        _resolve_source(decode(File, item, join_path("files", i)), base_dir)
        for i, item in enumerate(_list(data.get("files", []), "files"))
    )
    volumes = tuple(
        _anchor(decode(Volume, item, join_path("volumes", i)), base_dir)
        for i, item in enumerate(_list(data.get("volumes", []), "volumes"))
    )
    if "trust" in data:
        _check_trust(data["trust"])
    return System(
        platform=platform,
        kernel=kernel,
        init=init,
        files=files,
        volumes=volumes,
        **stages,
    )


def system_to_dict(system: System) -> dict[str, Any]:
    """LinuxKit's dict form: sections in LinuxKit's order, unset fields left out."""
    out: dict[str, Any] = {}
    if system.kernel is not None:
        out["kernel"] = encode(system.kernel)
    if system.init:
        out["init"] = [i.image for i in system.init]
    for name in ("onboot", "onshutdown", "services"):
        containers = getattr(system, name)
        if containers:
            out[name] = [encode(c) for c in containers]
    if system.files:
        out["files"] = [encode(f) for f in system.files]
    if system.volumes:
        out["volumes"] = [encode(v) for v in system.volumes]
    return out


# ---------------------------------------------------------------------------------------------
# sources: files or text


def _read_source(source: str | os.PathLike[str]) -> tuple[str | bytes, str | None, str | None]:
    """(content, file name for messages, directory for relative sources)."""
    if isinstance(source, str) and "\n" not in source:
        candidate = Path(source)
        if candidate.suffix in (".yml", ".yaml", ".toml") or candidate.is_file():
            source = candidate
    if isinstance(source, os.PathLike):
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > MAX_DOCUMENT_BYTES:
                raise ConfigError(
                    f"document larger than {MAX_DOCUMENT_BYTES} bytes", file=str(path)
                )
            return path.read_bytes(), str(path), str(path.resolve().parent)
        except OSError as e:
            raise ConfigError(f"cannot read: {e.strerror}", file=str(path)) from None
    return source, None, None


def _located(error: ConfigError, file: str | None, lines: Mapping[str, int]) -> ConfigError:
    line = error.line if error.line is not None else line_of(lines, error.path)
    return ConfigError(error.reason, path=error.path, file=error.file or file, line=line)


def _merge_all(systems: list[tuple[System, str | None]]) -> System:
    merged, _ = systems[0]
    for system, file in systems[1:]:
        try:
            merged = merged.merge(system)
        except ConfigError as e:
            raise ConfigError(f"after merging: {e.reason}", path=e.path, file=file) from None
    return merged


def system_from_yaml(
    *sources: str | os.PathLike[str], platform: Platform | str | None = None
) -> System:
    """Read one or more LinuxKit YAML files (paths) or texts and merge them in order.

    A ``str`` without a newline that names an existing file (or ends in ``.yml``/``.yaml``) is
    a path; any other ``str`` is YAML text.
    """
    if not sources:
        raise ConfigError("no YAML source given")
    systems = []
    for source in sources:
        content, file, base_dir = _read_source(source)
        data, lines = load_yaml(content, file=file)
        try:
            system = system_from_dict(data, platform=platform, base_dir=base_dir)
        except ConfigError as e:
            raise _located(e, file, lines) from None
        systems.append((system, file))
    return _merge_all(systems)


class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key (as in LinuxKit's examples)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


# Characters a YAML reader may take for line breaks or drop: only double quotes escape them.
_NEEDS_ESCAPE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = None
    if _NEEDS_ESCAPE.search(data):
        style = '"'
    elif "\n" in data:
        style = "|"
    elif not isinstance(resolve_plain(data), str) or re.fullmatch(r"0[0-7]+", data):
        style = '"'  # would read back as a number, boolean or null (and modes look like Go's)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def system_to_yaml(system: System) -> str:
    """LinuxKit YAML for ``system``: deterministic, modes as quoted octal strings."""
    return yaml.dump(
        system_to_dict(system),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


# ---------------------------------------------------------------------------------------------
# TOML: the same dict shape


def system_to_toml(system: System) -> str:
    """The dict form as TOML (``[kernel]``, ``[[services]]``, …)."""
    return tomli_w.dumps(system_to_dict(system))


def system_from_toml(
    *sources: str | os.PathLike[str], platform: Platform | str | None = None
) -> System:
    """Read one or more TOML files or texts (same shape as the YAML) and merge them in order."""
    if not sources:
        raise ConfigError("no TOML source given")
    systems = []
    for source in sources:
        content, file, base_dir = _read_source(source)
        try:
            text = content.decode("utf-8") if isinstance(content, bytes) else content
        except UnicodeDecodeError as e:
            raise ConfigError(f"not UTF-8: {e.reason} at byte {e.start}", file=file) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            match = re.search(r"line (\d+)", str(e))
            line = int(match.group(1)) if match else None
            raise ConfigError(f"invalid TOML: {e}", file=file, line=line) from None
        except RecursionError:
            # tomllib parses arrays and inline tables recursively, once per level.
            raise _too_deep(file) from None
        try:
            system = system_from_dict(data, platform=platform, base_dir=base_dir)
        except ConfigError as e:
            raise _located(e, file, {}) from None
        systems.append((system, file))
    return _merge_all(systems)


# ---------------------------------------------------------------------------------------------
# the org.mobyproject.config label

LABEL = "org.mobyproject.config"


def image_config_from_label(text: str, *, reference: str | None = None) -> ImageConfig:
    """Parse an image's ``org.mobyproject.config`` label (JSON or YAML) into an ImageConfig.

    Checked like LinuxKit's ``moby.NewImage``: the same per-image schema, and ``name`` or
    ``image`` in a label is an error.

    Example::

        >>> image_config_from_label('{"binds": ["/a:/b"], "capabilities": ["CAP_SYS_ADMIN"]}')
        ImageConfig(capabilities=('CAP_SYS_ADMIN',), binds=('/a:/b',))

    Raises:
        ConfigError: ``file`` names the label (and the image, when ``reference`` is given).
    """
    where = f"label {LABEL}" + (f" of {reference}" if reference else "")
    data, lines = load_yaml(text, file=where)
    if not isinstance(data, Mapping):
        raise ConfigError(f"the label must be an object, got {type_name(data)}", file=where)
    for key in ("name", "image"):
        if key in data:
            raise ConfigError(
                f"{key} cannot be set in the label", path=key, file=where, line=lines.get(key)
            )
    try:
        return decode(ImageConfig, data, "")
    except ConfigError as e:
        raise _located(prefixed(e, ""), where, lines) from None
