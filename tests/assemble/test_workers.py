"""Sections written by worker processes: the same bytes as one process, the same errors,
and no workers where they would not help."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import SimpleNamespace

import pytest

from moby_assemble import IntegrityError, LayerError, System
from moby_assemble.assemble import Assembler, ImageCopied, ImageFlattened
from moby_assemble.assemble._workers import SectionWorkers

from .test_incremental import Recorder


def _assemble(system: System, cache: Path, workers: int, events: Recorder | None = None):
    with Assembler(cache, section_workers=workers, progress=events) as asm:
        return asm.assemble(system)


def test_workers_give_the_bytes_and_events_of_one_process(
    system: System, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alone_events, shared_events = Recorder(), Recorder()
    alone = _assemble(system, tmp_path / "alone", 0, alone_events)
    with caplog.at_level(logging.INFO, logger="moby_assemble.assemble"):
        shared = _assemble(system, tmp_path / "shared", 2, shared_events)
    assert "started 2 section workers" in caplog.text
    assert shared.directory.name == alone.directory.name
    assert shared.rootfs_sha256 == alone.rootfs_sha256
    with shared.open_rootfs() as a, alone.open_rootfs() as b:
        assert a.read() == b.read()
    assert sorted(p.name for p in (tmp_path / "shared" / "sections").iterdir()) == sorted(
        p.name for p in (tmp_path / "alone" / "sections").iterdir()
    )

    def seen(events: Recorder) -> list[tuple[str, ...]]:
        copied = [(e.location, e.reference, str(e.cached)) for e in events.of(ImageCopied)]
        flattened = sorted((e.reference, str(e.size)) for e in events.of(ImageFlattened))
        return [*copied, *flattened]

    assert seen(shared_events) == seen(alone_events)
    # Nothing left running or half-written.
    for directory in ("sections", "bundles", "flat"):
        assert not list((tmp_path / "shared" / directory).glob(".*"))


def test_no_workers_for_fewer_than_two_sections_or_when_told(
    system: System, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _assemble(system, tmp_path / "cache", 0)
    with caplog.at_level(logging.INFO, logger="moby_assemble.assemble"):
        _assemble(system, tmp_path / "none", 0)  # told not to
        _assemble(system, tmp_path / "cache", 2)  # everything stored: nothing to write
    assert "section workers" not in caplog.text
    with pytest.raises(ValueError, match="section_workers"):
        Assembler(tmp_path / "x", section_workers=-1)


def test_a_failing_worker_leaves_the_error_to_the_pipeline(system: System, tmp_path: Path) -> None:
    errors = []
    for workers in (0, 2):
        cache = tmp_path / f"cache{workers}"
        bundle = _assemble(system, cache, 0)
        web = bundle.container("web")
        shutil.rmtree(cache / "sections")
        shutil.rmtree(cache / "flat", ignore_errors=True)
        # Damage the web image's top layer in the store: flattening it fails.
        layer = _top_layer(cache, web.manifest_digest)
        data = bytearray(layer.read_bytes())
        data[len(data) // 2] ^= 0xFF
        layer.chmod(0o644)
        layer.write_bytes(bytes(data))
        with pytest.raises((IntegrityError, LayerError)) as info:
            _assemble(system, cache, workers)
        errors.append((type(info.value), str(info.value)))
        assert not [p for p in (cache / "sections").glob(".*")]
        assert not list((cache / "bundles").glob(".assembling-*"))
    assert errors[0] == errors[1]


def _top_layer(cache: Path, manifest_digest: str) -> Path:
    import json

    blobs = cache / "store" / "blobs" / "sha256"
    manifest = json.loads((blobs / manifest_digest.split(":")[1]).read_bytes())
    return blobs / manifest["layers"][-1]["digest"].split(":")[1]


class _InstantPool:
    """A stand-in for the process pool whose jobs are over before ``submit`` returns: a
    race a real pool produces only now and then (a tiny section, a fast worker), and which
    deadlocked the dispatcher when the job's callback ran under its lock. ``broken`` makes
    ``submit`` fail as it does once the pool's processes are gone."""

    def __init__(self, broken: bool = False) -> None:
        self.submitted: list[str] = []
        self.broken = broken

    def submit(self, fn: object, job: SimpleNamespace) -> Future[object]:
        if self.broken:
            raise BrokenProcessPool("the workers died")
        self.submitted.append(job.key)
        future: Future[object] = Future()
        future.set_result(f"section {job.key}")
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _in_thread(fn: Callable[[], None]) -> None:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "deadlocked"


def test_jobs_done_before_their_callback_is_attached_neither_deadlock_nor_stall() -> None:
    pool = _InstantPool()
    workers = SectionWorkers(pool, 1)  # type: ignore[arg-type]

    def submit_three() -> None:
        for key in ("a", "b", "c"):
            workers.submit(SimpleNamespace(key=key))  # type: ignore[arg-type]

    _in_thread(submit_three)
    # One worker, yet every job was handed out: each finished job freed it for the next.
    assert pool.submitted == ["a", "b", "c"]
    assert [workers.take(k) for k in ("a", "b", "c")] == ["section a", "section b", "section c"]
    workers.close()


def test_a_pool_without_processes_leaves_every_section_to_the_pipeline() -> None:
    workers = SectionWorkers(_InstantPool(broken=True), 2)  # type: ignore[arg-type]
    _in_thread(lambda: workers.submit(SimpleNamespace(key="a")))  # type: ignore[arg-type]
    workers.submit(SimpleNamespace(key="b"))  # type: ignore[arg-type]
    assert (workers.take("a"), workers.take("b")) == (None, None)
    workers.close()
