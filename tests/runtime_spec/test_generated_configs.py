"""Property: any valid mix of container and label fields gives a schema-valid config.json."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from moby_assemble._capabilities import KNOWN_CAPABILITIES
from moby_assemble._model import Container, ImageConfig
from moby_assemble._runtime_spec import oci_config

paths = st.sampled_from(["/a", "/var/lib/x", "/run/y", "/dev/shm", "/tmp", "/etc/z"])
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "capabilities": st.lists(st.sampled_from(KNOWN_CAPABILITIES), max_size=4)
    | st.sampled_from([["all"], ["none"]]),
    "capabilities_add": st.lists(st.sampled_from(KNOWN_CAPABILITIES), max_size=3),
    "ambient": st.lists(st.sampled_from(KNOWN_CAPABILITIES), max_size=2),
    "binds": st.lists(
        st.builds(
            lambda s, d, o: f"{s}:{d}{o}", paths, paths, st.sampled_from(["", ":ro", ":rw,rshared"])
        ),
        max_size=3,
    ),
    "binds_add": st.lists(st.builds(lambda d: f"vol:{d}", paths), max_size=2),
    "tmpfs": st.lists(
        st.builds(lambda d, o: d + o, paths, st.sampled_from(["", ":size=1m"])), max_size=2
    ),
    "mounts": st.lists(
        st.sampled_from(
            [
                {"type": "proc"},
                {"source": "mqueue"},
                {"destination": "/x", "type": "tmpfs", "options": ["size=1m"]},
                {"destination": "/y", "type": "bind", "source": "/z", "options": ["rbind"]},
            ]
        ),
        max_size=2,
    ),
    "devices": st.lists(
        st.sampled_from(
            [
                {"path": "all", "type": "b"},
                {"path": "/dev/console", "type": "c", "major": 5, "minor": 1, "mode": 0o620},
            ]
        ),
        max_size=2,
    ),
    "command": st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3),
    "env": st.lists(st.builds(lambda v: f"A={v}", st.text(max_size=5)), max_size=2),
    "cwd": paths,
    "net": st.sampled_from(["host", "new", "none", "/run/netns/x"]),
    "pid": st.sampled_from(["host", "new"]),
    "ipc": st.sampled_from(["root", "new"]),
    "uts": st.sampled_from(["host", "new"]),
    "hostname": st.text(min_size=1, max_size=8),
    "readonly": st.booleans(),
    "masked_paths": st.lists(paths, max_size=2),
    "readonly_paths": st.lists(paths, max_size=2),
    "uid": st.integers(0, 2**32 - 1) | st.sampled_from(["root", "other"]),
    "gid": st.integers(0, 65535) | st.just("other"),
    "additional_gids": st.lists(st.integers(0, 65535) | st.just("other"), max_size=2),
    "no_new_privileges": st.booleans(),
    "oom_score_adj": st.integers(-1000, 1000),
    "rootfs_propagation": st.sampled_from(["private", "shared", "slave", "unbindable"]),
    "cgroups_path": st.sampled_from(["/x", "y/z"]),
    "resources": st.sampled_from([{}, {"memory": {"limit": 1 << 20}}, {"pids": {"limit": 10}}]),
    "sysctl": st.dictionaries(
        st.sampled_from(["net.a", "kernel.b"]), st.text(max_size=4), max_size=2
    ),
    "rlimits": st.sampled_from([[], ["nofile,1,2"], ["core,0,0", "nproc,unlimited,unlimited"]]),
    "annotations": st.dictionaries(
        st.text(min_size=1, max_size=4), st.text(max_size=4), max_size=2
    ),
}
configs = st.fixed_dictionaries({}, optional=FIELDS)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mine=configs, theirs=configs, image_cmd=st.booleans())
def test_any_valid_field_combination_gives_a_schema_valid_deterministic_config(
    config_schema: Draft4Validator, mine: dict[str, Any], theirs: dict[str, Any], image_cmd: bool
) -> None:
    if not image_cmd and "command" not in mine and "command" not in theirs:
        mine = {**mine, "command": ["/bin/true"]}
    if "hostname" in mine or "hostname" in theirs:
        mine = {**mine, "uts": "new"}
    label = ImageConfig(
        **{k: v for k, v in theirs.items() if k not in ("capabilities_add", "binds_add")}
    )
    container = Container("svc", "example.org/svc:1", **mine)
    image_config = {"Cmd": ["/bin/sh"]} if image_cmd else {}

    def build() -> Any:
        return oci_config(
            container, label=label, image_config=image_config, id_map={"other": 101, "svc": 100}
        )

    bundle = build()
    config_schema.validate(bundle.spec)
    assert json.loads(bundle.config_json()) == bundle.spec
    assert build().config_json() == bundle.config_json()
    caps = bundle.spec["process"]["capabilities"]
    for key in ("effective", "bounding", "ambient"):
        assert len(caps.get(key, [])) == len(set(caps.get(key, [])))
    destinations = [m["destination"] for m in bundle.spec["mounts"]]
    assert destinations == sorted(set(destinations))
