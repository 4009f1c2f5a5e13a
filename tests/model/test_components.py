"""Containers, init images, kernel, files, volumes as values: conversion, validation, equality."""

from __future__ import annotations

import pickle

import attrs
import pytest

from moby_assemble import ConfigError
from moby_assemble._model import (
    IMAGE_CONFIG_FIELDS,
    Container,
    Device,
    File,
    FrozenDict,
    IDMapping,
    ImageConfig,
    InitImage,
    JSONObject,
    Kernel,
    Mount,
    Role,
    Runtime,
    Volume,
    yaml_key,
)


def test_container_converts_lists_and_dicts_to_frozen_values() -> None:
    c = Container(
        "web",
        "nginx:1.27",
        binds=["/var/data:/data"],
        sysctl={"net.b": "1", "net.a": "2"},
        resources={"memory": {"limit": 5}, "devices": [{"allow": False, "access": "rwm"}]},
        mounts=[{"destination": "/tmp", "type": "tmpfs", "options": ["nosuid"]}],
        runtime={"mkdir": ["/var/x"], "bind_ns": {"net": "/run/netns/x"}},
    )
    assert c.binds == ("/var/data:/data",)
    assert isinstance(c.sysctl, FrozenDict)
    assert list(c.sysctl) == ["net.a", "net.b"]
    assert isinstance(c.resources, JSONObject)
    assert c.resources["devices"] == ({"allow": False, "access": "rwm"},)
    assert c.mounts == (Mount("/tmp", type="tmpfs", options=("nosuid",)),)
    assert c.runtime is not None
    assert c.runtime.bind_ns is not None
    assert c.runtime.bind_ns.net == "/run/netns/x"
    hash(c)


def test_equal_containers_hash_equal_and_survive_pickle() -> None:
    def make() -> Container:
        return Container("a", "alpine", env=["A=1"], annotations={"x": "y"})

    assert make() == make()
    assert hash(make()) == hash(make())
    assert pickle.loads(pickle.dumps(make()))  # noqa: S301 (our own bytes) == make()
    assert make() != attrs.evolve(make(), env=("A=2",))


