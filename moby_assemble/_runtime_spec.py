"""Image config + ``org.mobyproject.config`` label + container fields -> OCI ``config.json``.

This is LinuxKit's ``ConfigToOCI`` (``src/cmd/linuxkit/moby/config.go``) as a pure function.
Precedence, field by field: what the container sets (even to an empty list) wins, then the
image label, then the image's own config (only ``command`` = ``Entrypoint`` + ``Cmd``, ``env`` =
``Env`` and ``cwd`` = ``WorkingDir``), then LinuxKit's default. ``capabilities.add`` and
``binds.add`` extend the label's list instead of replacing it. The image's ``User`` is ignored,
as in LinuxKit: the process runs as ``uid``/``gid`` (default 0).

Deliberate differences from LinuxKit (each pinned by a test in ``tests/runtime_spec``):

- ``capabilities.add`` does not repeat a capability the label already grants (LinuxKit's
  ``mergeStrings`` never fills its "seen" map and writes it twice into ``effective``), and a
  label saying ``all`` (or ``none``) still means that after ``.add`` (LinuxKit fails with
  "unknown capability: all").
- A volume name as the source of a ``mounts`` entry of type ``bind`` is rewritten to the volume
  like a ``binds`` source (LinuxKit's rewrite assigns to a loop copy and is lost), and bind
  sources from the label are rewritten too.
- ``uidMappings``/``gidMappings`` of a ``mounts`` entry are kept (LinuxKit drops them).
- Mistakes runc would only report at boot fail here, naming the field: a missing command, a
  relative ``cwd`` or namespace path, an unknown ``rootfsPropagation``, an ``oomScoreAdj`` outside
  [-1000, 1000], duplicate or inverted ``rlimits``, bad ``devices``, a ``runtime.interfaces``
  entry without a name, a ``hostname`` without its own UTS namespace, and ``resources`` keys
  the runtime spec does not have.
- A label's own ``capabilities.add``/``binds.add`` are ignored as in LinuxKit (there is nothing
  beneath a label for them to extend), with a logged warning.

Example:
    >>> from moby_assemble._model import Container
    >>> bundle = oci_config(
    ...     Container("getty", "linuxkit/getty:v1", capabilities=["CAP_SYS_ADMIN"]),
    ...     label=None,
    ...     image_config={"Cmd": ["/sbin/getty"]},
    ...     id_map={},
    ... )
    >>> bundle.spec["process"]["capabilities"]["bounding"]
    ['CAP_SYS_ADMIN']
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ._capabilities import capability_sets, resolve_capabilities
from ._errors import ConfigError
from ._precedence import Sources, unique
from ._resources import device_entries, normalise_resources, parse_rlimits
from ._runtime_mounts import container_mounts, id_mappings, mount_object, rootfs_mounts

if TYPE_CHECKING:
    from ._model import Container, ImageConfig

__all__ = [
    "LABEL",
    "OCI_VERSION",
    "RuntimeBundleConfig",
    "allocate_ids",
    "config_json_bytes",
    "oci_config",
    "rootfs_mounts",
]

logger = logging.getLogger("moby_assemble.runtime_spec")

#: The image label that carries a component's default settings.
LABEL = "org.mobyproject.config"
#: ``ociVersion`` written into ``config.json`` (the runtime-spec version LinuxKit vendors).
OCI_VERSION = "1.2.1"
#: First id handed out by :func:`allocate_ids`.
FIRST_ID = 100

_MAX_ID = 2**32 - 1
_PROPAGATIONS = ("private", "shared", "slave", "unbindable")
_BIND_NS_KEYS = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Staged(Protocol):
    @property
    def onboot(self) -> Sequence[_Named]: ...
    @property
    def onshutdown(self) -> Sequence[_Named]: ...
    @property
    def services(self) -> Sequence[_Named]: ...


@attrs.frozen
class RuntimeBundleConfig:
    """What goes next to a container's root filesystem: ``config.json`` and ``runtime.json``.

    Attributes:
        spec: the OCI runtime ``config.json`` object (plain JSON values, Go field order).
        runtime: the LinuxKit ``runtime.json`` object; every field present, as LinuxKit writes
            it. Its ``mounts`` do not yet hold the bundle's root-filesystem mounts: add them
            with :meth:`with_rootfs_mounts` once the bundle directory is known.
        readonly: whether the root filesystem is read-only, which decides the bundle layout
            (image unpacked in ``rootfs/``, or in ``lower/`` under an overlay).

    Example:
        >>> sshd = bundle.with_rootfs_mounts(  # doctest: +SKIP
        ...     "containers/services/sshd", lower="containers/services/sshd/lower"
        ... )
    """

    spec: dict[str, Any]
    runtime: dict[str, Any]
    readonly: bool

    def config_json(self) -> bytes:
        """``config.json`` bytes (see :func:`config_json_bytes`)."""
        return config_json_bytes(self.spec)

    def runtime_json(self) -> bytes:
        """``runtime.json`` bytes, formatted like ``config.json``."""
        return config_json_bytes(self.runtime)

    def with_rootfs_mounts(self, bundle: str, *, lower: str) -> RuntimeBundleConfig:
        """A copy whose ``runtime.json`` mounts start with the bundle's root-filesystem mounts.

        Args:
            bundle: the bundle directory in the assembled root (``containers/onboot/000-x``).
            lower: where the image's files are: ``<bundle>/lower`` (read-write) or
                ``<bundle>/rootfs`` (read-only), or the directory of an earlier container with
                the same image when the assembler de-duplicates.
        """
        runtime = copy.deepcopy(self.runtime)
        runtime["mounts"] = [
            *rootfs_mounts(bundle, lower=lower, readonly=self.readonly),
            *runtime["mounts"],
        ]
        return attrs.evolve(self, runtime=runtime)


def allocate_ids(source: _Staged | Iterable[_Named], *, start: int = FIRST_ID) -> dict[str, int]:
    """Give every container a uid/gid that ``uid: <name>`` can refer to, as LinuxKit does.

    Ids count up from 100 over ``onboot``, ``onshutdown`` and ``services`` in that order. A
    name used in two stages keeps the id of its last occurrence (the counter still advances),
    exactly like LinuxKit, so files owned by a container's uid match LinuxKit's build.

    Args:
        source: a ``System`` (anything with ``onboot``, ``onshutdown`` and ``services``), or the
            containers already in that order.
        start: the first id.

    Example:
        >>> from types import SimpleNamespace as C
        >>> allocate_ids([C(name="dhcpcd"), C(name="sshd")])
        {'dhcpcd': 100, 'sshd': 101}
    """
    if all(hasattr(source, stage) for stage in ("onboot", "onshutdown", "services")):
        staged: Any = source
        containers: Iterable[_Named] = (*staged.onboot, *staged.onshutdown, *staged.services)
    else:
        containers = source  # type: ignore[assignment]
    ids: dict[str, int] = {}
    for offset, container in enumerate(containers):
        ids[container.name] = start + offset
    return ids


def config_json_bytes(document: Mapping[str, Any]) -> bytes:
    """Serialise ``config.json`` or ``runtime.json`` deterministically.

    Same layout as LinuxKit's ``json.MarshalIndent(v, "", "    ")``: 4-space indent, keys in the
    order of the dict (which :func:`oci_config` builds in Go struct field order; maps such as
    ``annotations`` and ``sysctl`` sorted, as Go sorts map keys), non-ASCII as UTF-8, and
    ``<``, ``>``, ``&``, U+2028, U+2029 escaped like Go does. One difference: a trailing newline.

    Example:
        >>> config_json_bytes({"a": "<b>"})
        b'{\\n    "a": "\\\\u003cb\\\\u003e"\\n}\\n'
    """
    text = json.dumps(document, indent=4, ensure_ascii=False, allow_nan=False)
    # These characters only occur inside JSON strings, so a plain replace is exact.
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return (text + "\n").encode("utf-8")


def oci_config(
    container: Container,
    *,
    label: ImageConfig | None,
    image_config: Mapping[str, Any],
    id_map: Mapping[str, int],
    rootfs: str = "rootfs",
    volumes: Mapping[str, bool] | None = None,
) -> RuntimeBundleConfig:
    """Merge container, label and image config into ``config.json`` and ``runtime.json``.

    Args:
        container: the container as the user configured it.
        label: its image's ``org.mobyproject.config`` label, parsed by
            :func:`moby_assemble._label.parse_label`, or ``None`` if the image has none.
        image_config: the ``config`` object of the image's OCI config (``Entrypoint``,
            ``Cmd``, ``Env``, ``WorkingDir``, …; ``User`` is ignored, as in LinuxKit).
        id_map: container name -> id, from :func:`allocate_ids`, for ``uid: <name>``.
        rootfs: ``root.path`` in ``config.json``.
        volumes: the system's volumes, name -> read-only. If given, a bind of an unknown
            volume, or a writable bind of a read-only volume, is an error (as in LinuxKit's
            build); if ``None``, volume names are only rewritten to their paths.

    Returns:
        The two documents and whether the root filesystem is read-only.

    Raises:
        ConfigError: a field is invalid or unusable; the message names the container, the
            field path and whether the value came from the image label.

    Example:
        >>> oci_config(c, label=None, image_config={"Cmd": ["sh"]}, id_map={})  # doctest: +SKIP
    """
    src = Sources(container, label, f"container {container.name!r} ({container.image})")
    process = _process(src, image_config, id_map)
    readonly = bool(src.pick("readonly")[0])
    root: dict[str, Any] = {"path": rootfs}
    if readonly:
        root["readonly"] = True
    spec: dict[str, Any] = {"ociVersion": OCI_VERSION, "process": process, "root": root}
    hostname, origin = src.pick_str("hostname")
    if hostname:
        spec["hostname"] = hostname
    spec["mounts"] = container_mounts(src, readonly, volumes)
    annotations = src.pick("annotations")[0]
    if annotations:
        spec["annotations"] = {str(k): str(v) for k, v in sorted(annotations.items())}
    spec["linux"] = _linux(src)
    if hostname and not any(n["type"] == "uts" for n in spec["linux"]["namespaces"]):
        # runc refuses to set the hostname of the host's UTS namespace.
        raise src.error("hostname", f"{hostname!r} needs its own UTS namespace (uts: new)", origin)
    return RuntimeBundleConfig(spec=spec, runtime=_runtime(src), readonly=readonly)


# --- process -----------------------------------------------------------------------------------


def _strings(value: Any, what: str, subject: str) -> list[str]:
    """A list of strings from the image config (``null`` = empty)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"{subject}: the image config's {what} is not a list of strings")
    if not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{subject}: the image config's {what} is not a list of strings")
    return list(value)


