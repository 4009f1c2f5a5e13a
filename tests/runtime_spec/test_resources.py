"""rlimits, devices and cgroup resources in config.json."""

from __future__ import annotations

import pytest

from moby_assemble._errors import ConfigError
from moby_assemble._resources import RLIM_INFINITY, normalise_resources, parse_rlimits

from .conftest import BuildBundle


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("RLIMIT_NOFILE,1024,2048", {"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}),
        ("nofile,1024,2048", {"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}),
        ("rlimit_core,0,0", {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}),
        (
            " Memlock , 64 , unlimited ",
            {"type": "RLIMIT_MEMLOCK", "hard": RLIM_INFINITY, "soft": 64},
        ),
        (
            "nproc,UNLIMITED,Unlimited",
            {"type": "RLIMIT_NPROC", "hard": RLIM_INFINITY, "soft": RLIM_INFINITY},
        ),
    ],
)
def test_rlimit_prefix_optional_case_insensitive_and_unlimited(
    entry: str, expected: dict[str, object]
) -> None:
    assert parse_rlimits([entry], subject="x") == [expected]
    assert RLIM_INFINITY == 18446744073709551615


def test_all_sixteen_linuxkit_limits_are_accepted() -> None:
    names = (
        "cpu fsize data stack core rss nproc nofile memlock as locks sigpending msgqueue nice "
        "rtprio rttime"
    )
    parsed = parse_rlimits([f"{n},1,1" for n in names.split()], subject="x")
    assert [p["type"] for p in parsed] == [f"RLIMIT_{n.upper()}" for n in names.split()]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("nofile,1", "is not 'name,soft,hard'"),
        ("nofile", "is not 'name,soft,hard'"),
        ("files,1,2", "unknown limit 'files'"),
        ("nofile,-1,2", "'-1' is not an unsigned 64-bit number"),
        ("nofile,+1,2", "'\\+1' is not an unsigned"),
        ("nofile,1_0,20", "'1_0' is not an unsigned"),
        ("nofile,1,18446744073709551616", "is not an unsigned 64-bit"),
        ("nofile,1,2,3", "'2,3' is not an unsigned"),
        ("nofile,5,4", "soft limit is above the hard limit"),
        ("nofile,unlimited,4", "soft limit is above the hard limit"),
    ],
)
def test_bad_rlimit_is_an_error_naming_the_entry(entry: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        parse_rlimits(["core,0,0", entry], subject="container 'x'")
    assert info.value.path == "rlimits[1]"
    assert "container 'x'" in str(info.value)


def test_rlimit_given_twice_is_an_error() -> None:
    # The runtime spec: duplicated rlimit types MUST make the runtime fail.
    with pytest.raises(ConfigError, match="RLIMIT_NOFILE is given twice"):
        parse_rlimits(["nofile,1,1", "RLIMIT_NOFILE,2,2"], subject="x")


def test_rlimits_reach_process(build: BuildBundle) -> None:
    assert build(rlimits=["nofile,10,20"]).spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 20, "soft": 10}
    ]


def test_device_becomes_a_node_and_a_cgroup_allow_rule(build: BuildBundle) -> None:
    linux = build(
        devices=[{"path": "/dev/console", "type": "c", "major": 5, "minor": 1, "mode": 0o666}]
    ).spec["linux"]
    assert linux["devices"] == [
        {"path": "/dev/console", "type": "c", "major": 5, "minor": 1, "fileMode": 0o666}
    ]
    assert linux["resources"]["devices"] == [
        {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"}
    ]


def test_path_all_only_allows_the_whole_type(build: BuildBundle) -> None:
    linux = build(devices=[{"path": "all", "type": "b"}]).spec["linux"]
    assert "devices" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "type": "b", "access": "rwm"}]


def test_device_rules_are_appended_after_configured_resource_rules(build: BuildBundle) -> None:
    resources = build(
        resources={"devices": [{"allow": False, "access": "rwm"}], "pids": {"limit": 5}},
        devices=[{"path": "all", "type": "c"}],
    ).spec["linux"]["resources"]
    assert resources == {
        "devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "access": "rwm"},
        ],
        "pids": {"limit": 5},
    }
    assert list(resources) == ["devices", "pids"]  # Go field order


