"""moby-init's scripts: the runtime.json reader against the project's own runtime.json writer,
and the onboot/service runner with the catalog's runc on real bundles (format and mount a
loop device, start the demo service), in a private mount namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moby_assemble._label import parse_label
from moby_assemble._model import Container, Runtime
from moby_assemble._model_values import Mount
from moby_assemble._runtime_spec import oci_config
from moby_assemble.components import CATALOG, recipe_dir, services, storage
from moby_assemble.pkg import build, load_recipe
from moby_assemble.store import Store

from .staging import add_bundle, unpack

INIT = recipe_dir("init")
AWK = INIT / "runtime-json.awk"
US = "\x1f"


def records(runtime_json: bytes) -> list[list[str]]:
    out = subprocess.run(
        ["busybox", "awk", "-f", str(AWK)],
        input=runtime_json,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    return [line.split(US) for line in out.splitlines()]


def expected_records(doc: dict[str, Any]) -> list[list[str]]:
    out = [["mkdir", p] for p in doc["mkdir"]]
    out += [["cgroup", p] for p in doc["cgroups"]]
    out += [
        ["mount", m["destination"], m.get("type", ""), m.get("source", ""),
         ",".join(m.get("options", []))]
        for m in doc["mounts"]
    ]  # fmt: skip
    if doc["interfaces"]:
        out.append(["unsupported", "interfaces"])
    if any(doc["bindNS"].values()):
        out.append(["unsupported", "bindNS"])
    return out


def catalog_containers() -> Iterator[Container]:
    for name, entry in CATALOG.items():
        recipe = load_recipe(recipe_dir(name))
        if recipe.label is None:
            continue
        yield Container(name, f"localhost:5000/moby-assemble/{name}:{entry.version}")


pytestmark = pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox")


@pytest.mark.parametrize("container", list(catalog_containers()), ids=lambda c: c.name)
def test_runtime_json_reader_agrees_with_the_runtime_spec_writer(container: Container) -> None:
    label = parse_label(load_recipe(recipe_dir(container.name)).label or "", image=container.image)
    rel = f"containers/onboot/003-{container.name}"
    generated = oci_config(
        container, label=label, image_config={"Cmd": ["/bin/true"]}, id_map={}
    ).with_rootfs_mounts(rel, lower=f"{rel}/lower")
    doc = json.loads(generated.runtime_json())
    assert records(generated.runtime_json()) == expected_records(doc)


def test_runtime_json_reader_handles_escapes_extra_mounts_and_unsupported_fields() -> None:
    container = Container(
        "odd",
        "example.org/odd:1",
        runtime=Runtime(
            mkdir=["/run/a&b", "/var/<x>"],
            cgroups=["moby/odd"],
            mounts=[
                Mount(
                    destination="/mnt/x", type="bind", source="/src", options=["rbind", "rshared"]
                )
            ],
            interfaces=[{"name": "eth1"}],
            bind_ns={"net": "/run/netns/odd"},
        ),
    )
    generated = oci_config(container, label=None, image_config={"Cmd": ["sh"]}, id_map={})
    raw = generated.runtime_json()
    assert b"\\u0026" in raw  # Go-style escaping really is exercised
    got = records(raw)
    assert got == expected_records(json.loads(raw))
    assert ["mkdir", "/run/a&b"] in got
    assert ["unsupported", "interfaces"] in got
    assert ["unsupported", "bindNS"] in got


def test_runtime_json_reader_reports_broken_json() -> None:
    result = subprocess.run(
        ["busybox", "awk", "-f", str(AWK)], input=b'{"mounts": [', capture_output=True, check=False
    )
    assert result.returncode != 0
    assert result.stdout.startswith(b"error" + US.encode())


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_store(tmp_path_factory: pytest.TempPathFactory, debs_dir: Path) -> Store:
    layout = tmp_path_factory.mktemp("catalog") / "oci"
    for name in ("init", "runc", "format", "mount", "demo"):
        build(recipe_dir(name), debs_dir=debs_dir, layout=layout)
    return Store(layout)


def tag(name: str) -> str:
    return f"{name}:{CATALOG[name].version}"


RUN_TEST = """\
export PATH=/usr/sbin:/usr/bin:/sbin:/bin MOBY_CONSOLE=/var/log/console
. /etc/moby-init/containers.sh
mkdir -p "$MOBY_STATE" "$RUNC_ROOT" /var/log
run_to_completion onboot
start_services
for i in $(seq 1 50); do
    grep -q network /var/log/demo.log 2>/dev/null && break
    sleep 0.2
