"""The registry of output formats: built-ins, formats registered in-process, entry points.

Formats are found by name. The built-in ones are registered when :mod:`moby_assemble.outputs`
is imported; others come from :func:`register_format` or, lazily on the first look-up of an
unknown name (or :func:`available_formats`), from the entry point group
``moby_assemble.outputs``. An entry point's name is the format name and it loads an
:class:`~moby_assemble.outputs.OutputFormat` object, or a class/factory returning one::

    # pyproject.toml of a third-party package
    [project.entry-points."moby_assemble.outputs"]
    "raw-efi" = "mypkg.outputs:RawEfiFormat"

Example::

    >>> from moby_assemble.outputs import get_format
    >>> get_format("kernel+initrd").files
    ('{name}-kernel', '{name}-initrd.img', '{name}-cmdline')
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from .._errors import OutputError
from ._atomic import check_output_name
from ._format import BundleView, OutputFormat

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_formats",
    "get_format",
    "register_format",
    "unregister_format",
    "write_formats",
]

logger = logging.getLogger("moby_assemble.outputs")

#: The entry point group third-party output formats are declared in.
ENTRY_POINT_GROUP = "moby_assemble.outputs"


class _Registry:
    def __init__(self) -> None:
        self.formats: dict[str, OutputFormat] = {}
        self.lock = threading.Lock()
        self.entry_points_loaded = False

    def load_entry_points(self) -> None:
        with self.lock:
            if self.entry_points_loaded:
                return
            self.entry_points_loaded = True
            found = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        for ep in sorted(found, key=lambda e: e.name):
            if ep.name in self.formats:
                logger.warning(
                    "output format %r from entry point %s ignored: the name is taken",
                    ep.name,
                    ep.value,
                )
                continue
            try:
                fmt = _as_format(ep.load(), ep.value)
            except Exception as e:  # a broken plug-in must not break the built-ins
                logger.warning("output format entry point %s (%s) failed: %s", ep.name, ep.value, e)
                continue
            if fmt.name != ep.name:
                logger.warning(
                    "output format entry point %r loads a format named %r; using %r",
                    ep.name,
                    fmt.name,
                    fmt.name,
                )
            with self.lock:
                self.formats.setdefault(fmt.name, fmt)


_REGISTRY = _Registry()


def _as_format(obj: Any, where: str) -> OutputFormat:
    # A class or a factory function is called; an instance is used as it is.
    if isinstance(obj, type) or (not isinstance(obj, OutputFormat) and callable(obj)):
        obj = obj()
    if not isinstance(obj, OutputFormat):
        raise OutputError(
            f"{where} is not an output format (it needs name, description, files, "
            "streamable, options and write())",
            format=getattr(obj, "name", None),
        )
    return obj


def register_format(fmt: OutputFormat, *, replace: bool = False) -> OutputFormat:
    """Add an output format to the registry (in this process).

    Args:
        fmt: the format (an object with the :class:`OutputFormat` attributes).
        replace: replace a format of the same name instead of refusing.

    Returns:
        ``fmt``, so this can decorate an instance.

    Raises:
        OutputError: the name is taken (and ``replace`` is false), or ``fmt`` is not a format.
    """
    fmt = _as_format(fmt, repr(fmt))
    with _REGISTRY.lock:
        if fmt.name in _REGISTRY.formats and not replace:
            raise OutputError(f"output format {fmt.name!r} is already registered", format=fmt.name)
        _REGISTRY.formats[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    """Remove a format from the registry (a test helper; unknown names are ignored)."""
    with _REGISTRY.lock:
        _REGISTRY.formats.pop(name, None)


def get_format(name: str) -> OutputFormat:
    """The output format called ``name``.

    Raises:
        OutputError: no such format; the message lists the available ones.
    """
    fmt = _REGISTRY.formats.get(name)
    if fmt is None:
        _REGISTRY.load_entry_points()
        fmt = _REGISTRY.formats.get(name)
    if fmt is None:
        known = ", ".join(available_formats())
        raise OutputError(f"unknown output format {name!r} (available: {known})", format=name)
    return fmt


def available_formats() -> tuple[str, ...]:
    """The names of every format, built-in and from entry points, sorted."""
    _REGISTRY.load_entry_points()
    with _REGISTRY.lock:
        return tuple(sorted(_REGISTRY.formats))


def write_formats(
    bundle: BundleView,
    directory: str | os.PathLike[str],
    formats: Iterable[str] | str = ("kernel+initrd",),
    *,
    name: str = "system",
    **options: Any,
) -> dict[str, tuple[Path, ...]]:
    """Write several output formats of one assembled system (what ``Bundle.write`` does).

    Every format name and option is checked before anything is written; then each format
    writes its files, which appear whole or not at all. All formats read the same root tar:
    nothing is fetched or flattened again.

    Args:
        bundle: the assembled system.
        directory: where the outputs go (created if missing).
        formats: format names (a single string is one name, or a comma-separated list).
        name: the base name of the files (``system`` → ``system-kernel``, ``system.tar``).
        options: format options; each format takes those it understands (e.g.
            ``compression="zstd"`` for ``kernel+initrd``, ``reference=...`` for ``push``).

    Returns:
        format name → the paths it wrote.

    Raises:
        OutputError: an unknown format or option, a bad name, or a format that failed.

    Example::

        write_formats(bundle, "out", ["kernel+initrd", "tar"], name="web")
    """
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    names = list(dict.fromkeys(formats))
    if not names:
        raise OutputError("no output format given")
    check_output_name(name)
    chosen = [get_format(n) for n in names]
    understood = set[str]().union(*(f.options for f in chosen))
    unknown = sorted(set(options) - understood)
    if unknown:
        raise OutputError(
            f"option(s) {', '.join(unknown)} not understood by format(s) {', '.join(names)}",
            format=names[0] if len(names) == 1 else None,
        )
    results: dict[str, tuple[Path, ...]] = {}
    for fmt in chosen:
        own: Mapping[str, Any] = {k: v for k, v in options.items() if k in fmt.options}
        logger.info("writing output %s for %s into %s", fmt.name, name, directory)
        results[fmt.name] = fmt.write(bundle, directory, name, **own)
    return results
