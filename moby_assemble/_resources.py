"""Resource settings of an OCI process: cgroup ``resources``, ``rlimits`` and ``devices``.

These are the parts of :func:`moby_assemble._runtime_spec.oci_config` that parse and check
values LinuxKit passes through to runc unchecked, so a mistake fails at build time with the
field named, not at boot.

Example:
    >>> parse_rlimits(["nofile,1024,unlimited"], subject="sshd")
    [{'type': 'RLIMIT_NOFILE', 'hard': 18446744073709551615, 'soft': 1024}]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

from ._errors import ConfigError

__all__ = ["device_entries", "normalise_resources", "parse_rlimits"]

#: ``unlimited`` in an rlimit (``RLIM_INFINITY``, 2^64-1), as LinuxKit writes it.
RLIM_INFINITY = 2**64 - 1

# The 16 limits LinuxKit accepts (the ones runc knows).
_RLIMITS = frozenset(
    {
        "RLIMIT_CPU",
        "RLIMIT_FSIZE",
        "RLIMIT_DATA",
        "RLIMIT_STACK",
        "RLIMIT_CORE",
        "RLIMIT_RSS",
        "RLIMIT_NPROC",
        "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK",
        "RLIMIT_AS",
        "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING",
        "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE",
        "RLIMIT_RTPRIO",
        "RLIMIT_RTTIME",
    }
)
_DIGITS = re.compile(r"[0-9]+")

# --- cgroup resources --------------------------------------------------------------------------
# One table per Go struct of the runtime spec's LinuxResources, in Go field order (that is the
# key order of LinuxKit's config.json). Leaf types are integer ranges, "bool" or "str"; a tuple
# ("list", x) is an array, ("map", x) an object with free keys, ("object", table, required) an
# object with keys the runtime spec requires.

_I64 = (-(2**63), 2**63 - 1)
_U64 = (0, 2**64 - 1)
_U32 = (0, 2**32 - 1)
_U16 = (0, 2**16 - 1)

_DEVICE_CGROUP: dict[str, Any] = {
    "allow": "bool",
    "type": "str",
    "major": _I64,
    "minor": _I64,
    "access": "str",
}
_THROTTLE = ("object", {"major": _I64, "minor": _I64, "rate": _U64}, ("major", "minor", "rate"))
_RESOURCES: dict[str, Any] = {
    "devices": ("list", _DEVICE_CGROUP),
    "memory": {
        "limit": _I64,
        "reservation": _I64,
        "swap": _I64,
        "kernel": _I64,
        "kernelTCP": _I64,
        "swappiness": _U64,
        "disableOOMKiller": "bool",
        "useHierarchy": "bool",
        "checkBeforeUpdate": "bool",
    },
    "cpu": {
        "shares": _U64,
        "quota": _I64,
        "burst": _U64,
        "period": _U64,
        "realtimeRuntime": _I64,
        "realtimePeriod": _U64,
        "cpus": "str",
        "mems": "str",
        "idle": _I64,
    },
    "pids": ("object", {"limit": _I64}, ("limit",)),
    "blockIO": {
        "weight": _U16,
        "leafWeight": _U16,
        "weightDevice": (
            "list",
            (
                "object",
                {"major": _I64, "minor": _I64, "weight": _U16, "leafWeight": _U16},
                ("major", "minor"),
            ),
        ),
        "throttleReadBpsDevice": ("list", _THROTTLE),
        "throttleWriteBpsDevice": ("list", _THROTTLE),
        "throttleReadIOPSDevice": ("list", _THROTTLE),
        "throttleWriteIOPSDevice": ("list", _THROTTLE),
    },
    # LinuxKit's schema says pageSize is an integer; the runtime spec (and runc) want "2MB".
    "hugepageLimits": ("list", {"pageSize": "pagesize", "limit": _U64}),
    "network": {
        "classID": _U32,
        "priorities": ("list", {"name": "str", "priority": _U32}),
    },
    "rdma": ("map", {"hcaHandles": _U32, "hcaObjects": _U32}),
    "unified": ("map", "str"),
}


def normalise_resources(value: Mapping[str, Any] | None, *, subject: str) -> dict[str, Any]:
    """Check ``resources`` and return it as plain JSON in the runtime spec's key spelling/order.

    Keys match case-insensitively, because LinuxKit's YAML decoder only knows the lower-case
    Go field names (``blockio``, ``kerneltcp``) while the runtime spec (and JSON labels written
    by ``linuxkit pkg build``) spell them ``blockIO``, ``kernelTCP``; both mean the same here.

    Raises:
        ConfigError: an unknown key or a value of the wrong type or range, with its path
            (``resources.memory.limit``).

    Example:
        >>> normalise_resources({"memory": {"kerneltcp": 1}, "pids": {"limit": 5}}, subject="x")
        {'memory': {'kernelTCP': 1}, 'pids': {'limit': 5}}
    """
    if value is None:
        return {}
    result = _check(value, _RESOURCES, "resources", subject)
    assert isinstance(result, dict)
    return result


def _check(value: Any, spec: Any, path: str, subject: str) -> Any:
    required: tuple[str, ...] = ()
    if isinstance(spec, tuple) and spec[0] == "object":
        _, spec, required = spec
    if isinstance(spec, dict):
        if not isinstance(value, Mapping):
            _fail(subject, path, "must be an object")
        by_lower = {key.lower(): key for key in spec}
        given: dict[str, Any] = {}
        for key, item in value.items():
            canonical = by_lower.get(str(key).lower())
            if canonical is None:
                _fail(subject, f"{path}.{key}", f"unknown key (expected one of {', '.join(spec)})")
            if canonical in given:
                _fail(subject, f"{path}.{key}", f"given twice (as {canonical!r} too)")
            given[canonical] = _check(item, spec[canonical], f"{path}.{canonical}", subject)
        for key in required:
            if key not in given:
                _fail(subject, f"{path}.{key}", "is required")
        return {key: given[key] for key in spec if key in given}
    if isinstance(spec, tuple) and spec[0] == "list":
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            _fail(subject, path, "must be a list")
        return [_check(item, spec[1], f"{path}[{i}]", subject) for i, item in enumerate(value)]
    if isinstance(spec, tuple) and spec[0] == "map":
        if not isinstance(value, Mapping):
            _fail(subject, path, "must be an object")
        return {
            str(key): _check(item, spec[1], f"{path}.{key}", subject)
            for key, item in sorted(value.items())
        }
    if spec == "bool":
        if not isinstance(value, bool):
            _fail(subject, path, f"must be true or false, not {value!r}")
        return value
    if spec == "pagesize":
        if not isinstance(value, str):
            _fail(subject, path, f"must be a page size string such as '2MB', not {value!r}")
        return value
    if spec == "str":
        if not isinstance(value, str):
            _fail(subject, path, f"must be a string, not {value!r}")
        return value
    low, high = spec
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(subject, path, f"must be an integer in [{low}, {high}], not {value!r}")
    return value


def _fail(subject: str, path: str, message: str) -> NoReturn:
    raise ConfigError(f"{subject}: {message}", path=path)


# --- rlimits -----------------------------------------------------------------------------------


def parse_rlimits(entries: Iterable[str], *, subject: str) -> list[dict[str, Any]]:
    """Parse LinuxKit ``rlimits`` strings (``name,soft,hard``) into ``process.rlimits``.

    As in LinuxKit: the ``RLIMIT_`` prefix is optional, names and ``unlimited`` are
    case-insensitive, blanks around the parts are ignored, numbers are unsigned decimal. Unlike
    LinuxKit we also reject a soft limit above the hard one and a limit given twice (the kernel
    and runc would refuse both at boot).

    Raises:
        ConfigError: a malformed entry, an unknown limit or a bad number, naming the entry.

    Example:
        >>> parse_rlimits(["RLIMIT_CORE,0,0"], subject="x")[0]["type"]
        'RLIMIT_CORE'
    """
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        path = f"rlimits[{index}]"
        parts = entry.split(",", 2)
        if len(parts) != 3:
            _fail(subject, path, f"{entry!r} is not 'name,soft,hard'")
        name = parts[0].strip().upper()
        if not name.startswith("RLIMIT_"):
            name = "RLIMIT_" + name
        if name not in _RLIMITS:
            _fail(subject, path, f"{entry!r}: unknown limit {parts[0].strip()!r}")
        if name in seen:
            _fail(subject, path, f"{entry!r}: {name} is given twice")
        seen.add(name)
        soft = _rlimit_value(parts[1], entry, path, subject)
        hard = _rlimit_value(parts[2], entry, path, subject)
        if soft > hard:
            _fail(subject, path, f"{entry!r}: the soft limit is above the hard limit")
        result.append({"type": name, "hard": hard, "soft": soft})
    return result


def _rlimit_value(text: str, entry: str, path: str, subject: str) -> int:
    text = text.strip()
    if text.lower() == "unlimited":
        return RLIM_INFINITY
    # Go's ParseUint(s, 10, 64): digits only (int() would also take "+1", "1_0", " 1").
    if not _DIGITS.fullmatch(text) or int(text) > RLIM_INFINITY:
        _fail(subject, path, f"{entry!r}: {text!r} is not an unsigned 64-bit number or 'unlimited'")
    return int(text)


# --- devices -----------------------------------------------------------------------------------


def device_entries(
    devices: Iterable[Any], *, subject: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``linux.devices`` and the cgroup allow rules for configured ``devices``.

    Each device becomes a device node plus an ``rwm`` allow rule for its major/minor (the
    device cgroup would hide it otherwise); ``path: all`` only adds an allow rule for a whole
    type (``a``, ``b`` or ``c``). ``mode`` is required for a real device, as in LinuxKit.

    Args:
        devices: model ``Device`` values (``path``, ``type``, ``major``, ``minor``, ``mode``).
        subject: the container, for errors.

    Returns:
        ``(linux_devices, cgroup_rules)``.

    Raises:
        ConfigError: a relative path, an unknown type, or a missing or impossible mode.

    Example:
        >>> from types import SimpleNamespace as D
        >>> device_entries([D(path="all", type="b", major=None, minor=None, mode=None)],
        ...                subject="format")
        ([], [{'allow': True, 'type': 'b', 'access': 'rwm'}])
    """
    nodes: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for index, device in enumerate(devices):
        path = f"devices[{index}]"
        dtype = device.type or ""
        if device.path == "all":
            if dtype not in ("a", "b", "c"):
                _fail(subject, f"{path}.type", f"for 'path: all' must be a, b or c, not {dtype!r}")
            rules.append({"allow": True, "type": dtype, "access": "rwm"})
            continue
        if not str(device.path).startswith("/"):
            _fail(subject, f"{path}.path", f"{device.path!r} must be absolute (or 'all')")
        if dtype not in ("b", "c", "u", "p"):
            _fail(subject, f"{path}.type", f"{device.path}: must be b, c, u or p, not {dtype!r}")
        mode = device.mode
        if mode is None:
            _fail(subject, f"{path}.mode", f"{device.path}: mode is required (e.g. '0666')")
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            _fail(subject, f"{path}.mode", f"{device.path}: {mode!r} is not a file mode")
        # LinuxKit leaves an unset major/minor at 0; keep that.
        major = device.major or 0
        minor = device.minor or 0
        nodes.append(
            {"path": device.path, "type": dtype, "major": major, "minor": minor, "fileMode": mode}
        )
        rules.append(
            {"allow": True, "type": dtype, "major": major, "minor": minor, "access": "rwm"}
        )
    return nodes, rules