done
echo MOUNTS; grep ' /var/data ' /proc/mounts
echo DEMO; cat /var/log/demo.log
echo CONSOLE; cat /var/log/console
stop_services
echo LEFT; grep -c ' /containers/' /proc/mounts || true
echo AGAIN; run_to_completion onboot
"""


def _can_run_containers() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mount namespaces, loop devices, runc)"
    if shutil.which("losetup") is None or shutil.which("unshare") is None:
        return "needs losetup and unshare"
    return None


@pytest.mark.skipif(_can_run_containers() is not None, reason=_can_run_containers() or "")
def test_onboot_format_and_mount_then_the_demo_service_sees_the_disk(
    catalog_store: Store, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    unpack(catalog_store, tag("init"), root)
    unpack(catalog_store, tag("runc"), root)
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(32 * 1024 * 1024)
    loop = subprocess.run(
        ["losetup", "--find", "--show", str(disk)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        add_bundle(root, catalog_store, tag("format"), storage.format(loop), "onboot", 0)
        add_bundle(root, catalog_store, tag("mount"), storage.mount(loop, "/var/data"), "onboot", 1)
        add_bundle(root, catalog_store, tag("demo"), services.demo(), "services", 0)
        (root / "run-test.sh").write_text(RUN_TEST)
        script = (
            "set -e; mount --make-rprivate /; "
            f"mount --bind {root} {root}; mount --make-rshared {root}; "
            f"mount -t proc proc {root}/proc; mount --rbind /sys {root}/sys; "
            f"mount --rbind /dev {root}/dev; mount -t tmpfs tmpfs {root}/run; "
            f"mount -t tmpfs tmpfs {root}/var; "
            f"chroot {root} /bin/sh /run-test.sh"
        )
        result = subprocess.run(
            ["unshare", "--mount", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    out += "\nSTDERR\n" + result.stderr
    lines = out.splitlines()
    assert "moby-init: onboot 000-format start" in lines, out
    assert f"format: making an ext4 filesystem on {loop}" in lines, out
    assert "moby-init: onboot 000-format exit 0" in lines, out
    assert f"mount: {loop} mounted at /var/data (ext4)" in lines, out
    assert "moby-init: onboot 001-mount exit 0" in lines, out
    assert "moby-init: service demo started" in lines, out
    section = out.split("MOUNTS\n", 1)[1]
    assert section.startswith(f"{loop} /var/data ext4 ")  # the host side sees the mount
    demo = out.split("DEMO\n", 1)[1].split("CONSOLE\n", 1)[0]
    assert f"demo: storage ok (/data on {loop} ext4" in demo
    console = out.split("CONSOLE\n", 1)[1]
    assert "demo: demo: started" in console
    assert "moby-init: service demo stopped" in lines
    assert out.split("LEFT\n", 1)[1].split("\n", 1)[0] == "0"  # every bundle mount undone
    # Booting again: the disk keeps its filesystem and its mount.
    again = out.split("AGAIN\n", 1)[1]
    assert f"format: {loop} already has a filesystem (ext4); leaving it alone" in again
    assert f"mount: {loop} is already mounted at /var/data" in again
    assert "moby-init: onboot 001-mount exit 0" in again
    blkid = subprocess.run(
        ["blkid", "-o", "value", "-s", "TYPE", str(disk)], capture_output=True, text=True
    )
    assert blkid.stdout.strip() == "ext4"
