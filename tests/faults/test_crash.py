"""``kill -9`` in the middle of a pull and of an output write, then a rerun.

Rows of :data:`tests.faults.cases.CRASHES`. The work runs in a child process (a small
script), which is killed with SIGKILL once the files it writes show that it is half-way:
a temp file growing in the store's ``ingest/`` (the layer trickles through a throttling
proxy), or a temp output file growing next to the final names.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import pytest

from moby_assemble import Container, File, Kernel, System
from moby_assemble.assemble import Assembler
from moby_assemble.registry import ImageReference, RegistryClient, RegistryConfig
from moby_assemble.store import Store
from moby_assemble.testing import Fault, FaultProxy, Image, Layer, LocalRegistry

from .cases import CRASHES
from .conftest import REPO, Subject, push_set, store_is_healthy

ROOT = Path(__file__).resolve().parents[2]

_PULL = textwrap.dedent(
    """
    import sys
    from moby_assemble import Platform
    from moby_assemble.registry import ImageReference, Puller, RegistryClient, RegistryConfig
    from moby_assemble.store import Store

    host, store, repo = sys.argv[1:4]
    with (
        RegistryClient(registries={host: RegistryConfig(plain_http=True)}) as client,
        Puller(client, Store(store)) as puller,
    ):
        puller.pull(ImageReference.parse(f"{host}/{repo}:1"), Platform.parse("linux/amd64"))
    print("pulled", flush=True)
    """
)

_WRITE = textwrap.dedent(
    """
    import sys
    from moby_assemble import System
    from moby_assemble._lock import Lock
    from moby_assemble.assemble import Assembler

    cache, system_yaml, lock, out = sys.argv[1:5]
    system = System.from_yaml(system_yaml)
    with Assembler(cache, offline=True, platform="linux/amd64") as asm:
        bundle = asm.assemble(system, lock=Lock.load(lock))
        bundle.write(out, formats=["kernel+initrd", "tar"], name="sys")
    print("written", flush=True)
    """
)


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(child: subprocess.Popen[str], ready: Callable[[], bool], timeout: float) -> None:
    """SIGKILL ``child`` as soon as ``ready()``; fail if it ends or times out first."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if child.poll() is not None:
                out, err = child.communicate()
                pytest.fail(f"the child ended before it could be killed: {out}\n{err}")
            if time.monotonic() > deadline:
                pytest.fail("the child never reached the point where it is killed")
            time.sleep(0.002)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL


def _hidden(directory: Path) -> list[Path]:
    """Temporary names (files and directories starting with ``.``) in ``directory``."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith("."))


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


# -- kill -9 during a pull ----------------------------------------------------------------------


def test_kill_during_pull(subject: Subject, proxy: FaultProxy, tmp_path: Path) -> None:
    case = CRASHES["kill-during-pull"]
    assert case.error is None
    store = Store(tmp_path / "store")
    ingest = store.path / "ingest"
    # 1 MiB in 64 KiB pieces, 50 ms apart: the layer takes about 0.8 s to arrive.
    rule = proxy.inject(Fault.throttle(65536, 0.05, path=f"/blobs/{subject.layer}"))

    def half_way() -> bool:
        return rule.fired > 0 and any(p.stat().st_size >= 6 * 65536 for p in _files(ingest))

    _kill_when(_spawn(_PULL, proxy.host, str(store.path), REPO), half_way, timeout=30)

    # The dead writer's temp file is there; nothing else is.
    assert len(_files(ingest)) == 1
    assert not store.has_blob(subject.layer)
    assert store.names() == ()
    assert store.verify() == ()

    # The rerun succeeds in the same store…
    child = _spawn(_PULL, proxy.host, str(store.path), REPO)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.strip() == "pulled"
    with store.open_blob(subject.layer) as f:
        assert f.read() == subject.layer_bytes()
    # …and gc (the kernel dropped the dead process's lease) removes the leftover.
    assert store.gc(timeout=5).removed_temp_files == 1
    store_is_healthy(store)
    assert store.has_blob(subject.layer)


# -- kill -9 during an assembly -------------------------------------------------------------------

_ASSEMBLE = textwrap.dedent(
    """
    import sys
    from moby_assemble import System
    from moby_assemble.assemble import Assembler
    from moby_assemble.registry import RegistryConfig

    cache, system_yaml, host = sys.argv[1:4]
    registries = {host: RegistryConfig(plain_http=True)}
    with Assembler(cache, platform="linux/amd64", registries=registries) as asm:
        print(asm.assemble(System.from_yaml(system_yaml)).rootfs_sha256, flush=True)
    """
)


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, as a stream (nothing held in memory)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


@pytest.fixture(scope="module")
def zeros_image(seeded: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image whose one zstd layer (a few KiB) holds a 64 MiB file of zeros: slow enough
    to flatten that a process can be killed half-way."""
    size = 64 << 20

    def zeros() -> BinaryIO:
        return io.BufferedReader(_Zeros(size))

    layer = Layer(compression="zstd").dir("var").file("var/zeros", zeros, size=size)
    ref = ImageReference.parse(f"{seeded.host}/faults/zeros:1")
    with RegistryClient() as client:
        built = Image((layer,), config={"Cmd": ["/bin/true"]}).build()
        push_set(client, built, ref, tmp_path_factory.mktemp("zeros"))
    return str(ref)


