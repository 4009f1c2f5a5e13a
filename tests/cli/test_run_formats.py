"""``run qemu`` boots every built output: the QEMU command line for each kind of file, the
accelerator choice, and real boots of an ISO and an EFI disk image (slow).

The images are written by the real output formats from the boot format tests' small
busybox system; the fast tests give them a stand-in kernel (the formats only copy it) and
read the ``--dry-run`` command line, the slow ones boot a real Debian kernel.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from moby_assemble import MobyAssembleError
from moby_assemble._cli._qemu_args import detect_image, find_firmware
from moby_assemble._cli._run import choose_accel, cpu_has_virtualization
from moby_assemble.outputs import get_format
from moby_assemble.testing import qemu_available
from tests.outputs.bootformats_support import MARKERS, small_system
from tests.outputs.conftest import debian_kernel  # noqa: F401  (a fixture)

from .conftest import Invoke

NAME = "demo"
OVMF_VARS_NAMES = ("OVMF_VARS_4M.fd", "OVMF_VARS.fd")
#: Image formats: whether run qemu picks UEFI, the QEMU block driver, and CD-ROM or disk.
IMAGES = {
    "iso-bios": (False, "raw", True),
    "iso-efi": (True, "raw", True),
    "iso-efi-initrd": (True, "raw", True),
    "raw-bios": (False, "raw", False),
    "raw-efi": (True, "raw", False),
    "qcow2-bios": (False, "qcow2", False),
    "qcow2-efi": (True, "qcow2", False),
    "vhd": (False, "vpc", False),
    "dynamic-vhd": (False, "vpc", False),
    "vmdk": (False, "vmdk", False),
}
ROOT_IMAGES = {
    "kernel+squashfs": ("squashfs", "demo-squashfs.img"),
    "kernel+erofs": ("erofs", "demo-erofs.img"),
    "kernel+iso": ("iso9660", "demo.iso"),
}


@attrs.frozen
class Outputs:
    """Each format written into its own directory: format name -> the files written."""

    base: Path
    files: dict[str, tuple[Path, ...]]

    def image(self, fmt: str) -> Path:
        return self.files[fmt][0]

    def prefix(self, fmt: str) -> Path:
        return self.base / fmt / NAME


def _write(base: Path, kernel: Path, formats: tuple[str, ...]) -> Outputs:
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed (the ISO formats need it)")
    bundle = small_system(base / "system", kernel)
    files = {fmt: get_format(fmt).write(bundle, base / fmt, NAME) for fmt in formats}
    return Outputs(base, files)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    base = tmp_path_factory.mktemp("run-formats")
    kernel = base / "stand-in-kernel"
    kernel.write_bytes(b"MZ not booted by the fast tests" * 64)
    return _write(base, kernel, (*IMAGES, *ROOT_IMAGES, "kernel+initrd"))


def _argv(invoke: Invoke, *args: str | Path) -> list[str]:
    line = invoke("run", "qemu", "--dry-run", "--accel", "tcg", *args).stdout
    return shlex.split(line)


def _pflash(argv: list[str]) -> list[str]:
    return [a for a in argv if "if=pflash" in a]


# -- accelerator -------------------------------------------------------------------------------


def test_x86_cpu_with_vmx_flag_is_capable() -> None:
    assert cpu_has_virtualization("processor\t: 0\nflags\t\t: fpu vmx sse2\n", "x86_64")


def test_x86_cpu_with_svm_flag_is_capable() -> None:
    assert cpu_has_virtualization("flags\t\t: fpu svm\n", "x86_64")


def test_x86_cpu_without_vmx_or_svm_is_not_capable() -> None:
    assert not cpu_has_virtualization("flags\t\t: fpu sse2 hypervisor\n", "x86_64")


def test_auto_picks_tcg_when_kvm_is_unusable() -> None:
    assert choose_accel("auto", False) == "tcg"
    assert choose_accel("auto", True) == "kvm"
    assert choose_accel("tcg", True) == "tcg"


# -- images booted by firmware ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", IMAGES)
def test_each_image_format_is_attached_as_its_kind_with_its_firmware(
    fmt: str, outputs: Outputs, invoke: Invoke
) -> None:
    efi, driver, cdrom = IMAGES[fmt]
    image = outputs.image(fmt)
    argv = _argv(invoke, "--networking", "none", image)
    if cdrom:
        assert argv[argv.index("-cdrom") + 1] == str(image)
        assert argv[argv.index("-boot") + 1] == "order=d"
    else:
        assert f"file={image},format={driver},if=ide,index=0" in argv
        assert argv[argv.index("-boot") + 1] == "order=c"
    assert "-kernel" not in argv
    assert "-append" not in argv
    flash = _pflash(argv)
    if efi:
        assert len(flash) == 2, argv
        code, variables = flash
        assert "readonly=on" in code
        assert "OVMF_CODE" in code
        # The machine writes its own copy of the variables, never Debian's template.
        assert "readonly" not in variables
        assert "/usr/share/" not in variables
        assert variables.rsplit("/", 1)[1] in OVMF_VARS_NAMES
    else:
        assert flash == []
        assert "-bios" not in argv


def test_the_format_comes_from_the_magic_bytes_not_the_name(
    outputs: Outputs, invoke: Invoke, tmp_path: Path
) -> None:
    for fmt, driver in (("qcow2-bios", "qcow2"), ("vmdk", "vmdk"), ("dynamic-vhd", "vpc")):
        renamed = tmp_path / f"{fmt}.img"
        shutil.copy(outputs.image(fmt), renamed)
        assert f"file={renamed},format={driver},if=ide,index=0" in _argv(invoke, renamed)
    iso = tmp_path / "cd.raw"
    shutil.copy(outputs.image("iso-bios"), iso)
    assert _argv(invoke, iso)[_argv(invoke, iso).index("-cdrom") + 1] == str(iso)


def test_efi_content_chooses_uefi_without_the_name(outputs: Outputs, tmp_path: Path) -> None:
    """The GPT's EFI system partition (raw) and the El Torito UEFI entry (ISO) decide."""
    for fmt in ("raw-efi", "iso-efi"):
        plain = tmp_path / f"plain{outputs.image(fmt).suffix}"
        shutil.copy(outputs.image(fmt), plain)
        found = detect_image(plain)
        assert found is not None, fmt
        assert found.efi, fmt
    for fmt in ("raw-bios", "iso-bios", "vhd"):
        found = detect_image(outputs.image(fmt))
        assert found is not None, fmt
        assert not found.efi, fmt


