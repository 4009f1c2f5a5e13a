"""Boot loader components: factories, recipes, and the whole path — packaged from Debian
packages, pushed, pinned in the lock, assembled into the root, written as raw-efi and
iso-bios, booted."""

from __future__ import annotations

import concurrent.futures
import shutil
import tomllib
from pathlib import Path

import pytest

from moby_assemble import ConfigError, InitImage, Kernel, System
from moby_assemble._model import Role
from moby_assemble.assemble import Assembler
from moby_assemble.components import DEFAULT_REGISTRY, bootloader
from moby_assemble.pkg import Recipe, build, load_recipe, parse_recipe
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import Image, Layer, LocalRegistry, qemu_available

from ..assemble.conftest import push_image
from ..outputs.bootformats_support import (
    APPLETS,
    CMDLINE,
    INIT,
    MARKERS,
    boot_firmware,
    require_loader_files,
)
from ..outputs.conftest import BUSYBOX, debian_kernel  # noqa: F401

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
RECIPES = {"bootloader-syslinux": bootloader.syslinux, "bootloader-efi": bootloader.efi}


def _recipe_file(name: str) -> Path:
    return COMPONENTS / name / "recipe.toml"


def test_the_factories_point_at_the_catalog_registry_with_role_bootloader() -> None:
    efi = bootloader.efi()
    assert efi == InitImage(f"{DEFAULT_REGISTRY}/bootloader-efi:252.39-1", role="bootloader")
    assert bootloader.syslinux().image == f"{DEFAULT_REGISTRY}/bootloader-syslinux:6.04-3"
    assert bootloader.syslinux(registry="127.0.0.1:5001/ci/", tag="edge").image == (
        "127.0.0.1:5001/ci/bootloader-syslinux:edge"
    )
    pinned = "registry.example/boot/efi@sha256:" + "a" * 64
    assert bootloader.efi(image=pinned).image == pinned
    assert repr(efi) == f"InitImage('{efi.image}', role='bootloader')"


def test_a_factory_refuses_image_with_registry_or_tag() -> None:
    with pytest.raises(ConfigError, match="not both"):
        bootloader.efi(image="x/y:1", tag="2")
    with pytest.raises(ConfigError, match="must not be empty"):
        bootloader.syslinux(registry=" ")


def test_a_system_takes_boot_loaders_in_its_init_section() -> None:
    system = System(platform="linux/amd64").with_init(bootloader.syslinux(), bootloader.efi())
    assert [i.role for i in system.init] == [Role.BOOTLOADER, Role.BOOTLOADER]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_says_what_the_factory_says(name: str) -> None:
    recipe = tomllib.loads(_recipe_file(name).read_text())
    assert recipe["name"] == name
    assert recipe["role"] == "bootloader"
    assert recipe["version"] == bootloader.VERSIONS[name]
    assert RECIPES[name]().image.endswith(f"/{name}:{recipe['version']}")
    assert "stage" not in recipe  # unpacked at init, like init and runtime images


def _recipe(name: str) -> Recipe:
    """The recipe; built as an init-stage image while pkg does not know role 'bootloader'."""
    file = _recipe_file(name)
    try:
        return load_recipe(file)
    except ConfigError as e:
        if "bootloader" not in str(e):
            raise
        text = file.read_text().replace('role = "bootloader"', 'role = "init"')
        return parse_recipe(text, file=str(file), directory=file.parent)


def _debs(directory: Path) -> Path:
    """The four packages from apt's cache (installed on every machine that runs these)."""
    directory.mkdir(parents=True, exist_ok=True)
    cache = Path("/var/cache/apt/archives")
    for package in ("isolinux", "syslinux", "syslinux-common", "systemd-boot-efi"):
        found = sorted(cache.glob(f"{package}_*.deb"))
        if not found:
            pytest.skip(f"{package}'s .deb is not in apt's cache (apt-get install {package})")
        shutil.copy(found[-1], directory / found[-1].name)
    return directory


@pytest.mark.slow
@pytest.mark.skipif(not qemu_available(), reason="qemu-system-x86_64 is not installed")
def test_packaged_boot_loaders_are_pinned_assembled_and_boot(
    registry: LocalRegistry,
    debian_kernel: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    require_loader_files()
    debs = _debs(tmp_path / "debs")
    refs = {}
    for name in RECIPES:
        result = build(
            _recipe(name),
            debs_dir=debs,
            apt=False,
            layout=tmp_path / "oci",
            push=f"{registry.host}/{name}:{bootloader.VERSIONS[name]}",
            source_date_epoch=0,
        )
        refs[name] = f"{registry.host}/{name}:{bootloader.VERSIONS[name]}"
        assert result.digest.startswith("sha256:")

    init = Layer().dir("bin").file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for applet in APPLETS:
        init = init.symlink(f"bin/{applet}", "busybox")
    init = init.dir("proc").dir("dev").file("init", INIT.encode(), mode=0o755)
    kernel = Layer().file("kernel", debian_kernel.read_bytes())
    with RegistryClient() as client:
        init_ref = push_image(registry, client, Image([init]).build(), "boot/init:1", tmp_path)
        kernel_ref = push_image(
            registry, client, Image([kernel]).build(), "boot/kernel:1", tmp_path
        )

    system = (
        System(platform="linux/amd64")
        .with_kernel(Kernel(kernel_ref, cmdline=CMDLINE, tar="none"))
        .with_init(
            InitImage(init_ref),
            bootloader.syslinux(image=refs["bootloader-syslinux"]),
            bootloader.efi(image=refs["bootloader-efi"]),
        )
    )
    with Assembler(tmp_path / "cache") as asm:
        lock = asm.resolve(system)
        bundle = asm.assemble(system, lock=lock)
    for ref in refs.values():
        pinned = lock.image(ref)
        assert pinned is not None, f"{ref} is not pinned in the lock"
        assert pinned.digest.startswith("sha256:")

    written = bundle.write(tmp_path / "out", ["raw-efi", "iso-bios"], name="packaged")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        efi = pool.submit(boot_firmware, written["raw-efi"][0], efi=True, scratch=scratch)
        bios = pool.submit(boot_firmware, written["iso-bios"][0], efi=False, scratch=scratch)
        consoles = {"raw-efi": efi.result(), "iso-bios": bios.result()}
    for fmt, console in consoles.items():
        for marker in MARKERS:
            assert marker in console, f"{fmt}: no {marker!r}\n{console[-3000:]}"
