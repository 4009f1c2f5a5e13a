"""Changing one service and rebuilding: unchanged images are copied from the flat cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from moby_assemble import IntegrityError, System
from moby_assemble.assemble import (
    Assembler,
    AssemblyEvent,
    ImageCopied,
    ImageFlattened,
)
from moby_assemble.registry import BlobStarted

from .conftest import Components, system_yaml


class Recorder:
    def __init__(self) -> None:
        self.events: list[AssemblyEvent] = []

    def __call__(self, event: AssemblyEvent) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def clear(self) -> None:
        self.events.clear()


def with_web(system_file: Path, components: Components, web: str) -> System:
    system_file.write_text(system_yaml(components, web=web))
    return System.from_yaml(system_file, platform="linux/amd64")


def test_changing_one_service_flattens_only_its_image_and_matches_a_cold_build(
    components: Components, system: System, system_file: Path, tmp_path: Path
):
    events = Recorder()
    with Assembler(tmp_path / "warm", progress=events) as asm:
        asm.assemble(system)
        first_flattened = {e.reference for e in events.of(ImageFlattened)}
        assert components.web in first_flattened
        events.clear()

        changed = with_web(system_file, components, components.web2)
        rebuilt = asm.assemble(changed)

    flattened = events.of(ImageFlattened)
    assert [e.reference for e in flattened] == [components.web2]
    copied = events.of(ImageCopied)
    assert {e.reference for e in copied if e.cached} == {
        components.kernel, components.init, components.runc, components.data,
        components.tool, components.shutdown, components.sshd,
    }  # fmt: skip
    assert [e.location for e in copied if not e.cached] == ["services[0]"]
    # only the new image's blobs travelled
    downloaded = {e.reference for e in events.of(BlobStarted)}
    assert downloaded
    assert all(r.startswith(components.web2 + "@") for r in downloaded)

    with Assembler(tmp_path / "cold") as asm:
        cold = asm.assemble(changed)
    assert rebuilt.rootfs_sha256 == cold.rootfs_sha256


def test_changing_only_settings_decompresses_nothing(
    components: Components, system: System, tmp_path: Path
):
    events = Recorder()
    with Assembler(tmp_path / "cache", progress=events) as asm:
        lock = asm.resolve(system)
        asm.assemble(system, lock=lock)
        events.clear()
        changed = system.replace("web", command=["/bin/web", "--verbose"])
        bundle = asm.assemble(changed, lock=lock)
    assert events.of(ImageFlattened) == []
    assert all(e.cached for e in events.of(ImageCopied))
    assert events.of(BlobStarted) == []
    assert bundle.container("web").config["process"]["args"] == ["/bin/web", "--verbose"]


def test_a_corrupt_flat_cache_entry_is_an_integrity_error_and_is_rebuilt(
    components: Components, tmp_path: Path
):
    from moby_assemble import Container

    system = System(platform="linux/amd64", services=[Container("web", components.web)])
    with Assembler(tmp_path / "cache") as asm:
        good = asm.assemble(system)
        good_digest = good.rootfs_sha256
        # The second flatten of an image goes through the flat cache (the first keeps only
        # the root filesystem's section): force one by dropping the sections.
        shutil.rmtree(tmp_path / "cache" / "sections")
        asm.assemble(system)
        digest = good.container("web").manifest_digest
        cached = asm.flat_cache.path_for(digest)
        assert cached.name == f"v2-sha256-{digest.split(':')[1]}.tar"
        pristine = cached.read_bytes()
        for where in (pristine.index(b"#!web\n"), 200):  # file data, then a header
            data = bytearray(pristine)
            data[where] ^= 0xFF
            cached.write_bytes(bytes(data))
            # Without a reusable section of an earlier root filesystem, the flat cache is read.
            shutil.rmtree(tmp_path / "cache" / "sections")
            with pytest.raises(IntegrityError) as info:
                asm.assemble(system)
            assert str(cached) in str(info.value)
            assert not cached.exists()  # dropped, so the next assembly flattens again
            assert not list((tmp_path / "cache" / "bundles").glob(".assembling-*"))
            again = asm.assemble(system)
            assert again.rootfs_sha256 == good_digest
            assert cached.read_bytes() == pristine