def _process(
    src: Sources, image_config: Mapping[str, Any], id_map: Mapping[str, int]
) -> dict[str, Any]:
    command, origin = src.pick("command")
    if command is None:
        args = _strings(image_config.get("Entrypoint"), "Entrypoint", src.subject) + _strings(
            image_config.get("Cmd"), "Cmd", src.subject
        )
        origin = "image"
    else:
        args = list(command)
    if not args:
        where = "the image has no Entrypoint or Cmd" if origin == "image" else "it is empty"
        raise src.error("command", f"nothing to run: {where}", origin)
    env, _ = src.pick("env")
    env_list = _strings(image_config.get("Env"), "Env", src.subject) if env is None else list(env)
    cwd, origin = src.pick_str("cwd")
    if not cwd:
        cwd, origin = str(image_config.get("WorkingDir") or "") or "/", "image"
    if not cwd.startswith("/"):
        raise src.error("cwd", f"{cwd!r} must be an absolute path", origin)

    user: dict[str, Any] = {
        "uid": _numeric_id(src, "uid", id_map),
        "gid": _numeric_id(src, "gid", id_map),
    }
    additional, origin = src.pick("additional_gids")
    if additional:
        user["additionalGids"] = [
            _resolve_id(src, gid, f"additionalGids[{i}]", origin, id_map)
            for i, gid in enumerate(additional)
        ]

    process: dict[str, Any] = {"user": user, "args": args}
    if env_list:
        process["env"] = env_list
    process["cwd"] = cwd
    process["capabilities"] = capability_sets(_capabilities(src), _ambient(src))
    rlimits, origin = src.pick("rlimits")
    if rlimits:
        process["rlimits"] = parse_rlimits(rlimits, subject=src.described(origin))
    if src.pick("no_new_privileges")[0]:
        process["noNewPrivileges"] = True
    oom, origin = src.pick("oom_score_adj")
    if oom is not None:
        if isinstance(oom, bool) or not isinstance(oom, int) or not -1000 <= oom <= 1000:
            raise src.error("oomScoreAdj", f"{oom!r} is not an integer in [-1000, 1000]", origin)
        process["oomScoreAdj"] = oom
    return process


