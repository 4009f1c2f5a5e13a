"""Linux capability names: the known set, and the capability sets of an OCI process.

LinuxKit accepts exactly the capabilities its vendored ``moby/sys/capability`` knows (41 names,
``CAP_CHOWN`` … ``CAP_CHECKPOINT_RESTORE``), spelled exactly (case-sensitive, ``CAP_`` prefix).
A list holding the single word ``all`` (any case) means every known capability, the single
word ``none`` means no capability at all.

Example:
    >>> resolve_capabilities(["CAP_NET_ADMIN", "CAP_NET_ADMIN"], field="capabilities")
    ('CAP_NET_ADMIN',)
    >>> len(resolve_capabilities(["all"], field="capabilities")) == len(KNOWN_CAPABILITIES)
    True
"""

from __future__ import annotations

from collections.abc import Iterable

from ._errors import ConfigError

__all__ = ["KNOWN_CAPABILITIES", "capability_sets", "resolve_capabilities"]

#: Every capability name LinuxKit accepts, in kernel number order (``CAP_CHOWN`` is 0). This is
#: also the order ``all`` expands to, so ``effective`` matches LinuxKit's for ``all``.
KNOWN_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

_KNOWN = frozenset(KNOWN_CAPABILITIES)


def resolve_capabilities(names: Iterable[str], *, field: str, subject: str = "") -> tuple[str, ...]:
    """Expand ``all``/``none``, check every name and drop repeats (first occurrence kept).

    LinuxKit keeps repeats in ``effective`` (its ``mergeStrings`` never records what it has
    seen), so ``capabilities.add`` naming a capability the label already has yields it twice;
    runc accepts that, but it is a bug, and we de-duplicate.

    Args:
        names: the capability list as configured.
        field: the configuration field, for the error (``capabilities``, ``ambient``).
        subject: the container or image the list belongs to, for the error.

    Raises:
        ConfigError: a name is not a known capability (``all`` and ``none`` are only special
            as the single entry of the list, as in LinuxKit).

    Example:
        >>> resolve_capabilities(["none"], field="ambient")
        ()
    """
    listed = tuple(names)
    if len(listed) == 1 and listed[0].lower() == "none":
        return ()
    if len(listed) == 1 and listed[0].lower() == "all":
        return KNOWN_CAPABILITIES
    seen: dict[str, None] = {}
    for index, name in enumerate(listed):
        if name not in _KNOWN:
            hint = ""
            upper = name.upper()
            candidate = upper if upper.startswith("CAP_") else "CAP_" + upper
            if candidate in _KNOWN:
                hint = f" (did you mean {candidate!r}?)"
            elif name.lower() in ("all", "none"):
                hint = f" ({name!r} is only special as the single entry of the list)"
            where = f"{subject}: " if subject else ""
            raise ConfigError(f"{where}unknown capability {name!r}{hint}", path=f"{field}[{index}]")
        seen.setdefault(name, None)
    return tuple(seen)


def capability_sets(caps: tuple[str, ...], ambient: tuple[str, ...]) -> dict[str, list[str]]:
    """The ``process.capabilities`` object LinuxKit builds, with empty sets left out.

    ``bounding``, ``inheritable`` and ``permitted`` are the sorted union of ``caps`` and
    ``ambient`` (an ambient capability must be in all three to be raised); ``effective`` is
    ``caps`` in configured order; ``ambient`` is ``ambient``. Key order follows the Go struct.

    Example:
        >>> capability_sets(("CAP_SYS_ADMIN", "CAP_CHOWN"), ())["bounding"]
        ['CAP_CHOWN', 'CAP_SYS_ADMIN']
    """
    union = sorted(set(caps) | set(ambient))
    result: dict[str, list[str]] = {}
    for key, value in (
        ("bounding", union),
        ("effective", list(caps)),
        ("inheritable", union),
        ("permitted", union),
        ("ambient", list(ambient)),
    ):
        if value:  # Go's omitempty
            result[key] = value
    return result