def test_format_option_overrides_the_magic_bytes(outputs: Outputs, invoke: Invoke) -> None:
    image = outputs.image("raw-bios")
    assert f"file={image},format=vpc,if=ide,index=0" in _argv(invoke, "--format", "vhd", image)
    argv = _argv(invoke, "--format", "iso", image)
    assert argv[argv.index("-cdrom") + 1] == str(image)


def test_uefi_and_no_uefi_override_the_choice(outputs: Outputs, invoke: Invoke) -> None:
    assert len(_pflash(_argv(invoke, "--uefi", outputs.image("raw-bios")))) == 2
    assert _pflash(_argv(invoke, "--no-uefi", outputs.image("raw-efi"))) == []
    kernel_uefi = _argv(invoke, "--uefi", outputs.prefix("kernel+initrd"))
    assert len(_pflash(kernel_uefi)) == 2
    assert "-kernel" in kernel_uefi


def test_machine_options_apply_to_images(outputs: Outputs, invoke: Invoke, tmp_path: Path) -> None:
    image = outputs.image("qcow2-efi")
    argv = _argv(
        invoke, "--mem", "768", "--cpus", "2", "--disk", f"{tmp_path}/d.img,size=8M",
        "--publish", "2222:22", image,
    )  # fmt: skip
    assert argv[argv.index("-m") + 1] == "768"
    assert argv[argv.index("-smp") + 1] == "2"
    # The boot disk is IDE, so the first --disk is still /dev/vda.
    assert f"file={tmp_path}/d.img,format=raw,if=virtio,index=0" in argv
    assert "user,id=net0,hostfwd=tcp::2222-:22" in argv
    assert argv[argv.index("-serial") + 1] == "mon:stdio"


