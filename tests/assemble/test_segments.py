"""Sections are written once, shared by every bundle that has them, checked when read, and
a bundle made of them equals a cold build."""

from __future__ import annotations

import json
import shutil
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


def _sections(cache: Path) -> dict[str, dict]:
    return {
        p.stem[3:]: json.loads(p.read_text())
        for p in sorted((cache / "sections").glob("v2-*.json"))
    }


def test_a_second_system_shares_the_sections_of_the_first_and_equals_a_cold_build(
    components: Components, tmp_path: Path
):
    first, second = _systems(components)
    events = Recorder()
    cache = tmp_path / "cache"
    with Assembler(cache, progress=events) as asm:
        one = asm.assemble(first)
        index = _sections(cache)
        # init[0], init[1], web and sshd
        assert len(index) == 4
        assert sum("apk" in doc for doc in index.values()) == 2
        for key, doc in index.items():
            assert (cache / "sections" / f"v2-{key}.tar").stat().st_size == doc["length"]
        events.clear()
        two = asm.assemble(second)
    assert events.of(ImageFlattened) == []
    assert all(e.cached for e in events.of(ImageCopied))
    # Shared, not copied: the same four section files, and a bundle of its own (the parts
    # list and the generated entries, among them etc/motd).
    assert _sections(cache) == index
    shared = [p.section for p in two.rootfs_parts.parts if p.section]
    assert shared == [p.section for p in one.rootfs_parts.parts if p.section]
    assert sorted(shared) == sorted(index)
    own = sum(p.length for p in two.rootfs_parts.parts if not p.section)
    assert own < two.rootfs_size // 2
    # Outputs read the parts as one stream: no single root tar is written for them.
    written = two.write(tmp_path / "out", formats=["tar", "oci-bundles"])
    assert not (two.directory / "rootfs.tar").exists()
    with two.open_rootfs() as f:
        assert written["tar"][0].read_bytes() == f.read()
    with Assembler(tmp_path / "cold") as asm:
        cold = asm.assemble(second)
    assert two.directory.name == cold.directory.name
    assert two.rootfs_sha256 == cold.rootfs_sha256
    assert two.rootfs_tar.read_bytes() == cold.rootfs_tar.read_bytes()
    with two.open_rootfs() as f:
        names = [e.name for e in read_tar(f)]
    assert "etc/motd" in names
    assert "containers/services/sshd/rootfs/bin/sshd" in names


def test_a_damaged_section_is_an_integrity_error_and_the_next_assembly_encodes_it_again(
    components: Components, tmp_path: Path
):
    first, second = _systems(components)
    cache = tmp_path / "cache"
    with Assembler(tmp_path / "cold") as asm:
        cold = asm.assemble(second).rootfs_sha256
    with Assembler(cache) as asm:
        asm.assemble(first)
        key, doc = next((k, d) for k, d in _sections(cache).items() if d["length"] > 2048)
        section = cache / "sections" / f"v2-{key}.tar"
        data = bytearray(section.read_bytes())
        data[700] ^= 0xFF
        section.write_bytes(bytes(data))
        damaged = asm.assemble(second)  # shares the damaged bytes: reading them fails
        with pytest.raises(IntegrityError) as info:
            damaged.write(tmp_path / "out", formats=["tar"])
        assert str(section) in str(info.value)
        assert not section.exists()  # dropped: useless to anyone
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
        with pytest.raises(IntegrityError):
            damaged.rootfs_tar  # noqa: B018
        assert not list(damaged.directory.glob("rootfs.tar*"))
        again = asm.assemble(second)
    assert again.directory == damaged.directory  # the same bundle, made whole again
    assert section.stat().st_size == doc["length"]
    assert again.rootfs_sha256 == cold


def test_a_removed_section_or_a_damaged_description_only_costs_the_reuse(
    components: Components, tmp_path: Path
):
    first, second = _systems(components)
    events = Recorder()
    cache = tmp_path / "cache"
    with Assembler(cache, progress=events) as asm:
        asm.assemble(first)
        first = {key: doc["names"].split("\0")[0] for key, doc in _sections(cache).items()}
        where = {name: key for key, name in first.items() if name.startswith("containers/")}
        web = where["containers/services/web/lower/bin"]
        sshd = where["containers/services/sshd/rootfs/bin"]
        (cache / "sections" / f"v2-{web}.json").write_text("{not json")
        (cache / "sections" / f"v2-{sshd}.tar").unlink()
        events.clear()
        two = asm.assemble(second)
    # Those two are flattened again, from the store (nothing downloaded), this time through
    # the flat cache; init, used twice by the first system, already is.
    assert {e.reference for e in events.of(ImageFlattened)} == {components.web, components.sshd}
    assert {e.reference for e in events.of(ImageCopied) if e.cached} == {components.init}
    assert events.of(BlobStarted) == []
    assert json.loads((cache / "sections" / f"v2-{web}.json").read_text())
    with Assembler(tmp_path / "cold") as asm:
        cold = asm.assemble(second)
    assert two.rootfs_sha256 == cold.rootfs_sha256


def test_the_kernel_files_are_kept_with_their_section_and_a_rebuild_reads_no_image(
    system: System, tmp_path: Path
):
    cache = tmp_path / "cache"
    events = Recorder()
    with Assembler(cache, progress=events) as asm:
        first = asm.assemble(system)
        kept = sorted((cache / "sections").glob("v2-*.kernel"))
        assert len(kept) == 1
        assert first.kernel is not None
        assert kept[0].read_bytes() == first.kernel.read_bytes()
        events.clear()
        again = asm.assemble(system)
        assert events.of(ImageFlattened) == []
        assert again.kernel is not None
        assert again.kernel.read_bytes() == first.kernel.read_bytes()
        # Without the kept kernel the image is read again, and the bytes are the same.
        kept[0].unlink()
        shutil.rmtree(first.directory)
        events.clear()
        third = asm.assemble(system)
        assert [e.location for e in events.of(ImageCopied) if not e.cached] == ["kernel"]
    assert kept[0].exists()
    assert third.kernel is not None
    assert third.kernel.read_bytes() == first.kernel.read_bytes()
    with Assembler(tmp_path / "alone", section_workers=0) as asm:
        alone = asm.assemble(system)
    assert third.rootfs_sha256 == alone.rootfs_sha256
