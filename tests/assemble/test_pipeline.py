"""The pipeline: named steps in order, progress events, the SBOM hook, custom step lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from moby_assemble import Container, File, Platform, System
from moby_assemble.assemble import (
    STEPS,
    Assembler,
    AssemblyEvent,
    AssemblyFinished,
    ImageUse,
    StepFinished,
    StepStarted,
)
from moby_assemble.registry import BlobFinished
from moby_assemble.store import Store

from .conftest import Components, last, read_members


def test_steps_run_in_linuxkit_order_and_report_what_they_wrote(
    components: Components, tmp_path: Path
):
    events: list[AssemblyEvent] = []
    system = System(platform="linux/amd64", services=[Container("web", components.web)])
    with Assembler(tmp_path / "cache", progress=events.append) as asm:
        bundle = asm.assemble(system)
    assert [s.name for s in STEPS] == [
        "pull", "kernel", "init", "volumes", "onboot", "onshutdown", "services", "files", "sbom",
    ]  # fmt: skip
    started = [e for e in events if isinstance(e, StepStarted)]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.step for e in started] == [s.name for s in STEPS]
    assert [e.step for e in finished] == [s.name for s in STEPS]
    assert [(e.index, e.total) for e in started] == [(i, len(STEPS)) for i in range(len(STEPS))]
    assert {e.step for e in finished if not e.skipped} == {"pull", "services"}
    members = read_members(bundle.rootfs_tar)
    assert sum(e.entries for e in finished) == len(members)
    assert sum(e.bytes for e in finished) + 1024 == bundle.rootfs_tar.stat().st_size
    assert any(isinstance(e, BlobFinished) for e in events)  # the registry's events come too
    assert events[-1] == AssemblyFinished(
        bundle.directory.name, bundle.rootfs_tar.stat().st_size, events[-1].seconds
    )


class RecordingSbom:
    """An SBOM generator that lists what it was given (no SPDX is invented here)."""

    def __init__(self) -> None:
        self.uses: Sequence[ImageUse] = ()
        self.platform: Platform | None = None

    def generate(
        self, uses: Sequence[ImageUse], *, store: Store, platform: Platform, source_date_epoch: int
    ) -> Sequence[tuple[str, bytes]]:
        self.uses = uses
        self.platform = platform
        names = [u.location for u in uses]
        assert all(store.has_blob(u.image.manifest.digest) for u in uses)
        return [("sbom.spdx.json", json.dumps(names).encode())]


def test_sbom_step_is_skipped_by_default_and_calls_a_generator_with_every_image_use(
    system: System, tmp_path: Path
):
    with Assembler(tmp_path / "cache") as asm:
        plain = asm.assemble(system)
        generator = RecordingSbom()
        with_sbom = asm.assemble(system, lock=plain.lock, sbom=generator)
    assert "sbom.spdx.json" not in [m.name for m in read_members(plain.rootfs_tar)]
    members = read_members(with_sbom.rootfs_tar)
    sbom = last(members, "sbom.spdx.json")
    assert members[-1] == sbom
    assert (sbom.source, sbom.location) == ("linuxkit.sbom", "sbom")
    assert json.loads(sbom.data) == [
        "kernel", "init[0]", "init[1]", "volume[0]", "onboot[0]", "onboot[1]", "onshutdown[0]",
        "services[0]", "services[1]",
    ]  # fmt: skip
    assert generator.platform == Platform.parse("linux/amd64")
    assert generator.uses[0].reference == system.kernel.image


def test_a_custom_step_list_replaces_the_pipeline(components: Components, tmp_path: Path):
    system = System(
        platform="linux/amd64",
        services=[Container("web", components.web)],
    ).with_file(File("etc/motd", contents="hi"))
    without_files = tuple(s for s in STEPS if s.name != "files")
    with Assembler(tmp_path / "cache") as asm:
        bundle = asm.assemble(system, steps=without_files)
    assert "etc/motd" not in [m.name for m in read_members(bundle.rootfs_tar)]
