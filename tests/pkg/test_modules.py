"""modules.dep and modules.alias in Python, compared with the real `busybox depmod`."""

from __future__ import annotations

import lzma
import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard

from moby_assemble import LayerError
from moby_assemble.pkg import depmod, read_modinfo

from .conftest import elf_module

VERSION = "6.1.0-test"

MODULES = {
    "kernel/drivers/virtio/virtio.ko": elf_module("virtio", aliases=("virtio:d*v*",)),
    "kernel/drivers/virtio/virtio_ring.ko": elf_module("virtio_ring", depends="virtio"),
    "kernel/drivers/virtio/virtio_pci.ko": elf_module(
        "virtio_pci", depends="virtio,virtio_ring", aliases=("pci:v00001AF4d*sv*sd*bc*sc*i*",)
    ),
    "kernel/net/core/failover.ko": elf_module("failover"),
    "kernel/drivers/net/net_failover.ko": elf_module("net_failover", depends="failover"),
    "kernel/drivers/net/virtio_net.ko": elf_module(
        "virtio_net",
        depends="net_failover,virtio,virtio_ring",
        aliases=("virtio:d00000001v*",),
    ),
    "kernel/fs/overlayfs/overlay.ko": elf_module("overlay", aliases=("fs-overlay",)),
    "kernel/drivers/hid/hid-generic.ko": elf_module("hid_generic", depends="hid"),
    "kernel/drivers/hid/hid.ko": elf_module("hid"),
}


def parse_dep(text: str) -> dict[str, list[str]]:
    out = {}
    for line in text.splitlines():
        path, _, deps = line.partition(":")
        out[path] = deps.split()
    return out


def assert_load_order(dep: dict[str, list[str]]) -> None:
    """modprobe loads a module's list from the end: every module must come before what it
    needs, i.e. each listed module's own dependencies appear after it."""
    for path, deps in dep.items():
        for i, needed in enumerate(deps):
            for sub in dep[needed]:
                assert sub in deps[i + 1 :], (path, needed, sub)


def test_modinfo_is_read_from_the_elf_section() -> None:
    info = dict(read_modinfo(MODULES["kernel/drivers/net/virtio_net.ko"], path="virtio_net.ko"))
    assert info["name"] == "virtio_net"
    assert info["depends"] == "net_failover,virtio,virtio_ring"


def test_compressed_modules_are_read_in_memory() -> None:
    raw = MODULES["kernel/drivers/virtio/virtio_ring.ko"]
    for suffix, data in (
        (".ko.xz", lzma.compress(raw)),
        (".ko.zst", zstandard.ZstdCompressor().compress(raw)),
    ):
        assert dict(read_modinfo(data, path=f"virtio_ring{suffix}"))["depends"] == "virtio"


def test_depmod_lists_transitive_dependencies_in_load_order() -> None:
    dep_bytes, alias_bytes = depmod(MODULES, version=VERSION)
    dep = parse_dep(dep_bytes.decode())
    assert list(dep) == sorted(MODULES)
    assert set(dep["kernel/drivers/net/virtio_net.ko"]) == {
        "kernel/drivers/net/net_failover.ko",
        "kernel/net/core/failover.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
    }
    assert dep["kernel/fs/overlayfs/overlay.ko"] == []
    assert dep["kernel/drivers/hid/hid-generic.ko"] == ["kernel/drivers/hid/hid.ko"]
    assert_load_order(dep)
    assert "alias fs-overlay overlay" in alias_bytes.decode().splitlines()


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
def test_depmod_agrees_with_busybox_depmod(tmp_path: Path) -> None:
    base = tmp_path / "lib/modules" / VERSION
    for path, data in MODULES.items():
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        (base / path).write_bytes(data)
    subprocess.run(["busybox", "depmod", "-b", str(tmp_path), VERSION], check=True, timeout=60)
    ours_dep, ours_alias = depmod(MODULES, version=VERSION)
    theirs = parse_dep((base / "modules.dep").read_text())
    ours = parse_dep(ours_dep.decode())
    assert {k: set(v) for k, v in ours.items()} == {k: set(v) for k, v in theirs.items()}
    assert set(ours_alias.decode().splitlines()) == set(
        (base / "modules.alias").read_text().splitlines()
    )


def test_missing_dependency_names_both_modules() -> None:
    modules = {"kernel/a.ko": elf_module("a", depends="b")}
    with pytest.raises(LayerError, match=r"kernel/a\.ko depends on 'b'"):
        depmod(modules, version=VERSION)


def test_not_elf_is_a_layer_error() -> None:
    with pytest.raises(LayerError, match="not an ELF file"):
        read_modinfo(b"#!/bin/sh\n" * 10, path="kernel/fake.ko")
    with pytest.raises(LayerError, match="malformed ELF"):
        read_modinfo(elf_module("x")[:120], path="kernel/short.ko")


def test_dependency_cycles_do_not_hang() -> None:
    modules = {
        "kernel/a.ko": elf_module("a", depends="b"),
        "kernel/b.ko": elf_module("b", depends="a"),
    }
    dep = parse_dep(depmod(modules)[0].decode())
    assert dep["kernel/a.ko"] == ["kernel/b.ko"]
