"""Component factories by name: the standard catalog, in-process registrations and plug-ins.

A *component factory* is a callable that returns a model value (a
:class:`~moby_assemble.Kernel`, :class:`~moby_assemble.InitImage` or
:class:`~moby_assemble.Container`). The catalog's factories are registered under their catalog
names (``kernel``, ``init``, ``runc``, ``dhcp``, ``format``, ``mount``, ``getty``, ``demo``,
``bootloader-syslinux``, ``bootloader-efi``);
third parties add theirs with :func:`register_component` or through the entry point group
``moby_assemble.components`` in their package metadata::

    [project.entry-points."moby_assemble.components"]
    hello = "my_plugin:hello"

Entry points are loaded lazily, the first time a name is looked up that is not registered
in-process, and a plug-in never silently replaces a registered name.

Example::

    >>> from moby_assemble.components import get_component
    >>> get_component("dhcp")().name
    'dhcp'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from .._errors import ConfigError

__all__ = [
    "COMPONENT_ENTRY_POINT_GROUP",
    "ComponentFactory",
    "available_components",
    "get_component",
    "register_component",
    "unregister_component",
]

logger = logging.getLogger("moby_assemble.components")

#: The entry point group third-party component factories are declared in.
COMPONENT_ENTRY_POINT_GROUP = "moby_assemble.components"

#: A callable returning a model value (Kernel, InitImage or Container).
ComponentFactory = Callable[..., Any]

_lock = threading.Lock()
_factories: dict[str, ComponentFactory] = {}
_entry_points_loaded = False


def _builtins() -> dict[str, ComponentFactory]:
    from . import bootloader, init, kernel, network, runtime, services, storage

    return {
        "kernel": kernel.debian_cloud,
        "init": init.base,
        "runc": runtime.runc,
        "dhcp": network.dhcp,
        "format": storage.format,
        "mount": storage.mount,
        "getty": services.getty,
        "demo": services.demo,
        "bootloader-syslinux": bootloader.syslinux,
        "bootloader-efi": bootloader.efi,
    }


def _ensure_loaded() -> None:
    global _entry_points_loaded
    with _lock:
        if not _factories:
            _factories.update(_builtins())
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        found = list(metadata.entry_points(group=COMPONENT_ENTRY_POINT_GROUP))
    for ep in sorted(found, key=lambda e: e.name):
        if ep.name in _factories:
            logger.warning(
                "component plug-in %s (%s) ignored: the name is already registered",
                ep.name,
                ep.value,
            )
            continue
        try:
            factory = ep.load()
        except Exception as e:  # a broken plug-in must not break the library
            logger.warning("component plug-in %s (%s) failed to load: %s", ep.name, ep.value, e)
            continue
        if not callable(factory):
            logger.warning("component plug-in %s (%s) is not callable", ep.name, ep.value)
            continue
        with _lock:
            _factories.setdefault(ep.name, factory)


def register_component(name: str, factory: ComponentFactory, *, replace: bool = False) -> None:
    """Make ``factory`` available as ``name``.

    Raises:
        ConfigError: ``name`` is taken and ``replace`` is false, or ``factory`` is not callable.
    """
    if not callable(factory):
        raise ConfigError(f"component factory for {name!r} is not callable")
    _ensure_loaded()
    with _lock:
        if name in _factories and not replace:
            raise ConfigError(
                f"a component named {name!r} is already registered; pass replace=True"
            )
        _factories[name] = factory


def unregister_component(name: str) -> None:
    """Forget ``name`` (a no-op when it is not registered)."""
    _ensure_loaded()
    with _lock:
        _factories.pop(name, None)


def get_component(name: str) -> ComponentFactory:
    """The factory registered as ``name``.

    Raises:
        ConfigError: no such component (the message lists those that exist).
    """
    _ensure_loaded()
    with _lock:
        factory = _factories.get(name)
        known = sorted(_factories)
    if factory is None:
        raise ConfigError(f"unknown component {name!r}; known: {', '.join(known)}")
    return factory


def available_components() -> tuple[str, ...]:
    """Every registered component name, sorted (plug-ins included)."""
    _ensure_loaded()
    with _lock:
        return tuple(sorted(_factories))
