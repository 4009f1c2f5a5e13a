"""Assembling with a lock never asks a registry anything once the store holds the images."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble import Container, LockMismatchError, OfflineError, RegistryError, System
from moby_assemble.assemble import Assembler
from moby_assemble.registry import ImageReference, RegistryClient, RetryPolicy
from moby_assemble.registry._push import push_from_store
from moby_assemble.testing import FaultProxy, LocalRegistry

from ..assemble.conftest import Components, system_yaml


def via(proxy: FaultProxy, reference: str) -> str:
    """The same image, addressed through the proxy."""
    return proxy.host + reference[reference.index("/") :]


def proxied_system(components: Components, proxy: FaultProxy, directory: Path) -> System:
    text = system_yaml(components)
    for reference in {
        components.kernel, components.init, components.runc, components.tool,
        components.shutdown, components.web, components.sshd, components.data,
    }:  # fmt: skip
        text = text.replace(reference, via(proxy, reference))
    (directory / "assets").mkdir(parents=True, exist_ok=True)
    (directory / "assets" / "banner.txt").write_text("banner\n")
    (directory / "linuxkit.yml").write_text(text)
    return System.from_yaml(directory / "linuxkit.yml", platform="linux/amd64")


def test_a_locked_assembly_with_a_warm_store_sends_no_request(
    components: Components, registry: LocalRegistry, tmp_path: Path
):
    with FaultProxy(registry.url) as proxy:
        system = proxied_system(components, proxy, tmp_path / "config")
        with Assembler(tmp_path / "cache") as asm:
            lock = asm.resolve(system)
            first = asm.assemble(system, lock=lock)
            assert proxy.requests  # the first assembly fetched what it needed
            proxy.clear_log()
            again = asm.assemble(system, lock=lock)
            assert proxy.requests == ()
        assert again.rootfs_sha256 == first.rootfs_sha256


def test_a_locked_assembly_works_with_the_registry_gone(components: Components, tmp_path: Path):
    with LocalRegistry(tmp_path / "registry") as own, FaultProxy(own.url) as proxy:
        # a private copy of every image, behind a proxy we can switch off
        with Assembler(tmp_path / "seed") as seed, RegistryClient() as client:
            seed_system = System.from_yaml(system_yaml(components), platform="linux/amd64")
            seed.resolve(seed_system)
            seed.assemble(seed_system.without("etc/banner").without("etc/absent"))
            for reference in seed_system.image_references():
                ref = ImageReference.parse(reference)
                desc = seed.store.resolve(f"{ref.name}:{ref.tag}")
                push_from_store(
                    client, seed.store, desc, ImageReference.parse(via(proxy, reference))
                )
        system = proxied_system(components, proxy, tmp_path / "config")
        with Assembler(tmp_path / "cache") as asm:
            lock = asm.resolve(system)
            built = asm.assemble(system, lock=lock)
    # registry and proxy are stopped now; a client that gives up at once keeps this fast
    client = RegistryClient(retry=RetryPolicy(attempts=1))
    with client, Assembler(tmp_path / "cache", client=client) as asm:
        rebuilt = asm.assemble(system, lock=lock)
        assert rebuilt.rootfs_sha256 == built.rootfs_sha256
        with pytest.raises(RegistryError):
            asm.assemble(system)  # without the lock it must ask what the tags mean
    with Assembler(tmp_path / "cache", offline=True) as offline:
        assert offline.assemble(system, lock=lock).rootfs_sha256 == built.rootfs_sha256


def test_offline_with_an_empty_store_names_the_missing_image(
    components: Components, tmp_path: Path
):
    system = System(platform="linux/amd64", services=[Container("web", components.web)])
    with Assembler(tmp_path / "warm") as asm:
        lock = asm.resolve(system)
    with Assembler(tmp_path / "cold", offline=True) as asm, pytest.raises(OfflineError) as info:
        asm.assemble(system, lock=lock)
    assert components.web.split(":")[0] in str(info.value)


def test_assembling_with_a_stale_lock_is_a_mismatch_before_anything_is_fetched(
    components: Components, tmp_path: Path
):
    system = System(platform="linux/amd64", services=[Container("web", components.web)])
    with Assembler(tmp_path / "cache") as asm:
        lock = asm.resolve(system)
        changed = system.replace("web", image=components.web2)
        with pytest.raises(LockMismatchError) as info:
            asm.assemble(changed, lock=lock)
        assert info.value.differences == (
            f"services[0].image: {components.web2} is not in the lock",
        )
        assert not (tmp_path / "cache" / "flat").exists()