def test_image_is_normalised_like_linuxkit_without_adding_a_tag() -> None:
    assert Container("a", "redis").image == "docker.io/library/redis"
    assert Container("a", "linuxkit/init:v1").image == "docker.io/linuxkit/init:v1"
    assert Container("a", "localhost:5000/x/y:1").image == "localhost:5000/x/y:1"
    assert Container("a", "registry.example/k:6").image == "registry.example/k:6"


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"binds": "/a:/b"}, "binds", "expected a list"),
        ({"binds": ["/a"]}, "binds[0]", "src:dst"),
        ({"capabilities": ["CAP_A", 3]}, "capabilities[1]", "expected a string"),
        ({"uid": True}, "uid", "integer or a container name"),
        ({"uid": -1}, "uid", "minimum"),
        ({"oom_score_adj": 5000}, "oomScoreAdj", "maximum"),
        ({"readonly": "yes"}, "readonly", "boolean"),
        ({"sysctl": {"a": 1}}, "sysctl.a", "expected a string"),
        ({"resources": {"memory": {"limt": 1}}}, "resources.memory.limt", "unknown key"),
        ({"resources": {"pids": {"limit": "x"}}}, "resources.pids.limit", "integer"),
        ({"mounts": [{"destination": 3}]}, "mounts[0].destination", "string"),
        ({"devices": [{"path": "/dev/x", "type": "c", "mode": 0o10000}]}, "devices[0].mode", ""),
        ({"uid_mappings": [{"size": -1}]}, "uidMappings[0].size", "minimum"),
        ({"role": "wizard"}, "role", "unknown role"),
    ],
)
def test_invalid_container_fields_raise_config_error_with_the_linuxkit_path(
    kwargs: dict[str, object], path: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Container("a", "alpine", **kwargs)  # type: ignore[arg-type]
    assert info.value.path == path
    assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_container_names_that_cannot_be_directories_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid container name"):
        Container(name, "alpine")


def test_invalid_image_reference_names_the_reference() -> None:
    with pytest.raises(ConfigError, match="Upper") as info:
        Container("a", "Upper/Case")
    assert info.value.path == "image"


def test_none_means_unset_and_empty_tuple_means_set_to_empty() -> None:
    c = Container("a", "alpine", binds=[])
    assert c.binds == ()
    assert c.capabilities is None
    assert c.set_fields() == {"binds": ()}


def test_container_config_is_just_the_image_config_part() -> None:
    c = Container("a", "alpine", role="network", net="host", command=["x"])
    assert c.config == ImageConfig(net="host", command=("x",))
    assert c.role is Role.NETWORK
    assert c != c.config


def test_yaml_keys_of_image_config_follow_linuxkit() -> None:
    assert yaml_key("capabilities_add") == "capabilities.add"
    assert yaml_key("masked_paths") == "maskedPaths"
    assert yaml_key("oom_score_adj") == "oomScoreAdj"
    assert len(IMAGE_CONFIG_FIELDS) == 34


def test_reprs_are_short() -> None:
    c = Container("web", "nginx:1.27", binds=["/d:/d"], mounts=[Mount("/x", type="tmpfs")])
    assert repr(c) == (
        "Container('web', 'docker.io/library/nginx:1.27', "
        "mounts=(Mount(destination='/x', type='tmpfs'),), binds=('/d:/d',))"
    )
    assert repr(Runtime(mkdir=["/a"])) == "Runtime(mkdir=('/a',))"
    assert repr(File("etc/motd", contents="hi", mode=0o644)) == (
        "File('etc/motd', contents='hi', mode=0o644)"
    )


def test_init_image_roles_are_init_or_runtime() -> None:
    assert InitImage("linuxkit/runc:v1", role="runtime").role is Role.RUNTIME
    assert InitImage("linuxkit/init:v1").name == "init"
    with pytest.raises(ConfigError, match="'init' or 'runtime'"):
        InitImage("x", role="service")


def test_kernel_merge_overrides_non_empty_fields_only() -> None:
    a = Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0", tar="none")
    b = Kernel(cmdline="quiet", ucode="intel-ucode.cpio")
    merged = a.merged_with(b)
    assert merged == Kernel(
        "linuxkit/kernel:6.6", cmdline="quiet", tar="none", ucode="intel-ucode.cpio"
    )
    assert Kernel("").image is None


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"contents": "a", "source": "b"}, "mutually exclusive"),
        ({"contents": "a", "metadata": "yaml"}, "mutually exclusive"),
        ({"directory": True, "contents": "a"}, "directory"),
        ({"symlink": "x", "source": "y"}, "symlink"),
        ({"metadata": "xml"}, "'yaml' or 'json'"),
        ({"mode": 0o20000}, "maximum"),
    ],
)
def test_impossible_file_combinations_are_rejected(
    kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        File("etc/x", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Data", "a.b", "", "a/b"])
def test_bad_volume_names_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid volume name") as info:
        Volume(name)
    assert info.value.path == "name"


def test_volume_format_must_be_filesystem_or_oci() -> None:
    assert Volume("v", format="oci").format == "oci"
    with pytest.raises(ConfigError, match="'filesystem' or 'oci'"):
        Volume("v", format="squashfs")


def test_frozen_dict_compares_to_plain_dicts_and_thaws() -> None:
    d = FrozenDict({"b": "1", "a": "2"})
    assert d == {"a": "2", "b": "1"}
    assert d.thaw() == {"a": "2", "b": "1"}
    j = JSONObject({"x": [1, {"y": True}]})
    assert j.thaw() == {"x": [1, {"y": True}]}
    assert hash(j) == hash(JSONObject({"x": (1, {"y": True})}))


def test_device_and_id_mapping_values() -> None:
    assert Device("/dev/fuse", "c", 10, 229, mode=0o666).mode == 0o666
    assert IDMapping(host_id=1, container_id=0, size=10) == IDMapping(1, 0, 10)


def test_field_reference_lists_every_linuxkit_key_of_a_container() -> None:
    from moby_assemble._model_codec import field_reference

    rows = field_reference(Container)
    assert [r[0] for r in rows[:3]] == ["name", "image", "capabilities"]
    assert ("binds.add", "binds_add", "a list of strings") in rows
    assert ("runtime", "runtime", "an object (Runtime)") in rows
    assert len(rows) == 2 + len(IMAGE_CONFIG_FIELDS)


def test_tmpfs_entries_are_checked() -> None:
    assert Container("a", "a", tmpfs=["/run:size=1m"]).tmpfs == ("/run:size=1m",)
    with pytest.raises(ConfigError, match="more than one ':'") as info:
        Container("a", "a", tmpfs=["/a:b:c"])
    assert info.value.path == "tmpfs[0]"
