"""What changed between two systems: :meth:`System.diff <moby_assemble.System.diff>`.

Components are matched by identity, not by position: containers by stage and name, files by
path, volumes by name, init images by repository (so a new tag is a *change* of one image, not
a removal and an addition), the kernel and each platform by themselves. A matched pair whose
fields differ is a change listing each differing field under its LinuxKit key (plus ``role``,
which LinuxKit's YAML does not have). In the sections where order matters (``init``,
``onboot``, ``onshutdown``) a component that kept its settings but not its place relative to
the others is *moved*.

The result is a value: ``bool(diff)`` says whether anything changed, ``str(diff)`` is one line
per difference, and notebooks show a table (``_repr_html_``). No I/O: the systems are
compared as written (a tag is compared as a tag; pin both with :meth:`System.pinned
<moby_assemble.System.pinned>` to compare digests).

Example::

    >>> from moby_assemble import Container, System
    >>> old = System(services=[Container("web", "nginx:1.26")])
    >>> new = old.replace("web", image="nginx:1.27").with_service(Container("db", "redis:7"))
    >>> print(old.diff(new))
    ~ services/web  image: docker.io/library/nginx:1.26 -> docker.io/library/nginx:1.27
    + services/db  docker.io/library/redis:7
    >>> bool(new.diff(new))
    False

.. versionadded:: 0.1
"""

from __future__ import annotations

import difflib
import enum
import html
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._model_codec import encode
from ._model_components import File, InitImage, Kernel, Volume
from ._model_container import Container
from ._platform import Platform

if TYPE_CHECKING:
    from ._model import Component, System

__all__ = ["ChangeKind", "ComponentChange", "FieldChange", "SystemDiff", "diff_systems"]

# Sections in the order a system is built, and which of them run in order.
_SECTIONS = ("platforms", "kernel", "init", "volumes", "onboot", "onshutdown", "services", "files")
_ORDERED = frozenset({"init", "onboot", "onshutdown"})
_ARROW = "->"


