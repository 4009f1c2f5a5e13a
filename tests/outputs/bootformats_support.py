"""Helpers of the boot format tests: a small bootable system, firmware boots, a root shim.

The test system is a busybox root whose ``/init`` prints markers (one of them taken from
the kernel command line, so a format that loses the command line fails) and powers off.
Its root tar also holds the boot loader files where the bootloader components put them
(Debian's paths), copied from this host's Debian packages: the formats find them in the
system, as they would after ``Assembler.assemble``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from moby_assemble import Platform
from moby_assemble.layers import EntryType, TarEntry
from moby_assemble.outputs._boot_media import (
    EFI_STUB,
    EFI_SYSTEMD_BOOT,
    ISOHDPFX_BIN,
    ISOLINUX_BIN,
    LDLINUX_C32,
    MBR_BIN,
    SYSLINUX_PROGRAM,
)
from moby_assemble.testing import boot_qemu

from .conftest import (
    _APT_ARCHIVES,
    _KERNEL_CACHE,
    FakeBundle,
    Item,
    _ar_members,
    busybox_items,
    hard,
    write_tar,
)
from .conftest import f as file_item

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
LOADER_FILES = (
    ISOLINUX_BIN, ISOHDPFX_BIN, LDLINUX_C32, MBR_BIN, EFI_STUB, EFI_SYSTEMD_BOOT, SYSLINUX_PROGRAM,
)  # fmt: skip

MARKER = "MOBY-BOOT-FORMAT-INIT"
CMDLINE_VALUE = "cmdline-reached-init"
CMDLINE = f"console=ttyS0 panic=-1 moby.test={CMDLINE_VALUE}"
#: What every boot of the test system prints: the init marker, and the command line
#: value as init read it from /proc/cmdline.
MARKERS = (MARKER, f"INIT-SAW-{CMDLINE_VALUE}")
EPOCH = 1700000000

INIT = f"""#!/bin/sh
mount -t proc proc /proc
echo {MARKER}
for word in $(cat /proc/cmdline); do
  case "$word" in moby.test=*) echo "INIT-SAW-${{word#moby.test=}}";; esac
done
poweroff -f
"""
APPLETS = ("sh", "echo", "cat", "mount", "poweroff")


def require_loader_files() -> None:
    """Skip unless this host has every boot loader file (naming the Debian packages)."""
    missing = [w for w in LOADER_FILES if not Path("/", w.path).is_file()]
    if missing:
        packages = " ".join(sorted({w.package for w in missing}))
        pytest.skip(f"boot loader files missing: apt-get install {packages}")


def loader_items() -> list[Item]:
    """The boot loader files at their Debian paths, as the bootloader components hold them."""
    require_loader_files()
    items: list[Item] = []
    dirs: set[str] = set()
    for want in LOADER_FILES:
        parent = want.path.rpartition("/")[0]
        parts = parent.split("/")
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            if directory not in dirs:
                dirs.add(directory)
                entry = TarEntry(directory, EntryType.DIRECTORY, mode=0o755, mtime=EPOCH)
                items.append((entry, None))
        items.append(file_item(want.path, Path("/", want.path).read_bytes()))
    return items


def small_system(directory: Path, kernel: Path, *, with_loaders: bool = True) -> FakeBundle:
    """The test system as a bundle: busybox root, its /init, and (by default) boot loaders."""
    items = busybox_items(INIT, applets=APPLETS)
    items.append(hard("bin/true", "bin/busybox"))
    items.append((TarEntry("boot", EntryType.DIRECTORY, mode=0o755), None))
    items.append(file_item("boot/kernel", b"the kernel travels beside the root"))
    if with_loaders:
        items += loader_items()
    directory.mkdir(parents=True, exist_ok=True)
    root = write_tar(directory / "root.tar", items)
    return FakeBundle(
        platform=Platform.parse("linux/amd64"),
        rootfs_tar=root,
        kernel=kernel,
        cmdline=CMDLINE,
        source_date_epoch=EPOCH,
    )


def _drive(image: Path) -> list[str]:
    kind = {
        ".iso": "media=cdrom,readonly=on",
        ".img": "format=raw",
        ".qcow2": "format=qcow2",
        ".vhd": "format=vpc",
        ".vmdk": "format=vmdk",
    }[image.suffix]
    return ["-drive", f"file={image},{kind},if=ide"]


def boot_firmware(image: Path, *, efi: bool, scratch: Path, timeout: float = 150) -> str:
    """Boot ``image`` from SeaBIOS or OVMF under TCG; return the serial console."""
    args = [
        "timeout", str(timeout), "qemu-system-x86_64", "-accel", "tcg", "-m", "512",
        "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
    ]  # fmt: skip
    if efi:
        if not (OVMF_CODE.is_file() and OVMF_VARS.is_file()):
            pytest.skip("OVMF is missing (Debian package ovmf)")
        variables = scratch / f"vars-{image.name}.fd"
        shutil.copy(OVMF_VARS, variables)
        args += [
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={variables}",
        ]  # fmt: skip
    args += _drive(image)
    done = subprocess.run(args, capture_output=True, check=False)
    return done.stdout.decode(errors="replace")


# -- a root file system image mounted by a small initrd ------------------------------------

SHIM_MODULES = {
    "squashfs": ("squashfs",),
    "erofs": ("libcrc32c", "erofs"),
    "iso9660": ("cdrom", "isofs"),
}
_VIRTIO = (
    "virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
    "virtio_blk",
)  # fmt: skip
SHIM_INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for m in {modules}; do insmod /modules/$m.ko || echo SHIM-INSMOD-FAILED-$m; done
for i in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
mkdir -p /newroot
mount -t {fstype} -o ro /dev/vda /newroot || echo SHIM-MOUNT-FAILED
umount /proc
exec switch_root /newroot /init
"""


