"""Capability sets, as LinuxKit's ConfigToOCI builds them (and where we fix it)."""

from __future__ import annotations

import logging

import pytest

from moby_assemble._capabilities import KNOWN_CAPABILITIES, resolve_capabilities
from moby_assemble._errors import ConfigError

from .conftest import BuildBundle


def test_known_capabilities_are_the_41_of_moby_sys_capability_in_kernel_order() -> None:
    assert len(KNOWN_CAPABILITIES) == 41
    assert KNOWN_CAPABILITIES[0] == "CAP_CHOWN"
    assert KNOWN_CAPABILITIES[21] == "CAP_SYS_ADMIN"  # kernel number 21
    assert KNOWN_CAPABILITIES[-1] == "CAP_CHECKPOINT_RESTORE"
    assert len(set(KNOWN_CAPABILITIES)) == 41


def test_no_capabilities_anywhere_means_none_not_a_docker_default(build: BuildBundle) -> None:
    assert build().spec["process"]["capabilities"] == {}


def test_bounding_inheritable_permitted_are_sorted_union_with_ambient(build: BuildBundle) -> None:
    caps = build(capabilities=["CAP_SYS_ADMIN", "CAP_CHOWN"], ambient=["CAP_NET_RAW"]).spec[
        "process"
    ]["capabilities"]
    union = ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]
    assert caps == {
        "bounding": union,
        "effective": ["CAP_SYS_ADMIN", "CAP_CHOWN"],  # as configured, not sorted
        "inheritable": union,
        "permitted": union,
        "ambient": ["CAP_NET_RAW"],
    }
    assert list(caps) == ["bounding", "effective", "inheritable", "permitted", "ambient"]


@pytest.mark.parametrize("word", ["all", "ALL", "All"])
def test_single_all_means_every_known_capability(build: BuildBundle, word: str) -> None:
    caps = build(capabilities=[word]).spec["process"]["capabilities"]
    assert caps["effective"] == list(KNOWN_CAPABILITIES)
    assert caps["bounding"] == sorted(KNOWN_CAPABILITIES)


@pytest.mark.parametrize("word", ["none", "NONE"])
def test_single_none_means_no_capability(build: BuildBundle, word: str) -> None:
    assert (
        build(capabilities=[word], label={"capabilities": ["CAP_KILL"]}).spec["process"][
            "capabilities"
        ]
        == {}
    )


def test_ambient_all_is_expanded_too(build: BuildBundle) -> None:
    caps = build(ambient=["all"]).spec["process"]["capabilities"]
    assert caps["ambient"] == list(KNOWN_CAPABILITIES)
    assert "effective" not in caps
    assert caps["permitted"] == sorted(KNOWN_CAPABILITIES)


def test_all_inside_a_longer_list_is_an_unknown_capability_like_linuxkit() -> None:
    with pytest.raises(ConfigError, match="only special as the single entry") as info:
        resolve_capabilities(["CAP_KILL", "all"], field="capabilities", subject="x")
    assert info.value.path == "capabilities[1]"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("NET_ADMIN", "did you mean 'CAP_NET_ADMIN'"),
        ("cap_net_admin", "did you mean"),
        ("CAP_X", ""),
    ],
)
def test_unknown_capability_names_container_field_and_index(
    build: BuildBundle, name: str, hint: str
) -> None:
    with pytest.raises(
        ConfigError, match=f"container 'svc'.*unknown capability '{name}'.*{hint}"
    ) as info:
        build(capabilities=["CAP_KILL", name])
    assert info.value.path == "capabilities[1]"


def test_unknown_capability_from_the_label_says_so(build: BuildBundle) -> None:
    with pytest.raises(ConfigError, match=r"org\.mobyproject\.config label.*NOT_A_CAP"):
        build(label={"capabilities": ["NOT_A_CAP"]})


def test_capabilities_add_extends_the_label(build: BuildBundle) -> None:
    caps = build(label={"capabilities": ["CAP_NET_ADMIN"]}, capabilities_add=["CAP_SYS_TIME"]).spec[
        "process"
    ]["capabilities"]
    assert caps["effective"] == ["CAP_NET_ADMIN", "CAP_SYS_TIME"]


def test_capabilities_add_without_label_capabilities_is_the_list(build: BuildBundle) -> None:
    caps = build(capabilities_add=["CAP_SYS_TIME"]).spec["process"]["capabilities"]
    assert caps["effective"] == ["CAP_SYS_TIME"]


def test_capabilities_add_is_ignored_when_container_sets_capabilities(build: BuildBundle) -> None:
    caps = build(
        label={"capabilities": ["CAP_NET_ADMIN"]},
        capabilities=["CAP_KILL"],
        capabilities_add=["CAP_SYS_TIME"],
    ).spec["process"]["capabilities"]
    assert caps["effective"] == ["CAP_KILL"]


def test_capabilities_add_of_a_label_capability_is_not_duplicated(build: BuildBundle) -> None:
    # LinuxKit bug (verified): mergeStrings never fills its "seen" map, so label
    # [CAP_NET_ADMIN] + add [CAP_NET_ADMIN] gives effective [CAP_NET_ADMIN, CAP_NET_ADMIN].
    caps = build(
        label={"capabilities": ["CAP_NET_ADMIN"]},
        capabilities_add=["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_ADMIN"],
    ).spec["process"]["capabilities"]
    assert caps["effective"] == ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
    assert caps["bounding"] == ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]


def test_repeated_capability_in_one_list_is_kept_once(build: BuildBundle) -> None:
    caps = build(capabilities=["CAP_KILL", "CAP_KILL"]).spec["process"]["capabilities"]
    assert caps["effective"] == ["CAP_KILL"]


def test_label_all_stays_all_after_capabilities_add(build: BuildBundle) -> None:
    # LinuxKit merges first and then sees ["all", "CAP_X"], failing with
    # "unknown capability: all"; the label meant every capability, so we keep that.
    caps = build(label={"capabilities": ["all"]}, capabilities_add=["CAP_KILL"]).spec["process"][
        "capabilities"
    ]
    assert caps["effective"] == list(KNOWN_CAPABILITIES)


def test_label_capabilities_add_is_ignored_with_a_warning(
    build: BuildBundle, caplog: pytest.LogCaptureFixture
) -> None:
    # LinuxKit reads ``capabilities.add`` only from the YAML, never from the label.
    with caplog.at_level(logging.WARNING, logger="moby_assemble"):
        caps = build(label={"capabilities_add": ["CAP_KILL"]}).spec["process"]["capabilities"]
    assert caps == {}
    assert "capabilities.add" in caplog.text
    assert "svc" in caplog.text