def _capabilities(src: Sources) -> tuple[str, ...]:
    base, extra, origin = src.pick_add("capabilities", "capabilities_add")
    subject = src.described(origin)
    caps: tuple[str, ...] = ()
    if base is not None:
        caps = resolve_capabilities(base, field="capabilities", subject=subject)
    if extra is not None:
        # Resolved on its own, so a label's ``all`` stays "all" after ``.add`` (LinuxKit
        # would reject the merged list ["all", ...]); repeats are dropped (LinuxKit keeps them).
        more = resolve_capabilities(extra, field="capabilities.add", subject=src.subject)
        caps = unique((*caps, *more))
    return caps


def _ambient(src: Sources) -> tuple[str, ...]:
    ambient, origin = src.pick("ambient")
    if ambient is None:
        return ()
    return resolve_capabilities(ambient, field="ambient", subject=src.described(origin))


def _numeric_id(src: Sources, attr: str, id_map: Mapping[str, int]) -> int:
    value, origin = src.pick(attr)
    return _resolve_id(src, value, attr, origin, id_map)


def _resolve_id(src: Sources, value: Any, path: str, origin: str, id_map: Mapping[str, int]) -> int:
    """LinuxKit's ``IDNumeric``: a number, ``root``/empty (0), or another container's name."""
    if value is None or value in ("", "root"):
        return 0
    if isinstance(value, bool):
        raise src.error(path, f"{value!r} is not a uid/gid or container name", origin)
    if isinstance(value, int):
        if not 0 <= value <= _MAX_ID:
            raise src.error(path, f"{value} is outside [0, {_MAX_ID}]", origin)
        return value
    if isinstance(value, str):
        if value in id_map:
            return int(id_map[value])
        hint = " (write numeric ids as numbers)" if value.isdigit() else ""
        raise src.error(path, f"no container is named {value!r}{hint}", origin)
    raise src.error(path, f"{value!r} is not a uid/gid or container name", origin)


