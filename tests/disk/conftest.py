"""Helpers of the disk tests: the real tools that read what the writers wrote.

Every checker is a real peer (dosfstools, mtools, util-linux, gdisk, qemu-utils,
squashfs-tools, erofs-utils, xorriso). A test whose tool is missing is skipped and says
which Debian package brings it.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

#: The Debian package of each tool the tests call.
PACKAGES = {
    "fsck.fat": "dosfstools",
    "mdir": "mtools",
    "mcopy": "mtools",
    "sfdisk": "fdisk",
    "sgdisk": "gdisk",
    "qemu-img": "qemu-utils",
    "unsquashfs": "squashfs-tools",
    "tar2sqfs": "squashfs-tools-ng",
    "mkfs.erofs": "erofs-utils",
    "fsck.erofs": "erofs-utils",
    "dump.erofs": "erofs-utils",
    "xorriso": "xorriso",
    "isoinfo": "genisoimage",
    "objdump": "binutils",
}


def require(*tools: str) -> None:
    """Skip the calling test unless every tool is installed."""
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package {PACKAGES.get(tool, tool)})")


def run(*args: str | os.PathLike[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a tool; on failure the assertion shows its output."""
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env={**os.environ, "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"},
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, (
            f"{args}: rc {result.returncode}\n{result.stdout}{result.stderr}"
        )
    return result


def sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def extract(path: Path, offset: int, size: int, target: Path) -> Path:
    """Copy ``size`` bytes at ``offset`` of ``path`` into ``target`` (a partition image)."""
    with open(path, "rb") as source, open(target, "wb") as out:
        source.seek(offset)
        remaining = size
        while remaining:
            chunk = source.read(min(remaining, 1 << 20))
            assert chunk, f"{path} ends before {offset + size}"
            out.write(chunk)
            remaining -= len(chunk)
    return target


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    """A 3 MB file of pseudo-random bytes (the same every run)."""
    path = tmp_path / "payload.bin"
    path.write_bytes(random.Random(8).randbytes(3_000_000))
    return path


@pytest.fixture
def raw_disk(tmp_path: Path, payload: Path) -> Path:
    """A 40 MiB raw GPT disk: an ESP (FAT32) holding the payload, a Linux partition with
    scattered data, zeros elsewhere; sparse where it is zero."""
    from moby_assemble.disk import (
        GPT_ESP,
        FatFile,
        GptPartition,
        plan_gpt,
        write_fat,
        write_gpt,
    )

    layout = plan_gpt(
        (GptPartition("ESP", 34 << 20, GPT_ESP), GptPartition("data", 4 << 20)),
        seed="raw-disk",
        disk_size=40 << 20,
    )
    path = tmp_path / "disk.img"
    with open(path, "wb") as f:
        esp, data = layout.partitions
        write_fat(f, (FatFile("EFI/BOOT/BOOTX64.EFI", payload),), size=esp.size, offset=esp.offset)
        rng = random.Random(1)
        for at in (0, 70_000, 1 << 20, (2 << 20) + 3, data.size - 512):
            f.seek(data.offset + at)
            f.write(rng.randbytes(512))
        write_gpt(f, layout)
    return path


@pytest.fixture
def system_tar(tmp_path: Path) -> Path:
    """A small root tar written by the project's TarWriter: directories, files with owners
    and setuid bits, a hard link, a symlink, device nodes, a FIFO and an xattr."""
    from moby_assemble.layers import EntryType, TarEntry, TarWriter

    items: list[tuple[TarEntry, bytes | None]] = [
        (TarEntry("bin", EntryType.DIRECTORY, mode=0o755, mtime=1000), None),
        (TarEntry("bin/busybox", size=500, mode=0o755, mtime=2000), b"#!busybox\n" * 50),
        (TarEntry("bin/ls", EntryType.HARDLINK, linkname="bin/busybox", mtime=2000), None),
        (TarEntry("bin/sh", EntryType.SYMLINK, mode=0o777, linkname="busybox", mtime=3000), None),
        (TarEntry("dev", EntryType.DIRECTORY, mode=0o755, mtime=1000), None),
        (TarEntry("dev/null", EntryType.CHAR_DEVICE, mode=0o666, devmajor=1, devminor=3), None),
        (TarEntry("dev/sda", EntryType.BLOCK_DEVICE, mode=0o660, devmajor=8, devminor=0), None),
        (TarEntry("dev/fifo", EntryType.FIFO, mode=0o600), None),
        (TarEntry("etc", EntryType.DIRECTORY, mode=0o755, mtime=1000), None),
        (TarEntry("etc/setuid", size=1, mode=0o4755, uid=7, gid=8, mtime=2000), b"x"),
        (
            TarEntry(
                "etc/capable",
                size=4,
                mode=0o755,
                mtime=2000,
                pax=(("SCHILY.xattr.user.marker", "hello"),),
            ),
            b"caps",
        ),
    ]
    path = tmp_path / "system.tar"
    with open(path, "wb") as f, TarWriter(f) as writer:
        for entry, data in items:
            writer.add(entry, data)
    return path
