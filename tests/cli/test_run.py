"""run qemu: the QEMU command line it makes, and a real boot of a built system (slow)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from moby_assemble.testing import Image, Layer, LocalRegistry
from moby_assemble.testing._qemu import qemu_available
from tests.outputs.conftest import BUSYBOX, debian_kernel  # noqa: F401  (a fixture)

from .conftest import Invoke, TinySystem, push_images

MARKER = "MOBY-CLI-RUN-QEMU-OK"


def _built(invoke: Invoke, tiny: TinySystem, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    invoke("-q", "build", "--cache", tmp_path / "c", "--dir", out, "--name", "sys", tiny.config)
    return out / "sys"


def test_dry_run_shows_the_qemu_command_line(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    prefix = _built(invoke, tiny_system, tmp_path)
    line = invoke(
        "run", "qemu", "--dry-run", "--accel", "tcg", "--mem", "768", "--cpus", "2",
        "--disk", f"{tmp_path}/d.img,size=64M", "--publish", "8080:80", "--publish", "5353:53/udp",
        "--append", "quiet", str(prefix),
    ).stdout  # fmt: skip
    argv = shlex.split(line)
    assert argv[0] == "qemu-system-x86_64"
    assert argv[argv.index("-accel") + 1] == "tcg"
    assert argv[argv.index("-m") + 1] == "768"
    assert argv[argv.index("-smp") + 1] == "2"
    assert argv[argv.index("-kernel") + 1] == f"{prefix}-kernel"
    assert argv[argv.index("-initrd") + 1] == f"{prefix}-initrd.img"
    assert argv[argv.index("-append") + 1] == "console=ttyS0 quiet"
    assert f"file={tmp_path}/d.img,format=raw,if=virtio,index=0" in argv
    assert "user,id=net0,hostfwd=tcp::8080-:80,hostfwd=udp::5353-:53" in argv
    assert argv[argv.index("-serial") + 1] == "mon:stdio"
    assert not (tmp_path / "d.img").exists()  # a dry run creates nothing


def test_auto_acceleration_is_kvm_or_tcg(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    from moby_assemble._cli._run import kvm_usable

    argv = shlex.split(
        invoke("run", "qemu", "--dry-run", _built(invoke, tiny_system, tmp_path)).stdout
    )
    assert argv[argv.index("-accel") + 1] == ("kvm" if kvm_usable("amd64") else "tcg")


def test_no_networking_means_no_network_device(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    prefix = _built(invoke, tiny_system, tmp_path)
    line = invoke("run", "qemu", "--dry-run", "--networking", "none", prefix).stdout
    assert "-netdev" not in line
    assert "virtio-net" not in line


def test_a_pushed_system_is_pulled_to_boot(
    invoke: Invoke, tiny_system: TinySystem, registry: LocalRegistry, tmp_path: Path
) -> None:
    target = f"{registry.host}/cli/systems/tiny:1"
    invoke("-q", "build", "--cache", tmp_path / "c", "--dir", tmp_path / "out", "-f", "push",
           "--reference", target, "--name", "tiny", tiny_system.config)  # fmt: skip
    argv = shlex.split(invoke("run", "qemu", "--dry-run", target).stdout)
    assert Path(argv[argv.index("-kernel") + 1]).name == "tiny-kernel"
    assert argv[argv.index("-append") + 1] == "console=ttyS0"


def test_a_missing_output_is_a_config_error(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("run", "qemu", str(tmp_path / "nothing" / "Here"), code=3)
    assert f"{tmp_path}/nothing/Here-kernel" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--disk", "x.img,colour=blue", "expected PATH[,size=SIZE][,format=raw|qcow2]"),
        ("--disk", "x.img,format=vmdk", "format must be raw or qcow2"),
        ("--publish", "80", "expected HOSTPORT:GUESTPORT[/tcp|udp]"),
    ],
)
def test_malformed_machine_options_are_config_errors(
    invoke: Invoke,
    tiny_system: TinySystem,
    tmp_path: Path,
    option: str,
    value: str,
    message: str,
) -> None:
    prefix = _built(invoke, tiny_system, tmp_path)
    result = invoke("run", "qemu", "--dry-run", option, value, prefix, code=3)
    assert message in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not qemu_available(), reason="qemu-system-x86_64 is not installed")
def test_a_built_system_boots_with_its_console_on_stdout(
    invoke: Invoke,
    registry: LocalRegistry,
    tmp_path: Path,
    debian_kernel: Path,  # noqa: F811
) -> None:
    if not BUSYBOX.is_file():
        pytest.skip("busybox-static is not installed")
    init_script = (
        "#!/bin/sh\n"
        "mount -t sysfs sysfs /sys\n"
        # virtio_blk is a module the initrd lacks: the PCI device proves the disk is attached.
        f'echo "{MARKER} $(ls /containers/onboot) $(cat /sys/bus/pci/devices/*/device)"\n'
        "poweroff -f\n"
    )
    init = Layer().dir("bin").file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for applet in ("sh", "ls", "cat", "echo", "mount", "poweroff"):
        init = init.hardlink(f"bin/{applet}", "bin/busybox")
    init = init.dir("sys").file("init", init_script.encode(), mode=0o755)
    refs = {}
    for name, image in (
        ("kernel", Image([Layer().file("kernel", debian_kernel.read_bytes())])),
        ("init", Image([init])),
        (
            "hello",
            Image(
                [Layer().file("bin/hello", b"#!/bin/sh\n", mode=0o755)],
                config={"Cmd": ["/bin/hello"]},
            ),
        ),
    ):
        refs[name] = push_images(
            registry, tmp_path / name, image.build(), f"cli/boot/{name}"
        ).reference
    config = tmp_path / "boot.yml"
    config.write_text(
        f"kernel:\n  image: {refs['kernel']}\n  cmdline: console=ttyS0 panic=-1 quiet\n"
        f"  tar: none\ninit:\n  - {refs['init']}\n"
        f"onboot:\n  - name: hello\n    image: {refs['hello']}\n"
    )
    out = tmp_path / "out"
    invoke("-q", "build", "--cache", tmp_path / "c", "--dir", out, config)
    disk = tmp_path / "data.img"
    exe = Path(sys.executable).with_name("moby-assemble")
    result = subprocess.run(
        [str(exe), "run", "qemu", "--accel", "tcg", "--mem", "512", "--networking", "none",
         "--disk", f"{disk},size=16M", "--timeout", "150", str(out / "boot")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip
    tail = result.stdout[-3000:] + result.stderr[-1000:]
    assert result.returncode == 0, tail  # poweroff -f: QEMU exits cleanly
    lines = [x.strip() for x in result.stdout.splitlines()]
    assert any(x.startswith(f"{MARKER} 000-hello ") for x in lines), tail
    assert "0x1001" in lines, tail  # virtio-blk (transitional) on the PCI bus
    assert disk.stat().st_size == 16 * 1024 * 1024