def _kernel_deb() -> Path | None:
    for place in (_APT_ARCHIVES, _KERNEL_CACHE / "debs"):
        debs = sorted(place.glob("linux-image-*-cloud-amd64_*_amd64.deb"))
        if debs:
            return debs[-1]
    return None


def _modules(names: Sequence[str]) -> dict[str, bytes]:
    deb = _kernel_deb()
    if deb is None:
        pytest.skip("the Debian cloud kernel .deb (for its modules) is not in apt's cache")
    found: dict[str, bytes] = {}
    for member, data in _ar_members(deb.read_bytes()):
        if member.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for info in tar:
                    stem = Path(info.name).name.removesuffix(".ko")
                    if info.isfile() and info.name.endswith(".ko") and stem in names:
                        extracted = tar.extractfile(info)
                        assert extracted is not None
                        found[stem] = extracted.read()
    missing = set(names) - set(found)
    assert not missing, f"{deb} lacks modules {missing}"
    return found


def shim_initrd(directory: Path, fstype: str) -> Path:
    """An initrd that mounts /dev/vda as ``fstype`` and switches to it (Debian's kernel has
    the file systems and virtio as modules; LinuxKit's kernels have them built in)."""
    from moby_assemble.outputs import write_initrd

    names = (*_VIRTIO, *SHIM_MODULES[fstype])
    modules = _modules(names)
    init = SHIM_INIT.format(modules=" ".join(names), fstype=fstype)
    applets = ("sh", "echo", "mount", "umount", "insmod", "mkdir", "seq", "sleep", "switch_root")
    items = busybox_items(init, applets=applets)
    items.append((TarEntry("modules", EntryType.DIRECTORY, mode=0o755), None))
    items += [file_item(f"modules/{name}.ko", data) for name, data in modules.items()]
    directory.mkdir(parents=True, exist_ok=True)
    root = write_tar(directory / f"shim-{fstype}.tar", items)
    initrd = directory / f"shim-{fstype}.img"
    with open(initrd, "wb") as out:
        write_initrd(root, out, compression="gzip")
    return initrd


def boot_rootfs_image(kernel: Path, cmdline: str, image: Path, shim: Path) -> str:
    """Boot ``kernel`` with the shim, the root image as a virtio disk; return the console."""
    result = boot_qemu(
        kernel,
        shim,
        cmdline=cmdline,
        markers=MARKERS,
        timeout=150,
        extra_args=["-drive", f"file={image},format=raw,if=virtio,readonly=on"],
    )
    return result.console
