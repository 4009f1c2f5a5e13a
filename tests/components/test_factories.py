"""The catalog factories: model values with the right role, image and overrides."""

from __future__ import annotations

import pytest

from moby_assemble import ConfigError
from moby_assemble._model import Container, InitImage, Kernel, Role, System
from moby_assemble.components import (
    CATALOG,
    DEFAULT_REGISTRY,
    bootloader,
    image_reference,
    init,
    kernel,
    network,
    runtime,
    services,
    storage,
)


def test_every_factory_gives_its_role_and_default_reference() -> None:
    made = {
        "kernel": kernel.debian_cloud(),
        "init": init.base(),
        "runc": runtime.runc(),
        "dhcp": network.dhcp(),
        "format": storage.format("/dev/vda"),
        "mount": storage.mount("/dev/vda", "/var/data"),
        "getty": services.getty(),
        "demo": services.demo(),
        "bootloader-syslinux": bootloader.syslinux(),
        "bootloader-efi": bootloader.efi(),
    }
    assert set(made) == set(CATALOG)
    for name, value in made.items():
        entry = CATALOG[name]
        assert value.image == f"{DEFAULT_REGISTRY}/{name}:{entry.version}"
        assert value.role is entry.role
    assert isinstance(made["kernel"], Kernel)
    assert isinstance(made["init"], InitImage)
    assert isinstance(made["runc"], InitImage)
    assert made["runc"].role is Role.RUNTIME
    assert all(isinstance(made[n], Container) for n in ("dhcp", "format", "mount", "getty"))


def test_references_can_point_at_any_registry_tag_or_digest() -> None:
    digest = "sha256:" + "ab" * 32
    assert network.dhcp(registry="127.0.0.1:5001/ci").image == "127.0.0.1:5001/ci/dhcp:1.35.0-1"
    assert runtime.runc(tag="edge").image.endswith("/runc:edge")
    pinned = init.base(image=f"registry.example/moby/init@{digest}")
    assert pinned.image == f"registry.example/moby/init@{digest}"
    # Short names are normalised like LinuxKit does.
    assert services.getty(image="me/getty:1").image == "docker.io/me/getty:1"
    with pytest.raises(ConfigError, match="not both"):
        runtime.runc(image="x/y:1", tag="2")
    with pytest.raises(ConfigError, match="no component 'nginx'"):
        image_reference("nginx")
    with pytest.raises(ConfigError, match="invalid image reference"):
        services.demo(registry="Not A Registry")


def test_storage_factories_set_command_binds_and_mkdir() -> None:
    fmt = storage.format("/dev/vdb", filesystem="ext3", label="data", name="format-data")
    assert fmt.name == "format-data"
    assert fmt.command == ("/usr/bin/moby-format", "/dev/vdb", "ext3", "data")
    mnt = storage.mount("/dev/vdb", "/srv/data", filesystem="ext4")
    assert mnt.command == ("/usr/bin/moby-mount", "/dev/vdb", "/srv/data", "ext4")
    # binds.add keeps the label's /dev bind; runtime.mkdir makes the host directory first.
    assert mnt.binds is None
    assert mnt.binds_add == ("/srv/data:/srv/data:rshared,rbind",)
    assert mnt.runtime is not None
    assert mnt.runtime.mkdir == ("/srv/data",)


@pytest.mark.parametrize(
    ("make", "path"),
    [
        (lambda: storage.format("vda"), "device"),
        (lambda: storage.format("/dev/vda", filesystem="xfs"), "filesystem"),
        (lambda: storage.mount("/dev/vda", "var/data"), "path"),
        (lambda: storage.mount("/dev/vda", "/var/../etc"), "path"),
        (lambda: storage.mount("/dev/vda", "/"), "path"),
        (lambda: network.dhcp("eth0/1"), "interface"),
        (lambda: services.demo(data="data"), "data"),
    ],
)
def test_bad_arguments_are_config_errors_naming_the_argument(make: object, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()  # type: ignore[operator]
    assert info.value.path == path


def test_dhcp_interface_and_demo_data_override_the_label() -> None:
    assert network.dhcp().command is None
    assert network.dhcp("eth1").command == ("/usr/bin/moby-dhcp", "eth1")
    assert services.demo().binds is None  # the label's /var/data:/data applies
    other = services.demo(data="/srv/demo")
    assert other.binds == ("/srv/demo:/data",)
    assert other.runtime is not None
    assert other.runtime.mkdir == ("/srv/demo",)


def test_the_factories_compose_a_system_that_round_trips_through_yaml() -> None:
    system = (
        System(platform="linux/amd64")
        .with_kernel(kernel.debian_cloud(cmdline="console=ttyS0 moby.poweroff=30"))
        .with_init(init.base(), runtime.runc())
        .with_onboot(
            network.dhcp(), storage.format("/dev/vda"), storage.mount("/dev/vda", "/var/data")
        )
        .with_service(services.getty(), services.demo())
    )
    assert [c.name for c in system.onboot] == ["dhcp", "format", "mount"]
    again = System.from_yaml(system.to_yaml())
    assert [c.command for c in again.onboot] == [c.command for c in system.onboot]
    assert again.kernel == system.kernel
