"""pkg build: a recipe with a local .deb (made with dpkg-deb) into the cache or a registry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from moby_assemble.store import Store
from moby_assemble.testing import LocalRegistry

from .conftest import Invoke

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")

RECIPE = """\
name = "hello"
version = "1.0-1"
role = "service"
stage = "services"
description = "prints hello"

[[packages]]
name = "hello-cli-test"
include = ["usr/bin/hello"]

[[files]]
path = "etc/greeting"
source = "greeting.txt"
mode = "0644"

[image]
cmd = ["/usr/bin/hello"]

[config]
net = "host"
"""


@pytest.fixture
def component(tmp_path: Path) -> tuple[Path, Path]:
    """(recipe folder, debs dir holding the one package it needs)."""
    root = tmp_path / "deb-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: hello-cli-test\nVersion: 1.0-1\nArchitecture: amd64\n"
        "Maintainer: Tests <tests@example.invalid>\nDescription: test\n a test package\n"
    )
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "hello").write_bytes(b"#!/bin/sh\necho hello\n")
    (root / "usr" / "bin" / "hello").chmod(0o755)
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(root),
         str(debs / "hello-cli-test_1.0-1_amd64.deb")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    folder = tmp_path / "hello"
    folder.mkdir()
    (folder / "recipe.toml").write_text(RECIPE)
    (folder / "greeting.txt").write_text("hi\n")
    return folder, debs


def test_pkg_build_writes_into_the_cache(
    invoke: Invoke, component: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, debs = component
    cache = tmp_path / "cache"
    result = invoke("pkg", "build", "--cache", cache, "--no-apt", "--debs-dir", debs, folder)
    assert result.stdout.strip() == f"oci-layout:{cache / 'store'}:hello:1.0-1"
    assert "built hello 1.0-1" in result.stderr
    rows = json.loads(invoke("cache", "ls", "--json", "--cache", cache).stdout)
    assert [r["name"] for r in rows] == ["hello:1.0-1"]
    report = json.loads(invoke("inspect", "--json", result.stdout.strip()).stdout)
    config = report["config"]["config"]
    assert config["Cmd"] == ["/usr/bin/hello"]
    assert json.loads(config["Labels"]["org.mobyproject.config"])["net"] == "host"


def test_pkg_build_is_reproducible_and_pushes(
    invoke: Invoke, component: tuple[Path, Path], registry: LocalRegistry, tmp_path: Path
) -> None:
    folder, debs = component
    target = f"{registry.host}/cli/pkg/hello"
    first = json.loads(
        invoke(
            "-q",
            "pkg",
            "build",
            "--layout",
            tmp_path / "a",
            "--no-apt",
            "--debs-dir",
            debs,
            "--push",
            target,
            "--json",
            folder,
        ).stdout
    )[0]
    second = json.loads(
        invoke(
            "-q",
            "pkg",
            "build",
            "--layout",
            tmp_path / "b",
            "--no-apt",
            "--debs-dir",
            debs,
            "--json",
            folder,
        ).stdout
    )[0]
    assert first["digest"] == second["digest"]
    assert first["reference"] == f"{target}:1.0-1@{first['digest']}"
    assert [p["name"] for p in first["packages"]] == ["hello-cli-test"]
    assert Store(tmp_path / "b").resolve("hello:1.0-1").digest == first["digest"]
    pulled = invoke("-q", "pull", "--cache", tmp_path / "c", f"{target}:1.0-1").stdout
    assert pulled.strip() == first["reference"]


def test_a_missing_package_without_apt_is_a_config_error(
    invoke: Invoke, component: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, _debs = component
    empty = tmp_path / "nodebs"
    empty.mkdir()
    result = invoke("pkg", "build", "--cache", tmp_path / "c", "--no-apt", "--debs-dir", empty,
                    folder, code=3)  # fmt: skip
    assert "hello-cli-test" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
