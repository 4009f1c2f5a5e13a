"""Assembler.resolve against the real registry: pins per platform, deterministic, cheap."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble import Container, Platform, PlatformError, System
from moby_assemble.assemble import Assembler
from moby_assemble.registry import ImageReference

from ..assemble.conftest import Components

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")


def index_entries(components: Components) -> dict[str, str]:
    """platform -> manifest digest, as the multi-platform test index lists them."""
    index = components.multi_set.json()
    return {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index["manifests"]
        if m["platform"]["os"] != "unknown"
    }


def test_resolve_pins_every_platform_of_a_multi_platform_system(
    components: Components, tmp_path: Path
):
    system = System(
        platforms=["linux/amd64", "linux/arm64"],
        onboot=[Container("m", components.multi)],
        services=[Container("again", components.multi)],
    )
    with Assembler(tmp_path / "cache") as asm:
        lock = asm.resolve(system)
    assert lock.platforms == (AMD64, ARM64)
    multi = lock.image(components.multi)
    assert multi is not None
    assert multi.digest == components.multi_set.descriptor.digest
    assert multi.media_type == "application/vnd.oci.image.index.v1+json"
    assert dict(multi.manifests) == index_entries(components)
    lock.check(system)
    assert lock.made_from(system)


def test_a_single_platform_image_fails_for_another_platform_naming_what_it_has(
    components: Components, tmp_path: Path
):
    system = System(
        platforms=["linux/amd64", "linux/arm64"], services=[Container("w", components.web)]
    )
    with Assembler(tmp_path / "cache") as asm, pytest.raises(PlatformError) as info:
        asm.resolve(system)
    assert info.value.wanted == "linux/arm64"
    assert info.value.available == ("linux/amd64",)
    assert components.web.split(":")[0] in str(info.value)


def test_resolving_twice_gives_the_same_bytes_and_fetches_no_layer(
    components: Components, system: System, tmp_path: Path
):
    with Assembler(tmp_path / "one") as asm:
        first = asm.resolve(system)
        store = asm.store
        for reference in system.image_references():
            locked = first.image(reference)
            assert locked is not None
            manifest = locked.manifest_for(AMD64)
            assert manifest is not None
            # manifests (and single-image configs) may be cached; layers never are
            assert store.has_blob(manifest)
    with Assembler(tmp_path / "two") as asm:
        second = asm.resolve(system)
    assert first.to_json() == second.to_json()
    layers = [
        p for p in (tmp_path / "one" / "store" / "blobs" / "sha256").iterdir()
        if p.stat().st_size > 0 and p.read_bytes()[:2] == b"\x1f\x8b"
    ]  # fmt: skip
    assert layers == []


def test_the_lock_pins_the_tag_as_it_was(components: Components, registry, tmp_path: Path):
    """Re-tagging after resolving does not change what a locked assembly uses."""
    from moby_assemble.registry import RegistryClient
    from moby_assemble.registry._push import push_from_store

    tag = f"{registry.host}/asm/moving:1"
    system = System(platform="linux/amd64", services=[Container("web", tag)])
    with Assembler(tmp_path / "cache") as asm, RegistryClient() as client:
        # both images into the store, then copy web:1 to the moving tag and lock it
        for name, reference in (("one", components.web), ("two", components.web2)):
            asm.assemble(System(platform="linux/amd64", services=[Container(name, reference)]))
        one = asm.store.resolve(ImageReference.parse(components.web).name + ":1")
        two = asm.store.resolve(ImageReference.parse(components.web2).name + ":2")
        moving = ImageReference.parse(tag)
        push_from_store(client, asm.store, one, moving)
        lock = asm.resolve(system)
        # now the tag moves on
        push_from_store(client, asm.store, two, moving)
        bundle = asm.assemble(system, lock=lock)
        assert bundle.container("web").manifest_digest == one.digest
        fresh = asm.assemble(system)
        assert fresh.container("web").manifest_digest == two.digest
