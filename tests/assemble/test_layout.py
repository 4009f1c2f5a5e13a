"""The root filesystem tar of a system using every section: LinuxKit's layout, entry by entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft4Validator

from moby_assemble import System
from moby_assemble.assemble import Assembler, Bundle
from moby_assemble.assemble._rootfs import HOSTS, NO_RESOLV_CONF

from .conftest import Components, Member, last, read_members, system_yaml


@pytest.fixture(scope="module")
def built(
    components: Components, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Bundle, list[Member]]:
    base = tmp_path_factory.mktemp("layout")
    config = base / "config"
    (config / "assets").mkdir(parents=True)
    (config / "assets" / "banner.txt").write_bytes(b"from the source file\n")
    (config / "linuxkit.yml").write_text(system_yaml(components))
    system = System.from_yaml(config / "linuxkit.yml", platform="linux/amd64")
    with Assembler(base / "cache") as asm:
        bundle = asm.assemble(system)
    return bundle, read_members(bundle.rootfs_tar)


def names(members: list[Member]) -> list[str]:
    return [m.name for m in members]


def test_boot_files_come_from_the_kernel_image_and_nothing_else_of_it(built):
    bundle, members = built
    assert names(members)[:4] == ["boot", "boot/cmdline", "boot/kernel", "boot/ucode.cpio"]
    assert last(members, "boot/kernel").data == b"MZ fake bzImage"
    assert last(members, "boot/cmdline").data == b"console=ttyS0 quiet"
    assert last(members, "boot/ucode.cpio").data == b"070701 fake microcode"
    assert "kernel-headers.tar" not in names(members)
    assert "kernel.tar" not in names(members)
    assert bundle.kernel is not None
    assert bundle.kernel.read_bytes() == b"MZ fake bzImage"
    assert bundle.ucode is not None
    assert bundle.ucode.read_bytes() == b"070701 fake microcode"
    assert bundle.cmdline == "console=ttyS0 quiet"


def test_kernel_tar_is_unpacked_into_the_root_keeping_its_own_mtimes(built):
    _, members = built
    module = last(members, "lib/modules/6.6.0/kernel/fs/overlay.ko")
    assert module.data == b"\x7fELF overlay"
    assert module.mtime == 1_600_000_000
    assert module.location == "kernel"
    # the boot entries are generated: they take SOURCE_DATE_EPOCH (0 here)
    assert last(members, "boot/kernel").mtime == 0


def test_init_images_are_merged_in_order_and_the_later_file_wins(built, components):
    _, members = built
    issues = [m for m in members if m.name == "etc/issue"]
    assert [m.data for m in issues] == [b"init one\n", b"runc wins\n"]
    assert [m.location for m in issues] == ["init[0]", "init[1]"]
    assert last(members, "usr/bin/runc").source == components.runc
    assert last(members, "bin/sh").type == "symlink"
    assert last(members, "bin/sh").linkname == "busybox"


def test_whiteouts_inside_an_image_are_applied_and_markers_never_written(built):
    _, members = built
    assert "etc/obsolete" not in names(members)
    assert not any(".wh." in n for n in names(members))
    assert last(members, "etc/inittab").data == b"::sysinit:/bin/rc.init\n"


def test_apk_databases_of_init_images_are_merged_after_the_last_init_image(built):
    _, members = built
    dbs = [m for m in members if m.name == "lib/apk/db/installed"]
    assert [m.location for m in dbs] == ["init[0]", "init[1]", "init"]
    union = dbs[-1]
    assert union.source == "LINUXKIT.apkinit"
    assert union.data == b"P:busybox\nV:1.36\n\n\nP:runc\nV:1.1\n\n\n"
    # and it comes before anything of the next section
    index = names(members).index
    assert members.index(union) < index("containers")


def test_image_filter_drops_replaces_and_creates_like_linuxkit(built):
    _, members = built
    present = set(names(members))
    assert {"etc/hostname", ".dockerenv"}.isdisjoint(present)
    hosts = [m for m in members if m.name.endswith("etc/hosts")]
    # init[0], init[1], the volume, and the four container images written (mount shares one)
    assert len(hosts) == 7
    assert all(m.data == HOSTS for m in hosts)
    assert all((m.mode, m.uid, m.gid) == (0o644, 0, 0) for m in hosts)
    resolv = last(members, "etc/resolv.conf")
    assert (resolv.type, resolv.linkname) == ("symlink", "/run/resolvconf/resolv.conf")
    mtab = last(members, "etc/mtab")
    assert (mtab.type, mtab.linkname) == ("symlink", "/proc/mounts")
    for directory in ("dev", "dev/pts", "dev/shm", "proc", "sys"):
        assert last(members, directory).type == "dir"
    # in containers, resolv.conf is a placeholder file, not a symlink
    inner = last(members, "containers/services/web/lower/etc/resolv.conf")
    assert (inner.type, inner.data) == ("file", NO_RESOLV_CONF)
    # the image's own directory of a touched path gets the build time, not the layer's
    assert last(members, "etc").mtime == 0


def test_readonly_container_is_unpacked_in_rootfs_and_binds_itself(built):
    bundle, members = built
    prefix = "containers/onboot/000-format"
    assert last(members, f"{prefix}/rootfs/bin/tool").data == b"#!tool\n"
    assert not any(n.startswith(f"{prefix}/lower") for n in names(members))
    assert not any(n.startswith(f"{prefix}/tmp") for n in names(members))
    runtime = json.loads(last(members, f"{prefix}/runtime.json").data)
    assert runtime["mounts"][0] == {
        "destination": f"/{prefix}/rootfs",
        "source": f"/{prefix}/rootfs",
        "options": ["bind"],
    }
    format_ = bundle.container("format")
    assert (format_.readonly, format_.rootfs, format_.shared) == (True, f"{prefix}/rootfs", False)
    config = json.loads(last(members, f"{prefix}/config.json").data)
    assert config["root"] == {"path": "rootfs", "readonly": True}


def test_a_second_container_with_the_same_image_is_not_written_again(built):
    bundle, members = built
    prefix = "containers/onboot/001-mount"
    under = sorted(n for n in names(members) if n.startswith(prefix + "/"))
    assert under == [f"{prefix}/{x}" for x in ("config.json", "rootfs", "runtime.json", "tmp")]
    tools = [n for n in names(members) if n.endswith("/bin/tool")]
    assert tools == ["containers/onboot/000-format/rootfs/bin/tool"]
    runtime = json.loads(last(members, f"{prefix}/runtime.json").data)
    overlay = runtime["mounts"][2]
    assert overlay["type"] == "overlay"
    assert overlay["options"][0] == "lowerdir=/containers/onboot/000-format/rootfs"
    mount = bundle.container("mount")
    assert (mount.shared, mount.rootfs) == (True, "containers/onboot/000-format/rootfs")


def test_read_write_service_has_lower_tmp_rootfs_and_overlay_mounts(built):
    _, members = built
    prefix = "containers/services/web"
    assert last(members, f"{prefix}/lower/bin/web").data == b"#!web\n"
    for directory in ("tmp", "rootfs", "lower"):
        assert last(members, f"{prefix}/{directory}").type == "dir"
    runtime = json.loads(last(members, f"{prefix}/runtime.json").data)
    assert runtime["mounts"][:3] == [
        {"destination": f"/{prefix}/tmp", "type": "tmpfs", "source": "tmpfs"},
        {"destination": f"/{prefix}/tmp", "options": ["remount", "private"]},
        {
            "destination": f"/{prefix}/rootfs",
            "type": "overlay",
            "source": "overlay",
            "options": [
                f"lowerdir=/{prefix}/lower",
                f"upperdir=/{prefix}/tmp/upper",
                f"workdir=/{prefix}/tmp/work",
            ],
        },
    ]


def test_bundle_order_is_image_then_config_tmp_rootfs_runtime_as_linuxkit(built):
    _, members = built
    prefix = "containers/onshutdown/000-bye"
    own = [n for n in names(members) if n.startswith(prefix)]
    tail = [n.removeprefix(prefix) for n in own if "/lower/" not in n]
    assert tail == ["", "/lower", "/config.json", "/tmp", "/rootfs", "/runtime.json"]


def test_every_config_json_is_valid_and_matches_the_bundle(built, config_schema: Draft4Validator):
    bundle, members = built
    configs = {m.name: m for m in members if m.name.endswith("/config.json")}
    assert len(configs) == 5
    for container in bundle.containers:
        member = configs[f"{container.directory}/config.json"]
        assert member.data == container.config_json
        config_schema.validate(json.loads(member.data))
        assert (member.mode, member.uid, member.mtime) == (0o644, 0, 0)
    web = bundle.container("web").config
    assert web["process"]["args"] == ["/bin/web"]
    assert web["process"]["capabilities"]["bounding"] == ["CAP_NET_BIND_SERVICE"]
    sshd = bundle.container("sshd").config
    assert sshd["root"]["readonly"] is True
    assert "pid" not in [n["type"] for n in sshd["linux"]["namespaces"]]


def test_runtime_json_always_has_every_field(built):
    _, members = built
    for member in members:
        if member.name.endswith("/runtime.json"):
            runtime = json.loads(member.data)
            assert sorted(runtime) == [
                "bindNS", "cgroups", "interfaces", "mkdir", "mounts", "namespace",
            ]  # fmt: skip
            assert sorted(runtime["bindNS"]) == [
                "cgroup",
                "ipc",
                "mnt",
                "net",
                "pid",
                "user",
                "uts",
            ]


def test_volume_is_laid_out_and_bound_through_its_merged_directory(built, components):
    bundle, members = built
    base = "containers/volumes/data"
    assert last(members, f"{base}/lower/seed/rows.csv").data == b"a,b\n"
    for directory in ("lower", "tmp", "merged"):
        assert last(members, f"{base}/{directory}").type == "dir"
    assert last(members, f"{base}/tmp").source == "linuxkit.volumes"
    assert last(members, f"{base}/lower/seed/rows.csv").location == "volume[0]"
    assert last(members, f"{base}/lower/etc/resolv.conf").linkname == "/run/resolvconf/resolv.conf"
    mounts = {m["destination"]: m for m in bundle.container("web").config["mounts"]}
    assert mounts["/srv/data"]["source"] == f"/{base}/merged"


def test_every_entry_records_its_source_and_location(built, components):
    _, members = built
    assert all(m.source and m.location for m in members)
    assert last(members, "boot/kernel").source == components.kernel
    assert last(members, "containers/services/sshd/rootfs/bin/sshd").location == "services[1]"
    assert last(members, "containers/onshutdown/000-bye/config.json").location == "onshutdown[0]"
    assert last(members, "etc/motd").source == "linuxkit.files"
    assert last(members, "etc/motd").location == "files[0]"


def test_files_section_writes_contents_symlinks_directories_and_sources(built):
    _, members = built
    motd = last(members, "etc/motd")
    assert (motd.type, motd.data, motd.mode, motd.uid, motd.gid) == (
        "file",
        b"welcome\n",
        0o644,
        0,
        0,
    )
    link = last(members, "usr/local/bin/sh")
    assert (link.type, link.linkname) == ("symlink", "/bin/busybox")
    cache = last(members, "var/lib/web/cache")
    assert (cache.type, cache.mode) == ("dir", 0o750)
    banner = last(members, "etc/banner")
    assert banner.data == b"from the source file\n"  # relative to the YAML file's directory
    assert banner.mode == 0o600  # LinuxKit's default for files
    assert "etc/absent" not in names(members)  # optional and missing: skipped
    files = [m.name for m in members if m.location and m.location.startswith("files[")]
    assert files == [
        "etc/motd",
        "etc/web.conf",
        "usr/local",
        "usr/local/bin",
        "usr/local/bin/sh",
        "var",
        "var/lib",
        "var/lib/web",
        "var/lib/web/cache",
        "etc/banner",
        "etc/linuxkit.yml",
    ]
    assert members[-1].name == "etc/linuxkit.yml"


def test_uid_names_resolve_to_ids_allocated_from_100_in_stage_order(built):
    _, members = built
    # onboot format=100, mount=101; onshutdown bye=102; services web=103, sshd=104
    conf = last(members, "etc/web.conf")
    assert (conf.uid, conf.gid, conf.mode) == (103, 103, 0o640)
    assert last(members, "var/lib/web/cache").uid == 103


def test_parent_directories_of_files_keep_the_image_ownership(built):
    """LinuxKit (verified, docs/yaml.md behaviour) writes ``etc`` again for ``etc/web.conf``
    as ``drwxr-x--- 103/103`` late in the tar, handing /etc to the web service. Here an
    existing parent is left alone; only missing parents are created."""
    _, members = built
    etc = [m for m in members if m.name == "etc"]
    assert all(m.location and m.location.startswith(("init[", "kernel")) for m in etc)
    assert (last(members, "etc").uid, last(members, "etc").mode) == (0, 0o755)
    # var and var/lib did not exist: created once, LinuxKit's way (mode from the entry, owner)
    var_lib = [m for m in members if m.name in ("var", "var/lib", "var/lib/web")]
    assert [(m.name, m.mode, m.uid, m.location) for m in var_lib] == [
        ("var", 0o750, 103, "files[3]"),
        ("var/lib", 0o750, 103, "files[3]"),
        ("var/lib/web", 0o750, 103, "files[3]"),
    ]
    # usr exists (runc image); usr/local is new and gets the symlink's default 0600 -> 0700
    assert [m.location for m in members if m.name == "usr"] == ["init[1]"]
    assert (last(members, "usr/local").mode, last(members, "usr/local").location) == (
        0o700,
        "files[2]",
    )


def test_metadata_file_is_the_system_pinned_to_the_lock(built):
    bundle, members = built
    written = yaml.safe_load(last(members, "etc/linuxkit.yml").data)
    pinned = {i.reference: i.pinned for i in bundle.lock.images}
    assert written["kernel"]["image"] == pinned[bundle.system.kernel.image]
    web_digest = bundle.lock.digests()[bundle.system["web"].image]
    assert written["services"][0]["image"].endswith("@" + web_digest)
    assert System.from_dict(written).services[1].name == "sshd"


def test_sections_are_written_in_linuxkit_order(built):
    _, members = built
    order = []
    for m in members:
        section = m.location.split("[")[0] if m.location else None
        section = {"volume": "volumes", "init": "init"}.get(section, section)
        if not order or order[-1] != section:
            order.append(section)
    assert order == ["kernel", "init", "volumes", "onboot", "onshutdown", "services", "files"]


def test_the_tar_is_pax_with_two_zero_blocks_at_the_end(built):
    bundle, _ = built
    data = Path(bundle.rootfs_tar).read_bytes()
    assert len(data) % 512 == 0
    assert data[-1024:] == bytes(1024)
    assert b"LINUXKIT.source=" in data[:4096]