def test_a_prefix_naming_one_image_boots_it(outputs: Outputs, invoke: Invoke) -> None:
    argv = _argv(invoke, outputs.prefix("raw-efi"))
    assert f"file={outputs.image('raw-efi')},format=raw,if=ide,index=0" in argv
    assert len(_pflash(argv)) == 2


def test_a_prefix_naming_several_images_is_ambiguous(
    outputs: Outputs, invoke: Invoke, tmp_path: Path
) -> None:
    for fmt in ("iso-bios", "qcow2-efi"):
        shutil.copy(outputs.image(fmt), tmp_path)
    result = invoke("run", "qemu", "--dry-run", tmp_path / NAME, code=3)
    assert f"{tmp_path}/demo.iso" in result.stderr
    assert f"{tmp_path}/demo-efi.qcow2" in result.stderr


def test_append_is_refused_for_an_image(outputs: Outputs, invoke: Invoke) -> None:
    result = invoke("run", "qemu", "--dry-run", "--append", "quiet", outputs.image("vmdk"), code=3)
    assert "--append" in result.stderr
    assert str(outputs.image("vmdk")) in result.stderr


# -- kernels with a root file system image ----------------------------------------------------


@pytest.mark.parametrize("fmt", ROOT_IMAGES)
def test_kernel_and_root_image_attach_the_image_as_vda_with_a_root_cmdline(
    fmt: str, outputs: Outputs, invoke: Invoke, tmp_path: Path
) -> None:
    fstype, image_name = ROOT_IMAGES[fmt]
    prefix = outputs.prefix(fmt)
    argv = _argv(invoke, "--disk", f"{tmp_path}/d.img", "--append", "quiet", prefix)
    assert argv[argv.index("-kernel") + 1] == f"{prefix}-kernel"
    assert "-initrd" not in argv
    assert f"file={prefix.parent / image_name},format=raw,if=virtio,readonly=on,index=0" in argv
    assert f"file={tmp_path}/d.img,format=raw,if=virtio,index=1" in argv
    cmdline = argv[argv.index("-append") + 1]
    written = (outputs.base / fmt / f"{NAME}-cmdline").read_text()
    assert cmdline == f"{written} root=/dev/vda rootfstype={fstype} ro quiet"
    assert _pflash(argv) == []


def test_a_cmdline_naming_its_root_is_kept(
    outputs: Outputs, invoke: Invoke, tmp_path: Path
) -> None:
    for name in (f"{NAME}-kernel", f"{NAME}-squashfs.img"):
        shutil.copy(outputs.base / "kernel+squashfs" / name, tmp_path)
    (tmp_path / f"{NAME}-cmdline").write_text("console=ttyS0 root=/dev/vda1\n")
    argv = _argv(invoke, tmp_path / NAME)
    assert argv[argv.index("-append") + 1] == "console=ttyS0 root=/dev/vda1"


def test_initrd_option_adds_an_initrd_to_a_root_image_boot(
    outputs: Outputs, invoke: Invoke
) -> None:
    initrd = outputs.files["kernel+initrd"][1]
    argv = _argv(invoke, "--initrd", initrd, outputs.prefix("kernel+erofs"))
    assert argv[argv.index("-initrd") + 1] == str(initrd)


# -- what is not bootable ----------------------------------------------------------------------


