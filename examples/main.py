"""The main job: build the component catalog, assemble the example system, boot it under QEMU.

Run from a clone of the repository on Debian 12 (``bash .ci/setup`` installs what it needs)::

    .venv/bin/python examples/main.py            # build, assemble, boot twice from one disk
    .venv/bin/python examples/main.py --help

Steps, each reported on stdout:

1. start a registry (Debian's ``docker-registry``) on 127.0.0.1, on a random port;
2. build every catalog component from Debian packages (``apt-get download``, cached in
   ``--debs``) into an OCI image and push it there;
3. resolve the example system (``system.py``; ``--system system.yml`` for the YAML) to a lock
   and assemble it, pulling ``localhost:5000/...`` through the registry as a mirror;
4. write the outputs (``kernel+initrd`` by default) into ``--out``;
5. create an empty disk image and boot the system under ``qemu-system-x86_64 -accel tcg``
   with that virtio disk and user-mode networking restricted to the guest (``restrict=on``:
   QEMU answers DHCP, no packet leaves it), streaming the serial console to stdout; once the
   demo service has written to the disk, type ``poweroff`` into the console's shell;
6. check the console for every marker of a clean boot and power off, boot again
   (``--boots``, default 2) from the same disk, and check the data of the earlier boot is
   still there.

The exit status is 0 only when every boot showed every marker and QEMU exited cleanly.

Why a random port: on Debian 12, installing ``docker-registry`` also starts the system's
registry service on port 5000, so a fixed port is not free on a fresh machine. The system
keeps its image names (``localhost:5000/moby-assemble/...``) and the assembler pulls them
through the registry actually serving them (``RegistryConfig(mirrors=...)``): the names are
recorded in the root tar, so outputs stay byte-identical whatever the port.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import moby_assemble as ma
from moby_assemble.assemble import default_cache_dir
from moby_assemble.components import CATALOG, build_catalog
from moby_assemble.pkg import default_cache_dir as default_debs_dir
from moby_assemble.registry import RegistryConfig
from moby_assemble.testing import LocalRegistry

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from system import NAMESPACE, build_system  # noqa: E402 - a sibling file, found through HERE

#: The host the system's image names use; served through a mirror (see the module docstring).
NAMED_REGISTRY = "localhost:5000"
#: Tools the main job runs, and the Debian package of each (installed by .ci/setup).
TOOLS = {"docker-registry": "docker-registry", "qemu-system-x86_64": "qemu-system-x86"}


# -- steps ----------------------------------------------------------------------------------


def say(text: str) -> None:
    """A status line of the main job (flushed: the console stream shares stdout)."""
    print(f"==> {text}", flush=True)


def missing_tools() -> list[str]:
    """The Debian packages to install for tools that are not on PATH."""
    return [package for tool, package in TOOLS.items() if shutil.which(tool) is None]


def build_images(registry_host: str, debs_dir: Path) -> None:
    """Build every catalog component and push it to ``registry_host``/moby-assemble."""
    results = build_catalog(
        list(CATALOG), push=True, registry=f"{registry_host}/{NAMESPACE}", debs_dir=debs_dir
    )
    for name, result in results.items():
        say(
            f"  {name:<7} {result.digest[:19]}  {result.compressed_size / 1e6:6.1f} MB  "
            f"{result.seconds:5.1f} s"
        )


def load_system(source: str) -> ma.System:
    """The example system from ``system.py`` (``"python"``) or a LinuxKit YAML file."""
    if source == "python":
        return build_system(NAMED_REGISTRY)
    return ma.System.from_yaml(Path(source))


def assemble(
    system: ma.System, *, cache: Path, mirror: str, out: Path, formats: Sequence[str]
) -> dict[str, tuple[Path, ...]]:
    """Resolve ``system`` to a lock (saved as ``out/system.lock.json``), assemble it for
    linux/amd64 pulling ``localhost:5000`` through ``mirror``, and write ``formats`` into
    ``out``. Returns format name -> files written."""
    # mirrors= is typed through attrs' converter, which mypy reads as an unbound TypeVar.
    registries = {NAMED_REGISTRY: RegistryConfig(mirrors=(mirror,))}
    with ma.Assembler(cache, platform="linux/amd64", registries=registries) as asm:
        lock = asm.resolve(system)
        out.mkdir(parents=True, exist_ok=True)
        lock.save(out / "system.lock.json")
        bundle = asm.assemble(system, lock=lock)
    say(f"  root filesystem {bundle.rootfs_sha256[:19]}, {len(bundle.containers)} containers")
    return bundle.write(out, list(formats))


def new_disk(path: Path, size_mib: int) -> Path:
    """An empty (sparse) raw disk image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size_mib * 1024 * 1024)
    return path


