"""SpdxGenerator in the real Assembler: sbom.spdx.json in the root, reproducible, and
available offline once the attestations are in the store."""

from __future__ import annotations

import inspect
import tarfile
from pathlib import Path

import jsonschema
import pytest

from moby_assemble import Container, OfflineError, System
from moby_assemble.assemble import Assembler, SbomGenerator
from moby_assemble.registry import RegistryClient
from moby_assemble.sbom import DEFAULT_SBOM_PATH, SpdxGenerator, system_sbom

from .conftest import SbomImages, check_spdx


def _system(images: SbomImages) -> System:
    return System(
        platform="linux/amd64",
        onboot=[Container("seed", str(images.plain))],
        services=[
            Container("app", str(images.attested)),
            Container("hello", str(images.catalog)),
            Container("app2", str(images.attested)),
        ],
    )


def _sbom_member(rootfs_tar: Path) -> tuple[bytes, dict[str, str]]:
    with tarfile.open(rootfs_tar) as tar:
        members = [m for m in tar if m.name == DEFAULT_SBOM_PATH]
        assert len(members) == 1
        f = tar.extractfile(members[0])
        assert f is not None
        return f.read(), dict(members[0].pax_headers)


def test_the_generator_has_the_signature_the_assemblers_protocol_asks_for():
    want = inspect.signature(SbomGenerator.generate)
    got = inspect.signature(SpdxGenerator.generate)
    assert [(p.name, p.kind) for p in got.parameters.values()] == [
        (p.name, p.kind) for p in want.parameters.values()
    ]
    generator: SbomGenerator = SpdxGenerator()  # and mypy agrees
    assert generator.generate([], store=None, platform=None, source_date_epoch=0) == (  # type: ignore[arg-type]
        (DEFAULT_SBOM_PATH, system_sbom([], name="system")),
    )


def test_an_assembly_with_the_generator_writes_one_valid_reproducible_sbom(
    sbom_images: SbomImages, tmp_path: Path, spdx_schema: jsonschema.Draft7Validator
):
    system = _system(sbom_images)
    results = []
    for cache in ("one", "two"):
        with RegistryClient() as client, Assembler(
            tmp_path / cache, client=client, source_date_epoch=1_700_000_000
        ) as asm:  # fmt: skip
            bundle = asm.assemble(system, sbom=SpdxGenerator("demo", client=client))
        results.append(_sbom_member(bundle.rootfs_tar))
    (data, pax), (again, _) = results
    assert data == again
    assert pax["LINUXKIT.source"] == "linuxkit.sbom"
    doc = check_spdx(data, spdx_schema)
    assert doc["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    images = [p for p in doc["packages"] if p.get("primaryPackagePurpose") == "CONTAINER"]
    assert len(images) == 3
    (app,) = [p for p in images if p["name"] == sbom_images.attested.name]
    assert "used at services[0], services[2]" in app["comment"]
    assert {"zlib1g", "hello-tool", "libhello1"} <= {p["name"] for p in doc["packages"]}


def test_a_later_offline_assembly_reads_the_attestations_from_the_store(
    sbom_images: SbomImages, tmp_path: Path
):
    system = _system(sbom_images)
    with RegistryClient() as client, Assembler(tmp_path / "cache", client=client) as asm:
        online = asm.assemble(system, sbom=SpdxGenerator("demo", client=client))
    with Assembler(tmp_path / "cache", offline=True) as asm:
        offline = asm.assemble(system, lock=online.lock, sbom=SpdxGenerator("demo"))
    assert _sbom_member(offline.rootfs_tar)[0] == _sbom_member(online.rootfs_tar)[0]


def test_without_a_client_a_missing_attestation_stops_the_build_rather_than_drop_it(
    sbom_images: SbomImages, tmp_path: Path
):
    system = System(platform="linux/amd64", services=[Container("app", str(sbom_images.attested))])
    with Assembler(tmp_path / "cache") as asm, pytest.raises(OfflineError) as info:
        asm.assemble(system, sbom=SpdxGenerator("demo"))
    assert str(sbom_images.attested) in str(info.value)


def test_inputs_group_uses_by_image(sbom_images: SbomImages, tmp_path: Path):
    seen: list[tuple[str, ...]] = []

    class Spy(SpdxGenerator):
        def generate(self, uses, *, store, platform, source_date_epoch):  # type: ignore[no-untyped-def]
            inputs = self.inputs(uses, store)
            seen.extend(i.locations for i in inputs)
            return super().generate(
                uses, store=store, platform=platform, source_date_epoch=source_date_epoch
            )

    with RegistryClient() as client, Assembler(tmp_path / "cache", client=client) as asm:
        asm.assemble(_system(sbom_images), sbom=Spy(client=client))
    assert sorted(seen) == [("onboot[0]",), ("services[0]", "services[2]"), ("services[1]",)]


def test_sbom_true_uses_the_assemblers_own_client_and_matches_an_explicit_generator(
    sbom_images: SbomImages, tmp_path: Path
):
    system = _system(sbom_images)
    with Assembler(tmp_path / "a") as asm:
        default = asm.assemble(system, sbom=True)
    with RegistryClient() as client, Assembler(tmp_path / "b", client=client) as asm:
        explicit = asm.assemble(system, sbom=SpdxGenerator(client=client))
    assert _sbom_member(default.rootfs_tar)[0] == _sbom_member(explicit.rootfs_tar)[0]
    with Assembler(tmp_path / "a") as asm:
        without = asm.assemble(system, lock=default.lock, sbom=False)
    with tarfile.open(without.rootfs_tar) as tar:
        assert DEFAULT_SBOM_PATH not in tar.getnames()
