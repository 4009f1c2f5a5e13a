"""Sections of earlier root filesystems are reused as bytes, checked, and equal a cold build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moby_assemble import Container, File, IntegrityError, System
from moby_assemble.assemble import Assembler, ImageCopied, ImageFlattened
from moby_assemble.layers import read_tar
from moby_assemble.registry import BlobStarted

from .conftest import Components
from .test_incremental import Recorder


def _systems(components: Components) -> tuple[System, System]:
    first = System(
        platform="linux/amd64",
        # Twice: two apk databases, so LinuxKit's merged database is written too.
        init=[components.init, components.init],
        services=[Container("web", components.web), Container("sshd", components.sshd)],
    )
    # Same images at the same places, plus a file: another root filesystem.
    second = first.with_file(File("etc/motd", contents="hello\n"))
    return first, second


def _index(cache: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((cache / "segments").glob("v1-*.json"))]


def test_a_second_system_reuses_the_sections_of_the_first_and_equals_a_cold_build(
    components: Components, tmp_path: Path
):
    first, second = _systems(components)
    events = Recorder()
    with Assembler(tmp_path / "cache", progress=events) as asm:
        one = asm.assemble(first)
        index = _index(tmp_path / "cache")
        # init[0], init[1], web and sshd, each indexed in the first bundle
        assert len(index) == 4
        assert sum("apk" in doc for doc in index) == 2
        assert {doc["bundle"] for doc in index} == {one.directory.name}
        events.clear()
        two = asm.assemble(second)
    assert events.of(ImageFlattened) == []
    assert all(e.cached for e in events.of(ImageCopied))
    with Assembler(tmp_path / "cold") as asm:
        cold = asm.assemble(second)
    assert two.rootfs_sha256 == cold.rootfs_sha256
    assert two.rootfs_tar.read_bytes() == cold.rootfs_tar.read_bytes()
    with open(two.rootfs_tar, "rb") as f:
        names = [e.name for e in read_tar(f)]
    assert "etc/motd" in names
    assert "containers/services/sshd/rootfs/bin/sshd" in names


def test_a_damaged_section_is_an_integrity_error_and_the_next_assembly_encodes_it_again(
    components: Components, tmp_path: Path
):
    first, second = _systems(components)
    with Assembler(tmp_path / "cache") as asm:
        one = asm.assemble(first)
        section = next(d for d in _index(tmp_path / "cache") if d["count"] and d["length"] > 2048)
        data = bytearray(one.rootfs_tar.read_bytes())
        data[section["offset"] + 700] ^= 0xFF
        one.rootfs_tar.write_bytes(bytes(data))
        with pytest.raises(IntegrityError) as info:
            asm.assemble(second)
        assert str(one.rootfs_tar) in str(info.value)
        assert not list((tmp_path / "cache" / "bundles").glob(".assembling-*"))
        again = asm.assemble(second)
    with Assembler(tmp_path / "cold") as asm:
        cold = asm.assemble(second)
    assert again.rootfs_sha256 == cold.rootfs_sha256


def test_a_removed_bundle_or_a_damaged_index_entry_only_costs_the_reuse(
    components: Components, tmp_path: Path
):
    first, second = _systems(components)
    events = Recorder()
    with Assembler(tmp_path / "cache", progress=events) as asm:
        one = asm.assemble(first)
        entries = sorted((tmp_path / "cache" / "segments").glob("v1-*.json"))
        entries[0].write_text("{not json")
        for path in one.directory.iterdir():
            path.unlink()
        one.directory.rmdir()
        events.clear()
        two = asm.assemble(second)
    # Sections gone: the services are flattened again, from the store (nothing downloaded),
    # this time through the flat cache; init, used twice by the first system, already is.
    assert {e.reference for e in events.of(ImageFlattened)} == {components.web, components.sshd}
    assert {e.reference for e in events.of(ImageCopied) if e.cached} == {components.init}
    assert events.of(BlobStarted) == []
    assert not entries[0].exists() or json.loads(entries[0].read_text())
    with Assembler(tmp_path / "cold") as asm:
        cold = asm.assemble(second)
    assert two.rootfs_sha256 == cold.rootfs_sha256