# -- booting --------------------------------------------------------------------------------


#: A terminal control sequence (CSI, or a two-byte escape).
_CONTROL = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-~])")


class ConsoleEcho:
    """Copies the console to a terminal or log without its control sequences.

    The guest's shell asks the terminal where the cursor is (``ESC [6n``); a real terminal
    would answer by typing into this program's standard input, and that answer would land
    on the user's command line after the program exits. The saved console logs keep every
    byte.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pending = b""

    def write(self, chunk: bytes) -> None:
        data = self._pending + chunk
        self._pending = b""
        start = data.rfind(b"\x1b")
        if start >= 0 and not _CONTROL.match(data, start) and len(data) - start < 32:
            # An escape sequence cut by the chunk boundary: finish it with the next chunk.
            data, self._pending = data[:start], data[start:]
        self._out.write(_CONTROL.sub(b"", data))
        self._out.flush()


class Boot:
    """One run of QEMU: the serial console is read by a thread, echoed and kept.

    Args:
        kernel, initrd: the boot files.
        cmdline: the kernel command line.
        disk: a raw disk image (the guest's ``/dev/vda``).
        echo: where the console goes as it arrives (``None``: nowhere).
    """

    def __init__(
        self, kernel: Path, initrd: Path, cmdline: str, disk: Path, echo: ConsoleEcho | None
    ) -> None:
        self.argv = qemu_command(kernel, initrd, cmdline, disk)
        self.started = time.monotonic()
        self._echo = echo
        self._data = bytearray()
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            with self._lock:
                self._data += chunk
            if self._echo is not None:
                self._echo.write(chunk)

    @property
    def console(self) -> str:
        with self._lock:
            return self._data.decode("utf-8", "replace")

    def wait_for(self, *markers: str, timeout: float) -> bool:
        """Wait until every marker is on the console; False on timeout or if QEMU ended."""
        deadline = time.monotonic() + timeout
        while True:
            console = self.console
            if all(m in console for m in markers):
                return True
            if self.proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def type(self, text: str) -> None:
        """Type ``text`` on the serial console."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:  # QEMU has just exited
            pass

    def finish(self, timeout: float) -> int | None:
        """Wait for QEMU to exit; kill it after ``timeout`` (then ``None``)."""
        try:
            status: int | None = self.proc.wait(timeout=max(timeout, 0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            status = None
        self._reader.join(timeout=5)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        return status

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def qemu_command(kernel: Path, initrd: Path, cmdline: str, disk: Path) -> list[str]:
    """QEMU under TCG (no KVM assumed), serial console on stdio, the disk as virtio,
    user-mode networking that never leaves QEMU (``restrict=on``), and a virtio RNG: without
    one the guest's entropy pool takes the whole boot to fill, and mke2fs waits three
    seconds for random UUIDs."""
    return [
        "qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-nodefaults",
        "-display", "none", "-serial", "stdio", "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
        "-drive", f"file={disk},format=raw,if=virtio",
        "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
        "-device", "virtio-rng-pci",
    ]  # fmt: skip


def run_boot(
    kernel: Path,
    initrd: Path,
    cmdline: str,
    disk: Path,
    number: int,
    *,
    timeout: float,
    echo: ConsoleEcho | None,
) -> tuple[str, int | None, float]:
    """Boot once; when the demo has written its journal, type ``poweroff`` into the getty
    shell (again every 2 s until the shutdown starts). Returns (console, QEMU's exit status
    or ``None`` if it had to be killed, seconds)."""
    boot = Boot(kernel, initrd, cmdline, disk, echo)
    deadline = boot.started + timeout
    try:
        if boot.wait_for("moby-init: boot complete", timeout=timeout):
            # The journal line shows the demo's write is done; give up on it after a while
            # (the check reports it missing) rather than waiting for the hard timeout.
            boot.wait_for(f"demo: boot {number} on this storage", timeout=30)
            while "moby-init: shutting down" not in boot.console and boot.proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                boot.type("\npoweroff\n")
                boot.wait_for("moby-init: shutting down", timeout=2)
        status = boot.finish(timeout=deadline - time.monotonic())
    finally:
        if boot.proc.poll() is None:
            boot.proc.kill()
            boot.proc.wait()
    return boot.console, status, boot.seconds


# -- checking the console -------------------------------------------------------------------


def init_markers(number: int) -> list[str]:
    """What moby-init (one script, so in this order) and the kernel print in boot
    ``number`` (1-based) from a disk that was empty before boot 1."""
    formatted = (
        "format: /dev/vda formatted (ext4)"
        if number == 1
        else "format: /dev/vda already has a filesystem (ext4); leaving it alone"
    )
    return [
        "Linux version 6.1",
        "moby-init: root moved from the initramfs into a tmpfs",
        "moby-init: mounted /proc /sys /dev /run /tmp /var and cgroup2",
        "moby-init: onboot 000-dhcp start",
        "udhcpc: lease of 10.0.2.15 obtained",
        "dhcp: eth0 has 10.0.2.15/24",
        "moby-init: onboot 000-dhcp exit 0",
        formatted,
        "moby-init: onboot 001-format exit 0",
        "mount: /dev/vda mounted at /var/data (ext4)",
        "moby-init: onboot 002-mount exit 0",
        "moby-init: service demo started",
        "moby-init: service getty started",
        "moby-init: boot complete",
        "moby-init: shutting down",
        "moby-init: onshutdown 000-demo-shutdown start",
        f"demo: recorded a clean shutdown after boot {number} in /data/demo.journal",
        "moby-init: onshutdown 000-demo-shutdown exit 0",
        "moby-init: service demo stopped",
        "moby-init: service getty stopped",
        "moby-init: poweroff",
        "reboot: Power down",
    ]


def service_markers(number: int) -> list[str]:
    """What the services print in boot ``number``; their lines interleave with init's, so
    only their presence counts."""
    history = (
        "demo: demo: boot 1 on this storage (no journal from earlier boots)"
        if number == 1
        else f"demo: demo: boot {number} on this storage (journal from earlier boots, "
        f"last: clean shutdown after boot {number - 1})"
    )
    return [
        "demo: demo: storage ok (/data on /dev/vda ext4, wrote demo-example)",
        history,
        "demo: demo: network ok (eth0 10.0.2.15/24",
        "getty: getty: shell on /dev/ttyS0",
        "demo: demo: stopping",
    ]


def check_console(console: str, number: int, status: int | None) -> list[str]:
    """What is wrong with boot ``number``: markers missing (or out of order) and QEMU's
    exit. An empty list means a clean boot and power off."""
    problems = []
    position = 0
    for marker in init_markers(number):
        found = console.find(marker, position)
        if found < 0:
            where = "missing" if marker not in console else "out of order"
            problems.append(f"{where}: {marker!r}")
        else:
            position = found + len(marker)
    problems += [f"missing: {m!r}" for m in service_markers(number) if m not in console]
    if status is None:
        problems.append("QEMU did not exit by itself before the timeout")
    elif status != 0:
        problems.append(f"QEMU exited with status {status}")
    return problems


# -- the command ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="examples/main.py",
        description="Build the component catalog, assemble the example system and boot it "
        "under QEMU; exit 0 only if every boot and power off was clean.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out"), help="outputs, lock, disk and console logs "
        "(default: ./out)",
    )  # fmt: skip
    parser.add_argument(
        "--cache", type=Path, default=default_cache_dir(),
        help="the assembler's image cache (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--debs", type=Path, default=default_debs_dir(),
        help="where Debian packages are downloaded to and reused from (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--system", default="python", metavar="python|FILE.yml",
        help="the system: 'python' (examples/system.py, default) or a LinuxKit YAML file "
        "such as examples/system.yml",
    )  # fmt: skip
    parser.add_argument(
        "--formats", default="kernel+initrd",
        help="output formats, comma separated (kernel+initrd is always written; "
        "default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--boots", type=int, default=2,
        help="boots from the same disk; the second proves the data persists (default: 2)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds allowed per boot (default: 300)"
    )
    parser.add_argument(
        "--disk-size", type=int, default=64, metavar="MIB", help="disk size (default: 64)"
    )
    parser.add_argument(
        "--quiet-console", action="store_true", help="do not stream the console to stdout "
        "(it is always saved as OUT/console-N.log)",
    )  # fmt: skip
    parser.add_argument(
        "--keep-registry", action="store_true",
        help="after the boots, keep the registry serving the catalog until interrupted",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.boots < 0:
        parser.error("--boots must be 0 or more")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.disk_size < 16:
        parser.error("--disk-size must be at least 16 MiB")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the main job; returns the exit status (0: every boot was clean)."""
    args = parse_args(argv)
    packages = missing_tools()
    if packages:
        print(
            "examples/main.py: missing tools; `bash .ci/setup` installs them "
            f"(Debian packages: {' '.join(packages)})",
            file=sys.stderr,
        )
        return 1
    out: Path = args.out.resolve()
    formats = ["kernel+initrd"]
    formats += [f for f in args.formats.split(",") if f and f not in formats]
    timings: list[tuple[str, float]] = []
    work = Path(tempfile.mkdtemp(prefix="moby-assemble-example-"))
    try:
        with LocalRegistry(work / "registry") as registry:
            say(f"registry on {registry.host}, a mirror of {NAMED_REGISTRY}")
            started = time.monotonic()
            say(f"building the catalog into {registry.host}/{NAMESPACE}")
            build_images(registry.host, args.debs)
            timings.append(("build the catalog", time.monotonic() - started))

            started = time.monotonic()
            say(f"assembling the system ({args.system}) into {out}")
            system = load_system(args.system)
            written = assemble(
                system, cache=args.cache, mirror=registry.host, out=out, formats=formats
            )
            for path in (p for paths in written.values() for p in paths):
                say(f"  wrote {path}")
            timings.append(("assemble and write", time.monotonic() - started))

            status = boot_all(written["kernel+initrd"], out, args, timings)
            if args.keep_registry:
                say(f"the registry stays on {registry.host}; Ctrl-C stops it")
                wait_for_interrupt()
    except ma.MobyAssembleError as e:
        print(f"examples/main.py: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("examples/main.py: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for what, seconds in timings:
        say(f"{what:<20} {seconds:6.1f} s")
    say("every boot was clean" if status == 0 else "FAILED")
    return status


def boot_all(
    boot_files: Sequence[Path],
    out: Path,
    args: argparse.Namespace,
    timings: list[tuple[str, float]],
) -> int:
    """Boot ``args.boots`` times from one new disk, checking each console; 0 if all were
    clean, else 1 (after the first boot that was not)."""
    kernel, initrd, cmdline_file = boot_files
    # panic=-1 with QEMU's -no-reboot: a kernel panic ends QEMU instead of hanging it.
    cmdline = f"{cmdline_file.read_text().strip()} panic=-1"
    disk = new_disk(out / "disk.img", args.disk_size)
    say(f"new disk {disk} ({args.disk_size} MiB); QEMU runs as:")
    say(f"  {shlex.join(qemu_command(kernel, initrd, cmdline, disk))}")
    echo = None if args.quiet_console else ConsoleEcho(sys.stdout.buffer)
    for number in range(1, args.boots + 1):
        say(f"boot {number} of {args.boots}")
        console, status, seconds = run_boot(
            kernel, initrd, cmdline, disk, number, timeout=args.timeout, echo=echo
        )
        if echo is not None:
            echo.write(b"\n")
        log = out / f"console-{number}.log"
        log.write_text(console)
        timings.append((f"boot {number}", seconds))
        problems = check_console(console, number, status)
        if problems:
            say(f"boot {number} FAILED after {seconds:.1f} s (console: {log}):")
            for problem in problems:
                say(f"  {problem}")
            return 1  # the next boot's expectations build on this one's
        say(f"boot {number}: clean boot and power off in {seconds:.1f} s")
    return 0


def wait_for_interrupt() -> None:
    """Sleep until Ctrl-C."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
