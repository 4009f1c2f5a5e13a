"""Composing systems: immutable, idempotent with_*, replace/without/merge, cross-checks."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings

from moby_assemble import ConfigError, Platform
from moby_assemble._model import (
    Container,
    File,
    InitImage,
    Kernel,
    Role,
    Stage,
    System,
    Volume,
)

from .strategies import systems

WEB = Container("web", "nginx:1.27", binds=["/var/data:/data"])


def _example() -> System:
    return (
        System(platform="linux/amd64")
        .with_kernel(Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0"))
        .with_init("linuxkit/init:v1", InitImage("linuxkit/runc:v1", role="runtime"))
        .with_onboot(Container("dhcpcd", "linuxkit/dhcpcd:v1", role="network"))
        .with_service(WEB)
        .with_file(File("etc/motd", contents="hello\n", mode=0o644))
    )


def test_with_methods_return_new_values_and_leave_the_original_alone() -> None:
    base = System()
    grown = base.with_service(WEB)
    assert base.services == ()
    assert grown.services == (WEB,)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        grown.services = ()  # type: ignore[misc]


def test_rerunning_the_same_with_calls_adds_nothing() -> None:
    once = _example()
    twice = (
        once.with_kernel(Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0"))
        .with_init("linuxkit/init:v1", InitImage("linuxkit/runc:v1", role="runtime"))
        .with_onboot(Container("dhcpcd", "linuxkit/dhcpcd:v1", role="network"))
        .with_service(Container("web", "nginx:1.27", binds=["/var/data:/data"]))
        .with_file(File("etc/motd", contents="hello\n", mode=0o644))
        .with_platform("linux/x86_64")
    )
    assert twice == once
    assert hash(twice) == hash(once)


def test_a_different_component_under_an_existing_name_points_to_replace() -> None:
    s = _example()
    with pytest.raises(ConfigError, match=r"use replace\('web'"):
        s.with_service(Container("web", "nginx:1.28"))
    with pytest.raises(ConfigError, match=r"use replace\('dhcpcd'"):
        s.with_onboot(Container("dhcpcd", "linuxkit/dhcpcd:v2"))
    with pytest.raises(ConfigError, match="replace"):
        s.with_file(File("etc/motd", contents="bye\n"))
    with pytest.raises(ConfigError, match="role 'runtime'"):
        s.with_init("linuxkit/runc:v1")


def test_duplicate_service_names_are_rejected_when_built() -> None:
    with pytest.raises(ConfigError, match="duplicate service name 'web'") as info:
        System(services=[WEB, attrs.evolve(WEB, image="httpd")])
    assert info.value.path == "services[1].name"


def test_repeated_onboot_names_are_allowed_like_linuxkit() -> None:
    # LinuxKit's own examples format two disks with two onboot containers called "format";
    # bundles are numbered (000-format, 001-format), so nothing collides.
    a = Container("format", "linuxkit/format:v1", command=["/dev/vda"])
    b = Container("format", "linuxkit/format:v1", command=["/dev/vdb"])
    s = System(onboot=[a, b])
    assert s.onboot == (a, b)
    assert s.with_onboot(b) == s


def test_duplicate_volume_names_and_bad_names_are_rejected() -> None:
    with pytest.raises(ConfigError, match="duplicate volume name"):
        System(volumes=[Volume("v"), Volume("v", readonly=True)])
    with pytest.raises(ConfigError, match="invalid volume name"):
        System().with_volume(Volume("Not-Ok"))


def test_replace_changes_fields_or_swaps_the_component() -> None:
    s = _example()
    changed = s.replace("web", image="nginx:1.28")
    assert changed["web"].image == "docker.io/library/nginx:1.28"
    assert changed["web"].binds == WEB.binds
    swapped = s.replace("web", Container("web", "httpd"))
    assert swapped["web"] == Container("web", "httpd")
    assert s.replace("etc/motd", contents="bye\n").files[0].contents == "bye\n"
    assert s.replace("runc", role="init").init[1] == InitImage("linuxkit/runc:v1")
    with pytest.raises(ConfigError, match="no component named 'nope'"):
        s.replace("nope", image="x")
    with pytest.raises(ConfigError, match="is a Container, not a File"):
        s.replace("web", File("x"))
    with pytest.raises(ConfigError, match=r"services\[0\].binds"):
        s.replace("web", binds="not-a-list")


def test_replace_with_an_ambiguous_name_asks_for_the_stage() -> None:
    s = System(onboot=[Container("x", "a")], services=[Container("x", "b")])
    with pytest.raises(ConfigError, match="ambiguous"):
        s.replace("x", command=["y"])
    assert s.replace("x", stage="services", command=["y"]).services[0].command == ("y",)


def test_without_removes_by_name_path_or_image() -> None:
    s = _example()
    assert s.without("web").services == ()
    assert s.without("etc/motd").files == ()
    assert s.without("runc").init == (InitImage("linuxkit/init:v1"),)
    assert s.without("docker.io/linuxkit/init:v1").init == (
        InitImage("linuxkit/runc:v1", role="runtime"),
    )
    with pytest.raises(ConfigError, match="no component named"):
        s.without("web", stage=Stage.ONBOOT)


def test_merge_is_linuxkit_append_config() -> None:
    a = System(
        kernel=Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0"),
        init=["linuxkit/init:v1"],
        services=[WEB],
    )
    b = System(
        kernel=Kernel(cmdline="quiet"),
        init=["linuxkit/runc:v1"],
        files=[File("etc/x", contents="x")],
    )
    merged = a.merge(b)
    assert merged.kernel == Kernel("linuxkit/kernel:6.6", cmdline="quiet")
    assert [i.image for i in merged.init] == [
        "docker.io/linuxkit/init:v1",
        "docker.io/linuxkit/runc:v1",
    ]
    assert merged.services == (WEB,)
    assert merged.files == b.files
    with pytest.raises(ConfigError, match="duplicate service name"):
        merged.merge(System(services=[Container("web", "httpd")]))


def test_platforms_accept_one_string_and_normalise() -> None:
    s = System(platform="linux/x86_64", platforms=["linux/arm64/v8", "linux/amd64"])
    assert s.platforms == (Platform.parse("linux/amd64"), Platform.parse("linux/arm64"))
    assert System(platform="linux/amd64").platform == Platform.parse("linux/amd64")
    with pytest.raises(ConfigError) as info:
        System(platform="linux/")
    assert info.value.path == "platforms"


def test_init_accepts_strings_init_images_and_objects_with_image_and_role() -> None:
    @attrs.frozen
    class CatalogEntry:
        image: str
        role: str

    s = System(init=["linuxkit/init:v1", CatalogEntry("linuxkit/containerd:v1", "runtime")])
    assert s.init[1] == InitImage("linuxkit/containerd:v1", role=Role.RUNTIME)
    with pytest.raises(ConfigError, match="an init image"):
        System(init=[42])  # type: ignore[list-item]


def test_components_and_image_references_follow_build_order() -> None:
    s = _example().with_volume(Volume("data", image="alpine"))
    kinds = [type(c).__name__ for _, c in s.components()]
    assert kinds == ["Kernel", "InitImage", "InitImage", "Volume", "Container", "Container", "File"]
    assert s.image_references() == (
        "docker.io/linuxkit/kernel:6.6",
        "docker.io/linuxkit/init:v1",
        "docker.io/linuxkit/runc:v1",
        "docker.io/library/alpine",
        "docker.io/linuxkit/dhcpcd:v1",
        "docker.io/library/nginx:1.27",
    )


def test_check_finds_dangling_volume_binds_and_unknown_id_names() -> None:
    s = System(services=[Container("svc", "a", binds=["data:/data"])])
    with pytest.raises(ConfigError, match="volume 'data', which is not defined") as info:
        s.check()
    assert info.value.path == "services[0].binds[0]"
    ro = s.with_volume(Volume("data", readonly=True))
    with pytest.raises(ConfigError, match="read-only"):
        ro.check()
    ro.replace("svc", binds=["data:/data:ro"]).check()
    with pytest.raises(ConfigError, match="'ghost' is not a container"):
        System(files=[File("etc/x", uid="ghost")]).check()
    System(services=[Container("svc", "a")], files=[File("etc/x", uid="svc")]).check()


def test_repr_is_one_short_line() -> None:
    assert repr(_example()) == (
        "System(platform=linux/amd64, kernel=docker.io/linuxkit/kernel:6.6, init=2, onboot=1, "
        "services=1, files=1)"
    )
    assert repr(System()) == "System()"


@settings(max_examples=60, deadline=None)
@given(systems(yaml_only=False))
def test_equal_systems_hash_equal_and_adding_their_parts_again_changes_nothing(
    system: System,
) -> None:
    again = System(
        platforms=system.platforms,
        kernel=system.kernel,
        init=system.init,
        onboot=system.onboot,
        onshutdown=system.onshutdown,
        services=system.services,
        files=system.files,
        volumes=system.volumes,
    )
    assert again == system
    assert hash(again) == hash(system)
    assert system.with_service(*system.services).with_volume(*system.volumes) == system
