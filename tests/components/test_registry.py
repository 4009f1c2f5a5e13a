"""Component factories by name: the catalog, in-process registrations, clear errors."""

from __future__ import annotations

import pytest

from moby_assemble import ConfigError, Container, Role
from moby_assemble.components import (
    CATALOG,
    available_components,
    get_component,
    register_component,
    unregister_component,
)


def test_every_catalog_component_has_a_factory_by_its_name() -> None:
    assert set(CATALOG) <= set(available_components())
    assert get_component("mount")("/dev/vda", "/var/data").name == "mount"


def test_in_process_registration_never_silently_replaces_a_name() -> None:
    def web() -> Container:
        return Container("web", "registry.example/web:1", role=Role.SERVICE)

    register_component("test-web", web)
    try:
        assert get_component("test-web")() == web()
        with pytest.raises(ConfigError, match="already registered"):
            register_component("test-web", web)
        register_component("test-web", web, replace=True)
    finally:
        unregister_component("test-web")
    with pytest.raises(ConfigError, match=r"unknown component 'test-web'; known: .*dhcp"):
        get_component("test-web")
