"""Hypothesis strategies for valid model values (what LinuxKit YAML can express).

Roles and platforms are not part of LinuxKit's YAML, so :func:`systems` leaves them unset when
``yaml_only`` is true (the default) and round trips can compare whole values.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from moby_assemble._model import (
    IMAGE_CONFIG_FIELDS,
    BindNS,
    Container,
    Device,
    File,
    IDMapping,
    InitImage,
    Interface,
    Kernel,
    Mount,
    Runtime,
    System,
    Volume,
)
from moby_assemble._model_values import RESOURCES_SHAPE

# Any Unicode except surrogates (not encodable) and NUL (not representable in YAML).
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
short_text = st.text("abcxyz019 :=/.-_", max_size=8)
uint32 = st.integers(0, 2**32 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
images = st.builds(
    lambda repo, tag: f"{repo}:{tag}" if tag else repo,
    st.sampled_from(["alpine", "linuxkit/init", "localhost:5000/x/y", "registry.example/k"]),
    st.sampled_from(["", "1.0", "v2", "6.6.1"]),
)
strings = st.lists(text, max_size=3)
ids = st.one_of(uint32, names, st.just("root"))
binds = st.builds(
    lambda s, d, o: f"{s}:{d}" + (f":{o}" if o else ""),
    st.sampled_from(["/var", "/etc/resolv.conf", "data"]),
    st.sampled_from(["/var", "/x"]),
    st.sampled_from(["", "ro", "rw,rshared"]),
)
id_mappings = st.builds(IDMapping, uint32, uint32, uint32)
mounts = st.builds(
    Mount,
    destination=short_text,
    type=st.sampled_from(["", "bind", "tmpfs", "proc"]),
    source=short_text,
    options=st.lists(short_text, max_size=3),
    uid_mappings=st.lists(id_mappings, max_size=2),
    gid_mappings=st.lists(id_mappings, max_size=1),
)
devices = st.builds(
    Device,
    path=st.sampled_from(["all", "/dev/fuse", "/dev/tun"]),
    type=st.sampled_from(["a", "b", "c"]),
    major=st.integers(0, 300),
    minor=st.integers(0, 300),
    mode=st.one_of(st.none(), st.integers(0, 0o7777)),
)
opt_text = st.one_of(st.none(), short_text)
runtimes = st.builds(
    Runtime,
    cgroups=st.one_of(st.none(), strings),
    mounts=st.one_of(st.none(), st.lists(mounts, max_size=2)),
    mkdir=st.one_of(st.none(), strings),
    interfaces=st.one_of(
        st.none(),
        st.lists(st.builds(Interface, opt_text, opt_text, opt_text, st.booleans()), max_size=2),
    ),
    bind_ns=st.one_of(st.none(), st.builds(BindNS, net=opt_text, pid=opt_text, uts=opt_text)),
    namespace=opt_text,
)


def _json_for(shape: Any) -> st.SearchStrategy[Any]:
    if isinstance(shape, dict):
        return st.fixed_dictionaries({}, optional={k: _json_for(v) for k, v in shape.items()})
    if isinstance(shape, list):
        return st.lists(_json_for(shape[0]), max_size=2)
    return {"integer": int64, "boolean": st.booleans(), "string": text}[shape]


resources = _json_for(RESOURCES_SHAPE)
string_maps = st.dictionaries(short_text, text, max_size=3)

_FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "capabilities": st.lists(st.sampled_from(["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "all"])),
    "capabilities_add": st.lists(st.sampled_from(["CAP_NET_ADMIN", "CAP_MKNOD"])),
    "ambient": strings,
    "mounts": st.lists(mounts, max_size=2),
    "binds": st.lists(binds, max_size=3),
    "binds_add": st.lists(binds, max_size=2),
    "devices": st.lists(devices, max_size=2),
    "tmpfs": st.lists(st.sampled_from(["/tmp", "/run:size=10m,mode=755"]), max_size=2),
    "command": strings,
    "env": strings,
    "cwd": text,
    "net": st.sampled_from(["host", "new", "none", "/run/netns/x"]),
    "pid": st.sampled_from(["host", "new"]),
    "ipc": text,
    "uts": text,
    "userns": text,
    "hostname": text,
    "readonly": st.booleans(),
    "masked_paths": strings,
    "readonly_paths": strings,
    "uid": ids,
    "gid": ids,
    "additional_gids": st.lists(ids, max_size=3),
    "no_new_privileges": st.booleans(),
    "oom_score_adj": st.integers(-1000, 1000),
    "rootfs_propagation": st.sampled_from(["shared", "rshared", "private"]),
    "cgroups_path": text,
    "resources": resources,
    "sysctl": string_maps,
    "rlimits": st.lists(st.sampled_from(["RLIMIT_NOFILE,1024,2048", "nproc,10,unlimited"])),
    "uid_mappings": st.lists(id_mappings, max_size=2),
    "gid_mappings": st.lists(id_mappings, max_size=2),
    "annotations": string_maps,
    "runtime": runtimes,
}
assert set(_FIELD_STRATEGIES) == set(IMAGE_CONFIG_FIELDS)


@st.composite
def containers(draw: st.DrawFn, name: st.SearchStrategy[str] = names) -> Container:
    chosen = draw(st.lists(st.sampled_from(IMAGE_CONFIG_FIELDS), unique=True, max_size=8))
    kwargs = {f: draw(_FIELD_STRATEGIES[f]) for f in chosen}
    return Container(draw(name), draw(images), **kwargs)


kernels = st.builds(
    Kernel,
    st.one_of(st.none(), images),
    cmdline=text,
    binary=opt_text,
    tar=st.one_of(st.none(), st.sampled_from(["none", "", "kernel.tar"])),
    ucode=opt_text,
)


@st.composite
def files(draw: st.DrawFn) -> File:
    kind = draw(
        st.sampled_from(["contents", "source", "metadata", "directory", "symlink", "empty"])
    )
    kwargs: dict[str, Any] = {
        "optional": draw(st.booleans()),
        "mode": draw(st.one_of(st.none(), st.integers(0, 0o7777))),
        "uid": draw(st.one_of(st.none(), ids)),
        "gid": draw(st.one_of(st.none(), ids)),
    }
    if kind == "contents":
        kwargs["contents"] = draw(st.text(max_size=40).filter(lambda s: "\x00" not in s))
    elif kind == "source":
        kwargs["source"] = draw(st.sampled_from(["/etc/hosts", "~/x", "/abs/y"]))
    elif kind == "metadata":
        kwargs["metadata"] = draw(st.sampled_from(["yaml", "json"]))
    elif kind == "directory":
        kwargs["directory"] = True
    elif kind == "symlink":
        kwargs["symlink"] = draw(short_text)
    path = draw(st.from_regex(r"/?[a-z]{1,6}(/[a-z0-9.]{1,6}){0,2}", fullmatch=True))
    return File(path, **kwargs)


volumes = st.builds(
    Volume,
    names,
    image=st.one_of(st.none(), images),
    readonly=st.booleans(),
    format=st.one_of(st.none(), st.sampled_from(["filesystem", "oci"])),
    platforms=st.lists(st.sampled_from(["linux/amd64", "linux/arm64"]), max_size=2),
)


@st.composite
def systems(draw: st.DrawFn, yaml_only: bool = True) -> System:
    services = draw(st.lists(containers(), max_size=3, unique_by=lambda c: c.name))
    vols = draw(st.lists(volumes, max_size=2, unique_by=lambda v: v.name))
    init_roles = st.just("init") if yaml_only else st.sampled_from(["init", "runtime"])
    return System(
        platforms=[] if yaml_only else draw(st.lists(st.sampled_from(["linux/amd64", "arm64"]))),
        kernel=draw(st.one_of(st.none(), kernels)),
        init=draw(st.lists(st.builds(InitImage, images, role=init_roles), max_size=3)),
        onboot=draw(st.lists(containers(), max_size=3)),
        onshutdown=draw(st.lists(containers(), max_size=1)),
        services=services,
        files=draw(st.lists(files(), max_size=3)),
        volumes=vols,
    )