def test_a_file_that_is_no_image_is_a_config_error_naming_it(
    invoke: Invoke, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a disk\n" * 200)
    result = invoke("run", "qemu", "--dry-run", text, code=3)
    assert str(text) in result.stderr
    assert "expected an ISO, a raw/qcow2/VHD/VMDK disk image" in result.stderr


@pytest.mark.parametrize("fmt", ROOT_IMAGES)
def test_a_root_image_alone_says_to_boot_its_output_prefix(
    fmt: str, outputs: Outputs, invoke: Invoke
) -> None:
    image = outputs.files[fmt][2]
    result = invoke("run", "qemu", "--dry-run", image, code=3)
    assert str(image) in result.stderr
    assert "root file system image" in result.stderr


def test_a_kernel_without_initrd_or_root_image_is_a_config_error(
    outputs: Outputs, invoke: Invoke, tmp_path: Path
) -> None:
    shutil.copy(outputs.prefix("kernel+initrd").with_name(f"{NAME}-kernel"), tmp_path)
    result = invoke("run", "qemu", "--dry-run", tmp_path / NAME, code=3)
    assert f"{tmp_path}/demo-kernel has no initrd or root image" in result.stderr


def test_a_missing_path_in_a_local_directory_is_not_pulled(invoke: Invoke, tmp_path: Path) -> None:
    """``out/sytem`` (a typo) is a missing file, not a Docker Hub repository."""
    result = invoke("run", "qemu", "--dry-run", tmp_path / "sytem", code=3)
    assert f"{tmp_path}/sytem-kernel" in result.stderr


def test_missing_firmware_names_the_debian_package() -> None:
    if Path("/usr/share/AAVMF/AAVMF_CODE.fd").exists():
        pytest.skip("AAVMF is installed here")
    with pytest.raises(MobyAssembleError, match="apt-get install qemu-efi-aarch64"):
        find_firmware("arm64")


def test_missing_qemu_names_the_debian_package(
    outputs: Outputs, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no QEMU on it
    result = invoke("run", "qemu", "--accel", "tcg", outputs.image("iso-bios"), code=1)
    assert "qemu-system-x86_64 is not installed" in result.stderr
    assert "apt-get install qemu-system-x86" in result.stderr


# -- real boots --------------------------------------------------------------------------------


def _boot_cli(target: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("moby-assemble")
    return subprocess.run(
        [str(exe), "run", "qemu", "--accel", "tcg", "--mem", "512", "--networking", "none",
         "--timeout", "50", str(target)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=60,
        check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(not qemu_available(), reason="qemu-system-x86_64 is not installed")
@pytest.mark.parametrize(("fmt", "firmware"), [("iso-bios", "BIOS"), ("raw-efi", "UEFI")])
def test_the_cli_boots_an_image_to_its_init_with_the_console_attached(
    fmt: str,
    firmware: str,
    tmp_path: Path,
    debian_kernel: Path,  # noqa: F811
) -> None:
    if fmt.endswith("-efi"):
        try:
            find_firmware("amd64")
        except MobyAssembleError as e:
            pytest.skip(str(e))
    written = _write(tmp_path, debian_kernel, (fmt,))
    result = _boot_cli(written.image(fmt))
    tail = result.stdout[-3000:] + result.stderr[-1000:]
    assert result.returncode == 0, tail  # poweroff -f ends QEMU cleanly, before the timeout
    for marker in MARKERS:
        assert marker in result.stdout, tail
    assert f"({firmware})" in result.stderr, tail


def test_an_arm64_image_boots_from_virtio_with_uefi_by_default(
    outputs: Outputs, invoke: Invoke
) -> None:
    image = outputs.image("raw-bios")  # the bytes do not matter to the command line
    argv = _argv(invoke, "--arch", "arm64", "--no-uefi", "--disk", "extra.img", image)
    assert argv[0] == "qemu-system-aarch64"
    assert f"file={image},format=raw,if=virtio,index=0" in argv
    assert "file=extra.img,format=raw,if=virtio,index=1" in argv
    iso = _argv(invoke, "--arch", "arm64", "--no-uefi", outputs.image("iso-bios"))
    assert "-cdrom" not in iso
    assert "scsi-cd,drive=cd0,bootindex=0" in iso
    if not Path("/usr/share/AAVMF/AAVMF_CODE.fd").exists():
        result = invoke("run", "qemu", "--dry-run", "--arch", "arm64", image, code=1)
        assert "apt-get install qemu-efi-aarch64" in result.stderr
