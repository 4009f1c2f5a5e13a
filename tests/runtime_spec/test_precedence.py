"""Container fields > image label > image config > LinuxKit default, field by field.

LinuxKit reference: ``ConfigToOCI`` and its ``assign*`` helpers in
``src/cmd/linuxkit/moby/config.go``: pointer fields take the YAML value when present (even an
empty list), else the label's; ``command``/``env`` fall back to the image's
``Entrypoint``+``Cmd``/``Env``; ``cwd`` to ``WorkingDir`` then ``/``; plain string fields treat
``""`` as unset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from moby_assemble._errors import ConfigError

from .conftest import BuildBundle, mounts_by_destination

Spec = dict[str, Any]


def _proc(key: str) -> Callable[[Spec], Any]:
    return lambda s: s["process"].get(key)


def _user(key: str) -> Callable[[Spec], Any]:
    return lambda s: s["process"]["user"].get(key)


def _caps(key: str) -> Callable[[Spec], Any]:
    return lambda s: s["process"]["capabilities"].get(key)


def _linux(key: str) -> Callable[[Spec], Any]:
    return lambda s: s["linux"].get(key)


def _mount(destination: str) -> Callable[[Spec], Any]:
    return lambda s: mounts_by_destination(s).get(destination)


def _namespace(kind: str) -> Callable[[Spec], Any]:
    def get(s: Spec) -> Any:
        found = [n for n in s["linux"]["namespaces"] if n["type"] == kind]
        return found[0] if found else None

    return get


BIND = {
    "destination": "/b",
    "type": "bind",
    "source": "/src",
    "options": ["rw", "rbind", "rshared"],
}
LBIND = {
    "destination": "/b",
    "type": "bind",
    "source": "/lsrc",
    "options": ["rw", "rbind", "rshared"],
}

# attr, container value, label value, getter, expected: unset everywhere / container / label,
# expected when the container sets an empty value over the label's (None = not applicable).
ROWS: list[tuple[str, Any, Any, Callable[[Spec], Any], Any, Any, Any, Any]] = [
    ("command", ["/u"], ["/l"], _proc("args"), ["/bin/true"], ["/u"], ["/l"], None),
    ("env", ["U=1"], ["L=1"], _proc("env"), None, ["U=1"], ["L=1"], None),
    ("cwd", "/u", "/l", _proc("cwd"), "/", "/u", "/l", None),
    (
        "capabilities",
        ["CAP_SYS_ADMIN"],
        ["CAP_NET_ADMIN"],
        _caps("effective"),
        None,
        ["CAP_SYS_ADMIN"],
        ["CAP_NET_ADMIN"],
        None,
    ),
    (
        "ambient",
        ["CAP_CHOWN"],
        ["CAP_KILL"],
        _caps("ambient"),
        None,
        ["CAP_CHOWN"],
        ["CAP_KILL"],
        None,
    ),
    (
        "mounts",
        [{"destination": "/m", "type": "tmpfs", "options": ["size=1m"]}],
        [{"destination": "/m", "type": "tmpfs", "options": ["size=2m"]}],
        _mount("/m"),
        None,
        {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]},
        None,
    ),
    ("binds", ["/src:/b"], ["/lsrc:/b"], _mount("/b"), None, BIND, LBIND, None),
    (
        "tmpfs",
        ["/t:size=1m"],
        ["/t"],
        _mount("/t"),
        None,
        {"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/t", "type": "tmpfs", "source": "tmpfs"},
        None,
    ),
    (
        "devices",
        [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "mode": 0o666}],
        [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "mode": 0o600}],
        _linux("devices"),
        None,
        [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}],
        [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o600}],
        None,
    ),
    (
        "net",
        "new",
        "/run/netns/l",
        _namespace("network"),
        None,
        {"type": "network"},
        {"type": "network", "path": "/run/netns/l"},
        None,
    ),
    (
        "ipc",
        "new",
        "/run/ipc",
        _namespace("ipc"),
        None,
        {"type": "ipc"},
        {"type": "ipc", "path": "/run/ipc"},
        None,
    ),
    (
        "uts",
        "new",
        "/run/uts",
        _namespace("uts"),
        None,
        {"type": "uts"},
        {"type": "uts", "path": "/run/uts"},
        None,
    ),
    (
        "pid",
        "host",
        "/run/pid",
        _namespace("pid"),
        {"type": "pid"},
        None,
        {"type": "pid", "path": "/run/pid"},
        None,
    ),
    (
        "userns",
        "new",
        "/run/user",
        _namespace("user"),
        None,
        {"type": "user"},
        {"type": "user", "path": "/run/user"},
        None,
    ),
    ("hostname", "u-host", "l-host", lambda s: s.get("hostname"), None, "u-host", "l-host", None),
    ("readonly", False, True, lambda s: s["root"].get("readonly"), None, None, True, None),
    ("masked_paths", ["/u"], ["/l"], _linux("maskedPaths"), None, ["/u"], ["/l"], None),
    ("readonly_paths", ["/u"], ["/l"], _linux("readonlyPaths"), None, ["/u"], ["/l"], None),
    ("uid", 7, 8, _user("uid"), 0, 7, 8, None),
    ("gid", 7, 8, _user("gid"), 0, 7, 8, None),
    ("additional_gids", [7], [8, 9], _user("additionalGids"), None, [7], [8, 9], None),
    ("no_new_privileges", False, True, _proc("noNewPrivileges"), None, None, True, None),
    ("oom_score_adj", 0, -800, _proc("oomScoreAdj"), None, 0, -800, None),
    (
        "rootfs_propagation",
        "shared",
        "slave",
        _linux("rootfsPropagation"),
        None,
        "shared",
        "slave",
        None,
    ),
    ("cgroups_path", "/u", "/l", _linux("cgroupsPath"), None, "/u", "/l", None),
    (
        "resources",
        {"pids": {"limit": 10}},
        {"memory": {"limit": 1024}},
        _linux("resources"),
        {},
        {"pids": {"limit": 10}},
        {"memory": {"limit": 1024}},
        {},
    ),
    (
        "sysctl",
        {"a.b": "1"},
        {"c.d": "2"},
        _linux("sysctl"),
        None,
        {"a.b": "1"},
        {"c.d": "2"},
        None,
    ),
    (
        "rlimits",
        ["nofile,1,2"],
        ["core,0,0"],
        _proc("rlimits"),
        None,
        [{"type": "RLIMIT_NOFILE", "hard": 2, "soft": 1}],
        [{"type": "RLIMIT_CORE", "hard": 0, "soft": 0}],
        None,
    ),
    (
        "uid_mappings",
        [{"host_id": 1000, "container_id": 0, "size": 1}],
        [{"host_id": 2000, "container_id": 0, "size": 2}],
        _linux("uidMappings"),
        None,
        [{"containerID": 0, "hostID": 1000, "size": 1}],
        [{"containerID": 0, "hostID": 2000, "size": 2}],
        None,
    ),
    (
        "gid_mappings",
        [{"host_id": 1000, "container_id": 0, "size": 1}],
        [{"host_id": 2000, "container_id": 0, "size": 2}],
        _linux("gidMappings"),
        None,
        [{"containerID": 0, "hostID": 1000, "size": 1}],
        [{"containerID": 0, "hostID": 2000, "size": 2}],
        None,
    ),
    (
        "annotations",
        {"u": "1"},
        {"l": "2"},
        lambda s: s.get("annotations"),
        None,
        {"u": "1"},
        {"l": "2"},
        None,
    ),
]
# Fields whose "set to empty" removes the label's value (the result is the unset default).
EMPTY_REPLACES = {
    "env": [],
    "capabilities": [],
    "ambient": [],
    "mounts": [],
    "binds": [],
    "tmpfs": [],
    "devices": [],
    "masked_paths": [],
    "readonly_paths": [],
    "additional_gids": [],
    "rlimits": [],
    "uid_mappings": [],
    "gid_mappings": [],
    "sysctl": {},
    "annotations": {},
    "resources": {},
}
IDS = [row[0] for row in ROWS]
# Other fields a row's values need to be usable (runc sets a hostname only in a new UTS ns).
NEEDS: dict[str, dict[str, Any]] = {"hostname": {"uts": "new"}}


@pytest.mark.parametrize(
    ("attr", "mine", "theirs", "get", "default", "exp_mine", "exp_label", "_e"), ROWS, ids=IDS
)
def test_unset_everywhere_gives_linuxkit_default(
    build: BuildBundle,
    attr: str,
    mine: Any,
    theirs: Any,
    get: Any,
    default: Any,
    exp_mine: Any,
    exp_label: Any,
    _e: Any,
) -> None:
    assert get(build().spec) == default


@pytest.mark.parametrize(
    ("attr", "mine", "theirs", "get", "default", "exp_mine", "exp_label", "_e"), ROWS, ids=IDS
)
def test_label_value_applies_when_container_leaves_field_unset(
    build: BuildBundle,
    attr: str,
    mine: Any,
    theirs: Any,
    get: Any,
    default: Any,
    exp_mine: Any,
    exp_label: Any,
    _e: Any,
) -> None:
    assert get(build(label={attr: theirs}, **NEEDS.get(attr, {})).spec) == exp_label


@pytest.mark.parametrize(
    ("attr", "mine", "theirs", "get", "default", "exp_mine", "exp_label", "_e"), ROWS, ids=IDS
)
def test_container_value_wins_over_label(
    build: BuildBundle,
    attr: str,
    mine: Any,
    theirs: Any,
    get: Any,
    default: Any,
    exp_mine: Any,
    exp_label: Any,
    _e: Any,
) -> None:
    extra = NEEDS.get(attr, {})
    assert get(build(**{attr: mine}, **extra).spec) == exp_mine
    assert get(build(label={attr: theirs}, **{attr: mine}, **extra).spec) == exp_mine


@pytest.mark.parametrize("attr", sorted(EMPTY_REPLACES))
def test_container_setting_empty_removes_label_value(build: BuildBundle, attr: str) -> None:
    row = next(r for r in ROWS if r[0] == attr)
    _, _, theirs, get, default, *_ = row
    with_label = build(label={attr: theirs}, image={"Cmd": ["/bin/true"], "Env": ["I=1"]})
    emptied = build(
        label={attr: theirs},
        image={"Cmd": ["/bin/true"], "Env": ["I=1"]},
        **{attr: EMPTY_REPLACES[attr]},
    )
    assert get(with_label.spec) != get(emptied.spec)
    # ``env: []`` is "set to empty": the image's Env does not come back either.
    assert get(emptied.spec) == default


def test_command_falls_back_to_image_entrypoint_then_cmd(build: BuildBundle) -> None:
    image = {
        "Entrypoint": ["/init", "-v"],
        "Cmd": ["serve"],
        "Env": ["PATH=/bin"],
        "WorkingDir": "/srv",
    }
    process = build(image=image).spec["process"]
    assert process["args"] == ["/init", "-v", "serve"]
    assert process["env"] == ["PATH=/bin"]
    assert process["cwd"] == "/srv"


def test_label_command_env_cwd_beat_image_config(build: BuildBundle) -> None:
    image = {"Entrypoint": ["/init"], "Env": ["PATH=/bin"], "WorkingDir": "/srv"}
    process = build(label={"command": ["/l"], "env": ["L=1"], "cwd": "/l"}, image=image).spec[
        "process"
    ]
    assert (process["args"], process["env"], process["cwd"]) == (["/l"], ["L=1"], "/l")


def test_empty_cwd_counts_as_unset_like_linuxkit(build: BuildBundle) -> None:
    assert build(cwd="", label={"cwd": "/l"}).spec["process"]["cwd"] == "/l"
    assert build(cwd="", image={"Cmd": ["x"], "WorkingDir": ""}).spec["process"]["cwd"] == "/"


def test_image_user_is_ignored_like_linuxkit(build: BuildBundle) -> None:
    # LinuxKit's ConfigToOCI never reads the image's User: the process runs as uid/gid 0
    # unless uid/gid are configured.
    user = build(image={"Cmd": ["x"], "User": "1000:1000"}).spec["process"]["user"]
    assert user == {"uid": 0, "gid": 0}


def test_missing_command_everywhere_is_an_error_naming_the_container(build: BuildBundle) -> None:
    # LinuxKit writes a config.json without args, and runc then fails at boot.
    with pytest.raises(
        ConfigError, match=r"command: container 'svc'.*no Entrypoint or Cmd"
    ) as info:
        build(image={"Env": ["A=1"]})
    assert info.value.path == "command"
    with pytest.raises(ConfigError, match=r"command: container .*: nothing to run: it is empty"):
        build(command=[])


def test_relative_cwd_is_an_error_naming_its_origin(build: BuildBundle) -> None:
    with pytest.raises(
        ConfigError, match=r"cwd: container 'svc'.*'srv' must be an absolute path \(from the image"
    ):
        build(image={"Cmd": ["x"], "WorkingDir": "srv"})
    with pytest.raises(ConfigError, match=r"org\.mobyproject\.config label"):
        build(label={"cwd": "rel"})


def test_plain_string_fields_treat_empty_as_unset(build: BuildBundle) -> None:
    spec = build(net="", hostname="", uts="new", label={"net": "new", "hostname": "h"}).spec
    assert {"type": "network"} in spec["linux"]["namespaces"]
    assert spec["hostname"] == "h"
