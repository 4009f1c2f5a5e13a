"""config.json mounts (defaults, tmpfs, binds, mounts, volumes) and the bundle rootfs mounts."""

from __future__ import annotations

import re

import pytest

from moby_assemble._errors import ConfigError
from moby_assemble._runtime_mounts import rootfs_mounts

from .conftest import BuildBundle, mounts_by_destination

DEFAULTS = {
    "/dev": {
        "destination": "/dev",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    "/dev/pts": {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
    },
    "/proc": {
        "destination": "/proc",
        "type": "proc",
        "source": "proc",
        "options": ["nosuid", "nodev", "noexec", "relatime"],
    },
    "/sys": {
        "destination": "/sys",
        "type": "sysfs",
        "source": "sysfs",
        "options": ["nosuid", "noexec", "nodev"],
    },
    "/sys/fs/cgroup": {
        "destination": "/sys/fs/cgroup",
        "type": "cgroup",
        "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
    },
}


def test_default_mounts_are_linuxkits_five_sorted_without_shm_or_mqueue(
    build: BuildBundle,
) -> None:
    assert build().spec["mounts"] == list(DEFAULTS.values())


def test_readonly_adds_ro_to_dev_and_sys_only(build: BuildBundle) -> None:
    mounts = mounts_by_destination(build(readonly=True).spec)
    assert mounts["/dev"]["options"][-1] == "ro"
    assert mounts["/sys"]["options"] == ["nosuid", "noexec", "nodev", "ro"]
    assert mounts["/proc"] == DEFAULTS["/proc"]
    assert mounts["/dev/pts"] == DEFAULTS["/dev/pts"]


def test_mounts_are_sorted_by_destination_and_keyed_by_it(build: BuildBundle) -> None:
    spec = build(
        tmpfs=["/var/run:size=1m", "/tmp"],
        binds=["/var:/var", "/etc/resolv.conf:/etc/resolv.conf:ro"],
    ).spec
    destinations = [m["destination"] for m in spec["mounts"]]
    assert destinations == sorted(destinations)
    assert len(destinations) == len(set(destinations)) == 9


def test_later_kinds_replace_earlier_at_the_same_destination(build: BuildBundle) -> None:
    # defaults < tmpfs < binds < mounts, like LinuxKit's map filled in that order.
    spec = build(
        tmpfs=["/dev:size=1m", "/x"],
        binds=["/host:/x"],
        mounts=[{"destination": "/x", "type": "tmpfs", "options": ["size=2m"]}],
    ).spec
    mounts = mounts_by_destination(spec)
    assert mounts["/dev"] == {
        "destination": "/dev",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["size=1m"],
    }
    assert mounts["/x"]["options"] == ["size=2m"]


def test_bind_default_options_are_rw_rbind_rshared(build: BuildBundle) -> None:
    mount = mounts_by_destination(build(binds=["/var:/var"]).spec)["/var"]
    assert mount == {
        "destination": "/var",
        "type": "bind",
        "source": "/var",
        "options": ["rw", "rbind", "rshared"],
    }


def test_bind_options_given_get_rbind_appended(build: BuildBundle) -> None:
    mount = mounts_by_destination(build(binds=["/lib/modules:/lib/modules:ro,rshared"]).spec)
    assert mount["/lib/modules"]["options"] == ["ro", "rshared", "rbind"]


def test_binds_add_extends_label_binds(build: BuildBundle) -> None:
    spec = build(label={"binds": ["/a:/a"]}, binds_add=["/b:/b", "/a:/a"]).spec
    mounts = mounts_by_destination(spec)
    assert mounts["/a"]["source"] == "/a"
    assert mounts["/b"]["source"] == "/b"


def test_binds_add_is_ignored_when_container_sets_binds(build: BuildBundle) -> None:
    mounts = mounts_by_destination(
        build(label={"binds": ["/a:/a"]}, binds=["/c:/c"], binds_add=["/b:/b"]).spec
    )
    assert "/c" in mounts
    assert "/a" not in mounts
    assert "/b" not in mounts


@pytest.mark.parametrize(
    "bind", ["/only-one-part", "/a:/b:ro:extra", ":/b", "/a:relative", "Not_A_Volume:/x"]
)
def test_malformed_bind_is_an_error_naming_the_entry(build: BuildBundle, bind: str) -> None:
    # The model may already refuse some of these when the Container is built; either way the
    # error names the entry and its index.
    with pytest.raises(ConfigError, match=re.escape(bind.split(":")[0] or bind)) as info:
        build(binds=["/ok:/ok", bind])
    assert info.value.path.endswith("binds[1]")


def test_malformed_binds_add_entry_is_named_as_such(build: BuildBundle) -> None:
    with pytest.raises(ConfigError) as info:
        build(binds_add=["/x:relative"])
    assert info.value.path.endswith(("binds.add[0]", "binds.add"))


def test_volume_name_as_bind_source_becomes_the_volume_merged_dir(build: BuildBundle) -> None:
    mount = mounts_by_destination(build(binds=["data:/data"]).spec)["/data"]
    assert mount["source"] == "/containers/volumes/data/merged"
    assert mount["options"] == ["rw", "rbind", "rshared"]


def test_volume_name_in_a_bind_mount_entry_is_rewritten_too(build: BuildBundle) -> None:
    # LinuxKit bug: updateMountsAndBindsFromVolumes assigns to the loop copy, so a volume name
    # in ``mounts`` (type bind) stays a relative source. We rewrite it like ``binds``.
    spec = build(
        mounts=[{"destination": "/d", "type": "bind", "source": "data", "options": ["rbind"]}]
    ).spec
    assert mounts_by_destination(spec)["/d"]["source"] == "/containers/volumes/data/merged"


def test_known_volumes_are_checked_when_given(build: BuildBundle) -> None:
    with pytest.raises(ConfigError, match="no volume named 'nope'"):
        build(binds=["nope:/x"], volumes={"data": False})
    with pytest.raises(ConfigError, match="volume 'ro' is read-only: bind it with 'ro'"):
        build(binds=["ro:/x"], volumes={"ro": True})
    with pytest.raises(ConfigError, match="read-only"):
        build(mounts=[{"destination": "/x", "type": "bind", "source": "ro"}], volumes={"ro": True})
    spec = build(binds=["ro:/x:ro"], volumes={"ro": True}).spec
    assert mounts_by_destination(spec)["/x"]["options"] == ["ro", "rbind"]


def test_tmpfs_entries_with_and_without_options(build: BuildBundle) -> None:
    mounts = mounts_by_destination(build(tmpfs=["/run", "/tmp:size=10m,mode=1777"]).spec)
    assert mounts["/run"] == {"destination": "/run", "type": "tmpfs", "source": "tmpfs"}
    assert mounts["/tmp"]["options"] == ["size=10m", "mode=1777"]


def test_tmpfs_with_two_colons_is_an_error(build: BuildBundle) -> None:
    with pytest.raises(ConfigError, match="more than one ':'") as info:
        build(tmpfs=["/a:b:c"])
    assert info.value.path == "tmpfs[0]"


@pytest.mark.parametrize(
    ("mount", "expected"),
    [
        ({"type": "proc"}, {"destination": "/proc", "type": "proc", "source": "proc"}),
        (
            {"source": "mqueue"},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
        ),
        ({"source": "devpts"}, {"destination": "/dev/pts", "type": "devpts", "source": "devpts"}),
        ({"source": "sysfs"}, {"destination": "/sys", "type": "sysfs", "source": "sysfs"}),
        (
            {"source": "cgroup"},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
        ),
        ({"destination": "/dev"}, {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}),
        (
            {"destination": "/x", "type": "bind", "source": "/y", "options": ["rbind", "ro"]},
            {"destination": "/x", "type": "bind", "source": "/y", "options": ["rbind", "ro"]},
        ),
    ],
)
def test_mount_type_source_and_destination_are_inferred_like_linuxkit(
    build: BuildBundle, mount: dict[str, object], expected: dict[str, object]
) -> None:
    assert (
        mounts_by_destination(build(mounts=[mount]).spec)[str(expected["destination"])] == expected
    )


@pytest.mark.parametrize(
    ("mount", "reason"),
    [
        ({"destination": "/x"}, "the mount on /x has no type"),
        ({"type": "tmpfs"}, "the tmpfs mount needs an absolute destination"),
    ],
)
def test_mount_that_cannot_be_completed_is_an_error(
    build: BuildBundle, mount: dict[str, object], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        build(mounts=[mount])
    assert info.value.path == "mounts[0]"


def test_mount_id_mappings_are_kept(build: BuildBundle) -> None:
    # LinuxKit drops uidMappings/gidMappings of a ``mounts`` entry; we pass them to runc.
    mapping = {"host_id": 1000, "container_id": 0, "size": 1}
    mount = {
        "destination": "/x",
        "type": "bind",
        "source": "/y",
        "uid_mappings": [mapping],
        "gid_mappings": [mapping],
    }
    spec = build(mounts=[mount]).spec
    assert mounts_by_destination(spec)["/x"]["uidMappings"] == [
        {"containerID": 0, "hostID": 1000, "size": 1}
    ]
    assert mounts_by_destination(spec)["/x"]["gidMappings"] == [
        {"containerID": 0, "hostID": 1000, "size": 1}
    ]


def test_readonly_bundle_root_is_a_bind_of_the_image_directory() -> None:
    assert rootfs_mounts(
        "containers/onboot/001-b", lower="/containers/onboot/000-a/rootfs", readonly=True
    ) == [
        {
            "destination": "/containers/onboot/001-b/rootfs",
            "source": "/containers/onboot/000-a/rootfs",
            "options": ["bind"],
        }
    ]


def test_readwrite_bundle_root_is_an_overlay_on_a_private_tmpfs() -> None:
    assert rootfs_mounts(
        "/containers/services/s/", lower="containers/services/s/lower", readonly=False
    ) == [
        {"destination": "/containers/services/s/tmp", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/containers/services/s/tmp", "options": ["remount", "private"]},
        {
            "destination": "/containers/services/s/rootfs",
            "type": "overlay",
            "source": "overlay",
            "options": [
                "lowerdir=/containers/services/s/lower",
                "upperdir=/containers/services/s/tmp/upper",
                "workdir=/containers/services/s/tmp/work",
            ],
        },
    ]


def test_with_rootfs_mounts_prepends_and_leaves_the_original_alone(build: BuildBundle) -> None:
    bundle = build(
        runtime={"mounts": [{"destination": "/run/x", "type": "tmpfs", "source": "tmpfs"}]}
    )
    placed = bundle.with_rootfs_mounts(
        "containers/services/svc", lower="containers/services/svc/lower"
    )
    assert [m["destination"] for m in placed.runtime["mounts"]] == [
        "/containers/services/svc/tmp",
        "/containers/services/svc/tmp",
        "/containers/services/svc/rootfs",
        "/run/x",
    ]
    assert [m["destination"] for m in bundle.runtime["mounts"]] == ["/run/x"]
    assert placed.spec == bundle.spec
