"""The format registry, the tar/docker/boot formats, and whole-or-nothing writes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from moby_assemble import OutputError
from moby_assemble.layers import read_tar
from moby_assemble.outputs import (
    AtomicOutput,
    OutputFormat,
    available_formats,
    get_format,
    register_format,
    unregister_format,
    write_cpio,
    write_formats,
)
from moby_assemble.outputs._tar import DOCKERFILE

from .conftest import FakeBundle

MakeBundle = Callable[..., FakeBundle]
BUILT_IN = {
    "docker", "kernel+initrd", "oci-archive", "oci-bundles", "oci-layout", "push", "tar",
    "tar-kernel-initrd",
}  # fmt: skip


def _tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# -- registry ------------------------------------------------------------------------------


def test_every_built_in_format_is_registered_and_describes_itself() -> None:
    assert set(available_formats()) >= BUILT_IN
    for name in BUILT_IN:
        fmt = get_format(name)
        assert isinstance(fmt, OutputFormat)
        assert fmt.name == name
        assert fmt.description
        assert fmt.files
        assert all("{name}" in pattern for pattern in fmt.files)
    assert get_format("tar").streamable
    assert get_format("docker").streamable
    assert not get_format("kernel+initrd").streamable


def test_unknown_format_names_the_available_ones() -> None:
    with pytest.raises(OutputError, match=r"'gcp'.*kernel\+initrd") as info:
        get_format("gcp")
    assert info.value.format == "gcp"


class _Notes:
    name = "notes"
    description = "the command line as notes"
    files = ("{name}.notes",)
    streamable = False
    options = frozenset({"suffix"})

    def write(
        self, bundle: Any, directory: Any, name: str, *, suffix: str = "", **_: Any
    ) -> tuple[Path, ...]:
        with AtomicOutput(directory, format=self.name) as out:
            out.path(f"{name}.notes").write_text((bundle.cmdline or "") + suffix)
        return out.paths


def test_registered_format_is_written_with_only_its_options(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    register_format(_Notes())
    try:
        with pytest.raises(OutputError, match="already registered"):
            register_format(_Notes())
        result = write_formats(
            make_bundle(), tmp_path / "out", "notes,tar", name="demo", suffix="!"
        )
        assert (tmp_path / "out/demo.notes").read_text() == "console=ttyS0!"
        assert result == {
            "notes": (tmp_path / "out/demo.notes",),
            "tar": (tmp_path / "out/demo.tar",),
        }
    finally:
        unregister_format("notes")
    with pytest.raises(OutputError, match="unknown output format 'notes'"):
        get_format("notes")


def test_options_no_format_understands_are_refused_before_writing(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    with pytest.raises(OutputError, match="compresion"):
        write_formats(make_bundle(), tmp_path / "out", ["kernel+initrd"], compresion="zstd")
    assert not (tmp_path / "out").exists() or _tree(tmp_path / "out") == []


def test_bad_output_names_are_refused(make_bundle: MakeBundle, tmp_path: Path) -> None:
    for bad in ("", "../escape", ".hidden", "a/b"):
        with pytest.raises(OutputError, match="plain file name"):
            write_formats(make_bundle(), tmp_path, ["tar"], name=bad)


@pytest.fixture
def entry_point_format(tmp_path: Path) -> Iterator[str]:
    """A real distribution on sys.path that declares a format in the entry point group."""
    site = tmp_path / "site"
    pkg = site / "thirdparty_fmt"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from pathlib import Path\n"
        "class Raw:\n"
        "    name = 'raw-cmdline'\n"
        "    description = 'plug-in'\n"
        "    files = ('{name}.raw',)\n"
        "    streamable = False\n"
        "    options = frozenset()\n"
        "    def write(self, bundle, directory, name, **options):\n"
        "        p = Path(directory) / f'{name}.raw'\n"
        "        p.write_text(bundle.cmdline)\n"
        "        return (p,)\n"
    )
    dist = site / "thirdparty_fmt-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-fmt\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[moby_assemble.outputs]\nraw-cmdline = thirdparty_fmt:Raw\n"
    )
    sys.path.insert(0, str(site))
    from moby_assemble.outputs import _registry

    _registry._REGISTRY.entry_points_loaded = False
    try:
        yield "raw-cmdline"
    finally:
        sys.path.remove(str(site))
        unregister_format("raw-cmdline")
        sys.modules.pop("thirdparty_fmt", None)
        _registry._REGISTRY.entry_points_loaded = False


def test_entry_point_formats_are_found_lazily(
    entry_point_format: str, make_bundle: MakeBundle, tmp_path: Path
) -> None:
    assert "thirdparty_fmt" not in sys.modules
    fmt = get_format(entry_point_format)
    assert fmt.description == "plug-in"
    assert entry_point_format in available_formats()
    written = write_formats(make_bundle(), tmp_path, [entry_point_format], name="x")
    assert written[entry_point_format][0].read_text() == "console=ttyS0"


# -- tar, docker ---------------------------------------------------------------------------


def test_tar_output_is_the_root_tar_byte_for_byte(make_bundle: MakeBundle, tmp_path: Path) -> None:
    bundle = make_bundle()
    (path,) = get_format("tar").write(bundle, tmp_path, "sys")
    assert path == tmp_path / "sys.tar"
    assert path.read_bytes() == bundle.rootfs_tar.read_bytes()


def test_docker_output_appends_linuxkits_dockerfile(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    bundle = make_bundle(source_date_epoch=1_700_000_000)
    (path,) = get_format("docker").write(bundle, tmp_path, "sys")
    assert path.name == "sys.docker"
    with tarfile.open(path) as tar:  # Python's own reader, as docker's would
        members = tar.getmembers()
        last = members[-1]
        assert last.name == "Dockerfile"
        assert (last.mode, last.mtime) == (0o644, 1_700_000_000)
        dockerfile = tar.extractfile(last)
        assert dockerfile is not None
        content = dockerfile.read()
    assert content == DOCKERFILE
    assert b'ENTRYPOINT ["/bin/rc.init"]' in content
    with open(bundle.rootfs_tar, "rb") as f:
        expected = [e.name for e in read_tar(f)]
    assert [m.name.rstrip("/") for m in members[:-1]] == expected


# -- kernel+initrd, tar-kernel-initrd ------------------------------------------------------


def test_kernel_initrd_writes_three_files(make_bundle: MakeBundle, tmp_path: Path) -> None:
    bundle = make_bundle(kernel=b"\x7fKERNEL-IMAGE", cmdline="console=ttyS0 quiet")
    paths = get_format("kernel+initrd").write(bundle, tmp_path, "sys")
    assert [p.name for p in paths] == ["sys-kernel", "sys-initrd.img", "sys-cmdline"]
    assert (tmp_path / "sys-kernel").read_bytes() == b"\x7fKERNEL-IMAGE"
    assert (tmp_path / "sys-cmdline").read_text() == "console=ttyS0 quiet"
    cpio = io.BytesIO()
    write_cpio(bundle.rootfs_tar, cpio)
    assert gzip.decompress((tmp_path / "sys-initrd.img").read_bytes()) == cpio.getvalue()
    assert _tree(tmp_path) == ["rootfs-0.tar", "sys-cmdline", "sys-initrd.img", "sys-kernel"]


def test_kernel_from_a_file_and_empty_cmdline(make_bundle: MakeBundle, tmp_path: Path) -> None:
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(b"K" * 100_000)
    bundle = make_bundle(kernel=kernel, cmdline=None)
    get_format("kernel+initrd").write(bundle, tmp_path / "out", "s", compression="zstd")
    assert (tmp_path / "out/s-kernel").read_bytes() == b"K" * 100_000
    assert (tmp_path / "out/s-cmdline").read_bytes() == b""
    assert (tmp_path / "out/s-initrd.img").read_bytes()[:4] == b"\x28\xb5\x2f\xfd"


def test_no_kernel_is_an_output_error_and_writes_nothing(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    for name in ("kernel+initrd", "tar-kernel-initrd"):
        with pytest.raises(OutputError, match="no kernel") as info:
            get_format(name).write(make_bundle(kernel=None), tmp_path / "out", "s")
        assert info.value.format == name
    assert _tree(tmp_path / "out") == []


def test_tar_kernel_initrd_holds_kernel_initrd_cmdline_and_ucode(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    ucode = tmp_path / "ucode.cpio"
    ucode.write_bytes(b"070701-ucode-bytes")
    bundle = make_bundle(ucode=ucode, source_date_epoch=1234)
    (path,) = get_format("tar-kernel-initrd").write(bundle, tmp_path / "out", "s")
    assert path.name == "s-initrd.tar"
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["kernel", "initrd.img", "cmdline", "ucode.cpio"]
        assert {(m.mode, m.mtime) for m in members} == {(0o644, 1234)}
        files = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    assert files["kernel"] == b"KERNEL"
    assert files["cmdline"] == b"console=ttyS0"
    assert files["ucode.cpio"] == b"070701-ucode-bytes"
    cpio = io.BytesIO()
    write_cpio(bundle.rootfs_tar, cpio)
    assert gzip.decompress(files["initrd.img"]) == cpio.getvalue(), "no ucode inside"


def test_outputs_are_deterministic(make_bundle: MakeBundle, tmp_path: Path) -> None:
    formats = ["tar", "docker", "kernel+initrd", "tar-kernel-initrd", "oci-archive", "oci-bundles"]
    digests = []
    for run in ("a", "b"):
        written = write_formats(make_bundle(source_date_epoch=99), tmp_path / run, formats)
        digests.append(
            {
                p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for paths in written.values()
                for p in paths
            }
        )
    assert digests[0] == digests[1]
    assert len(digests[0]) == 8


# -- whole or nothing ----------------------------------------------------------------------


def test_a_failing_write_leaves_no_file_and_no_temp(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("unrelated")
    # A hard link to nothing: the initrd fails after the kernel was already written.
    from .conftest import f, hard

    bundle = make_bundle(items=[f("a", b"x" * 10_000), hard("b", "nowhere")])
    with pytest.raises(OutputError, match="nowhere"):
        get_format("kernel+initrd").write(bundle, out, "s")
    assert _tree(out) == ["keep.txt"]


def test_an_exception_inside_an_atomic_output_discards_every_part(tmp_path: Path) -> None:
    (tmp_path / "old.oci").mkdir()
    (tmp_path / "old.oci" / "index.json").write_text("old")

    def write(out: AtomicOutput) -> None:
        with out.open("one") as f:
            f.write(b"1")
        (out.mkdir("old.oci") / "index.json").write_text("new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError), AtomicOutput(tmp_path, format="test") as out:
        write(out)
    assert _tree(tmp_path) == ["old.oci", "old.oci/index.json"]
    assert (tmp_path / "old.oci" / "index.json").read_text() == "old"


def test_a_committed_output_replaces_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("old")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "stale").write_text("old")
    with AtomicOutput(tmp_path, format="test") as out:
        out.path("a").write_text("new")
        (out.mkdir("d") / "fresh").write_text("new")
    assert out.paths == (tmp_path / "a", tmp_path / "d")
    assert _tree(tmp_path) == ["a", "d", "d/fresh"]
    assert (tmp_path / "a").read_text() == "new"


def test_a_part_never_written_fails_the_commit(tmp_path: Path) -> None:
    with (
        pytest.raises(OutputError, match="never written"),
        AtomicOutput(tmp_path, format="t") as out,
    ):
        out.path("ghost")
    assert os.listdir(tmp_path) == []
