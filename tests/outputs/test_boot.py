"""A kernel+initrd output boots under QEMU and runs its /init (slow: a real boot)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from moby_assemble.outputs import get_format
from moby_assemble.testing._qemu import boot_qemu, qemu_available

from .conftest import FakeBundle, busybox_items, f, hard, sym

MakeBundle = Callable[..., FakeBundle]
MARKER = "MOBY-OUTPUTS-BOOT-OK"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not qemu_available(), reason="qemu-system-x86_64 is not installed"),
]

# /init prints a file that is a hard link (data on the last member of its group) with an
# applet that is itself a hard link to busybox, then powers off. The root has no "etc"
# entry on purpose: the initrd must supply the parent the kernel will not create.
INIT = """#!/bin/sh
/bin/cat /etc/greeting-link
echo "init ran as pid $$"
poweroff -f
"""


def _items() -> list:  # type: ignore[type-arg]
    items = busybox_items(INIT, applets=("sh", "poweroff"))
    items += [
        hard("bin/cat", "bin/busybox"),
        hard("bin/echo", "bin/busybox"),
        f("etc/greeting", f"{MARKER}\n".encode()),
        hard("etc/greeting-link", "etc/greeting"),
        sym("bin/true", "busybox"),
    ]
    return items


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_kernel_initrd_boots_and_runs_init(
    make_bundle: MakeBundle, debian_kernel: Path, tmp_path: Path, compression: str
) -> None:
    bundle = make_bundle(
        _items(), kernel=debian_kernel, cmdline="console=ttyS0 panic=-1 quiet", containers=()
    )
    kernel, initrd, cmdline = get_format("kernel+initrd").write(
        bundle, tmp_path, "boot", compression=compression
    )
    result = boot_qemu(
        kernel, initrd, cmdline=cmdline.read_text(), markers=[MARKER], timeout=120,
        stop_on_markers=False,
    )  # fmt: skip
    tail = result.console[-3000:]
    assert not result.timed_out, tail
    assert result.found(MARKER), tail
    assert result.found("init ran as pid 1"), tail
    assert result.returncode == 0, "poweroff -f ends QEMU cleanly"