# --- linux -------------------------------------------------------------------------------------


def _namespaces(src: Sources) -> list[dict[str, str]]:
    """net, ipc, uts, pid, user, then always a new mount namespace (LinuxKit's order)."""
    namespaces: list[dict[str, str]] = []
    for attr, kind, default, new in (
        ("net", "network", "root", ("none", "new")),
        ("ipc", "ipc", "root", ("new",)),
        ("uts", "uts", "root", ("new",)),
        ("pid", "pid", "new", ("new",)),
        ("userns", "user", "root", ("new",)),
    ):
        value, origin = src.pick_str(attr)
        value = value or default
        if value in ("host", "root"):
            continue
        entry = {"type": kind}
        if value not in new:
            if not value.startswith("/"):
                raise src.error(
                    attr,
                    f"{value!r} is not host, root, {' or '.join(new)}, or an absolute path",
                    origin,
                )
            entry["path"] = value
        namespaces.append(entry)
    namespaces.append({"type": "mount"})
    return namespaces


def _linux(src: Sources) -> dict[str, Any]:
    linux: dict[str, Any] = {}
    for attr, key in (("uid_mappings", "uidMappings"), ("gid_mappings", "gidMappings")):
        mappings = src.pick(attr)[0]
        if mappings:
            linux[key] = id_mappings(mappings)
    sysctl = src.pick("sysctl")[0]
    if sysctl:
        linux["sysctl"] = {str(k): str(v) for k, v in sorted(sysctl.items())}

    value, origin = src.pick("resources")
    resources = normalise_resources(value, subject=src.described(origin))
    devices, origin = src.pick("devices")
    nodes, rules = device_entries(devices or (), subject=src.described(origin))
    if rules:
        # LinuxKit appends the device rules after any the configuration lists.
        rest = {key: item for key, item in resources.items() if key != "devices"}
        resources = {"devices": [*resources.get("devices", ()), *rules], **rest}
    linux["resources"] = resources  # always present, as in LinuxKit

    cgroups_path = src.pick("cgroups_path")[0]
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    linux["namespaces"] = _namespaces(src)
    if nodes:
        linux["devices"] = nodes
    propagation, origin = src.pick("rootfs_propagation")
    if propagation:
        if propagation not in _PROPAGATIONS:
            raise src.error(
                "rootfsPropagation",
                f"{propagation!r} is not one of {', '.join(_PROPAGATIONS)}",
                origin,
            )
        linux["rootfsPropagation"] = propagation
    for attr, key in (("masked_paths", "maskedPaths"), ("readonly_paths", "readonlyPaths")):
        paths = src.pick(attr)[0]
        if paths:
            linux[key] = list(paths)
    return linux


