"""Assembly errors name the field, image or file involved, and leave nothing behind."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from moby_assemble import ConfigError, Container, File, Kernel, System
from moby_assemble.assemble import Assembler, StepFailed

from .conftest import Components


def work_dirs(cache: Path) -> list[Path]:
    return list((cache / "bundles").glob(".assembling-*"))


@pytest.mark.parametrize(
    ("kernel", "path", "missing"),
    [
        ({"binary": "vmlinuz"}, "kernel.binary", "vmlinuz"),
        ({"tar": "modules.tar"}, "kernel.tar", "modules.tar"),
        ({"ucode": "intel-ucode.cpio"}, "kernel.ucode", "intel-ucode.cpio"),
    ],
)
def test_a_kernel_file_missing_from_the_image_is_named(
    components: Components, tmp_path: Path, kernel: dict, path: str, missing: str
):
    system = System(platform="linux/amd64", kernel=Kernel(components.kernel, **kernel))
    with Assembler(tmp_path / "cache") as asm, pytest.raises(ConfigError) as info:
        asm.assemble(system)
    assert info.value.path == path
    assert missing in str(info.value)
    assert components.kernel in str(info.value)
    assert work_dirs(tmp_path / "cache") == []


def test_kernel_tar_none_leaves_the_modules_out(components: Components, tmp_path: Path):
    system = System(platform="linux/amd64", kernel=Kernel(components.kernel, tar="none"))
    with Assembler(tmp_path / "cache") as asm:
        bundle = asm.assemble(system)
    with tarfile.open(bundle.rootfs_tar) as tar:
        assert tar.getnames() == ["boot", "boot/cmdline", "boot/kernel"]


def test_a_missing_source_file_is_named_unless_optional(components: Components, tmp_path: Path):
    missing = tmp_path / "nowhere.txt"
    system = System(platform="linux/amd64", files=[File("etc/x", source=str(missing))])
    with Assembler(tmp_path / "cache") as asm, pytest.raises(ConfigError) as info:
        asm.assemble(system)
    assert info.value.path == "files[0].source"
    assert str(missing) in str(info.value)


def test_a_file_path_leaving_the_root_is_refused(tmp_path: Path):
    system = System(platform="linux/amd64", files=[File("etc/../../x", contents="")])
    with Assembler(tmp_path / "cache") as asm, pytest.raises(ConfigError) as info:
        asm.assemble(system)
    assert info.value.path == "files[0].path"


def test_a_uid_naming_no_container_is_refused_before_any_work(tmp_path: Path):
    system = System(platform="linux/amd64", files=[File("etc/x", contents="", uid="ghost")])
    with Assembler(tmp_path / "cache") as asm, pytest.raises(ConfigError) as info:
        asm.assemble(system)
    assert info.value.path == "files[0].uid"
    assert not (tmp_path / "cache" / "bundles").exists()


def test_several_platforms_need_a_choice(components: Components, tmp_path: Path):
    system = System(platforms=["linux/amd64", "linux/arm64"])
    with Assembler(tmp_path / "cache") as asm:
        with pytest.raises(ConfigError, match="pass platform="):
            asm.assemble(system)
        with pytest.raises(ConfigError, match="not linux/riscv64"):
            asm.target_platform(system, "linux/riscv64")
        assert str(asm.target_platform(system, "linux/arm64")) == "linux/arm64"
    with Assembler(tmp_path / "cache", platform="linux/arm64") as asm:
        assert str(asm.target_platform(system)) == "linux/arm64"


def test_a_failing_step_is_reported_and_named_and_its_work_removed(
    components: Components, registry, tmp_path: Path
):
    from moby_assemble.registry import RegistryClient
    from moby_assemble.testing import Image, Layer

    from .conftest import push_image

    with RegistryClient() as client:
        nothing = push_image(
            registry, client, Image([Layer().file("x", b"")]).build(), "asm/no-cmd:1", tmp_path
        )
    events: list = []
    system = System(platform="linux/amd64", onboot=[Container("empty", nothing)])
    with (
        Assembler(tmp_path / "cache", progress=events.append) as asm,
        pytest.raises(ConfigError) as info,
    ):
        asm.assemble(system)
    assert "empty" in str(info.value)
    assert "command" in str(info.value)
    assert "moby_assemble: in the 'onboot' step of the assembly" in info.value.__notes__
    failed = [e for e in events if isinstance(e, StepFailed)]
    assert [e.step for e in failed] == ["onboot"]
    assert work_dirs(tmp_path / "cache") == []
