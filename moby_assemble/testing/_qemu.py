"""Boot a kernel and initrd under QEMU and capture the serial console, for tests.

The machine is as small as a test needs: ``qemu-system-x86_64 -accel tcg -m 512 -nodefaults
-display none -serial stdio -no-reboot -kernel K -initrd I -append CMDLINE``. TCG always (no
KVM assumed), a hard timeout always (QEMU is killed, never left behind), and the console is
read as it arrives so a test can stop the machine as soon as the markers it waits for have
appeared. Markers are matched as substrings: the firmware's escape codes share the line.

Example::

    result = boot_qemu(kernel, initrd, markers=["HELLO-FROM-INIT"], timeout=60)
    assert result.found("HELLO-FROM-INIT"), result.console[-2000:]

A guest that runs ``poweroff -f`` ends QEMU within milliseconds; with ``panic=-1`` in the
command line (the default) a kernel panic ends it too, because of ``-no-reboot``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

__all__ = ["DEFAULT_CMDLINE", "QemuResult", "boot_qemu", "qemu_available"]

#: Serial console, and reboot (which ``-no-reboot`` turns into exit) right after a panic.
DEFAULT_CMDLINE = "console=ttyS0 panic=-1"
_QEMU = "qemu-system-x86_64"


@attrs.frozen
class QemuResult:
    """What a QEMU run showed.

    Attributes:
        console: everything the guest wrote to the serial console (UTF-8, errors replaced).
        returncode: QEMU's exit status; ``None`` if it was stopped (markers seen, timeout).
        timed_out: the hard timeout was reached before QEMU ended or the markers appeared.
        markers_seen: the markers that appeared, in the order asked for.
        seconds: how long the run took.
        stderr: QEMU's own messages.
    """

    console: str
    returncode: int | None
    timed_out: bool
    markers_seen: tuple[str, ...]
    seconds: float
    stderr: str = ""

    def found(self, marker: str) -> bool:
        """Whether ``marker`` appeared on the console."""
        return marker in self.console


def qemu_available(qemu: str = _QEMU) -> bool:
    """Whether the QEMU binary is on ``PATH``."""
    return shutil.which(qemu) is not None


def boot_qemu(
    kernel: str | os.PathLike[str],
    initrd: str | os.PathLike[str] | None = None,
    *,
    cmdline: str = DEFAULT_CMDLINE,
    markers: Sequence[str] = (),
    stop_on_markers: bool = True,
    timeout: float = 120.0,
    memory_mib: int = 512,
    extra_args: Sequence[str] = (),
    qemu: str = _QEMU,
) -> QemuResult:
    """Boot ``kernel`` (and ``initrd``) under TCG and return the console output.

    Args:
        kernel: the kernel image (bzImage).
        initrd: the initrd, if any.
        cmdline: the kernel command line.
        markers: strings to wait for on the console.
        stop_on_markers: stop QEMU as soon as every marker has appeared (otherwise run
            until QEMU exits or the timeout).
        timeout: hard limit in seconds; QEMU is killed when it is reached.
        memory_mib: guest memory.
        extra_args: more QEMU arguments (disks, devices).
        qemu: the QEMU binary.

    Raises:
        FileNotFoundError: QEMU, the kernel or the initrd does not exist.
    """
    for path in (kernel, initrd):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"no such file: {path}")
    binary = shutil.which(qemu)
    if binary is None:
        raise FileNotFoundError(f"{qemu} is not installed")
    argv = [
        binary, "-accel", "tcg", "-m", str(memory_mib), "-nodefaults", "-display", "none",
        "-serial", "stdio", "-no-reboot", "-kernel", os.fspath(kernel), "-append", cmdline,
        # Seeds the guest's entropy pool at once; without it mke2fs and anything else
        # asking for random UUIDs early waits seconds under TCG.
        "-device", "virtio-rng-pci",
    ]  # fmt: skip
    if initrd is not None:
        argv += ["-initrd", os.fspath(initrd)]
    argv += list(extra_args)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    console = bytearray()
    errors = bytearray()
    lock = threading.Lock()
    changed = threading.Condition(lock)

    def pump(stream: object, sink: bytearray) -> None:
        read = stream.read1  # type: ignore[attr-defined]
        while chunk := read(65536):
            with changed:
                sink += chunk
                changed.notify_all()
        with changed:
            changed.notify_all()

    threads = [
        threading.Thread(target=pump, args=(proc.stdout, console), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, errors), daemon=True),
    ]
    for t in threads:
        t.start()
    wanted = [m.encode() for m in markers]
    timed_out = False
    stopped = False
    try:
        with changed:
            while proc.poll() is None:
                if stop_on_markers and wanted and all(m in console for m in wanted):
                    stopped = True
                    break
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    timed_out = True
                    break
                changed.wait(min(left, 0.2))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for t in threads:
            t.join(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    text = console.decode("utf-8", "replace")
    return QemuResult(
        console=text,
        returncode=None if (stopped or timed_out) else proc.returncode,
        timed_out=timed_out,
        markers_seen=tuple(m for m in markers if m in text),
        seconds=time.monotonic() - started,
        stderr=errors.decode("utf-8", "replace"),
    )
