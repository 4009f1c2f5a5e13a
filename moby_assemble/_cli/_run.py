"""``run qemu``: boot a built output under QEMU with the console attached, like
``linuxkit run qemu``.

The argument is a built output or a pushed system:

- the path prefix of a ``kernel+initrd`` output (``out/system`` → ``out/system-kernel``,
  ``out/system-initrd.img``, ``out/system-cmdline``), or of a ``kernel+squashfs``,
  ``kernel+erofs`` or ``kernel+iso`` output (the root image becomes ``/dev/vda``);
- an ISO (``iso-bios``, ``iso-efi``, ``iso-efi-initrd``), booted as a CD-ROM;
- a disk image (``raw-bios``, ``raw-efi``, ``qcow2-*``, ``vhd``, ``dynamic-vhd``, ``vmdk``),
  booted as the first disk, its format read from its first bytes (``--format`` overrides);
- the reference of a system pushed with the ``push`` format (its boot files are pulled,
  verified, into a temporary directory).

Images of the EFI formats boot with OVMF (Debian's ``ovmf``), the rest with SeaBIOS;
``--uefi``/``--no-uefi`` decide instead. What is accepted, and the QEMU arguments, are
built in :mod:`._qemu_args`.

KVM is used when ``/dev/kvm`` is usable and the guest has the host's architecture; TCG
(emulation) otherwise. The serial console is QEMU's standard input and output
(``-serial mon:stdio``: Ctrl-A X quits); the command exits with QEMU's exit code.

Example::

    moby-assemble run qemu out/system
    moby-assemble run qemu --mem 2048 --disk data.img,size=1G --publish 8080:80 out/system
    moby-assemble run qemu out/system-efi.qcow2
    moby-assemble run qemu 127.0.0.1:5000/systems/web:1
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
import click

from .._errors import ConfigError, MobyAssembleError
from .._platform import Platform
from ..outputs import pull_system
from ..registry import ImageReference
from ._options import state_of
from ._qemu_args import (
    DISK_FORMATS,
    Disk,
    Firmware,
    ImageBoot,
    KernelBoot,
    QemuMachine,
    choose_accel,
    cpu_has_virtualization,
    find_boot,
    find_firmware,
    qemu_argv,
)
from ._state import CliState

__all__ = [
    "QemuMachine",
    "choose_accel",
    "cpu_has_virtualization",
    "kvm_usable",
    "qemu_argv",
    "run",
]

_QEMU_PACKAGE = {"amd64": "qemu-system-x86", "arm64": "qemu-system-arm"}
_KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
_HOST_KVM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def kvm_usable(arch: str) -> bool:
    """Whether KVM can run a guest of ``arch`` here: same architecture, the CPU has
    vmx/svm, and ``/dev/kvm`` opens and answers the API version QEMU needs (12)."""
    host = os.uname().machine
    if _HOST_KVM_ARCH.get(host) != arch:
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    if not cpu_has_virtualization(cpuinfo, host):
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        import fcntl

        return fcntl.ioctl(fd, _KVM_GET_API_VERSION) == 12
    except OSError:
        return False
    finally:
        os.close(fd)


def _parse_publish(text: str) -> tuple[str, int, int]:
    ports, _, proto = text.partition("/")
    host, sep, guest = ports.partition(":")
    proto = proto or "tcp"
    if not sep or not host.isdigit() or not guest.isdigit() or proto not in ("tcp", "udp"):
        raise ConfigError(
            f"--publish {text!r}: expected HOSTPORT:GUESTPORT[/tcp|udp]", path="--publish"
        )
    return proto, int(host), int(guest)


def _create_disk(disk: Disk) -> None:
    if disk.path.exists() or disk.size is None:
        return
    if disk.format == "qcow2":
        tool = shutil.which("qemu-img")
        if tool is None:
            raise MobyAssembleError(f"creating {disk.path} (qcow2) needs qemu-img")
        subprocess.run([tool, "create", "-q", "-f", "qcow2", str(disk.path), disk.size], check=True)
        return
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    size = disk.size.upper().removesuffix("B")
    try:
        count = int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
    except (ValueError, IndexError):
        raise ConfigError(
            f"--disk {disk.path}: invalid size {disk.size!r}", path="--disk"
        ) from None
    with open(disk.path, "xb") as f:
        f.truncate(count)


@click.group("run")
def run() -> None:
    """Boot a built system locally."""


@run.command("qemu")
@click.argument("target")
@click.option(
    "--accel",
    type=click.Choice(["auto", "kvm", "tcg"]),
    default="auto",
    show_default=True,
    help="KVM when usable ('auto'), or TCG emulation.",
)
@click.option(
    "--mem",
    "memory",
    type=click.IntRange(min=64),
    default=1024,
    show_default=True,
    help="Memory in MiB.",
)
@click.option(
    "--cpus", type=click.IntRange(min=1), default=1, show_default=True, help="Virtual CPUs."
)
@click.option(
    "--disk",
    "disks",
    multiple=True,
    metavar="PATH[,size=SIZE][,format=raw|qcow2]",
    help="Attach a virtio disk, created with SIZE if missing (repeatable).",
)
@click.option(
    "--networking",
    type=click.Choice(["user", "none"]),
    default="user",
    show_default=True,
    help="QEMU user-mode networking (NAT), or no network device.",
)
@click.option(
    "--publish",
    multiple=True,
    metavar="HOSTPORT:GUESTPORT[/tcp|udp]",
    help="Forward a host port to the guest (user networking; repeatable).",
)
@click.option(
    "--append",
    "append",
    default="",
    help="Add to the kernel command line (kernel outputs and pushed systems).",
)
@click.option("--arch", default=None, help="Guest architecture (default: this machine's).")
@click.option(
    "--uefi/--no-uefi",
    "uefi",
    default=None,
    help="Boot with UEFI firmware (OVMF) or without (SeaBIOS). Default: UEFI for the EFI "
    "formats' images (by name, El Torito entries or EFI system partition).",
)
@click.option(
    "--format",
    "image_format",
    type=click.Choice(["iso", *DISK_FORMATS]),
    default=None,
    help="The image's format, instead of reading it from its first bytes (vhd = vpc).",
)
@click.option(
    "--initrd",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Boot a kernel output with this initrd (e.g. one loading the root image's modules).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop QEMU after this many seconds (for CI; exit code 124).",
)
@click.option("--dry-run", is_flag=True, help="Print the QEMU command line and stop.")
@click.pass_context
def run_qemu(
    ctx: click.Context,
    target: str,
    accel: str,
    memory: int,
    cpus: int,
    disks: tuple[str, ...],
    networking: str,
    publish: tuple[str, ...],
    append: str,
    arch: str | None,
    uefi: bool | None,
    image_format: str | None,
    initrd: Path | None,
    timeout: float | None,
    dry_run: bool,
) -> None:
    """Boot a built output under QEMU, the serial console on this terminal (Ctrl-A X quits).

    TARGET is an ISO or disk image file (raw, qcow2, VHD, VMDK), the path prefix of a
    kernel+initrd, kernel+squashfs, kernel+erofs or kernel+iso output (e.g. out/system), or
    the reference of a pushed system.
    """
    state = state_of(ctx)
    guest = Platform.parse(arch).architecture if arch else Platform.host().architecture
    with tempfile.TemporaryDirectory(prefix="moby-assemble-run-") as scratch:
        boot = _locate(state, target, Path(scratch), image_format, initrd)
        if append:
            if not isinstance(boot, KernelBoot):
                raise ConfigError(
                    f"{target} boots through its own boot loader, whose command line is in "
                    "the image: --append applies to kernel outputs",
                    path="--append",
                )
            boot = attrs.evolve(boot, cmdline=f"{boot.cmdline} {append}".strip())
        if uefi is None:
            # Arm's virt machine boots images only through UEFI firmware.
            uefi = isinstance(boot, ImageBoot) and (bool(boot.efi) or guest != "amd64")
        firmware = None
        if uefi:
            firmware_code, template = find_firmware(guest)
            variables = None
            if template is not None:
                variables = Path(scratch, template.name)
                if not dry_run:
                    shutil.copyfile(template, variables)
            firmware = Firmware(firmware_code, variables)
        machine = QemuMachine(
            boot=boot,
            arch=guest,
            accel=choose_accel(accel, accel == "auto" and kvm_usable(guest)),
            memory=memory,
            cpus=cpus,
            disks=tuple(Disk.parse(d) for d in disks),
            networking=networking,
            publish=tuple(_parse_publish(p) for p in publish),
            firmware=firmware,
        )
        argv = qemu_argv(machine)
        if dry_run:
            click.echo(shlex.join(argv))
            return
        binary = shutil.which(argv[0])
        if binary is None:
            package = _QEMU_PACKAGE.get(guest, "qemu-system")
            raise MobyAssembleError(
                f"{argv[0]} is not installed (it boots {guest} systems): apt-get install {package}"
            )
        for disk in machine.disks:
            _create_disk(disk)
        what = boot.kernel.name if isinstance(boot, KernelBoot) else boot.image.name
        firmware_name = "UEFI" if firmware else "BIOS"
        if isinstance(boot, KernelBoot) and not firmware:
            firmware_name = "direct kernel boot"
        state.info(f"booting {what} ({firmware_name}) with {machine.accel}; Ctrl-A X quits")
        code = _run(binary, argv[1:], timeout)
    ctx.exit(code)


def _host_like(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _locate(
    state: CliState, target: str, scratch: Path, image_format: str | None, initrd: Path | None
) -> KernelBoot | ImageBoot:
    boot = find_boot(target, format=image_format, initrd=initrd)
    if boot is not None:
        return boot
    missing = ConfigError(
        f"no such file: {target} nor {target}-kernel (expected an ISO or disk image, the "
        "prefix of a kernel+initrd, kernel+squashfs, kernel+erofs or kernel+iso output, or "
        "the reference of a pushed system)",
        file=target,
    )
    # A path in an existing local directory is a typo, not a Docker Hub repository.
    parent = Path(target).parent
    if parent != Path(".") and parent.is_dir() and not _host_like(target.split("/")[0]):
        raise missing
    try:
        ref = ImageReference.parse(target)
    except MobyAssembleError:
        raise missing from None
    with state.client() as client:
        files = pull_system(client, ref, scratch)
    return KernelBoot(
        files.kernel, initrd or files.initrd, files.cmdline.read_text().strip(), kind="push"
    )


def _run(binary: str, args: Sequence[str], timeout: float | None) -> int:
    # The console is ours: QEMU inherits stdin, stdout and stderr.
    proc = subprocess.Popen([binary, *args])
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 124
    except BaseException:
        proc.kill()
        proc.wait()
        raise
