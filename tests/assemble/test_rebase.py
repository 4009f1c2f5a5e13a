"""A new tag whose top layer changed: its section is made from the old one, byte-identical
to flattening the image, and only when the top layers have the same structure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moby_assemble import Container, System
from moby_assemble.assemble import Assembler, ImageCopied, ImageFlattened
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import Image, Layer, LocalRegistry

from .conftest import push_image
from .test_incremental import Recorder

LONG = "usr/share/" + "very-long-directory-name/" * 5 + "file.txt"


def _base() -> Layer:
    layer = Layer().dir("usr").dir("usr/sbin").dir("usr/lib").dir("etc").dir("etc/ssh").dir("dev")
    for i in range(40):
        layer = layer.file(f"usr/lib/lib{i}.so", f"library {i}\n".encode() * (i + 1), mtime=10)
    layer = (
        layer.file("usr/lib/libc.so", b"old libc\n", mtime=10)
        .hardlink("usr/lib/libc.so.6", "usr/lib/libc.so")  # its target is replaced above
        .file("etc/hosts", b"127.0.0.1 base\n")  # left out by LinuxKit's filter
        .symlink("etc/mtab", "/proc/self/mounts")
        .file(LONG, b"long name\n")
        .file("etc/ssh/moduli", b"1 2 3\n", mode=0o600)
    )
    return layer.with_compression("zstd")


def _top(version: int, *, extra: bool = False, whiteout: bool = False) -> Layer:
    layer = (
        Layer()
        .dir("usr")
        .dir("usr/sbin")
        .dir("etc")
        .dir("etc/ssh")
        .file("usr/sbin/sshd", f"sshd version {version}\n".encode() * version, mode=0o755)
        .file("usr/lib/libc.so", f"libc {version}\n".encode(), mtime=version)
        .file("etc/ssh/sshd_config", f"Port {2200 + version}\n".encode())
        .symlink("usr/sbin/ssh", f"sshd-{version}")
        .file("etc/hosts", f"127.0.0.1 v{version}\n".encode())
    )
    if extra:
        layer = layer.file("etc/ssh/extra", b"one more\n")
    if whiteout:
        layer = layer.whiteout("etc/ssh/moduli")
    return layer


@pytest.fixture(scope="module")
def sshd(registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("rebase-images")
    tops = {
        "1": _top(1),
        "2": _top(2).with_compression("zstd"),  # the old top layer is gzip
        "3": _top(3),
        "extra": _top(4, extra=True),
        "whiteout": _top(5, whiteout=True),
    }
    refs = {}
    with RegistryClient() as client:
        for tag, top in tops.items():
            image = Image([_base(), top], config={"Cmd": ["/usr/sbin/sshd"]})
            refs[tag] = push_image(registry, client, image.build(), f"rebase/sshd:{tag}", work)
        # The same image under another name: only the source records change.
        image = Image([_base(), tops["1"]], config={"Cmd": ["/usr/sbin/sshd"]})
        refs["1-again"] = push_image(registry, client, image.build(), "rebase/ssh:other", work)
    return refs


def _system(image: str) -> System:
    return System(
        platform="linux/amd64",
        onboot=[Container("prep", image, readonly=True)],
        services=[Container("sshd", image)],
    )


def _cold(system: System, cache: Path) -> str:
    with Assembler(cache, section_workers=0) as asm:
        return asm.assemble(system).rootfs_sha256


@pytest.mark.parametrize("tag", ["2", "1-again"])
def test_a_new_top_layer_of_the_same_structure_is_rebased_and_equals_a_cold_build(
    sshd: dict[str, str], tmp_path: Path, tag: str
) -> None:
    events = Recorder()
    cache = tmp_path / "cache"
    with Assembler(cache, section_workers=0, progress=events) as asm:
        asm.assemble(_system(sshd["1"]))
        events.clear()
        second = asm.assemble(_system(sshd[tag]))
        assert events.of(ImageFlattened) == []  # neither container's image was flattened
        assert [e.location for e in events.of(ImageCopied)] == ["onboot[0]"]  # services share it
        if tag == "2":  # and a third version is made from the second's sections
            events.clear()
            third = asm.assemble(_system(sshd["3"]))
            assert events.of(ImageFlattened) == []
    assert second.rootfs_sha256 == _cold(_system(sshd[tag]), tmp_path / "cold")
    if tag == "2":
        assert third.rootfs_sha256 == _cold(_system(sshd["3"]), tmp_path / "cold3")
    descriptions = [json.loads(p.read_text()) for p in (cache / "sections").glob("v2-*.json")]
    assert all(doc["origin"]["base"] for doc in descriptions)
    assert len(list((cache / "sections").glob("v2-base-*.key"))) == 1  # one place


@pytest.mark.parametrize("tag", ["extra", "whiteout"])
def test_a_top_layer_of_another_structure_is_flattened(
    sshd: dict[str, str], tmp_path: Path, tag: str
) -> None:
    events = Recorder()
    with Assembler(tmp_path / "cache", section_workers=0, progress=events) as asm:
        asm.assemble(_system(sshd["1"]))
        events.clear()
        second = asm.assemble(_system(sshd[tag]))
    assert [e.reference for e in events.of(ImageFlattened)] == [sshd[tag]]
    assert second.rootfs_sha256 == _cold(_system(sshd[tag]), tmp_path / "cold")


def test_a_damaged_old_section_is_not_rebased_and_is_dropped(
    sshd: dict[str, str], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    events = Recorder()
    with Assembler(cache, section_workers=0, progress=events) as asm:
        asm.assemble(System(platform="linux/amd64", services=[Container("sshd", sshd["1"])]))
        (tar,) = (cache / "sections").glob("v2-*.tar")
        data = bytearray(tar.read_bytes())
        data[len(data) // 2] ^= 0x01
        tar.write_bytes(bytes(data))
        events.clear()
        system = System(platform="linux/amd64", services=[Container("sshd", sshd["2"])])
        second = asm.assemble(system)
    assert [e.reference for e in events.of(ImageFlattened)] == [sshd["2"]]
    assert not tar.exists()
    assert second.rootfs_sha256 == _cold(system, tmp_path / "cold")


@pytest.mark.parametrize("damage", ["gone", "damaged"])
def test_without_a_sound_old_top_layer_in_the_store_the_image_is_flattened(
    sshd: dict[str, str], tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "cache"
    events = Recorder()
    system = System(platform="linux/amd64", services=[Container("sshd", sshd["2"])])
    with Assembler(cache, section_workers=0, progress=events) as asm:
        first = asm.assemble(
            System(platform="linux/amd64", services=[Container("sshd", sshd["1"])])
        )
        manifest = first.container("sshd").manifest_digest
        blobs = cache / "store" / "blobs" / "sha256"
        top = json.loads((blobs / manifest.split(":")[1]).read_bytes())["layers"][-1]["digest"]
        blob = blobs / top.split(":")[1]
        if damage == "gone":
            blob.unlink()
        else:
            data = bytearray(blob.read_bytes())
            data[len(data) // 2] ^= 0x40
            blob.chmod(0o644)
            blob.write_bytes(bytes(data))
        events.clear()
        second = asm.assemble(system)
    assert [e.reference for e in events.of(ImageFlattened)] == [sshd["2"]]
    assert second.rootfs_sha256 == _cold(system, tmp_path / "cold")


def _random_pair(seed: int) -> tuple[Layer, Layer, Layer]:
    """A base and two top layers of the same structure, with the cases that matter: files
    replaced, a directory replaced by a file (its subtree goes), a file replaced by a
    directory, directories re-attributed, hard links whose target is replaced, symlinks."""
    import random

    rng = random.Random(seed)
    base = Layer()
    dirs = [f"d{i}" for i in range(6)]
    for d in dirs:
        base = base.dir(d, mode=rng.choice([0o755, 0o700]), uid=rng.randrange(3))
        for j in range(rng.randrange(3, 12)):
            base = base.file(f"{d}/f{j}", rng.randbytes(rng.randrange(0, 3000)), mtime=j)
        base = base.dir(f"{d}/sub").file(f"{d}/sub/x", b"x")
    base = base.hardlink("d0/link", "d0/f1").symlink("d1/sym", "f0").file("d2/plain", b"p")
    touched = [
        (f"d{rng.randrange(6)}/f{rng.randrange(3)}", "file"),
        ("d3/sub", "file"),  # a directory replaced by a file
        ("d2/plain", "dir"),  # a file replaced by a directory
        ("d4", "dir"),  # re-attributed
        ("new/deep/file", "file"),
        ("d5/sym", "symlink"),
    ]

    def top(version: int) -> Layer:
        layer = Layer()
        for name, kind in dict(touched).items():
            if kind == "file":
                layer = layer.file(name, f"{name} v{version}\n".encode(), mode=0o640 + version)
            elif kind == "dir":
                layer = layer.dir(name, mode=0o750, uid=7)
            else:
                layer = layer.symlink(name, f"target-{version}")
        return layer

    return base, top(1), top(2)


@pytest.mark.parametrize("seed", range(5))
def test_random_layers_rebase_to_the_bytes_of_a_cold_build(
    registry: LocalRegistry, tmp_path: Path, seed: int
) -> None:
    base, one, two = _random_pair(seed)
    with RegistryClient() as client:
        refs = [
            push_image(
                registry,
                client,
                Image([base, top], config={"Cmd": ["/bin/x"]}).build(),
                f"rebase/random{seed}:{tag}",
                tmp_path,
            )
            for tag, top in (("1", one), ("2", two))
        ]
    events = Recorder()
    with Assembler(tmp_path / "cache", section_workers=0, progress=events) as asm:
        asm.assemble(_system(refs[0]))
        events.clear()
        rebased = asm.assemble(_system(refs[1]))
    assert events.of(ImageFlattened) == []
    assert rebased.rootfs_sha256 == _cold(_system(refs[1]), tmp_path / "cold")


def test_cache_gc_removes_a_rebase_pointer_with_its_section(
    sshd: dict[str, str], tmp_path: Path
) -> None:
    import os
    import time

    from moby_assemble.assemble import prune_cache

    cache = tmp_path / "cache"
    with Assembler(cache, section_workers=0) as asm:
        asm.assemble(System(platform="linux/amd64", services=[Container("sshd", sshd["1"])]))
    (pointer,) = (cache / "sections").glob("v2-base-*.key")
    assert prune_cache(cache, older_than=3600).removed == ()  # all in use
    assert pointer.exists()
    then = time.time() - 7200
    for path in [*(cache / "sections").iterdir(), *(cache / "bundles").iterdir()]:
        os.utime(path, (then, then))
    removed = prune_cache(cache, older_than=3600).removed
    assert pointer in removed
    assert list((cache / "sections").iterdir()) == []
