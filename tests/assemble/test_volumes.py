"""Volumes: blank ones, and images as an OCI layout that skopeo can read."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

from moby_assemble import Container, System, Volume
from moby_assemble.assemble import Assembler

from .conftest import Components, read_members


def test_a_blank_volume_has_empty_lower_tmp_and_merged(components: Components, tmp_path: Path):
    system = System(
        platform="linux/amd64",
        volumes=[Volume("scratch")],
        services=[Container("web", components.web, binds=["scratch:/scratch"])],
    )
    with Assembler(tmp_path / "cache") as asm:
        bundle = asm.assemble(system)
    members = read_members(bundle.rootfs_tar)
    volume = [m for m in members if m.name.startswith("containers/volumes/")]
    assert [(m.name, m.type, m.source) for m in volume] == [
        ("containers/volumes/scratch", "dir", "empty"),
        ("containers/volumes/scratch/lower", "dir", "empty"),
        ("containers/volumes/scratch/tmp", "dir", "linuxkit.volumes"),
        ("containers/volumes/scratch/merged", "dir", "linuxkit.volumes"),
    ]
    mounts = {m["destination"]: m for m in bundle.container("web").config["mounts"]}
    assert mounts["/scratch"]["source"] == "/containers/volumes/scratch/merged"


def test_an_oci_volume_holds_a_layout_of_the_platforms_asked_for(
    components: Components, tmp_path: Path
):
    system = System(
        platform="linux/amd64",
        volumes=[
            Volume(
                "images",
                image=components.multi,
                format="oci",
                platforms=("linux/amd64", "linux/arm64"),
            )
        ],
    )
    with Assembler(tmp_path / "cache") as asm:
        bundle = asm.assemble(system)
    prefix = "containers/volumes/images/lower/"
    layout = tmp_path / "layout"
    with tarfile.open(bundle.rootfs_tar) as tar:
        for member in tar:
            if member.name.startswith(prefix) and member.isreg():
                target = layout / member.name[len(prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    index = json.loads((layout / "index.json").read_bytes())
    [entry] = index["manifests"]
    assert entry["digest"] == components.multi_set.descriptor.digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == components.multi
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    envs = {}
    for arch in ("amd64", "arm64"):
        out = subprocess.run(
            ["skopeo", "inspect", "--override-arch", arch, f"oci:{layout}"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        envs[arch] = json.loads(out.stdout)["Env"]
    assert envs == {"amd64": ["ARCH=amd64"], "arm64": ["ARCH=arm64"]}
