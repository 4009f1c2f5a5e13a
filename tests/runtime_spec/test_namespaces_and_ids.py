"""Namespaces (order, defaults, join paths) and uid/gid resolution by container name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from moby_assemble._errors import ConfigError
from moby_assemble._model import Container, System
from moby_assemble._runtime_spec import allocate_ids

from .conftest import BuildBundle


def test_default_namespaces_share_host_net_ipc_uts_user_with_new_pid_and_mount(
    build: BuildBundle,
) -> None:
    # LinuxKit (verified): only pid and mount are new by default.
    assert build().spec["linux"]["namespaces"] == [{"type": "pid"}, {"type": "mount"}]


def test_pid_host_leaves_only_the_mount_namespace(build: BuildBundle) -> None:
    assert build(label={"pid": "host"}).spec["linux"]["namespaces"] == [{"type": "mount"}]


def test_namespaces_come_in_linuxkit_order_net_ipc_uts_pid_user_mount(build: BuildBundle) -> None:
    spec = build(userns="new", pid="new", uts="new", ipc="new", net="new").spec
    assert [n["type"] for n in spec["linux"]["namespaces"]] == [
        "network",
        "ipc",
        "uts",
        "pid",
        "user",
        "mount",
    ]


@pytest.mark.parametrize("value", ["host", "root"])
@pytest.mark.parametrize("attr", ["net", "ipc", "uts", "pid", "userns"])
def test_host_and_root_mean_the_host_namespace(build: BuildBundle, attr: str, value: str) -> None:
    expected = [{"type": "mount"}] if attr == "pid" else [{"type": "pid"}, {"type": "mount"}]
    assert build(**{attr: value}).spec["linux"]["namespaces"] == expected


def test_net_none_is_a_new_empty_network_namespace(build: BuildBundle) -> None:
    assert {"type": "network"} in build(net="none").spec["linux"]["namespaces"]


def test_a_path_joins_an_existing_namespace(build: BuildBundle) -> None:
    spec = build(net="/run/netns/wg", uts="/proc/1/ns/uts").spec
    assert spec["linux"]["namespaces"][:2] == [
        {"type": "network", "path": "/run/netns/wg"},
        {"type": "uts", "path": "/proc/1/ns/uts"},
    ]


@pytest.mark.parametrize(("attr", "value"), [("ipc", "none"), ("net", "wg"), ("pid", "private")])
def test_a_namespace_value_that_is_neither_keyword_nor_absolute_path_is_an_error(
    build: BuildBundle, attr: str, value: str
) -> None:
    # LinuxKit would write it as a path and runc would fail at boot.
    with pytest.raises(ConfigError, match=f"'{value}' is not host, root") as info:
        build(**{attr: value})
    assert info.value.path == attr


def test_allocate_ids_counts_from_100_over_onboot_onshutdown_services() -> None:
    system = SimpleNamespace(
        onboot=[SimpleNamespace(name="a"), SimpleNamespace(name="b")],
        onshutdown=[SimpleNamespace(name="down")],
        services=[SimpleNamespace(name="svc")],
    )
    # LinuxKit (verified): with 2 onboot + 1 service, the service got 102; onshutdown sits
    # between them.
    assert allocate_ids(system) == {"a": 100, "b": 101, "down": 102, "svc": 103}


def test_allocate_ids_accepts_the_model_system() -> None:
    system = System(
        onboot=[Container("a", "busybox")],
        onshutdown=[Container("down", "busybox")],
        services=[Container("svc", "busybox"), Container("web", "nginx")],
    )
    assert allocate_ids(system) == {"a": 100, "down": 101, "svc": 102, "web": 103}


def test_allocate_ids_takes_containers_in_order() -> None:
    containers = [Container("x", "busybox"), Container("y", "busybox")]
    assert allocate_ids(containers) == {"x": 100, "y": 101}


def test_allocate_ids_name_in_two_stages_keeps_last_id_like_linuxkit() -> None:
    system = SimpleNamespace(
        onboot=[SimpleNamespace(name="same")],
        onshutdown=[],
        services=[SimpleNamespace(name="other"), SimpleNamespace(name="same")],
    )
    assert allocate_ids(system) == {"same": 102, "other": 101}


def test_uid_and_gid_by_container_name(build: BuildBundle) -> None:
    user = build(
        uid="dhcpcd",
        gid="ntpd",
        additional_gids=[5, "dhcpcd", "root"],
        id_map={
            "dhcpcd": 100,
            "ntpd": 101,
        },
    ).spec["process"]["user"]
    assert user == {"uid": 100, "gid": 101, "additionalGids": [5, 100, 0]}


def test_root_and_empty_name_are_zero(build: BuildBundle) -> None:
    assert build(uid="root", gid="").spec["process"]["user"] == {"uid": 0, "gid": 0}


def test_uid_naming_an_unknown_container_is_an_error(build: BuildBundle) -> None:
    with pytest.raises(ConfigError, match="no container is named 'nobody'") as info:
        build(uid="nobody", id_map={"svc": 100})
    assert info.value.path == "uid"


def test_label_gid_naming_an_unknown_container_says_it_came_from_the_label(
    build: BuildBundle,
) -> None:
    with pytest.raises(ConfigError, match=r"additionalGids\[0\].*label"):
        build(label={"additional_gids": ["ghost"]})


def test_numeric_string_uid_is_an_error_with_a_hint(build: BuildBundle) -> None:
    # LinuxKit looks "1000" up as a container name and fails; say what to do instead.
    with pytest.raises(ConfigError, match="write numeric ids as numbers"):
        build(uid="1000")


def test_hostname_without_its_own_uts_namespace_is_an_error(build: BuildBundle) -> None:
    # runc: "unable to set hostname without a private UTS namespace" -- at boot, in LinuxKit.
    with pytest.raises(ConfigError, match=r"needs its own UTS namespace.*label") as info:
        build(label={"hostname": "box"})
    assert info.value.path == "hostname"
    assert build(label={"hostname": "box", "uts": "new"}).spec["hostname"] == "box"
