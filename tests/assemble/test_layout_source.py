"""Systems whose images come from OCI layouts on disk (``oci-layout:DIR:TAG``): resolved,
locked and assembled offline, with no registry running (except the one mixed test)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import attrs
import pytest

from moby_assemble import (
    ConfigError,
    Container,
    IntegrityError,
    Lock,
    StoreError,
    System,
    Volume,
)
from moby_assemble._lock import pin_system
from moby_assemble.assemble import Assembler, Bundle
from moby_assemble.components import init, kernel, runtime, services
from moby_assemble.testing import Image, ImageIndex, ImageSet, Layer

from .conftest import (
    Components,
    container_image,
    init_image,
    kernel_image,
    last,
    read_members,
    runc_image,
)

PLATFORM = "linux/amd64"


@attrs.frozen
class Layouts:
    """Where the test images are: ``config/oci`` (written by moby_assemble.testing) and
    ``config/copied`` (skopeo's copy of the sshd image)."""

    config: Path
    oci: Path
    copied: Path
    data: ImageSet
    web: ImageSet


def _write_layouts(config: Path) -> Layouts:
    oci = config / "oci"
    kernel_image().build().write_oci_layout(oci, "kernel:6.6")
    init_image().build().write_oci_layout(oci, "init:1")
    runc_image().build().write_oci_layout(oci, "runc:1")
    web = container_image("web", {"capabilities": ["CAP_NET_BIND_SERVICE"]}).build()
    web.write_oci_layout(oci, "web:1")
    data = ImageIndex(
        (
            Image([Layer().dir("seed").file("seed/rows.csv", b"a,b\n")]),
            Image([Layer().dir("seed").file("seed/rows.csv", b"arm\n")], platform="linux/arm64"),
        )
    ).build()
    data.write_oci_layout(oci, "data:1")
    sshd = config / "sshd-src"
    container_image("sshd", {"readonly": True, "pid": "host"}).build().write_oci_layout(
        sshd, "sshd"
    )
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo is not installed")
    copied = config / "copied"
    subprocess.run(
        [skopeo, "copy", f"oci:{sshd}:sshd", f"oci:{copied}:sshd:1"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    shutil.rmtree(sshd)
    return Layouts(config, oci, copied, data, web)


def _yaml(oci: str, copied: str, *, web: str = "web:1") -> str:
    return f"""\
kernel:
  image: oci-layout:{oci}:kernel:6.6
  cmdline: console=ttyS0
init:
  - oci-layout:{oci}:init:1
  - oci-layout:{oci}:runc:1
volumes:
  - name: data
    image: oci-layout:{oci}:data:1
    format: oci
    platforms: [linux/amd64, linux/arm64]
services:
  - name: web
    image: oci-layout:{oci}:{web}
  - name: sshd
    image: oci-layout:{copied}:sshd:1
"""


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Layouts:
    return _write_layouts(tmp_path_factory.mktemp("layout-source") / "config")


@pytest.fixture
def system(layouts: Layouts) -> System:
    return System.from_yaml(_yaml(str(layouts.oci), str(layouts.copied)), platform=PLATFORM)


def _assemble(cache: Path, system: System, lock: Lock | None = None) -> Bundle:
    with Assembler(cache, offline=True) as asm:
        return asm.assemble(system, lock=lock)


def _index_digest(layout: Path, tag: str) -> str:
    for entry in json.loads((layout / "index.json").read_text())["manifests"]:
        if entry["annotations"]["org.opencontainers.image.ref.name"] == tag:
            return str(entry["digest"])
    raise AssertionError(f"no {tag} in {layout}")


def test_a_system_of_layout_images_assembles_offline_without_a_registry(
    tmp_path: Path, layouts: Layouts, system: System
) -> None:
    bundle = _assemble(tmp_path / "cache", system)
    members = read_members(bundle.rootfs_tar)
    assert last(members, "boot/kernel").data == b"MZ fake bzImage"
    assert last(members, "usr/bin/runc").data == b"\x7fELF runc"
    assert last(members, "etc/issue").data == b"runc wins\n"
    assert last(members, "containers/services/web/lower/bin/web").data == b"#!web\n"
    # The image skopeo copied: readonly from its label, so a rootfs, not a lower dir.
    assert last(members, "containers/services/sshd/rootfs/bin/sshd").data == b"#!sshd\n"
    web = bundle.container("web")
    assert web.image == f"oci-layout:{layouts.oci}:web:1"
    assert web.manifest_digest == _index_digest(layouts.oci, "web:1")
    assert last(members, "containers/services/web/lower/bin/web").source == web.image


def test_a_volume_in_oci_format_carries_every_platform_of_its_layout_image(
    tmp_path: Path, layouts: Layouts, system: System
) -> None:
    bundle = _assemble(tmp_path / "cache", system)
    prefix = "containers/volumes/data/lower/"
    with tarfile.open(bundle.rootfs_tar) as tar:
        files = {
            m.name[len(prefix) :]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar
            if m.name.startswith(prefix) and m.isreg()
        }
    [entry] = json.loads(files["index.json"])["manifests"]
    assert entry["digest"] == layouts.data.descriptor.digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == (
        f"oci-layout:{layouts.oci}:data:1"
    )
    # Both platforms' layers travelled, though the build is for amd64 only.
    layers = {
        layouts.data.manifest_for(p)["layers"][0]["digest"] for p in ("linux/amd64", "linux/arm64")
    }
    assert {f"blobs/sha256/{d.split(':')[1]}" for d in layers} <= set(files)


def test_the_lock_pins_each_layout_reference_as_written_deterministically(
    tmp_path: Path, layouts: Layouts, system: System
) -> None:
    with Assembler(tmp_path / "one", offline=True) as asm:
        first = asm.resolve(system)
    with Assembler(tmp_path / "two", offline=True) as asm:
        second = asm.resolve(system)
    assert first.to_json() == second.to_json()
    web = first.image(f"oci-layout:{layouts.oci}:web:1")
    assert web is not None
    assert web.digest == _index_digest(layouts.oci, "web:1")
    data = first.image(f"oci-layout:{layouts.oci}:data:1")
    assert data is not None
    assert data.digest == layouts.data.descriptor.digest
    assert data.manifest_for(system.platforms[0]) != data.digest  # the amd64 manifest
    saved = first.save(tmp_path / "system.lock.json")
    locked = _assemble(tmp_path / "three", system, Lock.load(saved))
    unlocked = _assemble(tmp_path / "four", system)
    assert locked.rootfs_sha256 == unlocked.rootfs_sha256


def test_a_locked_build_ignores_a_tag_moved_in_the_layout(tmp_path: Path, layouts: Layouts) -> None:
    oci = tmp_path / "oci"
    shutil.copytree(layouts.oci, oci)
    system = System.from_yaml(_yaml(str(oci), str(layouts.copied)), platform=PLATFORM)
    with Assembler(tmp_path / "cache", offline=True) as asm:
        lock = asm.resolve(system)
    container_image(
        "web", {"capabilities": ["CAP_NET_BIND_SERVICE"]}, Env=["V=2"]
    ).build().write_oci_layout(oci, "web:1")
    locked = _assemble(tmp_path / "fresh", system, lock)
    assert locked.container("web").manifest_digest == layouts.web.descriptor.digest
    with Assembler(tmp_path / "again", offline=True) as asm:
        moved = asm.resolve(system).image(f"oci-layout:{oci}:web:1")
    assert moved is not None
    assert moved.digest != layouts.web.descriptor.digest


def test_a_corrupt_layout_blob_fails_the_build_naming_the_layout_and_digest(
    tmp_path: Path, layouts: Layouts
) -> None:
    oci = tmp_path / "oci"
    shutil.copytree(layouts.oci, oci)
    layer = layouts.web.json(layouts.web.descriptor.digest)["layers"][0]["digest"]
    blob = oci / "blobs" / "sha256" / layer.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    system = System.from_yaml(_yaml(str(oci), str(layouts.copied)), platform=PLATFORM)
    with pytest.raises(IntegrityError) as info:
        _assemble(tmp_path / "cache", system)
    assert info.value.digest == layer
    assert f"in the OCI layout {oci} is corrupt" in str(info.value)


def test_a_missing_tag_fails_resolution_listing_the_layout_tags(
    tmp_path: Path, layouts: Layouts
) -> None:
    text = _yaml(str(layouts.oci), str(layouts.copied), web="web:9")
    system = System.from_yaml(text, platform=PLATFORM)
    with pytest.raises(StoreError) as info:
        _assemble(tmp_path / "cache", system)
    message = str(info.value)
    assert f"oci-layout:{layouts.oci}:web:9: no tag 'web:9' in the OCI layout" in message
    assert "'data:1', 'init:1', 'kernel:6.6', 'runc:1', 'web:1'" in message


def test_relative_layout_paths_stay_as_written_and_follow_the_current_directory(
    tmp_path: Path, layouts: Layouts, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _yaml("oci", "copied")
    path = layouts.config / "linuxkit.yml"
    path.write_text(text)
    system = System.from_yaml(path, platform=PLATFORM)
    assert system.services[0].image == "oci-layout:oci:web:1"
    assert System.from_yaml(system.to_yaml(), platform=PLATFORM) == system
    assert "image: oci-layout:oci:web:1\n" in system.to_yaml()
    monkeypatch.chdir(layouts.config)
    with Assembler(tmp_path / "cache", offline=True) as asm:
        lock = asm.resolve(system)
        bundle = asm.assemble(system, lock=lock)
    assert "oci-layout:oci:web:1" in lock.digests()
    assert bundle.container("web").manifest_digest == layouts.web.descriptor.digest


def test_a_relative_layout_path_is_relative_to_the_yaml_file(
    tmp_path: Path, layouts: Layouts, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = layouts.config / "relative.yml"
    path.write_text(_yaml("oci", "copied"))
    monkeypatch.chdir(tmp_path)
    system = System.from_yaml(path, platform=PLATFORM)
    bundle = _assemble(tmp_path / "cache", system)  # not tmp_path/oci: the YAML's directory
    assert bundle.container("web").manifest_digest == layouts.web.descriptor.digest


def test_the_catalog_factories_take_layout_references(tmp_path: Path, layouts: Layouts) -> None:
    oci = layouts.oci
    system = (
        System(platform=PLATFORM)
        .with_kernel(kernel.debian_cloud(image=f"oci-layout:{oci}:kernel:6.6"))
        .with_init(
            init.base(image=f"oci-layout:{oci}:init:1"),
            runtime.runc(image=f"oci-layout:{oci}:runc:1"),
        )
        .with_service(services.getty(image=f"oci-layout:{oci}:web:1"))
    )
    assert system.init[1].image == f"oci-layout:{oci}:runc:1"
    bundle = _assemble(tmp_path / "cache", system)
    getty = bundle.container("getty")
    assert getty.manifest_digest == layouts.web.descriptor.digest


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("oci-layout:", "empty layout path"),
        ("oci-layout:/srv/oci:", "empty tag"),
        ("oci-layout:/srv/oci@sha256:abc", "malformed sha256"),
    ],
)
def test_a_malformed_layout_reference_is_a_config_error_at_its_field(
    image: str, reason: str
) -> None:
    text = f"services:\n  - name: web\n    image: '{image}'\n"
    with pytest.raises(ConfigError, match=reason) as info:
        System.from_yaml(text)
    assert info.value.path == "services[0].image"
    with pytest.raises(ConfigError, match=reason):
        Container("web", image)


def test_pinning_a_layout_system_keeps_the_tag_and_adds_the_digest(
    tmp_path: Path, layouts: Layouts, system: System
) -> None:
    with Assembler(tmp_path / "cache", offline=True) as asm:
        lock = asm.resolve(system)
        pinned = pin_system(system, lock)
        web = pinned["web"].image
        assert web == f"oci-layout:{layouts.oci}:web:1@{layouts.web.descriptor.digest}"
        # The pinned system resolves to the same pins, and pinning it again changes nothing.
        again = asm.resolve(pinned)
    pinned_web = again.image(web)
    assert pinned_web is not None
    assert pinned_web.digest == layouts.web.descriptor.digest
    assert pin_system(pinned, again) == pinned


def test_layout_and_registry_images_mix_in_one_system(
    tmp_path: Path, layouts: Layouts, components: Components
) -> None:
    system = System(
        platform=PLATFORM,
        kernel=components.kernel,
        init=[components.init, f"oci-layout:{layouts.oci}:runc:1"],
        services=[
            Container("web", f"oci-layout:{layouts.oci}:web:1"),
            Container("sshd", components.sshd),
        ],
        volumes=[Volume("data", image=f"oci-layout:{layouts.oci}:data:1")],
    )
    with Assembler(tmp_path / "cache") as asm:
        lock = asm.resolve(system)
        bundle = asm.assemble(system, lock=lock)
    assert set(lock.digests()) == {
        components.kernel,
        components.init,
        components.sshd,
        f"oci-layout:{layouts.oci}:runc:1",
        f"oci-layout:{layouts.oci}:web:1",
        f"oci-layout:{layouts.oci}:data:1",
    }
    assert bundle.container("web").manifest_digest == layouts.web.descriptor.digest
    members = read_members(bundle.rootfs_tar)
    assert last(members, "containers/volumes/data/lower/seed/rows.csv").data == b"a,b\n"


def _spdx(package: str) -> dict[str, object]:
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "scan",
        "documentNamespace": "https://example.invalid/scan/1",
        "creationInfo": {"created": "2025-01-02T03:04:05Z", "creators": ["Tool: scanner"]},
        "packages": [
            {
                "SPDXID": f"SPDXRef-Package-{package}",
                "name": package,
                "versionInfo": "1.0",
                "downloadLocation": "NOASSERTION",
            }
        ],
    }


def test_an_sbom_of_a_layout_image_uses_the_attestation_copied_from_the_layout(
    tmp_path: Path,
) -> None:
    def app(arch: str) -> Image:
        layer = Layer().dir("bin").file("bin/app", arch.encode(), mode=0o755)
        return Image(
            [layer], {"Cmd": ["/bin/app"]}, platform=f"linux/{arch}", sbom=_spdx(f"lib-{arch}")
        )

    layout = ImageIndex((app("amd64"), app("arm64")), attestation=True).build()
    oci = layout.write_oci_layout(tmp_path / "oci", "app:1")
    system = System(platform=PLATFORM, services=[Container("app", f"oci-layout:{oci}:app:1")])
    with Assembler(tmp_path / "cache", offline=True) as asm:
        bundle = asm.assemble(system, sbom=True)
    with tarfile.open(bundle.rootfs_tar) as tar:
        member = tar.extractfile("sbom.spdx.json")
        assert member is not None
        names = {p["name"] for p in json.loads(member.read())["packages"]}
    assert "lib-amd64" in names
    assert "lib-arm64" not in names


def test_the_sbom_of_a_layout_image_is_the_same_wherever_the_layout_lives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = Layer().dir("bin").file("bin/app", b"app", mode=0o755)
    built = ImageIndex((Image([layer], {"Cmd": ["/bin/app"]}, platform=PLATFORM),)).build()
    sboms = []
    for checkout in ("one", "two"):
        root = tmp_path / checkout
        built.write_oci_layout(root / "layouts" / "app", "app:1")
        monkeypatch.chdir(root)
        system = System(
            platform=PLATFORM, services=[Container("app", "oci-layout:layouts/app:app:1")]
        )
        with Assembler(root / "cache", offline=True) as asm:
            bundle = asm.assemble(system, sbom=True)
        with tarfile.open(bundle.rootfs_tar) as tar:
            member = tar.extractfile("sbom.spdx.json")
            assert member is not None
            sboms.append(member.read())
    assert sboms[0] == sboms[1]
    assert str(tmp_path).encode() not in sboms[0]
    assert b"oci-layout:layouts/app" in sboms[0]