class ChangeKind(enum.StrEnum):
    """How a component differs: ``added``, ``removed``, ``changed`` or ``moved``."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    MOVED = "moved"

    @property
    def symbol(self) -> str:
        """``+``, ``-``, ``~`` or ``>``: the first column of :func:`str` of a diff."""
        return {"added": "+", "removed": "-", "changed": "~", "moved": ">"}[self.value]


def _show(value: Any) -> str:
    """A field value as text: strings verbatim, everything else as compact JSON."""
    if value is None:
        return "(not set)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@attrs.frozen
class FieldChange:
    """One field of a component that differs.

    Attributes:
        key: the LinuxKit key (``image``, ``binds``, ``capabilities.add``), ``role``, or
            ``position`` for a moved component.
        old: the value before, in the dict form YAML would hold (``None``: not set).
        new: the value after (``None``: not set).
    """

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}: {_show(self.old)} {_ARROW} {_show(self.new)}"


@attrs.frozen
class ComponentChange:
    """A component added, removed, changed or moved.

    Attributes:
        kind: what happened.
        section: ``platforms``, ``kernel``, ``init``, ``volumes``, ``onboot``,
            ``onshutdown``, ``services`` or ``files``.
        name: the container or volume name, the file path, the init image's repository,
            ``kernel``, or the platform.
        old: the component before (``None`` when added).
        new: the component after (``None`` when removed).
        fields: for ``changed``, each differing field; for ``moved``, the ``position``.
    """

    kind: ChangeKind
    section: str
    name: str
    old: Component | Platform | None
    new: Component | Platform | None
    fields: tuple[FieldChange, ...] = ()

    @property
    def label(self) -> str:
        """``section/name`` (just ``kernel`` for the kernel)."""
        return self.section if self.section == "kernel" else f"{self.section}/{self.name}"

    @property
    def summary(self) -> str:
        """What an added or removed component is: its image, file kind or platform."""
        value = self.new if self.new is not None else self.old
        return _summary(value)

    def lines(self) -> list[str]:
        """The text lines :func:`str` of a diff shows for this change."""
        head = f"{self.kind.symbol} {self.label}"
        if self.kind in (ChangeKind.ADDED, ChangeKind.REMOVED):
            return [f"{head}  {self.summary}".rstrip()]
        return [f"{head}  {f}" for f in self.fields]


def _summary(value: Component | Platform | None) -> str:
    if isinstance(value, File):
        return value.kind
    if isinstance(value, Platform):
        return ""
    return getattr(value, "image", None) or ""


@attrs.frozen(repr=False)
class SystemDiff:
    """The differences from one system to another (see the module documentation).

    Attributes:
        changes: every difference, section by section in build order (platforms, kernel,
            init, volumes, onboot, onshutdown, services, files); within a section, removals
            and changes in the old system's order, then moves, then additions in the new
            system's order.
    """

    changes: tuple[ComponentChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self) -> Iterator[ComponentChange]:
        return iter(self.changes)

    def of_kind(self, kind: ChangeKind | str) -> tuple[ComponentChange, ...]:
        """The changes of one kind (``"added"``, ``"removed"``, ``"changed"``, ``"moved"``)."""
        wanted = ChangeKind(kind)
        return tuple(c for c in self.changes if c.kind is wanted)

    @property
    def added(self) -> tuple[ComponentChange, ...]:
        return self.of_kind(ChangeKind.ADDED)

    @property
    def removed(self) -> tuple[ComponentChange, ...]:
        return self.of_kind(ChangeKind.REMOVED)

    @property
    def changed(self) -> tuple[ComponentChange, ...]:
        return self.of_kind(ChangeKind.CHANGED)

    @property
    def moved(self) -> tuple[ComponentChange, ...]:
        return self.of_kind(ChangeKind.MOVED)

    def __getitem__(self, label: str) -> ComponentChange:
        """The change of the component labelled ``label`` (``"services/web"``, ``"kernel"``)."""
        for change in self.changes:
            if change.label == label:
                return change
        raise KeyError(label)

    # -- display ------------------------------------------------------------------------------

    def _counts(self) -> str:
        counts = [f"{len(self.of_kind(k))} {k.value}" for k in ChangeKind if self.of_kind(k)]
        return ", ".join(counts) or "no differences"

    def __repr__(self) -> str:
        return f"SystemDiff({self._counts()})"

    def __str__(self) -> str:
        if not self.changes:
            return "no differences"
        return "\n".join(line for change in self.changes for line in change.lines())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self) if cycle or not self.changes else f"{self!r}\n{self}")

    def _repr_html_(self) -> str:
        e = html.escape
        rows = []
        for c in self.changes:
            label = f"<code>{e(c.label)}</code>"
            if c.kind in (ChangeKind.ADDED, ChangeKind.REMOVED):
                before, after = ("", c.summary) if c.kind is ChangeKind.ADDED else (c.summary, "")
                cells = [e(c.kind.value), label, "", _code(before), _code(after)]
                rows.append(cells)
                continue
            for i, f in enumerate(c.fields):
                first = i == 0
                cells = [e(c.kind.value) if first else "", label if first else ""]
                cells += [e(f.key), _code(_show(f.old)), _code(_show(f.new))]
                rows.append(cells)
        body = "".join("<tr>" + "".join(f"<td>{x}</td>" for x in r) + "</tr>" for r in rows)
        head = "".join(f"<th>{h}</th>" for h in ("change", "component", "field", "before", "after"))
        return (
            f"<table><caption>{e(repr(self))}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


def _code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>" if text else ""


# -- computing a diff ------------------------------------------------------------------------


def _repository(image: str) -> str:
    """``docker.io/library/nginx`` for ``docker.io/library/nginx:1.27@sha256:…``."""
    name = image.split("@", 1)[0]
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail else name


def _name_of(value: Component) -> str:
    if isinstance(value, Container | Volume):
        return value.name
    if isinstance(value, File):
        return value.path
    if isinstance(value, InitImage):
        return _repository(value.image)
    return "kernel"


def _fields(value: Component) -> dict[str, Any]:
    """The dict form of a component plus its role (what a field-by-field comparison sees)."""
    out = encode(value)
    role = getattr(value, "role", None)
    if role is not None and not isinstance(value, Kernel):
        out["role"] = role.value
    return out


def _field_changes(old: Component, new: Component) -> tuple[FieldChange, ...]:
    before, after = _fields(old), _fields(new)
    keys = list(before) + [k for k in after if k not in before]
    return tuple(
        FieldChange(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)
    )


def _keyed(values: Sequence[Component]) -> list[tuple[tuple[str, int], Component]]:
    """(name, occurrence) keys: onboot may repeat a name (LinuxKit numbers the bundles)."""
    seen: dict[str, int] = {}
    out = []
    for value in values:
        name = _name_of(value)
        seen[name] = seen.get(name, -1) + 1
        out.append(((name, seen[name]), value))
    return out


def _section_changes(
    section: str, old: Sequence[Component], new: Sequence[Component]
) -> list[ComponentChange]:
    before, after = _keyed(old), _keyed(new)
    after_map = dict(after)
    before_keys = {k for k, _ in before}
    changes: list[ComponentChange] = []
    for key, value in before:
        if key not in after_map:
            changes.append(ComponentChange(ChangeKind.REMOVED, section, key[0], value, None))
            continue
        fields = _field_changes(value, after_map[key])
        if fields:
            changes.append(
                ComponentChange(ChangeKind.CHANGED, section, key[0], value, after_map[key], fields)
            )
    if section in _ORDERED:
        changes += _moves(section, before, after)
    changes += [
        ComponentChange(ChangeKind.ADDED, section, key[0], None, value)
        for key, value in after
        if key not in before_keys
    ]
    return changes


def _moves(
    section: str,
    before: list[tuple[tuple[str, int], Component]],
    after: list[tuple[tuple[str, int], Component]],
) -> list[ComponentChange]:
    """Components kept in both whose order relative to the other kept ones changed.

    The longest run of kept components that stays in order counts as not moved, so moving
    one container to the front reports that one, not every container it overtook.
    """
    after_keys = [k for k, _ in after]
    kept_before = [k for k, _ in before if k in set(after_keys)]
    kept_after = [k for k in after_keys if k in set(kept_before)]
    matcher = difflib.SequenceMatcher(a=kept_before, b=kept_after, autojunk=False)
    in_order = {kept_before[b.a + i] for b in matcher.get_matching_blocks() for i in range(b.size)}
    old_pos = {k: i for i, (k, _) in enumerate(before)}
    new_pos = {k: i for i, k in enumerate(after_keys)}
    old_values, new_values = dict(before), dict(after)
    return [
        ComponentChange(
            ChangeKind.MOVED,
            section,
            key[0],
            old_values[key],
            new_values[key],
            (FieldChange("position", old_pos[key], new_pos[key]),),
        )
        for key in kept_before
        if key not in in_order
    ]


def _platform_changes(old: System, new: System) -> list[ComponentChange]:
    changes = [
        ComponentChange(ChangeKind.REMOVED, "platforms", str(p), p, None)
        for p in old.platforms
        if p not in new.platforms
    ]
    changes += [
        ComponentChange(ChangeKind.ADDED, "platforms", str(p), None, p)
        for p in new.platforms
        if p not in old.platforms
    ]
    return changes


def diff_systems(old: System, new: System) -> SystemDiff:
    """The differences from ``old`` to ``new`` (what ``old.diff(new)`` returns)."""
    changes: list[ComponentChange] = []
    for section in _SECTIONS:
        if section == "platforms":
            changes += _platform_changes(old, new)
            continue
        if section == "kernel":
            before: tuple[Component, ...] = (old.kernel,) if old.kernel is not None else ()
            after: tuple[Component, ...] = (new.kernel,) if new.kernel is not None else ()
        else:
            before, after = getattr(old, section), getattr(new, section)
        changes += _section_changes(section, before, after)
    return SystemDiff(tuple(changes))
