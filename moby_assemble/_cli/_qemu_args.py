"""What ``run qemu`` boots and the QEMU command line for it, without running anything.

:func:`find_boot` turns the command's argument into a :class:`KernelBoot` (a kernel with its
initrd or root file system image) or an :class:`ImageBoot` (an ISO or a disk image booted
by firmware), reading only file names and the first bytes of files; :func:`qemu_argv` turns
a :class:`QemuMachine` into QEMU's argument list. Both are pure enough to unit-test with
small files and no QEMU.

Accepted arguments (``P`` is an output's path prefix, e.g. ``out/system``):

=================================  ==========================================================
argument                           boots
=================================  ==========================================================
``P`` with ``P-kernel``,           ``kernel+initrd``: ``-kernel``, ``-initrd``, ``-append``
``P-initrd.img``, ``P-cmdline``
``P`` with ``P-kernel``,           ``kernel+squashfs`` / ``kernel+erofs`` / ``kernel+iso``: the
``P-cmdline`` and                  kernel, the image as the first virtio disk (``/dev/vda``,
``P-squashfs.img`` /               read-only); ``root=/dev/vda rootfstype=… ro`` is added when
``P-erofs.img`` / ``P.iso``        the command line names no ``root=``
an ISO file (``CD001`` at 32 KiB)  as a CD-ROM (``-cdrom``), SeaBIOS or OVMF
a disk image file                  as the boot disk: raw (MBR or GPT), qcow2 (``QFI\\xfb``),
                                   VHD (``conectix``, QEMU's ``vpc``), VMDK (``KDMV``)
``P`` naming exactly one image     that image (``P.iso``, ``P-efi.iso``, ``P-bios.img``, …)
=================================  ==========================================================

UEFI (OVMF) is chosen for images whose name has ``-efi`` (LinuxKit's names for the EFI
formats), ISOs whose El Torito catalog has only UEFI entries, and raw or fixed-VHD disks
with an EFI system partition (``run qemu --uefi``/``--no-uefi`` override; arm64 images
always boot with UEFI, on virtio since Arm's ``virt`` machine has no IDE).

Example::

    >>> boot = KernelBoot(Path("k"), Path("i"), "console=ttyS0")
    >>> qemu_argv(QemuMachine(boot, networking="none"))[:3]
    ['qemu-system-x86_64', '-accel', 'tcg']
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import attrs

from .._errors import ConfigError, MobyAssembleError

__all__ = [
    "DISK_FORMATS",
    "Disk",
    "Firmware",
    "ImageBoot",
    "KernelBoot",
    "QemuMachine",
    "choose_accel",
    "cpu_has_virtualization",
    "detect_image",
    "find_boot",
    "find_firmware",
    "qemu_argv",
]

#: QEMU binary and machine arguments per guest architecture.
_QEMU = {
    "amd64": ("qemu-system-x86_64", ()),
    "arm64": ("qemu-system-aarch64", ("-machine", "virt", "-cpu", "max")),
}
#: ``--format`` values and the QEMU block driver each means.
DISK_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vhd": "vpc", "vpc": "vpc", "vmdk": "vmdk"}
#: Root file system images of the kernel+<image> outputs: file suffix, file system type.
_ROOT_IMAGES = (("-squashfs.img", "squashfs"), ("-erofs.img", "erofs"), (".iso", "iso9660"))
#: Image files an output prefix may name (LinuxKit's names of the image formats).
_IMAGE_SUFFIXES = (
    ".iso", "-efi.iso", "-efi-initrd.iso", "-bios.img", "-efi.img", ".qcow2", "-efi.qcow2",
    ".vhd", ".vmdk", ".img", ".raw",
)  # fmt: skip
#: UEFI firmware per architecture: (code, variables template), variables None when the
#: file is a single image loaded with ``-bios``. Debian: ovmf, qemu-efi-aarch64.
_FIRMWARE = {
    "amd64": (
        (Path("/usr/share/OVMF/OVMF_CODE_4M.fd"), Path("/usr/share/OVMF/OVMF_VARS_4M.fd")),
        (Path("/usr/share/OVMF/OVMF_CODE.fd"), Path("/usr/share/OVMF/OVMF_VARS.fd")),
        (Path("/usr/share/ovmf/OVMF.fd"), None),
        (Path("/usr/share/qemu/OVMF.fd"), None),
    ),
    "arm64": ((Path("/usr/share/AAVMF/AAVMF_CODE.fd"), Path("/usr/share/AAVMF/AAVMF_VARS.fd")),),
}
_FIRMWARE_PACKAGE = {"amd64": "ovmf", "arm64": "qemu-efi-aarch64"}
_ESP = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b").bytes_le
_SECTOR = 512
_ISO_BLOCK = 2048


@attrs.frozen
class Disk:
    """A disk attached as a virtio block device.

    Attributes:
        path: the image file.
        size: create the file with this size (``512M``, ``1G``) if it does not exist.
        format: ``raw`` or ``qcow2``.
    """

    path: Path
    size: str | None = None
    format: str = "raw"

    @classmethod
    def parse(cls, text: str) -> Disk:
        """``PATH[,size=SIZE][,format=raw|qcow2]``.

        Raises:
            ConfigError: an unknown key or format.
        """
        path, *options = text.split(",")
        fields: dict[str, str] = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or key not in ("size", "format") or not value:
                raise ConfigError(
                    f"--disk {text!r}: expected PATH[,size=SIZE][,format=raw|qcow2]", path="--disk"
                )
            fields[key] = value
        fmt = fields.get("format", "raw")
        if fmt not in ("raw", "qcow2"):
            raise ConfigError(f"--disk {text!r}: format must be raw or qcow2", path="--disk")
        if not path:
            raise ConfigError(f"--disk {text!r}: no file name", path="--disk")
        return cls(Path(path), fields.get("size"), fmt)


@attrs.frozen
class KernelBoot:
    """A kernel booted directly (``-kernel``).

    Attributes:
        kernel: the kernel image.
        initrd: the initrd, if any.
        cmdline: the kernel command line.
        root_image: a root file system image attached as the first virtio disk, read-only.
        kind: the output format it came from (for messages).
    """

    kernel: Path
    initrd: Path | None
    cmdline: str
    root_image: Path | None = None
    kind: str = "kernel+initrd"


@attrs.frozen
class ImageBoot:
    """An ISO or disk image booted by the firmware.

    Attributes:
        image: the file.
        format: QEMU's block driver (``raw``, ``qcow2``, ``vpc``, ``vmdk``); ISOs are ``raw``.
        cdrom: attach as a CD-ROM (ISOs) rather than a hard disk.
        efi: the image boots with UEFI (from its name or content), or None if unknown.
    """

    image: Path
    format: str
    cdrom: bool
    efi: bool | None = None


@attrs.frozen
class Firmware:
    """UEFI firmware: read-only code and a writable copy of its variables.

    Attributes:
        code: the firmware code (``-drive if=pflash,readonly=on``), or the single image
            loaded with ``-bios`` when ``variables`` is None.
        variables: the machine's own variable store (a copy of the template), if any.
    """

    code: Path
    variables: Path | None = None


@attrs.frozen
class QemuMachine:
    """What to boot and with what hardware.

    Attributes:
        boot: the kernel or image to boot.
        arch: the guest architecture (``amd64`` or ``arm64``).
        accel: ``kvm`` or ``tcg``.
        memory: MiB of RAM.
        cpus: virtual CPUs.
        disks: more virtio disks (after a kernel output's root image).
        networking: ``user`` (QEMU's NAT, with ``publish`` forwards) or ``none``.
        publish: ``(protocol, host port, guest port)`` forwards.
        firmware: UEFI firmware, or None for the default (SeaBIOS on x86).
    """

    boot: KernelBoot | ImageBoot
    arch: str = "amd64"
    accel: str = "tcg"
    memory: int = 1024
    cpus: int = 1
    disks: tuple[Disk, ...] = ()
    networking: str = "user"
    publish: tuple[tuple[str, int, int], ...] = ()
    firmware: Firmware | None = None


def cpu_has_virtualization(cpuinfo: str, machine: str) -> bool:
    """Whether ``/proc/cpuinfo`` text shows hardware virtualization (x86: ``vmx`` or ``svm``).

    On CPUs without them ``/dev/kvm`` may still open, yet a KVM guest hangs; so both are
    required. Non-x86 hosts have no such flag and count as capable.

    Example::

        >>> cpu_has_virtualization("flags\t: fpu vmx sse", "x86_64")
        True
    """
    if machine not in ("x86_64", "amd64", "i686", "i386"):
        return True
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags" and {"vmx", "svm"} & set(value.split()):
            return True
    return False


def choose_accel(requested: str, kvm: bool) -> str:
    """``kvm`` or ``tcg`` for ``--accel requested`` given whether KVM is usable.

    Example::

        >>> choose_accel("auto", False)
        'tcg'
    """
    if requested == "auto":
        return "kvm" if kvm else "tcg"
    return requested


# -- what the argument names ---------------------------------------------------------------


def _read(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _iso_platforms(path: Path) -> set[int] | None:
    """El Torito platform ids of the ISO's boot entries (0 x86 BIOS, 0xEF UEFI), or None
    when it has no boot record (a root file system ISO, not a bootable one)."""
    record = _read(path, 17 * _ISO_BLOCK, _ISO_BLOCK)
    if record[:7] != b"\0CD001\x01" or not record[7:30].startswith(b"EL TORITO SPECIFICATION"):
        return None
    catalog = _read(path, _u32(record, 0x47) * _ISO_BLOCK, _ISO_BLOCK)
    if len(catalog) < 64 or catalog[0] != 1:
        return None
    platforms: set[int] = set()
    if catalog[32] == 0x88:  # the default entry is bootable, for the validation's platform
        platforms.add(catalog[1])
    offset = 64
    while offset + 32 <= len(catalog) and catalog[offset] in (0x90, 0x91):
        header = catalog[offset : offset + 32]
        count = int(struct.unpack_from("<H", header, 2)[0])
        if count:
            platforms.add(header[1])
        offset += 32 * (count + 1)
        if header[0] == 0x91:
            break
    return platforms


def _raw_disk_efi(path: Path, base: int = 0) -> bool:
    """Whether the raw disk at ``base`` has an EFI system partition (GPT or MBR type 0xEF)."""
    head = _read(path, base, 2 * _SECTOR)
    if len(head) < 2 * _SECTOR:
        return False
    if head[_SECTOR : _SECTOR + 8] == b"EFI PART":
        gpt = head[_SECTOR:]
        first = int(struct.unpack_from("<Q", gpt, 72)[0])
        count, size = _u32(gpt, 80), _u32(gpt, 84)
        if size < 16 or count > 1024:
            return False
        entries = _read(path, base + first * _SECTOR, count * size)
        return any(entries[i : i + 16] == _ESP for i in range(0, len(entries), size))
    return any(head[446 + 16 * i + 4] == 0xEF for i in range(4))


def _looks_efi(path: Path) -> bool:
    return "-efi" in path.name


def detect_image(path: Path, format: str | None = None) -> ImageBoot | None:
    """The ISO or disk image ``path`` is, from its magic bytes (or ``format``), or None.

    Args:
        path: an existing file.
        format: ``iso``, or a :data:`DISK_FORMATS` key, instead of the magic bytes.

    Example::

        >>> detect_image(Path("out/system.iso"))  # doctest: +SKIP
        ImageBoot(image=PosixPath('out/system.iso'), format='raw', cdrom=True, efi=False)
    """
    named_efi = _looks_efi(path)
    if format == "iso":
        return ImageBoot(path, "raw", cdrom=True, efi=named_efi or None)
    if format is not None:
        driver = DISK_FORMATS[format]
        content_efi = _raw_disk_efi(path) if driver == "raw" else False
        return ImageBoot(path, driver, cdrom=False, efi=(named_efi or content_efi) or None)
    head = _read(path, 0, 64)
    size = path.stat().st_size
    if head.startswith(b"QFI\xfb"):
        return ImageBoot(path, "qcow2", cdrom=False, efi=named_efi or None)
    if head.startswith((b"KDMV", b"# Disk DescriptorFile")):
        return ImageBoot(path, "vmdk", cdrom=False, efi=named_efi or None)
    if head.startswith(b"conectix"):  # a dynamic VHD's footer copy leads the file
        return ImageBoot(path, "vpc", cdrom=False, efi=named_efi or None)
    if size >= _SECTOR and _read(path, size - _SECTOR, 8) == b"conectix":
        # A fixed VHD: the raw disk, then the footer.
        return ImageBoot(path, "vpc", cdrom=False, efi=named_efi or _raw_disk_efi(path))
    if _read(path, 16 * _ISO_BLOCK + 1, 5) == b"CD001":
        platforms = _iso_platforms(path)
        if platforms is None:
            return None  # no El Torito: a root file system ISO (kernel+iso), not bootable
        efi = named_efi or (0xEF in platforms and 0 not in platforms)
        return ImageBoot(path, "raw", cdrom=True, efi=efi)
    mbr = _read(path, 510, 2) == b"\x55\xaa"
    if mbr or _read(path, _SECTOR, 8) == b"EFI PART":
        return ImageBoot(path, "raw", cdrom=False, efi=named_efi or _raw_disk_efi(path))
    return None


_EXPECTED = (
    "expected an ISO, a raw/qcow2/VHD/VMDK disk image, or the path prefix P of a "
    "kernel+initrd, kernel+squashfs, kernel+erofs or kernel+iso output (P-kernel, P-cmdline, "
    "and P-initrd.img, P-squashfs.img, P-erofs.img or P.iso)"
)


def _kernel_output(prefix: str, initrd: Path | None) -> KernelBoot:
    kernel = Path(f"{prefix}-kernel")
    cmdline_file = Path(f"{prefix}-cmdline")
    own_initrd = Path(f"{prefix}-initrd.img")
    if own_initrd.is_file():
        found: tuple[Path | None, str, str] = (None, "", "kernel+initrd")
    else:
        for suffix, fstype in _ROOT_IMAGES:
            if Path(f"{prefix}{suffix}").is_file():
                found = (Path(f"{prefix}{suffix}"), fstype, f"kernel+{suffix[1:].split('.')[0]}")
                break
        else:
            raise ConfigError(
                f"{kernel} has no initrd or root image beside it ({_EXPECTED})",
                file=str(own_initrd),
            )
    if not cmdline_file.is_file():
        raise ConfigError(f"no such file ({_EXPECTED})", file=str(cmdline_file))
    cmdline = cmdline_file.read_text().strip()
    root_image, fstype, kind = found
    if root_image is None:
        return KernelBoot(kernel, initrd or own_initrd, cmdline)
    if not any(word.startswith("root=") for word in cmdline.split()):
        # The outputs leave root= to the system; /dev/vda is where the image is attached.
        cmdline = f"{cmdline} root=/dev/vda rootfstype={fstype} ro".strip()
    return KernelBoot(kernel, initrd, cmdline, root_image=root_image, kind=kind)


def _image(path: Path, format: str | None) -> ImageBoot:
    image = detect_image(path, format)
    if image is not None:
        return image
    head = _read(path, 0, 4)
    if (
        head == b"hsqs"
        or _read(path, 1024, 4) == b"\xe2\xe1\xf5\xe0"
        or (_read(path, 16 * _ISO_BLOCK + 1, 5) == b"CD001")
    ):
        raise ConfigError(
            "a root file system image, not a bootable one: boot its kernel+squashfs, "
            "kernel+erofs or kernel+iso output by its prefix (the path before -kernel)",
            file=str(path),
        )
    raise ConfigError(f"not a bootable image ({_EXPECTED})", file=str(path))


def find_boot(
    target: str, *, format: str | None = None, initrd: Path | None = None
) -> KernelBoot | ImageBoot | None:
    """What the local file or output prefix ``target`` boots, or None if nothing is there.

    Args:
        target: a file, or an output's path prefix.
        format: force an image's format (``iso`` or a :data:`DISK_FORMATS` key).
        initrd: an initrd for a kernel+<root image> output (or to replace kernel+initrd's).

    Raises:
        ConfigError: ``target`` exists, or outputs with its prefix do, but it is not
            something QEMU can boot (the message says what was expected).

    Example::

        >>> find_boot("out/system")  # doctest: +SKIP
        KernelBoot(kernel=PosixPath('out/system-kernel'), initrd=..., cmdline='console=ttyS0')
    """
    if format is not None and format != "iso" and format not in DISK_FORMATS:
        choices = ", ".join(("iso", *DISK_FORMATS))
        raise ConfigError(f"--format {format!r}: expected one of {choices}", path="--format")
    if Path(f"{target}-kernel").is_file():
        return _kernel_output(target, initrd)
    path = Path(target)
    if path.is_file():
        return _image(path, format)
    if path.exists():
        raise ConfigError(f"not a file ({_EXPECTED})", file=target)
    images = [Path(f"{target}{s}") for s in _IMAGE_SUFFIXES if Path(f"{target}{s}").is_file()]
    if len(images) == 1:
        return _image(images[0], format)
    if images:
        names = ", ".join(str(p) for p in images)
        raise ConfigError(f"several outputs have this prefix ({names}): name one", file=target)
    return None


def find_firmware(arch: str) -> tuple[Path, Path | None]:
    """The UEFI firmware code for ``arch`` and its variables template (None: one image).

    Raises:
        MobyAssembleError: none installed (the message names the Debian package).

    Example::

        >>> find_firmware("amd64")  # doctest: +SKIP
        (PosixPath('/usr/share/OVMF/OVMF_CODE_4M.fd'), PosixPath('/usr/share/OVMF/OVMF_VARS_4M.fd'))
    """
    for code, variables in _FIRMWARE.get(arch, ()):
        if code.is_file() and (variables is None or variables.is_file()):
            return code, variables
    package = _FIRMWARE_PACKAGE.get(arch)
    places = ", ".join(str(c) for c, _ in _FIRMWARE.get(arch, ()))
    if package is None:
        raise MobyAssembleError(f"--uefi: no UEFI firmware is known for {arch} guests")
    raise MobyAssembleError(
        f"UEFI firmware for {arch} guests is not installed (none of {places}): "
        f"apt-get install {package}"
    )


# -- the command line ------------------------------------------------------------------------


def _boot_args(boot: KernelBoot | ImageBoot, arch: str) -> list[str]:
    if isinstance(boot, KernelBoot):
        argv = ["-kernel", str(boot.kernel)]
        if boot.initrd is not None:
            argv += ["-initrd", str(boot.initrd)]
        argv += ["-append", boot.cmdline]
        if boot.root_image is not None:
            argv += ["-drive", f"file={boot.root_image},format=raw,if=virtio,readonly=on,index=0"]
        return argv
    if arch != "amd64":
        # Arm's virt machine has no IDE: the CD on virtio-scsi, the disk on virtio.
        if boot.cdrom:
            return [
                "-drive", f"file={boot.image},format=raw,if=none,id=cd0,media=cdrom,readonly=on",
                "-device", "virtio-scsi-pci", "-device", "scsi-cd,drive=cd0,bootindex=0",
            ]  # fmt: skip
        return ["-drive", f"file={boot.image},format={boot.format},if=virtio,index=0"]
    if boot.cdrom:
        return ["-cdrom", str(boot.image), "-boot", "order=d"]
    # The boot disk on IDE, as the firmware tests boot it: every firmware and loader knows
    # it, and the --disk devices stay /dev/vda, /dev/vdb.
    return ["-drive", f"file={boot.image},format={boot.format},if=ide,index=0", "-boot", "order=c"]


def _firmware_args(firmware: Firmware) -> list[str]:
    if firmware.variables is None:
        return ["-bios", str(firmware.code)]
    return [
        "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={firmware.code}",
        "-drive", f"if=pflash,format=raw,unit=1,file={firmware.variables}",
    ]  # fmt: skip


def qemu_argv(machine: QemuMachine) -> list[str]:
    """The QEMU command line for ``machine`` (binary name first, not resolved on PATH).

    Raises:
        ConfigError: an architecture ``run qemu`` cannot boot.

    Example::

        >>> m = QemuMachine(KernelBoot(Path("k"), Path("i"), "console=ttyS0"), networking="none")
        >>> qemu_argv(m)[:6]
        ['qemu-system-x86_64', '-accel', 'tcg', '-m', '1024', '-smp']
    """
    if machine.arch not in _QEMU:
        raise ConfigError(
            f"run qemu boots {', '.join(sorted(_QEMU))} guests, not {machine.arch}", path="--arch"
        )
    binary, machine_args = _QEMU[machine.arch]
    argv = [binary, "-accel", machine.accel, "-m", str(machine.memory), "-smp", str(machine.cpus)]
    if machine.accel == "kvm" and machine.arch == "arm64":
        argv += ["-machine", "virt", "-cpu", "host"]
    else:
        argv += list(machine_args)
    argv += ["-nodefaults", "-display", "none", "-serial", "mon:stdio", "-no-reboot"]
    if machine.firmware is not None:
        argv += _firmware_args(machine.firmware)
    argv += _boot_args(machine.boot, machine.arch)
    boot = machine.boot
    if isinstance(boot, KernelBoot):
        first = 0 if boot.root_image is None else 1  # after the root image, /dev/vda
    else:
        first = 1 if machine.arch != "amd64" and not boot.cdrom else 0
    for i, disk in enumerate(machine.disks, start=first):
        argv += ["-drive", f"file={disk.path},format={disk.format},if=virtio,index={i}"]
    if machine.networking == "user":
        forwards = "".join(
            f",hostfwd={proto}::{host}-:{guest}" for proto, host, guest in machine.publish
        )
        argv += ["-netdev", f"user,id=net0{forwards}", "-device", "virtio-net-pci,netdev=net0"]
    argv += ["-device", "virtio-rng-pci"]
    return argv
