"""EROFS from a tar with mkfs.erofs --tar (erofs-utils 1.7+), or a clear error without."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble import OutputError
from moby_assemble.disk import erofs_reads_tar, write_erofs

from .conftest import require, run, sha256


def _needs_tar_support() -> None:
    require("mkfs.erofs")
    if not erofs_reads_tar():
        pytest.skip("mkfs.erofs is older than 1.7 and has no --tar (Debian 12 ships 1.5)")


def test_an_old_mkfs_erofs_is_an_error_naming_the_version_needed(
    system_tar: Path, tmp_path: Path
) -> None:
    require("mkfs.erofs")
    if erofs_reads_tar():
        pytest.skip("this mkfs.erofs reads tar files")
    with pytest.raises(OutputError, match=r"erofs-utils 1\.7 or newer"):
        write_erofs(system_tar, tmp_path / "x.erofs")
    assert not (tmp_path / "x.erofs").exists()


def test_fsck_erofs_accepts_the_image_and_it_is_reproducible(
    system_tar: Path, tmp_path: Path
) -> None:
    _needs_tar_support()
    write_erofs(system_tar, tmp_path / "one.erofs", seed="s", epoch=5)
    write_erofs(system_tar, tmp_path / "two.erofs", seed="s", epoch=5)
    run("fsck.erofs", tmp_path / "one.erofs")
    assert sha256(tmp_path / "one.erofs") == sha256(tmp_path / "two.erofs")
    out = tmp_path / "out"
    run("fsck.erofs", f"--extract={out}", "--no-preserve", tmp_path / "one.erofs")
    assert (out / "bin/busybox").read_bytes() == b"#!busybox\n" * 50


def test_a_missing_mkfs_erofs_names_the_debian_package(
    system_tar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OutputError, match="erofs-utils"):
        write_erofs(system_tar, tmp_path / "x.erofs")


def test_a_missing_tar_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="nothing"):
        write_erofs(tmp_path / "nothing", tmp_path / "x.erofs")
