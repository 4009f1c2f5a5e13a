"""Output formats of a real assembly: the Assembler's Bundle of images from the registry."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from moby_assemble import System
from moby_assemble.assemble import Assembler, Bundle
from moby_assemble.layers import EntryType, read_tar
from moby_assemble.outputs import get_format
from moby_assemble.testing import LocalRegistry

from ..assemble.conftest import Components
from ..layers.rootfs import comparable, snapshot_dir, start_time, umoci_unpack
from .conftest import cpio_list

LOCAL_FORMATS = (
    "tar", "docker", "kernel+initrd", "tar-kernel-initrd", "oci-layout", "oci-archive",
    "oci-bundles",
)  # fmt: skip
# What LinuxKit's image filter drops from, replaces in, and adds to every container image.
EXCLUDED = {".dockerenv", "Dockerfile", "dev/console", "dev/pts", "dev/shm", "etc/hostname"}
REPLACED = {"etc/hosts", "etc/resolv.conf"}
TOUCHED = {"dev", "dev/pts", "dev/shm", "etc", "etc/mtab", "etc/resolv.conf", "etc/hosts",
           "proc", "sys"}  # fmt: skip


def _require(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


@pytest.fixture
def bundle(system: System, tmp_path: Path) -> Bundle:
    with Assembler(tmp_path / "cache", platform="linux/amd64") as asm:
        return asm.assemble(system)


def _gnu_tar_extract(archive: Path, directory: Path) -> Path:
    directory.mkdir(parents=True)
    subprocess.run(
        ["tar", "--extract", "--same-permissions", "--numeric-owner",
         "--warning=no-unknown-keyword", "-f", str(archive), "-C", str(directory)],
        check=True, capture_output=True,
    )  # fmt: skip
    return directory


def test_every_local_format_is_written_from_the_bundle_alone(
    bundle: Bundle, tmp_path: Path
) -> None:
    # The formats read only the bundle's files: without the store and the flat cache they
    # still work, so writing several formats never fetches or flattens anything again.
    cache = bundle.directory.parents[1]
    shutil.rmtree(cache / "store")
    shutil.rmtree(cache / "flat")
    written = bundle.write(tmp_path / "out", LOCAL_FORMATS, name="demo")
    assert set(written) == set(LOCAL_FORMATS)
    for name, paths in written.items():
        expected = [p.format(name="demo") for p in get_format(name).files]
        assert [p.name for p in paths] == expected, name
        assert all(p.exists() for p in paths)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for paths in written.values() for p in paths
    ), "no temporary file is left behind"


def test_kernel_initrd_of_an_assembled_system(bundle: Bundle, tmp_path: Path) -> None:
    kernel, initrd, cmdline = get_format("kernel+initrd").write(bundle, tmp_path, "demo")
    assert kernel.read_bytes() == b"MZ fake bzImage"
    assert cmdline.read_text() == "console=ttyS0 quiet"
    data = initrd.read_bytes()
    ucode = b"070701 fake microcode"
    assert data.startswith(ucode), "the microcode comes first, uncompressed"
    names = set(cpio_list(gzip.decompress(data[len(ucode) :])))
    with open(bundle.rootfs_tar, "rb") as f:
        tar_names = {e.name for e in read_tar(f)}
    assert names == {n for n in tar_names if not n.startswith("boot/")}
    assert "containers/onboot/000-format/config.json" in names
    assert "containers/services/web/lower/bin/web" in names


def _snapshot(root: Path, since: float) -> Any:
    snap, _ = snapshot_dir(root, since=since)
    return snap


def _image_rootfs(ref: str, work: Path) -> Path:
    work.mkdir(parents=True)
    layout = work / "layout"
    done = subprocess.run(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
         f"oci:{layout}:img"],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return umoci_unpack(layout, "img", work / "bundle")


def test_oci_bundles_rootfs_is_the_image_as_linuxkit_adjusts_it(
    bundle: Bundle,
    components: Components,
    registry: LocalRegistry,
    tmp_path: Path,
    config_schema: Draft4Validator,
) -> None:
    _require("skopeo", "umoci", "tar")
    since = start_time()
    (archive,) = get_format("oci-bundles").write(bundle, tmp_path, "demo")
    extracted = _gnu_tar_extract(archive, tmp_path / "bundles")
    images = {c.name: c.image for c in bundle.containers}
    assert set(images) == {"format", "mount", "bye", "web", "sshd"}
    for container in bundle.containers:
        root = extracted / container.directory.removeprefix("containers/")
        config = json.loads((root / "config.json").read_bytes())
        config_schema.validate(config)
        assert (root / "config.json").read_bytes() == container.config_json
        ours = _snapshot(root / "rootfs", since)
        ref = images[container.name].split("@")[0]
        theirs = _snapshot(_image_rootfs(ref, tmp_path / container.name), since)
        kept = {n: v for n, v in theirs.items() if n not in EXCLUDED | REPLACED}
        assert comparable({n: ours[n] for n in kept}, other=kept) == comparable(kept, other=ours)
        assert set(ours) - set(theirs) <= TOUCHED, container.name
        assert (root / "rootfs/etc/hosts").read_bytes().startswith(b"127.0.0.1")


def test_oci_layout_unpacks_to_what_the_root_tar_extracts_to(
    bundle: Bundle, tmp_path: Path
) -> None:
    _require("umoci", "tar")
    (layout,) = get_format("oci-layout").write(bundle, tmp_path / "out", "demo")
    since = start_time()
    from_image = umoci_unpack(layout, "latest", tmp_path / "unpacked")
    from_tar = _gnu_tar_extract(bundle.rootfs_tar, tmp_path / "extracted")
    got, want = _snapshot(from_image, since), _snapshot(from_tar, since)
    assert comparable(got, other=want) == comparable(want, other=got)
    assert (from_image / "boot/kernel").read_bytes() == b"MZ fake bzImage"


def test_docker_output_is_the_root_tar_plus_dockerfile(bundle: Bundle, tmp_path: Path) -> None:
    (path,) = get_format("docker").write(bundle, tmp_path, "demo")
    with open(path, "rb") as f:
        entries = [(e.name, e.type, e.pax) for e in read_tar(f)]
    with open(bundle.rootfs_tar, "rb") as f:
        expected = [(e.name, e.type, e.pax) for e in read_tar(f)]
    assert entries[:-1] == expected, "LINUXKIT.* records travel along"
    assert entries[-1][:2] == ("Dockerfile", EntryType.FILE)


def _digests(paths: list[Path]) -> dict[str, str]:
    out = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            out[str(file.relative_to(path.parent))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


def test_two_assemblies_in_different_caches_give_identical_outputs(
    system: System, system_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    results = []
    for run in ("monday", "tuesday"):
        with Assembler(tmp_path / run / "cache", platform="linux/amd64") as asm:
            bundle = asm.assemble(system)
        written = bundle.write(tmp_path / run / "out", LOCAL_FORMATS, name="demo")
        results.append(_digests([p for paths in written.values() for p in paths]))
        # Another day: the configuration's files (a `source` among them) are touched.
        for path in system_file.parent.rglob("*"):
            os.utime(path, (1_900_000_000, 1_900_000_000))
    assert results[0] == results[1]
    assert len(results[0]) >= len(LOCAL_FORMATS) + 4, "the oci-layout blobs are compared too"
