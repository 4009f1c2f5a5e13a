"""Fixtures of the output tests: hand-made bundles, a Debian kernel, a busybox root.

``make_bundle`` builds a value with the attributes output formats read from a real
``Bundle`` (root tar on disk, boot parts, containers), from tar entries written with the
project's own TarWriter. The tests that go through the real Assembler are in
test_assembled.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import pytest

from moby_assemble import Platform
from moby_assemble.layers import EntryType, TarEntry, TarWriter

# Fixtures of other areas, reused here: the schemas, and the assembler's test system
# (component images pushed to the registry, and a LinuxKit YAML using all of them).
from ..assemble.conftest import components, system, system_file  # noqa: F401
from ..runtime_spec.conftest import config_schema  # noqa: F401
from ..store.conftest import image_schema  # noqa: F401

Item = tuple[TarEntry, bytes | None]


@attrs.frozen
class FakeContainer:
    """What output formats read of a container (the real one is assemble.BundleContainer)."""

    stage: str
    name: str
    directory: str
    readonly: bool
    config_json: bytes
    rootfs: str


@attrs.frozen
class FakeBundle:
    """What output formats read of a bundle (the real one is assemble.Bundle)."""

    platform: Platform
    rootfs_tar: Path
    kernel: bytes | Path | None = None
    cmdline: str | None = None
    ucode: Path | None = None
    containers: tuple[FakeContainer, ...] = ()
    source_date_epoch: int = 0

    def open_rootfs(self) -> BinaryIO:
        return open(self.rootfs_tar, "rb")


def write_tar(path: Path, items: Iterable[Item]) -> Path:
    with open(path, "wb") as f, TarWriter(f) as w:
        for entry, data in items:
            w.add(entry, data)
    return path


def d(name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Item:
    return TarEntry(name, EntryType.DIRECTORY, mode=mode, uid=uid, gid=gid, mtime=1000), None


def f(name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Item:
    return TarEntry(name, size=len(data), mode=mode, uid=uid, gid=gid, mtime=2000), data


def sym(name: str, target: str) -> Item:
    return TarEntry(name, EntryType.SYMLINK, mode=0o777, linkname=target, mtime=3000), None


def hard(name: str, target: str) -> Item:
    return TarEntry(name, EntryType.HARDLINK, mode=0o755, linkname=target, mtime=2000), None


def dev(name: str, kind: EntryType, major: int, minor: int, mode: int = 0o600) -> Item:
    return TarEntry(name, kind, mode=mode, devmajor=major, devminor=minor, mtime=4000), None


def config_json(args: Sequence[str] = ("/bin/true",), readonly: bool = False) -> bytes:
    """A small, schema-valid OCI runtime config."""
    doc: dict[str, Any] = {
        "ociVersion": "1.1.0",
        "process": {"args": list(args), "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "root": {"path": "rootfs", "readonly": readonly},
        "linux": {"namespaces": [{"type": "mount"}]},
    }
    return json.dumps(doc, indent=4).encode()


SYSTEM_ITEMS: tuple[Item, ...] = (
    d("boot"),
    f("boot/cmdline", b"console=ttyS0"),
    f("boot/kernel", b"KERNEL"),
    d("bin"),
    f("bin/busybox", b"#!busybox\n" * 50, mode=0o755),
    hard("bin/ls", "bin/busybox"),
    sym("bin/sh", "busybox"),
    d("dev"),
    dev("dev/null", EntryType.CHAR_DEVICE, 1, 3, 0o666),
    dev("dev/sda", EntryType.BLOCK_DEVICE, 8, 0, 0o660),
    (TarEntry("dev/fifo", EntryType.FIFO, mode=0o600), None),
    d("etc"),
    f("etc/motd", b"first\n"),
    f("etc/setuid", b"x", mode=0o4755, uid=7, gid=8),
    d("containers"),
    d("containers/onboot"),
    d("containers/onboot/000-ro"),
    f("containers/onboot/000-ro/config.json", config_json(readonly=True)),
    d("containers/onboot/000-ro/rootfs"),
    d("containers/onboot/000-ro/rootfs/bin"),
    f("containers/onboot/000-ro/rootfs/bin/tool", b"tool-data", mode=0o755),
    hard("containers/onboot/000-ro/rootfs/bin/tool2", "containers/onboot/000-ro/rootfs/bin/tool"),
    d("containers/services"),
    d("containers/services/svc"),
    f("containers/services/svc/config.json", config_json(("/bin/svc",))),
    d("containers/services/svc/lower"),
    f("containers/services/svc/lower/svc", b"svc-binary", mode=0o755),
    d("containers/services/svc/rootfs"),
    d("containers/services/svc/tmp"),
    d("containers/services/shared"),
    f("containers/services/shared/config.json", config_json(("/bin/tool",), readonly=True)),
    d("containers/services/shared/rootfs"),
    f("etc/motd", b"second, the one that counts\n"),
)


def system_containers() -> tuple[FakeContainer, ...]:
    return (
        FakeContainer(
            "onboot", "ro", "containers/onboot/000-ro", True,
            config_json(readonly=True), "containers/onboot/000-ro/rootfs",
        ),
        FakeContainer(
            "services", "svc", "containers/services/svc", False,
            config_json(("/bin/svc",)), "containers/services/svc/lower",
        ),
        FakeContainer(
            "services", "shared", "containers/services/shared", True,
            config_json(("/bin/tool",), readonly=True), "containers/onboot/000-ro/rootfs",
        ),
    )  # fmt: skip


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., FakeBundle]:
    """``make_bundle(items=SYSTEM_ITEMS, **fields)``: a FakeBundle over a fresh root tar."""
    counter = iter(range(1000))

    def make(items: Iterable[Item] = SYSTEM_ITEMS, **fields: Any) -> FakeBundle:
        root = write_tar(tmp_path / f"rootfs-{next(counter)}.tar", items)
        values: dict[str, Any] = {
            "platform": Platform.parse("linux/amd64"),
            "kernel": b"KERNEL",
            "cmdline": "console=ttyS0",
            "containers": system_containers(),
        }
        values.update(fields)
        return FakeBundle(rootfs_tar=root, **values)

    return make


# -- real tools ----------------------------------------------------------------------------


def cpio_list(archive: bytes, verbose: bool = False) -> list[str]:
    """``cpio -t`` (``-tv``) of an uncompressed archive."""
    out = subprocess.run(
        ["cpio", "-tvn" if verbose else "-t", "--quiet"],
        input=archive,
        capture_output=True,
        check=True,
    )
    return out.stdout.decode().splitlines()


def cpio_extract(archive: bytes, directory: Path) -> None:
    """``cpio -idmv`` into ``directory`` (no absolute names, no ownership changes)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["cpio", "-idm", "--quiet", "--no-absolute-filenames", "--no-preserve-owner"],
        input=archive,
        cwd=directory,
        capture_output=True,
        check=True,
    )


