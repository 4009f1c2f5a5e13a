"""The assembly cache stays bounded: what was not used for a while goes, what was used stays,
and a later assembly rebuilds anything removed, to the same bytes."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from moby_assemble import Container, System
from moby_assemble.assemble import Assembler, prune_cache

from .conftest import Components

DAY = 86400.0


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _systems(components: Components) -> tuple[System, System]:
    one = System(platform="linux/amd64", services=[Container("web", components.web)])
    two = System(platform="linux/amd64", services=[Container("sshd", components.sshd)])
    return one, two


def test_unused_bundles_sections_and_flat_entries_go_used_ones_stay(
    components: Components, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    one, two = _systems(components)
    with Assembler(cache) as asm:
        first = asm.assemble(one)
        second = asm.assemble(two)
        # sshd at another place: its second flattening goes through the flat cache.
        third = asm.assemble(
            System(platform="linux/amd64", services=[Container("ssh", components.sshd)])
        )
    second_digest = second.rootfs_sha256
    flat = sorted((cache / "flat").glob("v2-*.tar"))
    assert len(flat) == 1  # sshd, flattened twice
    sections = sorted((cache / "sections").glob("v2-*.tar"))
    assert len(sections) == 3  # web, sshd, ssh
    for path in (first.directory, second.directory, third.directory, *flat, *sections):
        _age(path, 10 * DAY)
    # Used again since: the first bundle (assembling `one` finds it already there).
    with Assembler(cache) as asm:
        assert asm.assemble(one).directory == first.directory
    # A section a kept bundle is made of stays, however long ago it was used.
    for path in sections:
        _age(path, 10 * DAY)

    dry = prune_cache(cache, older_than=7 * DAY, dry_run=True)
    assert second.directory in dry.removed
    assert first.directory not in dry.removed
    assert dry.freed_bytes >= second.rootfs_size
    assert second.directory.exists()  # a dry run removes nothing

    result = prune_cache(cache, older_than=7 * DAY)
    assert result.removed == dry.removed
    assert not second.directory.exists()
    assert not third.directory.exists()
    assert first.directory.exists()
    assert not any(p.exists() for p in flat)
    kept = sorted((cache / "sections").glob("v2-*.tar"))
    assert [p.stem[3:] for p in kept] == [p.section for p in first.rootfs_parts.parts if p.section]
    assert sorted((cache / "sections").glob("v2-*.json")) == [p.with_suffix(".json") for p in kept]
    assert first.open_rootfs().read() == first.rootfs_tar.read_bytes()

    # Whatever went is made again, to the same bytes.
    with Assembler(cache) as asm:
        again = asm.assemble(two)
    assert again.rootfs_sha256 == second_digest


def test_a_negative_age_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="older_than"):
        prune_cache(tmp_path, older_than=-1)


def test_an_empty_or_missing_cache_prunes_nothing(tmp_path: Path) -> None:
    assert prune_cache(tmp_path / "none", older_than=0).removed == ()


def test_a_killed_writer_of_a_bundles_root_tar_leaves_nothing_behind(
    components: Components, tmp_path: Path
) -> None:
    # rootfs.tar is written into the bundle on first use (hundreds of MB): a writer killed
    # half-way leaves its temporary file there, which the next assembly removes (its lock
    # died with it), while a live writer's (locked) file stays.
    cache = tmp_path / "cache"
    one, _ = _systems(components)
    with Assembler(cache) as asm:
        bundle = asm.assemble(one)
    dead = bundle.directory / ".rootfs.tar.dead.tmp"
    dead.write_bytes(b"half a tar")
    live = bundle.directory / ".rootfs.tar.live.tmp"
    live.write_bytes(b"")
    for path in (dead, live):
        _age(path, 60)
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with Assembler(cache) as asm:
            assert asm.remove_stale() == [dead]
    assert not dead.exists()
    assert live.exists()
    assert bundle.open_rootfs().read() == bundle.rootfs_tar.read_bytes()
