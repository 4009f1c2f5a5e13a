"""Member names inside layers: normalisation, the safety rules, and whiteout markers.

Every name that leaves :func:`~moby_assemble.layers.read_tar` has been through
:func:`normalise_name`: relative, no ``./`` prefix, no empty or ``.`` components, no trailing
``/``; the root directory itself is called ``"."``. Names are never *repaired* into safety:
an absolute name (``/etc/passwd``), a ``..`` component anywhere (even ``a/../b``, which would
stay inside the root), or a NUL byte makes the whole layer unusable (:class:`LayerError`).
Real image builders never produce such names, so rejecting them costs nothing and removes
every question about what a "safely normalised" hostile name should mean.

Example::

    >>> normalise_name("./usr//bin/")
    'usr/bin'
    >>> whiteout_target("etc/.wh.motd")
    ('etc/motd', False)
    >>> whiteout_target("opt/.wh..wh..opq")
    ('opt', True)
"""

from __future__ import annotations

from .._errors import LayerError

__all__ = [
    "OPAQUE_MARKER",
    "WHITEOUT_PREFIX",
    "is_whiteout",
    "normalise_name",
    "parent_of",
    "whiteout_target",
]

#: Prefix of a whiteout marker's base name (``.wh.<name>`` deletes ``<name>``).
WHITEOUT_PREFIX = ".wh."
#: Base name of the opaque marker: all lower-layer children of its directory are hidden.
OPAQUE_MARKER = ".wh..wh..opq"


def normalise_name(name: str, *, layer: str | None = None, what: str = "member") -> str:
    """The canonical form of a member name (or hard-link target), or :class:`LayerError`.

    Args:
        name: the name as stored in the archive (already decoded).
        layer: the layer, for the error message.
        what: ``"member"`` or ``"hard link target"``, for the error message.

    Raises:
        LayerError: the name is absolute, contains ``..`` or a NUL byte, or is empty.
    """
    n = name
    # Fast path: the overwhelmingly common clean, relative name with at most a "./"
    # prefix and a trailing "/" (directories). Anything with "/." or a leading "." goes the
    # careful way, including harmless hidden files.
    if n.endswith("/"):
        n = n.rstrip("/")
    while n.startswith("./"):
        n = n[2:].lstrip("/")
    if n and n[0] != "." and n[0] != "/" and "//" not in n and "/." not in n and "\0" not in n:
        return n
    return _normalise_slow(name, layer, what)


def _normalise_slow(name: str, layer: str | None, what: str) -> str:
    where = f"layer {layer}: " if layer else ""
    if not name:
        raise LayerError(f"{where}empty {what} name", layer=layer, member=name)
    if "\0" in name:
        raise LayerError(f"{where}{what} {name!r} contains a NUL byte", layer=layer, member=name)
    if name.startswith("/"):
        raise LayerError(
            f"{where}{what} {name!r} is an absolute path (layers hold relative names)",
            layer=layer,
            member=name,
        )
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise LayerError(
            f"{where}{what} {name!r} has a '..' component (could escape the image root)",
            layer=layer,
            member=name,
        )
    return "/".join(parts) or "."


def parent_of(name: str) -> str:
    """The parent directory of a normalised name (``"."`` for top-level names and the root)."""
    head, sep, _ = name.rpartition("/")
    return head if sep else "."


def is_whiteout(name: str, *, layer: str | None = None) -> bool:
    """Whether a normalised name is a whiteout or opaque marker (or another ``.wh.`` name).

    Raises:
        LayerError: the name lies *inside* a ``.wh.`` directory; such names cannot exist
            in an image (the spec reserves the prefix), and emitting the entry would
            materialise a marker as a real directory.
    """
    if ".wh." not in name:
        return False
    head, _, base = name.rpartition("/")
    if base.startswith(WHITEOUT_PREFIX):
        return True
    if head.startswith(WHITEOUT_PREFIX) or "/.wh." in head:
        where = f"layer {layer}: " if layer else ""
        raise LayerError(
            f"{where}{name!r} lies inside a whiteout marker ('.wh.' names are reserved)",
            layer=layer,
            member=name,
        )
    return False


def whiteout_target(name: str, *, layer: str | None = None) -> tuple[str, bool] | None:
    """What a ``.wh.`` marker removes: ``(path, opaque)``, or ``None`` for other AUFS names.

    ``dir/.wh.name`` removes ``dir/name``; ``dir/.wh..wh..opq`` hides everything lower
    layers put inside ``dir`` (``opaque=True``, the path is ``dir``). Other ``.wh..wh.``
    names (AUFS bookkeeping such as ``.wh..wh.plnk``) carry no meaning for images and are
    dropped.

    Raises:
        LayerError: the marker names nothing (``.wh.``) or ``..``.
    """
    head, sep, base = name.rpartition("/")
    parent = head if sep else "."
    if base == OPAQUE_MARKER:
        return parent, True
    if base.startswith(".wh..wh."):
        return None
    target = base[len(WHITEOUT_PREFIX) :]
    if not target or target in (".", ".."):
        where = f"layer {layer}: " if layer else ""
        raise LayerError(f"{where}whiteout {name!r} names no file", layer=layer, member=name)
    return (f"{head}/{target}" if sep else target), False