# -- a Debian kernel and a busybox root ----------------------------------------------------

_APT_ARCHIVES = Path("/var/cache/apt/archives")
_KERNEL_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / (
    "moby-assemble-tests"
)


def _ar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not an ar archive")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58])
        yield name, data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)


def _vmlinuz_from_deb(deb: Path) -> bytes:
    for name, member in _ar_members(deb.read_bytes()):
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(member)) as tar:
                for info in tar:
                    if info.isfile() and Path(info.name).name.startswith("vmlinuz-"):
                        extracted = tar.extractfile(info)
                        assert extracted is not None
                        return extracted.read()
    raise LookupError(f"no vmlinuz in {deb}")


def _find_kernel_deb(download_dir: Path) -> Path | None:
    for place in (_APT_ARCHIVES, download_dir):
        debs = sorted(place.glob("linux-image-*-cloud-amd64_*_amd64.deb"))
        if debs:
            return debs[-1]
    return None


@pytest.fixture(scope="session")
def debian_kernel() -> Path:
    """A Debian cloud kernel (bzImage) for QEMU boots, extracted in Python from its .deb.

    The .deb comes from apt's cache, or is fetched once with ``apt-get download`` (apt's own
    mirrors); the extracted kernel is cached in ~/.cache/moby-assemble-tests.
    """
    cached = sorted(_KERNEL_CACHE.glob("vmlinuz-*"))
    if cached:
        return cached[-1]
    download = _KERNEL_CACHE / "debs"
    download.mkdir(parents=True, exist_ok=True)
    deb = _find_kernel_deb(download)
    if deb is None:
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.skip("no Debian cloud kernel .deb and no apt-get to download one")
        listing = subprocess.run(
            ["apt-cache", "depends", "linux-image-cloud-amd64"], capture_output=True, text=True
        )
        names = [
            line.split(":", 1)[1].strip()
            for line in listing.stdout.splitlines()
            if line.strip().startswith("Depends:") and "linux-image-" in line
        ]
        package = names[0] if names else "linux-image-cloud-amd64"
        got = subprocess.run([apt, "download", package], cwd=download, capture_output=True)
        deb = _find_kernel_deb(download)
        if got.returncode != 0 or deb is None:
            pytest.skip(f"cannot download a Debian cloud kernel: {got.stderr.decode()[-300:]}")
    assert deb is not None
    target = _KERNEL_CACHE / f"vmlinuz-{deb.name.split('_')[0].removeprefix('linux-image-')}"
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(_vmlinuz_from_deb(deb))
    tmp.rename(target)
    return target


BUSYBOX = Path("/bin/busybox")


def busybox_items(
    init_script: str, applets: Sequence[str] = ("sh", "echo", "poweroff")
) -> list[Item]:
    """Entries of a minimal root: busybox, applet links, /dev/console, and ``/init``."""
    if not BUSYBOX.is_file():
        pytest.skip("busybox-static is not installed")
    items: list[Item] = [
        d("bin"),
        f("bin/busybox", BUSYBOX.read_bytes(), mode=0o755),
        d("dev"),
        dev("dev/console", EntryType.CHAR_DEVICE, 5, 1, 0o600),
        d("proc"),
        d("sys"),
        f("init", init_script.encode(), mode=0o755),
    ]
    items += [sym(f"bin/{a}", "busybox") for a in applets]
    return items
