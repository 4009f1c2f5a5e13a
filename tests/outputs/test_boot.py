"""A kernel+initrd output boots under QEMU and runs its /init (slow: a real boot)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from moby_assemble import System
from moby_assemble.assemble import Assembler
from moby_assemble.outputs import get_format
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import Image, Layer, LocalRegistry
from moby_assemble.testing._qemu import boot_qemu, qemu_available

from ..assemble.conftest import push_image
from .conftest import BUSYBOX, FakeBundle, Item, busybox_items, f, hard, sym

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


def _items() -> list[Item]:
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


def test_an_assembled_system_boots_from_its_kernel_initrd_output(
    debian_kernel: Path, registry: LocalRegistry, tmp_path: Path
) -> None:
    """End to end: images in a registry -> Assembler -> kernel+initrd -> QEMU."""
    init_script = '#!/bin/sh\necho "ASSEMBLED-BOOT-$(ls /containers/onboot)-OK"\npoweroff -f\n'
    init = Layer().dir("bin").file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for applet in ("sh", "ls", "echo", "poweroff"):
        init = init.hardlink(f"bin/{applet}", "bin/busybox")
    init = init.file("init", init_script.encode(), mode=0o755)
    kernel = Layer().file("kernel", debian_kernel.read_bytes())
    hello = Layer().dir("bin").file("bin/hello", b"#!/bin/sh\necho hello\n", mode=0o755)
    work = tmp_path / "images"
    with RegistryClient() as client:
        refs = {
            name: push_image(registry, client, image.build(), f"boot/{name}:1", work)
            for name, image in (
                ("kernel", Image([kernel])),
                ("init", Image([init])),
                ("hello", Image([hello], config={"Cmd": ["/bin/hello"]})),
            )
        }
    config = tmp_path / "system.yml"
    config.write_text(
        f"kernel:\n  image: {refs['kernel']}\n  cmdline: console=ttyS0 panic=-1 quiet\n"
        f"  tar: none\ninit:\n  - {refs['init']}\n"
        f"onboot:\n  - name: hello\n    image: {refs['hello']}\n"
    )
    system = System.from_yaml(config, platform="linux/amd64")
    with Assembler(tmp_path / "cache") as asm:
        bundle = asm.assemble(system)
    written = bundle.write(tmp_path / "out", ["kernel+initrd"], name="sys")
    kernel_path, initrd, cmdline = written["kernel+initrd"]
    result = boot_qemu(kernel_path, initrd, cmdline=cmdline.read_text(), timeout=120)
    tail = result.console[-3000:]
    assert not result.timed_out, tail
    assert result.found("ASSEMBLED-BOOT-000-hello-OK"), tail
    assert result.returncode == 0
