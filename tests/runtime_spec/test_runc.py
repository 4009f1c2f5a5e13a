"""A generated config.json runs under the real runc (busybox-static as the root filesystem)."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from moby_assemble._model import Container, ImageConfig
from moby_assemble._runtime_spec import oci_config
from tests.runc_bundle import BUSYBOX, run_bundle, runc_unavailable

pytestmark = pytest.mark.skipif(runc_unavailable() is not None, reason=runc_unavailable() or "")


SCRIPT = "; ".join(
    [
        "echo uid=$(id -u) gid=$(id -g)",
        "echo host=$(hostname)",
        "echo foo=$FOO",
        "echo cwd=$(pwd)",
        "echo nofile=$(ulimit -n)",
        "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status",
        "echo data=$(cat /data/hello)",
        "touch /tmp/ok && echo tmpfs=writable",
        "touch /rootfile 2>/dev/null && echo root=writable || echo root=readonly",
    ]
)


def test_generated_bundle_runs_under_runc_with_the_configured_settings(
    tmp_path: pathlib.Path,
) -> None:
    rootfs = tmp_path / "bundle" / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for directory in ("proc", "dev", "sys", "tmp", "data", "etc"):
        (rootfs / directory).mkdir()
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    (rootfs / "bin" / "sh").symlink_to("busybox")
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("hi from the host\n")

    label = ImageConfig(capabilities=["CAP_CHOWN"], readonly=True, env=["FOO=label"])
    container = Container(
        "runc-check",
        "example.org/check:1",
        capabilities_add=["CAP_KILL", "CAP_CHOWN"],
        command=["/bin/busybox", "sh", "-c", SCRIPT],
        env=["PATH=/bin", "FOO=bar"],
        cwd="/tmp",
        gid="other",
        uts="new",
        hostname="moby-test",
        binds=[f"{data}:/data:ro"],
        tmpfs=["/tmp:size=1m"],
        rlimits=["nofile,100,200"],
        no_new_privileges=True,
    )
    bundle = oci_config(
        container, label=label, image_config={"Cmd": ["/bin/false"]}, id_map={"other": 100}
    )
    (tmp_path / "bundle" / "config.json").write_bytes(bundle.config_json())

    result = run_bundle(tmp_path / "bundle", tmp_path / "state")
    assert result.returncode == 0, result.stderr
    lines = dict(
        line.split("=", 1) if "=" in line else line.split(":", 1)
        for line in result.stdout.splitlines()
    )
    assert lines["uid"].strip() == "0 gid=100"
    assert lines["host"] == "moby-test"
    assert lines["foo"] == "bar"
    assert lines["cwd"] == "/tmp"
    assert lines["nofile"] == "100"
    # CAP_CHOWN (bit 0) + CAP_KILL (bit 5), once each: 0x21 in every set we configured.
    assert lines["CapEff"].strip() == "0000000000000021"
    assert lines["CapBnd"].strip() == "0000000000000021"
    assert lines["NoNewPrivs"].strip() == "1"
    assert lines["data"] == "hi from the host"
    assert lines["tmpfs"] == "writable"
    assert lines["root"] == "readonly"
