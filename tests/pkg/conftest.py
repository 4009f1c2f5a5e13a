"""Fixtures for the packager tests: real Debian packages (apt-get download, cached per session
or in $MOBY_ASSEMBLE_TEST_DEBS), packages made with the real dpkg-deb, and small ELF modules."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from moby_assemble.pkg import DebPackage, DebRequest, DebSource

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = REPO / "components"

#: The packages of the small catalog components (busybox, runc and their libraries).
SMALL_PACKAGES = ("busybox-static", "runc", "libseccomp2", "libc6")


@pytest.fixture(scope="session")
def debs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for .deb downloads shared by the session (or $MOBY_ASSEMBLE_TEST_DEBS)."""
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not available")
    configured = os.environ.get("MOBY_ASSEMBLE_TEST_DEBS")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("debs")


@pytest.fixture(scope="session")
def small_debs(debs_dir: Path) -> dict[str, DebPackage]:
    """busybox-static, runc, libseccomp2 and libc6 from Debian's mirror (about 6 MB)."""
    source = DebSource(debs_dir)
    debs = source.fetch_all([DebRequest(name) for name in SMALL_PACKAGES])
    return {deb.name: deb for deb in debs}


def tar_bytes(
    files: Mapping[str, bytes | str | None], *, links: Mapping[str, str] | None = None
) -> bytes:
    """A data.tar with ``./``-prefixed names as dpkg-deb writes them: bytes = file, None = dir,
    str = symlink target; ``links`` are hard links (name → target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tf:
        root = tarfile.TarInfo("./")
        root.type = tarfile.DIRTYPE
        root.mode = 0o755
        tf.addfile(root)
        for name, content in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.mtime = 1_700_000_000
            info.uname = info.gname = "root"
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tf.addfile(info)
            elif isinstance(content, str):
                info.type = tarfile.SYMTYPE
                info.linkname = content
                tf.addfile(info)
            else:
                info.size = len(content)
                info.mode = 0o755 if name.endswith(".sh") or "/bin/" in name else 0o644
                tf.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"./{name}")
            info.type = tarfile.LNKTYPE
            info.linkname = f"./{target}"
            tf.addfile(info)
    return out.getvalue()


def control_text(name: str, version: str, arch: str = "amd64", depends: str = "") -> str:
    text = (
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
        "Maintainer: Tests <tests@example.invalid>\nDescription: a test package\n"
        " made by the moby_assemble tests\n"
    )
    if depends:
        text += f"Depends: {depends}\n"
    return text


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    """A System V ar archive (what a .deb is), written by hand for cases dpkg-deb refuses."""
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{len(data):<10}".encode() + b"`\n"
        out += header + data
        if len(data) % 2:
            out += b"\n"
    return bytes(out)


MakeDeb = Callable[..., Path]


@pytest.fixture
def make_deb(tmp_path: Path) -> MakeDeb:
    """Build a .deb with the real ``dpkg-deb --build -Z<compression>``."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not available")

    def make(
        name: str,
        version: str = "1.0-1",
        files: Mapping[str, bytes | str | None] | None = None,
        *,
        arch: str = "amd64",
        compression: str = "xz",
        depends: str = "",
        directory: Path | None = None,
    ) -> Path:
        root = tmp_path / f"build-{name}-{version}-{arch}-{compression}"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(control_text(name, version, arch, depends))
        for path, content in (files or {}).items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                target.mkdir(exist_ok=True)
            elif isinstance(content, str):
                target.symlink_to(content)
            else:
                target.write_bytes(content)
                target.chmod(0o755 if "/bin/" in f"/{path}" else 0o644)
        out_dir = directory or tmp_path
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{name}_{version.replace(':', '%3a')}_{arch}.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root), str(out)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return out

    return make


def elf_module(name: str, *, depends: str = "", aliases: tuple[str, ...] = ()) -> bytes:
    """A minimal 64-bit little-endian ELF relocatable with a .modinfo section, as a kernel
    module has (enough for depmod; not loadable)."""
    modinfo = b"".join(
        f"{k}={v}".encode() + b"\0"
        for k, v in [
            *(("alias", a) for a in aliases),
            ("depends", depends),
            ("name", name),
            ("vermagic", "6.1.0-test SMP mod_unload"),
        ]
    )
    shstrtab = b"\0.modinfo\0.shstrtab\0"
    ehdr_size, shdr_size = 64, 64
    modinfo_off = ehdr_size
    shstr_off = modinfo_off + len(modinfo)
    sh_off = (shstr_off + len(shstrtab) + 7) & ~7
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, sh_off, 0, ehdr_size, 0, 0,
                          shdr_size, 3, 2)  # fmt: skip
    body = header + modinfo + shstrtab
    body += bytes(sh_off - len(body))
    null = bytes(shdr_size)
    sec_modinfo = struct.pack("<IIQQQQIIQQ", 1, 1, 2, 0, modinfo_off, len(modinfo), 0, 0, 1, 0)
    sec_shstr = struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, shstr_off, len(shstrtab), 0, 0, 1, 0)
    return body + null + sec_modinfo + sec_shstr