# --- runtime.json ------------------------------------------------------------------------------


def _runtime(src: Sources) -> dict[str, Any]:
    """LinuxKit's ``assignRuntime``: every sub-field merged on its own, all of them written."""
    user = getattr(src.user, "runtime", None)
    label = getattr(src.label, "runtime", None) if src.label is not None else None
    sub = Sources(user, label, src.subject)

    def strings(attr: str) -> list[str]:
        return list(sub.pick(attr)[0] or ())

    mounts = []
    value, origin = sub.pick("mounts")
    for index, m in enumerate(value or ()):
        if not m.destination:
            raise src.error(f"runtime.mounts[{index}]", "a mount needs a destination", origin)
        mounts.append(
            mount_object(
                m.destination or "",
                m.type or "",
                m.source or "",
                m.options,
                m.uid_mappings,
                m.gid_mappings,
            )
        )
    interfaces = []
    value, origin = sub.pick("interfaces")
    for index, iface in enumerate(value or ()):
        path = f"runtime.interfaces[{index}]"
        if not iface.name:
            raise src.error(path, "an interface needs a name", origin)
        if iface.add == "veth" and not iface.peer:  # a peer alone implies veth
            raise src.error(path, f"veth {iface.name!r} needs a peer", origin)
        entry: dict[str, Any] = {"name": iface.name}
        if iface.add:
            entry["add"] = iface.add
        if iface.peer:
            entry["peer"] = iface.peer
        entry["createInRoot"] = bool(iface.create_in_root)
        interfaces.append(entry)

    user_ns = getattr(user, "bind_ns", None)
    label_ns = getattr(label, "bind_ns", None) if label is not None else None
    bind_ns = Sources(user_ns, label_ns, src.subject)
    return {
        "cgroups": strings("cgroups"),
        "mounts": mounts,
        "mkdir": strings("mkdir"),
        "interfaces": interfaces,
        "bindNS": {key: bind_ns.pick(key)[0] or "" for key in _BIND_NS_KEYS},
        "namespace": sub.pick("namespace")[0] or "",
    }
