"""Finding .deb files: dpkg's version order, a local directory, and apt-get download."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from moby_assemble import ConfigError, Platform
from moby_assemble.pkg import DebPackage, DebRequest, DebSource, compare_versions
from moby_assemble.pkg import debian_architecture as debian_arch

from .conftest import MakeDeb

VERSIONS = [
    "1.0",
    "1.0-1",
    "1.0-1+deb12u1",
    "1.0~rc1",
    "1.0~~",
    "1.0a",
    "1.0+b1",
    "1:0.9",
    "2:0",
    "1.10",
    "1.9",
    "1.0.0",
    "0.9-10",
    "0.9-9",
    "1.35.0-4+deb12u1+b1",
    "1.35.0-4+b1",
    "6.1.192-2",
    "6.1.76-1",
]


def dpkg_compare(a: str, b: str) -> int:
    for op, result in (("lt", -1), ("eq", 0), ("gt", 1)):
        if subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0:
            return result
    raise AssertionError(f"dpkg could not compare {a} and {b}")


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not available")
def test_version_order_matches_dpkg() -> None:
    for a in VERSIONS:
        for b in VERSIONS:
            assert compare_versions(a, b) == dpkg_compare(a, b), (a, b)


def test_debian_architecture_names() -> None:
    assert debian_arch(Platform.parse("linux/amd64")) == "amd64"
    assert debian_arch(Platform.parse("linux/arm/v7")) == "armhf"
    assert debian_arch(Platform.parse("linux/ppc64le")) == "ppc64el"
    with pytest.raises(ConfigError, match="windows/amd64"):
        debian_arch(Platform.parse("windows/amd64"))


def test_local_directory_picks_by_control_fields_not_file_names(
    make_deb: MakeDeb, tmp_path: Path
) -> None:
    pool = tmp_path / "pool"
    newest = make_deb("tool", "1:1.0-1", files={"etc/v": b"new"}, directory=pool)
    make_deb("tool", "2.0-1", files={"etc/v": b"old"}, directory=pool)  # no epoch: older
    make_deb("tool", "3.0-1", arch="arm64", files={"etc/v": b"arm"}, directory=pool)
    make_deb("tool-data", "5", arch="all", files={"usr/share/d": b"d"}, directory=pool)
    (pool / "tool_9.9_amd64.deb").write_bytes(b"not a deb at all")  # ignored, with a warning
    renamed = pool / "zz-renamed.deb"
    shutil.move(newest, renamed)
    source = DebSource(pool, apt=False)
    assert source.fetch("tool").path == renamed
    assert source.fetch("tool", version="2.0-1").version == "2.0-1"
    assert source.fetch("tool", architecture="arm64").version == "3.0-1"
    assert source.fetch("tool-data", architecture="arm64").architecture == "all"
    message = r"no \.deb of tool 7\.0 .*versions there: 1:1\.0-1, 2\.0-1"
    with pytest.raises(ConfigError, match=message) as info:
        source.fetch("tool", version="7.0", where="packages[3]", recipe_file="r.toml")
    assert (info.value.path, info.value.file) == ("packages[3]", "r.toml")
    with pytest.raises(ConfigError, match="apt is not allowed"):
        source.fetch("missing")


def test_apt_download_is_cached_and_verified(debs_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    source = DebSource(cache)
    first = source.fetch("libseccomp2")
    assert first.path.parent == cache
    assert first.name == "libseccomp2"
    mtime = first.path.stat().st_mtime_ns
    again = DebSource(cache).fetch("libseccomp2", version=first.version)
    assert again.path == first.path
    assert again.path.stat().st_mtime_ns == mtime  # not downloaded again
    assert not [p for p in cache.iterdir() if p.name.startswith(".download-")]
    # A damaged cached file does not match apt's hash: it is fetched again.
    first.path.write_bytes(first.path.read_bytes()[:-10] + bytes(10))
    repaired = DebSource(cache).fetch("libseccomp2")
    assert repaired.sha256 == first.sha256
    assert DebPackage.open(repaired.path).sha256 == first.sha256


def test_apt_batch_errors_name_the_recipe_entry(tmp_path: Path) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not available")
    source = DebSource(tmp_path)
    requests = [
        DebRequest("libseccomp2", where="packages[0]"),
        DebRequest("no-such-package-moby-assemble", where="packages[1]"),
    ]
    with pytest.raises(ConfigError, match="Unable to locate package") as info:
        source.fetch_all(requests, recipe_file="r.toml")
    assert info.value.path == "packages[1]"
    with pytest.raises(ConfigError, match=r"Version '0\.0\.0-nope' for 'libseccomp2'") as info:
        source.fetch("libseccomp2", version="0.0.0-nope", where="packages[4]")
    assert info.value.path == "packages[4]"
