"""runtime.json contents and the byte format of both documents."""

from __future__ import annotations

import json

import pytest

from moby_assemble._errors import ConfigError
from moby_assemble._runtime_spec import OCI_VERSION, config_json_bytes

from .conftest import BuildBundle

EMPTY_RUNTIME = {
    "cgroups": [],
    "mounts": [],
    "mkdir": [],
    "interfaces": [],
    "bindNS": {"cgroup": "", "ipc": "", "mnt": "", "net": "", "pid": "", "user": "", "uts": ""},
    "namespace": "",
}


def test_runtime_json_materialises_every_field_like_linuxkit(build: BuildBundle) -> None:
    runtime = build().runtime
    assert runtime == EMPTY_RUNTIME
    assert list(runtime) == list(EMPTY_RUNTIME)
    assert list(runtime["bindNS"]) == list(EMPTY_RUNTIME["bindNS"])  # type: ignore[call-overload]


def test_runtime_subfields_merge_one_by_one(build: BuildBundle) -> None:
    label = {
        "runtime": {
            "cgroups": ["label-cg"],
            "mkdir": ["/var/label"],
            "bind_ns": {"net": "/run/netns/label", "uts": "/run/uts"},
            "namespace": "label-ns",
        }
    }
    runtime = build(
        label=label,
        runtime={"mkdir": [], "bind_ns": {"net": "/run/netns/mine"}, "namespace": "mine"},
    ).runtime
    assert runtime["cgroups"] == ["label-cg"]  # label: the container does not set it
    assert runtime["mkdir"] == []  # container: set to empty
    assert runtime["bindNS"]["net"] == "/run/netns/mine"
    assert runtime["bindNS"]["uts"] == "/run/uts"  # each bindNS entry merges on its own
    assert runtime["namespace"] == "mine"


def test_runtime_interfaces_and_mounts_are_written_as_linuxkits_service_reads_them(
    build: BuildBundle,
) -> None:
    runtime = build(
        runtime={
            "interfaces": [
                {"name": "wg0", "add": "wireguard", "create_in_root": True},
                {"name": "eth1"},
                {"name": "veth0", "peer": "veth1"},
            ],
            "mounts": [{"destination": "/run/x", "type": "tmpfs", "source": "tmpfs"}],
        }
    ).runtime
    assert runtime["interfaces"] == [
        {"name": "wg0", "add": "wireguard", "createInRoot": True},
        {"name": "eth1", "createInRoot": False},
        {"name": "veth0", "peer": "veth1", "createInRoot": False},
    ]
    assert runtime["mounts"] == [{"destination": "/run/x", "type": "tmpfs", "source": "tmpfs"}]


@pytest.mark.parametrize(
    ("interface", "reason"),
    [({"add": "veth"}, "needs a name"), ({"name": "v", "add": "veth"}, "needs a peer")],
)
def test_interface_the_service_tool_would_refuse_is_an_error(
    build: BuildBundle, interface: dict[str, object], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        build(runtime={"interfaces": [interface]})
    assert info.value.path == "runtime.interfaces[0]"


def test_config_json_top_level_and_process_keys_follow_go_struct_order(build: BuildBundle) -> None:
    spec = build(
        hostname="h",
        uts="new",
        annotations={"a": "b"},
        env=["A=1"],
        rlimits=["core,0,0"],
        no_new_privileges=True,
        oom_score_adj=5,
        additional_gids=[1],
        readonly=True,
        masked_paths=["/proc/kcore"],
        readonly_paths=["/proc/sys"],
        rootfs_propagation="shared",
        cgroups_path="/x",
        sysctl={"a": "b"},
        uid_mappings=[{"host_id": 1, "container_id": 0, "size": 1}],
        gid_mappings=[{"host_id": 1, "container_id": 0, "size": 1}],
        devices=[{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "mode": 0o666}],
    ).spec
    assert list(spec) == [
        "ociVersion",
        "process",
        "root",
        "hostname",
        "mounts",
        "annotations",
        "linux",
    ]
    assert spec["ociVersion"] == OCI_VERSION == "1.2.1"
    assert list(spec["process"]) == [
        "user",
        "args",
        "env",
        "cwd",
        "capabilities",
        "rlimits",
        "noNewPrivileges",
        "oomScoreAdj",
    ]
    assert list(spec["process"]["user"]) == ["uid", "gid", "additionalGids"]
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert list(spec["linux"]) == [
        "uidMappings",
        "gidMappings",
        "sysctl",
        "resources",
        "cgroupsPath",
        "namespaces",
        "devices",
        "rootfsPropagation",
        "maskedPaths",
        "readonlyPaths",
    ]


def test_json_bytes_are_four_space_indented_go_escaped_with_trailing_newline() -> None:
    data = config_json_bytes({"a": ["x<y>&z", "é\u2028"], "b": {}, "c": []})
    assert data == (
        b'{\n    "a": [\n        "x\\u003cy\\u003e\\u0026z",\n        "\xc3\xa9\\u2028"\n    ],\n'
        b'    "b": {},\n    "c": []\n}\n'
    )
    assert json.loads(data) == {"a": ["x<y>&z", "é\u2028"], "b": {}, "c": []}


def test_same_input_gives_identical_bytes(build: BuildBundle) -> None:
    one = build(binds=["/b:/b", "/a:/a"], sysctl={"z": "1", "a": "2"})
    two = build(binds=["/b:/b", "/a:/a"], sysctl={"z": "1", "a": "2"})
    assert one.config_json() == two.config_json()
    assert one.runtime_json() == two.runtime_json()


def test_bundle_readonly_flag_follows_root_readonly(build: BuildBundle) -> None:
    assert build(label={"readonly": True}).readonly is True
    assert build(label={"readonly": True}, readonly=False).readonly is False
