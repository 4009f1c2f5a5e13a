"""Parsing the org.mobyproject.config label, and using it end to end with the image config."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft4Validator

from moby_assemble._errors import ConfigError
from moby_assemble._label import LABEL, label_of, parse_label
from moby_assemble._model import Container, Device, ImageConfig, Mount, Runtime
from moby_assemble._runtime_spec import oci_config

IMAGE = "docker.io/linuxkit/getty:v1.0"

# Shaped like what ``linuxkit pkg build`` writes: json.Marshal of moby.ImageConfig.
PKG_BUILD_LABEL = json.dumps(
    {
        "capabilities": ["all"],
        "binds": ["/etc/resolv.conf:/etc/resolv.conf", "/run:/run", "/var:/var:rshared,rbind"],
        "devices": [{"path": "/dev/console", "type": "c", "major": 5, "minor": 1, "mode": "0666"}],
        "tmpfs": ["/tmp"],
        "mounts": [{"type": "cgroup", "options": ["rw", "nosuid", "noexec", "nodev", "relatime"]}],
        "pid": "host",
        "rootfsPropagation": "shared",
        "oomScoreAdj": -800,
        "rlimits": ["nofile,1024,4096"],
        "runtime": {"mkdir": ["/var/log"], "bindNS": {"net": "/run/netns/getty"}},
    },
    separators=(",", ":"),
)

YAML_LABEL = """\
# a hand-written label
capabilities:
  - CAP_SYS_ADMIN
readonly: true
noNewPrivileges: true
sysctl:
  net.ipv4.ip_forward: "1"
resources:
  memory:
    limit: 1048576
uid: dhcpcd
"""


def test_json_label_as_linuxkit_pkg_build_writes_it() -> None:
    config = parse_label(PKG_BUILD_LABEL, image=IMAGE)
    assert config.capabilities == ("all",)
    assert config.devices == (Device("/dev/console", "c", 5, 1, mode=0o666),)
    assert config.mounts == (
        Mount(type="cgroup", options=("rw", "nosuid", "noexec", "nodev", "relatime")),
    )
    assert config.pid == "host"
    assert config.rootfs_propagation == "shared"
    assert config.oom_score_adj == -800
    assert config.runtime == Runtime(mkdir=("/var/log",), bind_ns={"net": "/run/netns/getty"})
    assert config.command is None  # unset stays unset, so the image's Cmd applies


def test_yaml_label() -> None:
    config = parse_label(YAML_LABEL, image=IMAGE)
    assert config.capabilities == ("CAP_SYS_ADMIN",)
    assert config.readonly is True
    assert config.no_new_privileges is True
    assert dict(config.sysctl or {}) == {"net.ipv4.ip_forward": "1"}
    assert config.uid == "dhcpcd"


def test_empty_label_list_is_kept_as_set_to_empty() -> None:
    assert parse_label('{"binds": []}', image=IMAGE) == ImageConfig(binds=())


def test_unknown_key_error_names_the_image_and_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_label('{"binds": [], "capabilites": ["CAP_KILL"]}', image=IMAGE)
    assert IMAGE in str(info.value)
    assert "capabilites" in str(info.value)
    assert info.value.path == "capabilites"


@pytest.mark.parametrize("key", ["name", "image"])
def test_name_or_image_in_a_label_is_an_error_naming_image_and_field(key: str) -> None:
    # LinuxKit's NewImage: "name cannot be set in metadata label".
    with pytest.raises(ConfigError, match=f"{key} cannot be set") as info:
        parse_label(json.dumps({key: "x", "readonly": True}), image=IMAGE)
    assert IMAGE in str(info.value)
    assert info.value.path == key


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"readonly": "yes"}', "readonly"),
        ('{"binds": "/a:/b"}', "binds"),
        ('{"devices": [{"path": "/dev/x", "type": "c", "mode": 438}]}', "devices[0].mode"),
        ('{"capabilities": null}', "capabilities"),
        ("readonly: yes\n", "readonly"),  # yaml.v3 reads ``yes`` as a string, not a boolean
    ],
)
def test_wrong_types_are_errors_with_their_path(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_label(text, image=IMAGE)
    assert info.value.path == path
    assert IMAGE in str(info.value)


@pytest.mark.parametrize("text", ['["CAP_SYS_ADMIN"]', '"just a string"', "  ", "{"])
def test_label_that_is_not_an_object_is_an_error_naming_the_image(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_label(text, image=IMAGE)
    assert IMAGE in str(info.value)


def test_label_of_reads_the_image_config_labels() -> None:
    image_config = {"Cmd": ["/sbin/getty"], "Labels": {LABEL: '{"pid": "host"}', "x": "y"}}
    assert label_of(image_config, image=IMAGE) == ImageConfig(pid="host")


@pytest.mark.parametrize("labels", [None, {}, {LABEL: ""}])
def test_missing_or_empty_label_means_no_defaults_like_linuxkit(labels: object) -> None:
    assert label_of({"Labels": labels}, image=IMAGE) is None
    assert label_of({}, image=IMAGE) is None


def test_label_of_rejects_labels_that_are_not_strings() -> None:
    with pytest.raises(ConfigError, match=IMAGE):
        label_of({"Labels": {LABEL: {"pid": "host"}}}, image=IMAGE)


def test_label_defaults_reach_config_json_and_container_overrides_them(
    config_schema: Draft4Validator,
) -> None:
    image_config = {
        "Entrypoint": ["/sbin/getty"],
        "Env": ["PATH=/bin"],
        "WorkingDir": "/root",
        "Labels": {LABEL: PKG_BUILD_LABEL},
    }
    label = label_of(image_config, image=IMAGE)
    container = Container(
        "getty", IMAGE, binds_add=["/home:/home"], pid="new", env=["INSECURE=true"]
    )
    bundle = oci_config(container, label=label, image_config=image_config, id_map={"getty": 100})
    config_schema.validate(bundle.spec)
    spec = bundle.spec
    assert spec["process"]["args"] == ["/sbin/getty"]
    assert spec["process"]["env"] == ["INSECURE=true"]
    assert spec["process"]["cwd"] == "/root"
    assert spec["process"]["oomScoreAdj"] == -800
    assert {n["type"] for n in spec["linux"]["namespaces"]} == {"pid", "mount"}
    mounts = {m["destination"]: m for m in spec["mounts"]}
    assert mounts["/var"]["options"] == ["rshared", "rbind", "rbind"]  # LinuxKit appends rbind
    assert mounts["/home"]["source"] == "/home"
    assert mounts["/tmp"]["type"] == "tmpfs"
    assert mounts["/sys/fs/cgroup"]["options"] == ["rw", "nosuid", "noexec", "nodev", "relatime"]
    assert spec["linux"]["devices"][0]["path"] == "/dev/console"
    assert bundle.runtime["mkdir"] == ["/var/log"]
    assert bundle.runtime["bindNS"]["net"] == "/run/netns/getty"
