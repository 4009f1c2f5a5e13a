"""Two processes building into one cache at once: rows of :data:`tests.faults.cases.CONCURRENCY`.

Children start together (they wait for a start file), pull through a proxy that slows every
layer download so that their pulls overlap, and assemble into the same cache directory.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from moby_assemble import Container, System
from moby_assemble.assemble import Assembler
from moby_assemble.registry import ImageReference, RegistryClient, RegistryConfig
from moby_assemble.store import Store
from moby_assemble.testing import Fault, FaultProxy, Image, Layer, LocalRegistry

from .cases import CONCURRENCY
from .conftest import REPO, Subject, push_set, store_is_healthy

ROOT = Path(__file__).resolve().parents[2]

_BUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from moby_assemble import System
    from moby_assemble.assemble import Assembler
    from moby_assemble.registry import RegistryConfig

    cache, system_yaml, host, go, ready = sys.argv[1:6]
    system = System.from_yaml(Path(system_yaml))
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    registries = {host: RegistryConfig(plain_http=True)}
    with Assembler(cache, platform="linux/amd64", registries=registries) as asm:
        print(asm.assemble(system).rootfs_sha256, flush=True)
    """
)


@pytest.fixture(scope="module")
def tool(seeded: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A second, small image, so that the systems share some images and not others."""
    layers = (
        Layer().dir("bin").file("bin/tool", b"#!/bin/sh\necho tool\n", mode=0o755),
        Layer(compression="zstd").dir("etc").file("etc/tool.conf", b"level=3\n"),
    )
    ref = ImageReference.parse(f"{seeded.host}/faults/tool:1")
    with RegistryClient() as client:
        built = Image(layers, config={"Cmd": ["/bin/tool"]}).build()
        push_set(client, built, ref, tmp_path_factory.mktemp("tool"))
    return "faults/tool:1"


def _systems(host: str, tool: str) -> tuple[System, System]:
    app = Container("app", f"{host}/{REPO}:1")
    helper = Container("helper", f"{host}/{tool}")
    first = System().with_service(app, Container("tool", f"{host}/{tool}"))
    second = System().with_onboot(helper).with_service(app)
    return first, second


def _lone_build(system: System, host: str, cache: Path) -> str:
    registries = {host: RegistryConfig(plain_http=True)}
    with Assembler(cache, platform="linux/amd64", registries=registries) as asm:
        return asm.assemble(system).rootfs_sha256


def _build_together(systems: list[System], host: str, cache: Path, work: Path) -> list[str]:
    go = work / "go"
    children = []
    for i, system in enumerate(systems):
        path = work / f"system-{i}.yml"
        path.write_text(system.to_yaml())
        ready = work / f"ready-{i}"
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", _BUILD, str(cache), str(path), host, str(go), str(ready)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    # Both at the start line (imports done, however loaded the machine is), then go.
    deadline = time.monotonic() + 60
    while not all((work / f"ready-{i}").exists() for i in range(len(systems))):
        assert time.monotonic() < deadline, "the builders never got ready"
        assert all(c.poll() is None for c in children), "a builder died before the start"
        time.sleep(0.01)
    go.touch()
    digests = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        digests.append(out.strip())
    return digests


def _slow_layers(proxy: FaultProxy) -> None:
    # Every blob trickles (64 KiB per 20 ms, so the 1 MiB layer takes about 0.3 s): both
    # processes are mid-download together.
    proxy.inject(Fault.throttle(64 * 1024, 0.02, path="/blobs/sha256:", times=None))


def test_two_builds_one_store(
    proxy: FaultProxy, tool: str, subject: Subject, tmp_path: Path
) -> None:
    case = CONCURRENCY["two-builds-one-store"]
    assert case.error is None
    system, _ = _systems(proxy.host, tool)
    _slow_layers(proxy)
    cache = tmp_path / "cache"
    digests = _build_together([system, system], proxy.host, cache, tmp_path)
    assert digests[0] == digests[1]
    assert digests[0].startswith("sha256:")
    store = Store(cache / "store")
    store_is_healthy(store)
    blobs = [d for d, _ in store.blob_files()]
    assert len(blobs) == len(set(blobs))
    # Neither found the big layer in the store: their downloads overlapped.
    assert len(proxy.find("GET", f"/blobs/{subject.layer}")) == 2
    proxy.clear_faults()
    assert _lone_build(system, proxy.host, tmp_path / "lone") == digests[0]


def test_two_different_builds_one_store(proxy: FaultProxy, tool: str, tmp_path: Path) -> None:
    case = CONCURRENCY["two-different-builds-one-store"]
    assert case.error is None
    systems = list(_systems(proxy.host, tool))
    _slow_layers(proxy)
    cache = tmp_path / "cache"
    digests = _build_together(systems, proxy.host, cache, tmp_path)
    store_is_healthy(Store(cache / "store"))
    proxy.clear_faults()
    lone = [_lone_build(s, proxy.host, tmp_path / f"lone-{i}") for i, s in enumerate(systems)]
    assert digests == lone
    assert digests[0] != digests[1]