@pytest.mark.parametrize(
    ("device", "path", "reason"),
    [
        (
            {"path": "/dev/x", "type": "c", "major": 1, "minor": 1},
            "devices[0].mode",
            "mode is required",
        ),
        ({"path": "dev/x", "type": "c", "mode": 0o600}, "devices[0].path", "must be absolute"),
        ({"path": "all", "type": "p"}, "devices[0].type", "must be a, b or c"),
    ],
)
def test_bad_device_is_an_error_naming_the_field(
    build: BuildBundle, device: dict[str, object], path: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        build(devices=[device])
    assert info.value.path.endswith(path)


def test_resources_always_present_even_when_empty(build: BuildBundle) -> None:
    assert build().spec["linux"]["resources"] == {}


def test_resources_keys_match_case_insensitively_and_come_out_in_runtime_spec_spelling() -> None:
    # LinuxKit's YAML decoder only knows lower-case Go field names (blockio, kerneltcp); the
    # runtime spec spells them blockIO, kernelTCP. Both mean the same.
    got = normalise_resources(
        {
            "blockio": {"weight": 10},
            "memory": {"kerneltcp": 1, "Limit": 2},
            "devices": [{"access": "r", "allow": True}],
        },
        subject="x",
    )
    assert got == {
        "devices": [{"allow": True, "access": "r"}],
        "memory": {"limit": 2, "kernelTCP": 1},
        "blockIO": {"weight": 10},
    }
    assert list(got) == ["devices", "memory", "blockIO"]
    assert list(got["memory"]) == ["limit", "kernelTCP"]


@pytest.mark.parametrize(
    ("resources", "path", "reason"),
    [
        ({"memory": {"limt": 1}}, "resources.memory.limt", "unknown key"),
        ({"memory": {"limit": "1G"}}, "resources.memory.limit", "must be an integer"),
        ({"memory": {"limit": True}}, "resources.memory.limit", "must be an integer"),
        ({"pids": {}}, "resources.pids.limit", "is required"),
        ({"cpu": {"shares": -1}}, "resources.cpu.shares", "must be an integer in"),
        ({"blockIO": {"weight": 70000}}, "resources.blockIO.weight", "must be an integer in"),
        (
            {"hugepageLimits": [{"pageSize": 2048, "limit": 1}]},
            "resources.hugepageLimits[0].pageSize",
            "'2MB'",
        ),
        ({"memory": {"kernelTCP": 1, "kerneltcp": 2}}, "resources.memory.kerneltcp", "given twice"),
        ({"devices": {"allow": True}}, "resources.devices", "must be a list"),
    ],
)
def test_bad_resources_are_errors_with_their_path(
    resources: dict[str, object], path: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        normalise_resources(resources, subject="container 'x'")
    assert info.value.path == path


def test_resources_with_every_section_validate_against_the_runtime_spec(build: BuildBundle) -> None:
    # ``build`` validates config.json against the runtime-spec schema.
    spec = build(
        resources={
            "memory": {"limit": 1 << 20, "swappiness": 0, "disableOOMKiller": False},
            "cpu": {"shares": 512, "quota": 1000, "period": 100000, "cpus": "0-1"},
            "pids": {"limit": 64},
            "blockio": {
                "weight": 100,
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
            },
            "network": {"classID": 1, "priorities": [{"name": "eth0", "priority": 1}]},
        }
    ).spec
    assert spec["linux"]["resources"]["blockIO"]["throttleReadBpsDevice"][0]["rate"] == 1000


def test_sysctl_and_annotations_are_sorted_like_go_maps(build: BuildBundle) -> None:
    spec = build(sysctl={"z.b": "1", "a.b": "2"}, annotations={"z": "1", "a": "2"}).spec
    assert list(spec["linux"]["sysctl"]) == ["a.b", "z.b"]
    assert list(spec["annotations"]) == ["a", "z"]


def test_oom_score_adj_outside_kernel_range_is_an_error(build: BuildBundle) -> None:
    with pytest.raises(ConfigError) as info:
        build(oom_score_adj=-1001)
    assert info.value.path.endswith("oomScoreAdj")


def test_unknown_rootfs_propagation_is_an_error(build: BuildBundle) -> None:
    with pytest.raises(ConfigError, match="is not one of private, shared, slave, unbindable"):
        build(rootfs_propagation="rshared")
