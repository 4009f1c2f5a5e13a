"""Two assemblies of one locked system, on different days, in different caches: same bytes."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from moby_assemble import System
from moby_assemble.assemble import Assembler

from .conftest import read_members


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


#: Every output format that writes local files (``push`` sends them to a registry).
LOCAL_FORMATS = (
    "tar", "docker", "kernel+initrd", "tar-kernel-initrd", "oci-layout", "oci-archive",
    "oci-bundles",
)  # fmt: skip


def output_digests(written: dict[str, tuple[Path, ...]], root: Path) -> dict[str, str]:
    """sha256 of every file each format wrote (directories walked), by path under ``root``."""
    out = {}
    for paths in written.values():
        for path in paths:
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                out[str(f.relative_to(root))] = sha256(f)
    return out


def test_same_locked_system_in_two_caches_on_two_days_gives_identical_tars(
    system: System, system_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    with Assembler(tmp_path / "monday") as asm:
        lock = asm.resolve(system)
        first = asm.assemble(system, lock=lock)
    # "Tuesday": the source file was touched, time zone and umask differ, new cache
    banner = system_file.parent / "assets" / "banner.txt"
    later = time.time() + 86400
    os.utime(banner, (later, later))
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    old_umask = os.umask(0o077)
    try:
        with Assembler(tmp_path / "tuesday") as asm:
            second = asm.assemble(System.from_yaml(system_file, platform="linux/amd64"), lock=lock)
    finally:
        os.umask(old_umask)
    assert sha256(first.rootfs_tar) == sha256(second.rootfs_tar) == first.rootfs_sha256
    assert second.rootfs_sha256 == first.rootfs_sha256
    assert first.directory.name == second.directory.name  # bundles are named by content
    assert first.kernel is not None
    assert second.kernel is not None
    assert first.kernel.read_bytes() == second.kernel.read_bytes()
    assert [c.config_json for c in first.containers] == [c.config_json for c in second.containers]
    # and so is every output format written from them
    one = output_digests(first.write(tmp_path / "out1", LOCAL_FORMATS), tmp_path / "out1")
    two = output_digests(second.write(tmp_path / "out2", LOCAL_FORMATS), tmp_path / "out2")
    assert len(one) >= len(LOCAL_FORMATS) + 2
    assert one == two
    assert one["system.tar"] == first.rootfs_sha256


def test_source_date_epoch_sets_the_mtime_of_generated_entries_only(
    system: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    with Assembler(tmp_path / "a") as asm:
        lock = asm.resolve(system)
        a = asm.assemble(system, lock=lock)
    with Assembler(tmp_path / "b", source_date_epoch=1700000000) as asm:
        monkeypatch.delenv("SOURCE_DATE_EPOCH")
        b = asm.assemble(system, lock=lock)
    with Assembler(tmp_path / "c") as asm:
        zero = asm.assemble(system, lock=lock)
    assert a.rootfs_sha256 == b.rootfs_sha256 != zero.rootfs_sha256
    assert a.source_date_epoch == 1700000000
    members = {m.name: m for m in read_members(a.rootfs_tar)}
    for generated in (
        "boot/cmdline",
        "etc/motd",
        "containers/services/web/config.json",
        "etc/hosts",
    ):
        assert members[generated].mtime == 1700000000
    # from an image layer: the layer's own mtime
    assert members["lib/modules/6.6.0/modules.dep"].mtime == 1_600_000_000


def test_an_invalid_source_date_epoch_is_a_config_error(
    system: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from moby_assemble import ConfigError

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with (
        Assembler(tmp_path / "cache") as asm,
        pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"),
    ):
        asm.assemble(system)
