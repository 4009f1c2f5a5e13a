"""The Linux kernel itself reads what the writers wrote: a Debian kernel under QEMU mounts
the EROFS and squashfs images and the FAT partition of a GPT disk, and reports each file."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest

from moby_assemble.disk import (
    GPT_ESP,
    FatFile,
    GptPartition,
    plan_gpt,
    write_erofs,
    write_fat,
    write_gpt,
    write_squashfs,
)
from moby_assemble.layers import EntryType, TarEntry
from moby_assemble.outputs import write_initrd
from moby_assemble.testing import boot_qemu, qemu_available

from ..outputs.conftest import (  # noqa: F401
    _KERNEL_CACHE,
    _ar_members,
    _find_kernel_deb,
    busybox_items,
    debian_kernel,
    f,
    write_tar,
)
from .conftest import require

pytestmark = pytest.mark.slow

MODULES = (
    "virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
    "virtio_blk", "libcrc32c", "erofs", "squashfs", "fat", "vfat", "nls_cp437", "nls_ascii",
)  # fmt: skip
APPLETS = ("sh", "echo", "poweroff", "insmod", "mount", "mkdir", "stat", "md5sum", "find", "sleep")
LONG_NAME = "a long name, ünïcode-名前.txt"

INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for m in {modules}; do insmod /modules/$m.ko || echo INSMOD-FAILED-$m; done
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vdc1 ] && break; sleep 0.2; done
mkdir -p /mnt/erofs /mnt/squashfs /mnt/fat
mount -t erofs -o ro /dev/vda /mnt/erofs || echo MOUNT-FAILED-erofs
mount -t squashfs -o ro /dev/vdb /mnt/squashfs || echo MOUNT-FAILED-squashfs
mount -t vfat -o ro,utf8 /dev/vdc1 /mnt/fat || echo MOUNT-FAILED-fat
for fs in erofs squashfs fat; do
  cd /mnt/$fs && find . | while read -r p; do
    sum=$( [ -f "$p" ] && md5sum < "$p" | cut -c1-32)
    echo "ENTRY|$fs|$p|$(stat -c '%a|%u|%g|%h|%F|%t:%T' "$p")|$sum"
  done
done
echo ALL-DONE
poweroff -f
"""


def _module_files(deb: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for name, member in _ar_members(deb.read_bytes()):
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(member)) as tar:
                for info in tar:
                    stem = Path(info.name).name.removesuffix(".ko")
                    if info.isfile() and info.name.endswith(".ko") and stem in MODULES:
                        data = tar.extractfile(info)
                        assert data is not None
                        found[stem] = data.read()
    return found


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _entries(console: str) -> dict[tuple[str, str], list[str]]:
    lines = re.findall(r"ENTRY\|([^|\r\n]*)\|([^|\r\n]*)\|([^\r\n]*)", console)
    return {(fs, path): rest.split("|") for fs, path, rest in lines}


def test_the_kernel_mounts_erofs_squashfs_and_a_fat_partition_on_gpt(
    debian_kernel: Path,  # noqa: F811
    system_tar: Path,
    payload: Path,
    tmp_path: Path,
) -> None:
    if not qemu_available():
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    require("tar2sqfs")
    deb = _find_kernel_deb(_KERNEL_CACHE / "debs")
    if deb is None:  # the kernel was cached, its .deb removed since
        pytest.skip("the Debian cloud kernel .deb (for its modules) is gone from the caches")
    modules = _module_files(deb)
    assert sorted(modules) == sorted(MODULES)

    erofs = tmp_path / "system.erofs"
    write_erofs(system_tar, erofs, seed="kernel")
    squashfs = tmp_path / "system.squashfs"
    write_squashfs(system_tar, squashfs, compression="zstd")
    files = (FatFile("EFI/BOOT/BOOTX64.EFI", payload), FatFile(LONG_NAME, b"fat\n"))
    layout = plan_gpt((GptPartition("ESP", 40 << 20, GPT_ESP),), seed="kernel")
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as out:
        esp = layout.partitions[0]
        write_fat(out, files, size=esp.size, offset=esp.offset, label="ESP", epoch=1700000000)
        write_gpt(out, layout)

    init = INIT.format(modules=" ".join(MODULES))
    items = busybox_items(init, applets=(*APPLETS, "cut"))
    items += [(TarEntry("modules", EntryType.DIRECTORY, mode=0o755), None)]
    items += [f(f"modules/{name}.ko", data) for name, data in modules.items()]
    items += [(TarEntry(d, EntryType.DIRECTORY, mode=0o755), None) for d in ("mnt", "tmp")]
    root = write_tar(tmp_path / "root.tar", items)
    initrd = tmp_path / "initrd.img"
    with open(initrd, "wb") as out:
        write_initrd(root, out, compression="gzip")

    drives = []
    for image in (erofs, squashfs, disk):
        drives += ["-drive", f"file={image},format=raw,if=virtio,readonly=on"]
    result = boot_qemu(debian_kernel, initrd, markers=["ALL-DONE"], timeout=180, extra_args=drives)
    console = result.console
    assert "ALL-DONE" in console, console[-3000:]
    assert "FAILED" not in console, console[-3000:]
    entries = _entries(console)
    for fs in ("erofs", "squashfs"):
        mode, _, _, links, kind, _, md5 = entries[(fs, "./bin/busybox")]
        assert (mode, links, kind, md5) == ("755", "2", "regular file", _md5(b"#!busybox\n" * 50))
        assert entries[(fs, "./bin/ls")][3] == "2"
        assert entries[(fs, "./etc/setuid")][:3] == ["4755", "7", "8"], fs
        assert entries[(fs, "./bin/sh")][4] == "symbolic link"
        assert entries[(fs, "./dev/null")][4:6] == ["character special file", "1:3"], fs
        assert entries[(fs, "./dev/sda")][4:6] == ["block special file", "8:0"], fs
        assert entries[(fs, "./dev/fifo")][4] == "fifo"
    payload_md5 = hashlib.md5(payload.read_bytes(), usedforsecurity=False).hexdigest()
    assert entries[("fat", "./EFI/BOOT/BOOTX64.EFI")][-1] == payload_md5
    assert (
        entries[("fat", f"./{LONG_NAME}")][-1]
        == hashlib.md5(b"fat\n", usedforsecurity=False).hexdigest()
    )
