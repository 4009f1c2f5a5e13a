"""``run qemu``: boot a built system under QEMU with the console attached, like
``linuxkit run qemu``.

The system is the ``kernel+initrd`` output of ``build`` named by its path prefix
(``out/system`` → ``out/system-kernel``, ``out/system-initrd.img``, ``out/system-cmdline``),
or a system pushed with the ``push`` format, named by its reference (its boot files are
pulled, verified, into a temporary directory).

KVM is used when ``/dev/kvm`` is usable and the guest has the host's architecture; TCG
(emulation) otherwise. The serial console is QEMU's standard input and output
(``-serial mon:stdio``: Ctrl-A X quits); the command exits with QEMU's exit code.

Example::

    moby-assemble run qemu out/system
    moby-assemble run qemu --mem 2048 --disk data.img,size=1G --publish 8080:80 out/system
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
from ._state import CliState

__all__ = [
    "QemuMachine",
    "choose_accel",
    "cpu_has_virtualization",
    "kvm_usable",
    "qemu_argv",
    "run",
]

#: QEMU binary and machine arguments per guest architecture.
_QEMU = {
    "amd64": ("qemu-system-x86_64", ()),
    "arm64": ("qemu-system-aarch64", ("-machine", "virt", "-cpu", "max")),
}
_KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
_HOST_KVM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


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
class QemuMachine:
    """What to boot and with what hardware.

    Attributes:
        kernel, initrd: the boot files.
        cmdline: the kernel command line.
        arch: the guest architecture (``amd64`` or ``arm64``).
        accel: ``kvm`` or ``tcg``.
        memory: MiB of RAM.
        cpus: virtual CPUs.
        disks: virtio disks.
        networking: ``user`` (QEMU's NAT, with ``publish`` forwards) or ``none``.
        publish: ``(protocol, host port, guest port)`` forwards.
    """

    kernel: Path
    initrd: Path
    cmdline: str
    arch: str = "amd64"
    accel: str = "tcg"
    memory: int = 1024
    cpus: int = 1
    disks: tuple[Disk, ...] = ()
    networking: str = "user"
    publish: tuple[tuple[str, int, int], ...] = ()


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


def qemu_argv(machine: QemuMachine) -> list[str]:
    """The QEMU command line for ``machine`` (binary name first, not resolved on PATH).

    Example::

        >>> m = QemuMachine(Path("k"), Path("i"), "console=ttyS0", networking="none")
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
    argv += ["-kernel", str(machine.kernel), "-initrd", str(machine.initrd)]
    argv += ["-append", machine.cmdline]
    for i, disk in enumerate(machine.disks):
        argv += ["-drive", f"file={disk.path},format={disk.format},if=virtio,index={i}"]
    if machine.networking == "user":
        forwards = "".join(
            f",hostfwd={proto}::{host}-:{guest}" for proto, host, guest in machine.publish
        )
        argv += ["-netdev", f"user,id=net0{forwards}", "-device", "virtio-net-pci,netdev=net0"]
    argv += ["-device", "virtio-rng-pci"]
    return argv


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
@click.option("--append", "append", default="", help="Add to the kernel command line.")
@click.option("--arch", default=None, help="Guest architecture (default: this machine's).")
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
    timeout: float | None,
    dry_run: bool,
) -> None:
    """Boot a kernel+initrd output (its path prefix, e.g. out/system) or a pushed system
    (its reference) under QEMU, the serial console on this terminal (Ctrl-A X quits)."""
    state = state_of(ctx)
    guest = Platform.parse(arch).architecture if arch else Platform.host().architecture
    with tempfile.TemporaryDirectory(prefix="moby-assemble-run-") as scratch:
        kernel, initrd, cmdline = _locate(state, target, Path(scratch))
        if append:
            cmdline = f"{cmdline} {append}".strip()
        machine = QemuMachine(
            kernel=kernel,
            initrd=initrd,
            cmdline=cmdline,
            arch=guest,
            accel=choose_accel(accel, accel == "auto" and kvm_usable(guest)),
            memory=memory,
            cpus=cpus,
            disks=tuple(Disk.parse(d) for d in disks),
            networking=networking,
            publish=tuple(_parse_publish(p) for p in publish),
        )
        argv = qemu_argv(machine)
        if dry_run:
            click.echo(shlex.join(argv))
            return
        binary = shutil.which(argv[0])
        if binary is None:
            raise MobyAssembleError(f"{argv[0]} is not installed (it boots {guest} systems)")
        for disk in machine.disks:
            _create_disk(disk)
        state.info(f"booting {kernel.name} with {machine.accel}; Ctrl-A X quits")
        code = _run(binary, argv[1:], timeout)
    ctx.exit(code)


def _locate(state: CliState, target: str, scratch: Path) -> tuple[Path, Path, str]:
    kernel = Path(f"{target}-kernel")
    if kernel.is_file():
        initrd = Path(f"{target}-initrd.img")
        cmdline_file = Path(f"{target}-cmdline")
        for path in (initrd, cmdline_file):
            if not path.is_file():
                raise ConfigError("no such file (not a kernel+initrd output?)", file=str(path))
        return kernel, initrd, cmdline_file.read_text().strip()
    try:
        ref = ImageReference.parse(target)
    except MobyAssembleError:
        raise ConfigError(
            f"no such file: {kernel} (give the prefix of a kernel+initrd output, or the "
            "reference of a pushed system)",
            file=str(kernel),
        ) from None
    with state.client() as client:
        files = pull_system(client, ref, scratch)
    return files.kernel, files.initrd, files.cmdline.read_text().strip()


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