def test_kill_during_assembly(zeros_image: str, seeded: LocalRegistry, tmp_path: Path) -> None:
    case = CRASHES["kill-during-assembly"]
    assert case.error is None
    system_yaml = tmp_path / "system.yml"
    system_yaml.write_text(System().with_service(Container("zeros", zeros_image)).to_yaml())
    cache = tmp_path / "cache"
    args = (str(cache), str(system_yaml), seeded.host)

    def writing_the_root_filesystem() -> bool:
        # The zeros image's section, under its temporary name.
        return any(tmp.stat().st_size > 0 for tmp in (cache / "sections").glob(".v2-*.tmp"))

    _kill_when(_spawn(_ASSEMBLE, *args), writing_the_root_filesystem, timeout=60)

    store_is_healthy(Store(cache / "store"))
    for directory in ("flat", "sections"):
        finals = [p for p in _files(cache / directory) if not p.name.startswith(".")]
        assert finals == [], directory
    bundles = cache / "bundles"
    assert not bundles.exists() or all(p.name.startswith(".") for p in bundles.iterdir())
    litter = [p for d in ("bundles", "flat", "sections") for p in _hidden(cache / d)]
    assert litter, "the killed assembly left no temporary name: the kill came too late"
    for path in litter:  # as if the rerun came later than the grace period for new names
        then = time.time() - 60
        os.utime(path, (then, then))

    child = _spawn(_ASSEMBLE, *args)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    # The rerun removed what the killed process left behind.
    assert [p for d in ("bundles", "flat", "sections") for p in _hidden(cache / d)] == []
    registries = {seeded.host: RegistryConfig(plain_http=True)}
    with Assembler(tmp_path / "clean", platform="linux/amd64", registries=registries) as asm:
        clean = asm.assemble(System.from_yaml(system_yaml)).rootfs_sha256
    assert out.strip() == clean
    store_is_healthy(Store(cache / "store"))


# -- kill -9 during an output write ---------------------------------------------------------------


@attrs.frozen
class Built:
    cache: Path
    system_yaml: Path
    lock: Path


@pytest.fixture(scope="module")
def built(seeded: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A system (kernel image + 24 MiB of incompressible file content) resolved, assembled
    once, its lock and YAML saved, so children can rebuild offline from the cache."""
    work = tmp_path_factory.mktemp("crash-output")
    kernel = Image((Layer().file("kernel", b"MZ not really a kernel\n"),))
    with RegistryClient() as client:
        ref = ImageReference.parse(f"{seeded.host}/faults/kernel:1")
        push_set(client, kernel.build(), ref, work)
    big = work / "big.bin"
    with open(big, "wb") as f:
        f.write(os.urandom(24 << 20))
    system = System(
        kernel=Kernel(f"{seeded.host}/faults/kernel:1", cmdline="console=ttyS0", tar="none")
    ).with_file(File("var/big.bin", source=str(big), mode=0o644))
    system_yaml = work / "system.yml"
    system_yaml.write_text(system.to_yaml())
    cache = work / "cache"
    registries = {seeded.host: RegistryConfig(plain_http=True)}
    with Assembler(cache, platform="linux/amd64", registries=registries) as asm:
        lock = asm.resolve(system)
        asm.assemble(system, lock=lock)
    return Built(cache, system_yaml, lock.save(work / "system.lock.json"))


_FINAL = ("sys-kernel", "sys-initrd.img", "sys-cmdline", "sys.tar")


def _digests(directory: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
        for name in _FINAL
        if (directory / name).exists()
    }


def test_kill_during_output_write(built: Built, tmp_path: Path) -> None:
    case = CRASHES["kill-during-output-write"]
    assert case.error is None
    out = tmp_path / "out"
    args = (str(built.cache), str(built.system_yaml), str(built.lock), str(out))

    def initrd_growing() -> bool:
        return any(
            p.name.startswith(".sys-initrd.img.tmp-") and p.stat().st_size > 0 for p in _files(out)
        )

    _kill_when(_spawn(_WRITE, *args), initrd_growing, timeout=60)

    # Nothing under a final name; only hidden temp files of the dead writer (and its lock
    # file, which nobody holds any more).
    assert _digests(out) == {}
    litter = list(out.iterdir())
    assert all(p.name.startswith(".") for p in litter)
    assert any(p.name.startswith(".moby-assemble-") for p in litter)
    assert Store(built.cache / "store").verify() == ()
    for path in litter:  # as if the rerun came later than the grace period for new names
        then = time.time() - 60
        os.utime(path, (then, then))

    # The rerun removes that litter and writes every output, complete…
    child = _spawn(_WRITE, *args)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 0, stderr
    assert stdout.strip() == "written"
    assert sorted(_digests(out)) == sorted(_FINAL)
    assert _hidden(out) == []

    # …and identical to an undisturbed run.
    with Assembler(built.cache, offline=True, platform="linux/amd64") as asm:
        from moby_assemble._lock import Lock

        bundle = asm.assemble(System.from_yaml(built.system_yaml), lock=Lock.load(built.lock))
        bundle.write(tmp_path / "clean", formats=["kernel+initrd", "tar"], name="sys")
    assert _digests(out) == _digests(tmp_path / "clean")
    assert Store(built.cache / "store").verify() == ()
