"""The example files without booting: system.yml and system.py describe one system, and
main.py's pieces (arguments, the QEMU command line, the console echo) behave."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import moby_assemble as ma
from moby_assemble import Role
from moby_assemble.components import CATALOG

from .conftest import EXAMPLES


def images(system: ma.System) -> list[str]:
    assert system.kernel is not None
    refs: list[str | None] = [system.kernel.image, *(i.image for i in system.init)]
    for stage in (system.onboot, system.services, system.onshutdown):
        refs += [c.image for c in stage]
    assert None not in refs, "every component names its image"
    return [r for r in refs if r is not None]


def test_system_yml_and_system_py_describe_the_same_system(example_system: ModuleType) -> None:
    from_yaml = ma.System.from_yaml(EXAMPLES / "system.yml")
    from_python = example_system.build_system()
    # LinuxKit YAML has no component roles, so the values differ only there; what YAML can
    # say must be identical.
    assert from_yaml.to_yaml() == from_python.to_yaml()
    assert images(from_yaml) == images(from_python)
    assert [c.name for c in from_yaml.onboot] == ["dhcp", "format", "mount"]
    assert [c.name for c in from_yaml.services] == ["getty", "demo"]
    assert [c.name for c in from_yaml.onshutdown] == ["demo-shutdown"]


def test_build_system_takes_every_catalog_image_from_the_registry_given(
    example_system: ModuleType,
) -> None:
    refs = images(example_system.build_system("127.0.0.1:5999"))
    # Boot loaders are for the disk and ISO formats; the example boots as kernel+initrd.
    expected = {
        f"127.0.0.1:5999/moby-assemble/{n}:{e.version}"
        for n, e in CATALOG.items()
        if e.role is not Role.BOOTLOADER
    }
    assert set(refs) == expected, "every catalog component but the boot loaders, nothing else"


def test_running_system_py_prints_the_system_as_yaml(example_system: ModuleType) -> None:
    printed = subprocess.run(
        [sys.executable, str(EXAMPLES / "system.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert printed == example_system.build_system().to_yaml()
    assert ma.System.from_yaml(printed).to_yaml() == printed


def test_main_rejects_bad_arguments_with_the_usage_status(
    example_main: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["--boots", "-1"], ["--timeout", "0"], ["--disk-size", "8"]):
        with pytest.raises(SystemExit) as exit_info:
            example_main.parse_args(argv)
        assert exit_info.value.code == 2
        assert argv[0] in capsys.readouterr().err
    args = example_main.parse_args([])
    assert (args.boots, args.out, args.system) == (2, Path("out"), "python")


def test_main_names_the_packages_to_install_when_its_tools_are_missing(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no docker-registry, no QEMU
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "main.py"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 1
    assert "bash .ci/setup" in run.stderr
    assert "docker-registry" in run.stderr
    assert "qemu-system-x86" in run.stderr
    assert not (tmp_path / "out").exists(), "nothing is built before the check"


def test_qemu_runs_under_tcg_with_user_networking_restricted_to_the_guest(
    example_main: ModuleType,
) -> None:
    argv = example_main.qemu_command(
        Path("k"), Path("i"), "console=ttyS0", Path("/tmp/disk image.img")
    )
    assert argv[argv.index("-accel") + 1] == "tcg"
    networks = [argv[i + 1] for i, a in enumerate(argv) if a == "-netdev"]
    assert networks == ["user,id=n0,restrict=on"]
    assert "-nic" not in argv
    assert "-net" not in argv
    assert "file=/tmp/disk image.img,format=raw,if=virtio" in argv
    assert argv[argv.index("-append") + 1] == "console=ttyS0"


def test_console_echo_drops_control_sequences_even_across_chunks(
    example_main: ModuleType,
) -> None:
    sink = io.BytesIO()
    echo = example_main.ConsoleEcho(sink)
    for chunk in (b"/ # \x1b[", b"6nmoby-init: boot complete\r\n", b"\x1bc\x1b[2J", b"ok\n"):
        echo.write(chunk)
    assert sink.getvalue() == b"/ # moby-init: boot complete\r\nok\n"
