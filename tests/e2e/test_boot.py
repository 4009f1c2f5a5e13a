"""The README's main job, end to end: ``examples/main.py`` builds the catalog into a local
registry, assembles the example system through the real Assembler and outputs, and boots it
twice from one virtio disk under ``qemu-system-x86_64 -accel tcg`` with user networking
restricted to the guest. The assertions here read the saved serial consoles and the disk
image themselves rather than trusting main.py's own check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from types import ModuleType

import pytest

from .conftest import MainJob

pytestmark = pytest.mark.slow


def assert_in_order(console: str, markers: list[str]) -> None:
    position = 0
    for marker in markers:
        found = console.find(marker, position)
        assert found >= 0, f"missing {marker!r} after byte {position}:\n{console[-6000:]}"
        position = found + len(marker)


# What moby-init and the kernel print, in order, on every boot of the example.
KERNEL_AND_ONBOOT = [
    "Linux version 6.1",  # the kernel booted
    "Run /init as init process",
    "moby-init: root moved from the initramfs into a tmpfs",
    "moby-init: onboot 000-dhcp start",
    "udhcpc: lease of 10.0.2.15 obtained from 10.0.2.2",  # QEMU answered DHCP
    "dhcp: eth0 has 10.0.2.15/24",
    "moby-init: onboot 000-dhcp exit 0",
    "moby-init: onboot 001-format start",
]
MOUNT_AND_SERVICES = [
    "moby-init: onboot 001-format exit 0",
    "moby-init: onboot 002-mount start",
    "mount: /dev/vda mounted at /var/data (ext4)",
    "moby-init: onboot 002-mount exit 0",
    "moby-init: service demo started",
    "moby-init: service getty started",
    "moby-init: boot complete",
]
SHUTDOWN = [
    "moby-init: shutting down",
    "moby-init: onshutdown 000-demo-shutdown start",
]
POWEROFF = [
    "moby-init: onshutdown 000-demo-shutdown exit 0",
    "moby-init: service demo stopped",
    "moby-init: service getty stopped",
    "moby-init: poweroff",
    "reboot: Power down",
]


def boot_seconds(job: MainJob) -> list[float]:
    return [float(s) for s in re.findall(r"clean boot and power off in ([0-9.]+) s", job.stdout)]


def test_the_main_job_exits_0_after_two_clean_boots_from_one_disk(main_job: MainJob) -> None:
    assert main_job.returncode == 0, main_job.tail()
    assert "==> every boot was clean" in main_job.stdout
    seconds = boot_seconds(main_job)
    assert len(seconds) == 2, main_job.tail()
    print(f"main job {main_job.seconds:.0f} s; boots {', '.join(f'{s:.1f} s' for s in seconds)}")
    names = {p.name for p in main_job.out.iterdir()}
    assert {"system-kernel", "system-initrd.img", "system-cmdline", "system.tar"} <= names
    assert {"system.lock.json", "disk.img", "console-1.log", "console-2.log"} <= names


def test_the_first_boot_formats_the_new_disk_runs_every_stage_and_powers_off(
    main_job: MainJob,
) -> None:
    console = main_job.console(1)
    assert_in_order(
        console,
        [
            *KERNEL_AND_ONBOOT,
            "format: making an ext4 filesystem on /dev/vda",
            "format: /dev/vda formatted (ext4)",
            *MOUNT_AND_SERVICES,
            *SHUTDOWN,
            "demo: recorded a clean shutdown after boot 1 in /data/demo.journal",
            *POWEROFF,
        ],
    )
    # Service lines interleave with init's: only their presence is checked.
    for line in (
        "demo: demo: storage ok (/data on /dev/vda ext4, wrote demo-example)",
        "demo: demo: boot 1 on this storage (no journal from earlier boots)",
        "demo: demo: network ok (eth0 10.0.2.15/24",
        "getty: getty: shell on /dev/ttyS0",
        "demo: demo: stopping",
    ):
        assert line in console, f"missing {line!r}:\n{console[-6000:]}"
    assert "already has a filesystem" not in console


def test_the_second_boot_keeps_the_disk_and_finds_the_first_boots_data(
    main_job: MainJob,
) -> None:
    console = main_job.console(2)
    assert_in_order(
        console,
        [
            *KERNEL_AND_ONBOOT,
            "format: /dev/vda already has a filesystem (ext4); leaving it alone",
            *MOUNT_AND_SERVICES,
            *SHUTDOWN,
            "demo: recorded a clean shutdown after boot 2 in /data/demo.journal",
            *POWEROFF,
        ],
    )
    assert (
        "demo: demo: boot 2 on this storage (journal from earlier boots, "
        "last: clean shutdown after boot 1)"
    ) in console, console[-6000:]
    assert "making an ext4 filesystem" not in console


def test_the_disk_holds_both_boots_journal_when_read_from_the_host(main_job: MainJob) -> None:
    debugfs = shutil.which("debugfs") or "/sbin/debugfs"
    if not shutil.which(debugfs):
        pytest.skip("debugfs (e2fsprogs) is not installed")
    disk = main_job.out / "disk.img"
    journal = subprocess.run(
        [debugfs, "-R", "cat /demo.journal", str(disk)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert journal.splitlines() == [
        "boot 1",
        "clean shutdown after boot 1",
        "boot 2",
        "clean shutdown after boot 2",
    ]
    fsck = subprocess.run(
        ["/sbin/e2fsck", "-n", "-f", str(disk)], capture_output=True, text=True, timeout=60
    )
    assert fsck.returncode == 0, f"the filesystem was not left clean:\n{fsck.stdout}"


def test_the_console_is_streamed_to_stdout_without_terminal_control_sequences(
    main_job: MainJob,
) -> None:
    assert main_job.stdout.count("moby-init: boot complete") == 2
    assert "demo: demo: boot 2 on this storage" in main_job.stdout
    assert "\x1b" not in main_job.stdout, "a terminal would answer ESC [6n into our stdin"
    # The saved logs keep the console byte for byte, control sequences included.
    assert "\x1b[6n" in main_job.console(1)


def test_main_reports_a_boot_that_missed_a_marker_or_did_not_power_off(
    main_job: MainJob, example_main: ModuleType
) -> None:
    check = example_main.check_console
    first = main_job.console(1)
    assert check(first, 1, 0) == []
    hung = first.split("moby-init: shutting down")[0]
    problems = check(hung, 1, None)
    assert "missing: 'moby-init: poweroff'" in problems
    assert "QEMU did not exit by itself before the timeout" in problems
    # The first boot's console is not a second boot: the disk was formatted, no journal.
    problems = check(first, 2, 0)
    assert any("already has a filesystem" in p for p in problems), problems
    assert any("boot 2 on this storage" in p for p in problems), problems
    assert check(first, 1, 1) == ["QEMU exited with status 1"]
