"""oci-layout, oci-archive and oci-bundles, read back with skopeo, umoci and the schemas."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from moby_assemble.layers import EntryType, read_tar
from moby_assemble.outputs import get_format, write_formats

from ..layers.rootfs import comparable, snapshot_dir, snapshot_entries, start_time, umoci_unpack
from .conftest import SYSTEM_ITEMS, FakeBundle

MakeBundle = Callable[..., FakeBundle]

# The system without the repeated etc/motd: umoci's rootfs has one entry per name, and so
# does the snapshot it is compared with.
UNIQUE_ITEMS = tuple(SYSTEM_ITEMS[:-1])


def _tool(name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")


def _skopeo_inspect(transport_ref: str, *extra: str) -> Any:
    out = subprocess.run(
        ["skopeo", "inspect", *extra, transport_ref], capture_output=True, check=True, timeout=60
    )
    return json.loads(out.stdout)


def _root_snapshot(bundle: FakeBundle) -> Any:
    with open(bundle.rootfs_tar, "rb") as f:
        return snapshot_entries(read_tar(f))


def test_oci_layout_is_an_image_skopeo_and_umoci_read(
    make_bundle: MakeBundle, tmp_path: Path, image_schema: Callable[[str, Any], None]
) -> None:
    _tool("skopeo")
    _tool("umoci")
    bundle = make_bundle(UNIQUE_ITEMS, source_date_epoch=1_600_000_000)
    (layout,) = get_format("oci-layout").write(bundle, tmp_path / "out", "sys", tag="v1")
    assert layout == tmp_path / "out" / "sys.oci"
    assert sorted(p.name for p in layout.iterdir()) == ["blobs", "index.json", "oci-layout"]

    info = _skopeo_inspect(f"oci:{layout}:v1")
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64")
    assert info["Created"].startswith("2020-09-13T12:26:40")
    config = _skopeo_inspect(f"oci:{layout}:v1", "--config")
    assert config["config"]["Entrypoint"] == ["/sbin/init"]
    diff_id = "sha256:" + hashlib.sha256(bundle.rootfs_tar.read_bytes()).hexdigest()
    assert config["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}

    index = json.loads((layout / "index.json").read_text())
    image_schema("image-index-schema.json", index)
    manifest_path = layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(manifest_path.read_text())
    image_schema("image-manifest-schema.json", manifest)
    image_schema("config-schema.json", config)
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "v1"}

    since = start_time()
    rootfs = umoci_unpack(layout, "v1", tmp_path / "unpacked")
    got, got_links = snapshot_dir(rootfs, since=since)
    want, want_links = _root_snapshot(bundle)
    assert comparable(got, other=want) == comparable(want, other=got)
    assert got_links == want_links


def test_oci_archive_holds_the_same_image(make_bundle: MakeBundle, tmp_path: Path) -> None:
    _tool("skopeo")
    bundle = make_bundle(UNIQUE_ITEMS)
    written = write_formats(bundle, tmp_path, ["oci-archive", "oci-layout"], name="s")
    (archive,) = written["oci-archive"]
    (layout,) = written["oci-layout"]
    assert archive.name == "s.oci.tar"
    from_archive = _skopeo_inspect(f"oci-archive:{archive}:latest")
    from_layout = _skopeo_inspect(f"oci:{layout}:latest")
    assert from_archive["Digest"] == from_layout["Digest"]
    assert from_archive["Layers"] == from_layout["Layers"]
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers())
    blobs = sorted(str(p.relative_to(layout)) for p in (layout / "blobs/sha256").iterdir())
    assert names == sorted(["blobs", "blobs/sha256", *blobs, "index.json", "oci-layout"])


def test_entrypoint_can_be_chosen(make_bundle: MakeBundle, tmp_path: Path) -> None:
    _tool("skopeo")
    (layout,) = get_format("oci-layout").write(
        make_bundle(), tmp_path, "s", entrypoint=["/bin/rc.init"]
    )
    config = _skopeo_inspect(f"oci:{layout}:latest", "--config")
    assert config["config"]["Entrypoint"] == ["/bin/rc.init"]


def _bundle_members(archive: Path) -> dict[str, dict[str, Any]]:
    members: dict[str, dict[str, Any]] = {}
    with open(archive, "rb") as f:
        for e in read_tar(f):
            data = e.read() if e.type is EntryType.FILE else b""
            members[e.name] = {
                "type": e.type, "mode": e.mode, "uid": e.uid, "gid": e.gid,
                "link": e.linkname, "data": data, "dev": (e.devmajor, e.devminor),
            }  # fmt: skip
    return members


def _location(bundle: FakeBundle, location: str) -> dict[str, dict[str, Any]]:
    members: dict[str, dict[str, Any]] = {}
    with open(bundle.rootfs_tar, "rb") as f:
        for e in read_tar(f):
            if e.name == location or e.name.startswith(location + "/"):
                rel = e.name[len(location) :].lstrip("/")
                link = e.linkname
                if e.type is EntryType.HARDLINK:
                    link = link[len(location) + 1 :]
                data = e.read() if e.type is EntryType.FILE else b""
                members[rel] = {
                    "type": e.type, "mode": e.mode, "uid": e.uid, "gid": e.gid,
                    "link": link, "data": data, "dev": (e.devmajor, e.devminor),
                }  # fmt: skip
    return members


def test_oci_bundles_hold_config_and_rootfs_per_container(
    make_bundle: MakeBundle, tmp_path: Path, config_schema: Draft4Validator
) -> None:
    bundle = make_bundle()
    (archive,) = get_format("oci-bundles").write(bundle, tmp_path / "out", "sys")
    assert archive.name == "sys-bundles.tar"
    members = _bundle_members(archive)
    for container in bundle.containers:
        prefix = container.directory.removeprefix("containers/")
        config = members[f"{prefix}/config.json"]["data"]
        assert config == container.config_json
        config_schema.validate(json.loads(config))
        rootfs = {
            name[len(prefix) + len("/rootfs") :].lstrip("/"): value
            for name, value in members.items()
            if name.startswith(f"{prefix}/rootfs")
        }
        for value in rootfs.values():
            if value["type"] is EntryType.HARDLINK:
                assert value["link"].startswith(f"{prefix}/rootfs/")
                value["link"] = value["link"][len(prefix) + len("/rootfs/") :]
        want = _location(bundle, container.rootfs)
        assert rootfs == want, container.name
    # The read-write service's files come from lower/; the shared one has the ro image.
    assert members["services/svc/rootfs/svc"]["data"] == b"svc-binary"
    assert members["services/shared/rootfs/bin/tool"]["data"] == b"tool-data"
    assert members["onboot/000-ro/rootfs/bin/tool"]["data"] == b"tool-data"
    assert not any(n.startswith(("etc", "bin", "boot", "containers")) for n in members)


def test_oci_bundle_extracted_is_a_runc_bundle_layout(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    (archive,) = get_format("oci-bundles").write(make_bundle(), tmp_path, "s")
    out = tmp_path / "x"
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="tar")
    bundle_dir = out / "onboot" / "000-ro"
    assert json.loads((bundle_dir / "config.json").read_bytes())["root"]["path"] == "rootfs"
    assert (bundle_dir / "rootfs" / "bin" / "tool").read_bytes() == b"tool-data"
    tool, tool2 = (bundle_dir / "rootfs/bin/tool").stat(), (bundle_dir / "rootfs/bin/tool2").stat()
    assert tool.st_ino == tool2.st_ino, "hard links stay links inside a bundle"
    data = io.BytesIO(archive.read_bytes())
    assert [e.name for e in read_tar(data)][:3] == [
        "onboot",
        "onboot/000-ro",
        "onboot/000-ro/config.json",
    ]
