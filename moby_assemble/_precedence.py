"""LinuxKit's precedence between a container's own fields and its image label.

A field the container sets (to anything but ``None``, even an empty list) wins; otherwise the
label's value applies; otherwise the caller's default. Fields with an ``.add`` variant
(``capabilities.add``, ``binds.add``) extend the label's list instead. Every value comes back
with its origin, so an error can say whether the user or the image label is to blame.

Example:
    >>> from types import SimpleNamespace as Cfg
    >>> src = Sources(Cfg(net=None, binds=[]), Cfg(net="new", binds=["/a:/a"]), "container 'x'")
    >>> src.pick("binds"), src.pick("net")
    (([], 'container'), ('new', 'label'))
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import attrs

from ._errors import ConfigError

__all__ = ["Sources", "unique"]

logger = logging.getLogger("moby_assemble.runtime_spec")

_ORIGIN_NOTE = {
    "label": " (from the image's org.mobyproject.config label)",
    "image": " (from the image config)",
}


@attrs.frozen
class Sources:
    """The two configurations being merged, and how to name them in errors.

    Attributes:
        user: the container as configured (``Container`` or anything with its attributes).
        label: the image label's ``ImageConfig``, or ``None``.
        subject: names the container in messages (``container 'sshd' (docker.io/…)``).
    """

    user: Any
    label: Any
    subject: str

    def pick(self, attr: str) -> tuple[Any, str]:
        """The container's value if set (``None`` = unset), else the label's; and who set it.

        The origin is ``"container"``, ``"label"``, or ``""`` when neither sets the field.
        """
        value = getattr(self.user, attr, None)
        if value is not None:
            return value, "container"
        if self.label is not None:
            value = getattr(self.label, attr, None)
            if value is not None:
                return value, "label"
        return None, ""

    def pick_str(self, attr: str) -> tuple[str, str]:
        """Like :meth:`pick` for LinuxKit's plain string fields, where ``""`` means unset."""
        for source, origin in ((self.user, "container"), (self.label, "label")):
            value = getattr(source, attr, None) if source is not None else None
            if value:
                return str(value), origin
        return "", ""

    def pick_add(
        self, attr: str, add_attr: str
    ) -> tuple[tuple[Any, ...] | None, tuple[Any, ...] | None, str]:
        """``(base, extra, origin)`` for a field with an ``.add`` variant.

        The container's own full list replaces everything (``extra`` is then ``None``);
        otherwise the label's list is the base and the container's ``.add`` list the extra.
        A label's own ``.add`` list is ignored, as in LinuxKit: nothing lies beneath a label
        for it to extend (logged as a warning).
        """
        own = getattr(self.user, attr, None)
        if own is not None:
            return tuple(own), None, "container"
        if self.label is not None and getattr(self.label, add_attr, None) is not None:
            logger.warning(
                "%s: the image label sets %r, which has nothing to extend and is ignored "
                "(as in LinuxKit); the label should use %r",
                self.subject,
                add_attr.replace("_add", ".add"),
                attr,
            )
        label = getattr(self.label, attr, None) if self.label is not None else None
        add = getattr(self.user, add_attr, None)
        return (
            None if label is None else tuple(label),
            None if add is None else tuple(add),
            "label",
        )

    def described(self, origin: str) -> str:
        """The subject, followed by where a value came from if not the container itself."""
        return self.subject + _ORIGIN_NOTE.get(origin, "")

    def error(self, path: str, message: str, origin: str = "container") -> ConfigError:
        """A :class:`ConfigError` naming the container, the field path and the value's origin."""
        note = _ORIGIN_NOTE.get(origin, "")
        return ConfigError(f"{self.subject}: {message}{note}", path=path)


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """``items`` without repeats, first occurrence kept."""
    return tuple(dict.fromkeys(items))
