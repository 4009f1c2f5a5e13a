"""build(): deterministic images, labels, umoci/skopeo as readers, pushing, platforms."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from moby_assemble import ConfigError, MediaType
from moby_assemble.pkg import BuildResult, build, load_recipe
from moby_assemble.store import Store
from moby_assemble.testing import LocalRegistry

from .conftest import COMPONENTS, MakeDeb

BUSYBOX_RECIPE = """
name = "tiny"
version = "1.0"
role = "service"
stage = "services"
description = "busybox and a script"

[[packages]]
name = "busybox-static"
include = ["bin/busybox"]

[[files]]
path = "usr/bin/hello"
contents = "#!/bin/sh\\necho hello\\n"
mode = "0755"

[[symlinks]]
target = "/bin/busybox"
paths = ["bin/sh", "bin/echo"]

[image]
cmd = ["/usr/bin/hello"]

[config]
net = "host"
capabilities = ["CAP_NET_ADMIN"]
"""


def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120, **kwargs)


def image_config(store: Store, result: BuildResult) -> dict[str, Any]:
    manifest = json.loads(store.read_blob(result.digest))
    return json.loads(store.read_blob(manifest["config"]["digest"]))  # type: ignore[no-any-return]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "recipe.toml").write_text(BUSYBOX_RECIPE)
    return folder


def test_building_twice_gives_the_same_digest(
    tiny: Path, debs_dir: Path, small_debs: object, tmp_path: Path
) -> None:
    a = build(tiny, debs_dir=debs_dir, layout=tmp_path / "a")
    b = build(tiny, debs_dir=debs_dir, layout=tmp_path / "b", apt=False)
    assert a.digest == b.digest
    assert a.descriptor.media_type == MediaType.OCI_MANIFEST
    assert a.tag == "tiny:1.0"
    blobs_a = sorted(p.name for p in (tmp_path / "a/blobs/sha256").iterdir())
    blobs_b = sorted(p.name for p in (tmp_path / "b/blobs/sha256").iterdir())
    assert blobs_a == blobs_b
    c = build(tiny, debs_dir=debs_dir, layout=tmp_path / "c", apt=False, source_date_epoch=1)
    assert c.digest != a.digest


def test_source_date_epoch_comes_from_the_environment(
    tiny: Path, debs_dir: Path, small_debs: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    result = build(tiny, debs_dir=debs_dir, layout=tmp_path / "s", apt=False)
    config = image_config(Store(tmp_path / "s"), result)
    assert config["created"] == "2023-11-14T22:13:20Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        build(tiny, debs_dir=debs_dir, layout=tmp_path / "t", apt=False)


def test_labels_follow_linuxkit_and_record_the_packages(
    tiny: Path, debs_dir: Path, small_debs: dict[str, Any], tmp_path: Path
) -> None:
    result = build(tiny, debs_dir=debs_dir, layout=tmp_path / "l", apt=False)
    store = Store(tmp_path / "l")
    config = image_config(store, result)
    labels = config["config"]["Labels"]
    assert labels["org.mobyproject.config"] == '{"capabilities":["CAP_NET_ADMIN"],"net":"host"}'
    assert labels["org.mobyproject.moby-assemble.role"] == "service"
    assert labels["org.mobyproject.moby-assemble.stage"] == "services"
    assert labels["org.opencontainers.image.title"] == "tiny"
    assert labels["org.opencontainers.image.version"] == "1.0"
    busybox = small_debs["busybox-static"]
    packages = json.loads(labels["org.mobyproject.moby-assemble.packages"])
    assert packages == [
        {
            "architecture": "amd64",
            "name": "busybox-static",
            "sha256": busybox.sha256,
            "version": busybox.version,
        }
    ]
    assert result.packages[0].version == busybox.version
    assert config["config"]["Cmd"] == ["/usr/bin/hello"]
    assert config["config"]["Env"][0].startswith("PATH=")
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    manifest = json.loads(store.read_blob(result.digest))
    assert manifest["annotations"]["org.mobyproject.moby-assemble.packages"] == json.dumps(
        packages, separators=(",", ":"), sort_keys=True
    )
    assert result.compressed_size == manifest["layers"][0]["size"]
    assert result.uncompressed_size > result.compressed_size
    assert [name for name, _ in result.steps][:2] == ["fetch linux/amd64", "unpack linux/amd64"]


@pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci is not installed")
def test_umoci_unpacks_the_expected_files(
    tiny: Path, debs_dir: Path, small_debs: object, tmp_path: Path
) -> None:
    build(tiny, debs_dir=debs_dir, layout=tmp_path / "oci", apt=False)
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--rootless", "--image", f"{tmp_path / 'oci'}:tiny:1.0", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "bin/busybox").is_file()
    assert os.readlink(rootfs / "bin/sh") == "/bin/busybox"
    assert (rootfs / "usr/bin/hello").read_text() == "#!/bin/sh\necho hello\n"
    assert os.stat(rootfs / "usr/bin/hello").st_mode & 0o777 == 0o755
    assert not (rootfs / "usr/share/doc").exists()
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["/usr/bin/hello"]


def test_skopeo_inspects_the_layout(
    tiny: Path, debs_dir: Path, small_debs: object, tmp_path: Path
) -> None:
    result = build(tiny, debs_dir=debs_dir, layout=tmp_path / "oci", apt=False)
    info = json.loads(run("skopeo", "inspect", f"oci:{tmp_path / 'oci'}:tiny:1.0").stdout)
    assert info["Digest"] == result.digest
    assert info["Labels"]["org.mobyproject.moby-assemble.role"] == "service"


def test_push_to_a_registry(
    tiny: Path, debs_dir: Path, small_debs: object, registry: LocalRegistry, tmp_path: Path
) -> None:
    result = build(tiny, debs_dir=debs_dir, push=f"{registry.host}/moby-assemble/tiny", apt=False)
    assert result.store is None
    assert result.pushed == f"{registry.host}/moby-assemble/tiny:1.0"
    assert result.reference == f"{registry.host}/moby-assemble/tiny:1.0@{result.digest}"
    info = json.loads(
        run(
            "skopeo",
            "inspect",
            "--tls-verify=false",
            f"docker://{registry.host}/moby-assemble/tiny:1.0",
        ).stdout
    )
    assert info["Digest"] == result.digest
    # Into a store and to the registry under another tag.
    stored = build(
        tiny,
        debs_dir=debs_dir,
        store=Store(tmp_path / "s"),
        push=f"{registry.host}/moby-assemble/tiny:edge",
        apt=False,
    )
    assert stored.digest == result.digest
    assert stored.store == tmp_path / "s"
    assert Store(tmp_path / "s").resolve("tiny:1.0").digest == result.digest


def test_runc_from_the_catalog_runs_in_its_own_root(
    debs_dir: Path, small_debs: object, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    result = build(COMPONENTS / "runc", debs_dir=debs_dir, layout=tmp_path / "oci")
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--image", f"{tmp_path / 'oci'}:runc:{result.version}", str(bundle))
    out = run("chroot", str(bundle / "rootfs"), "/usr/sbin/runc", "--version").stdout
    assert "runc version 1.1" in out
    assert "libseccomp: 2." in out
    names = {p.relative_to(bundle / "rootfs").as_posix() for p in (bundle / "rootfs").rglob("*")}
    assert "usr/share/doc/runc/copyright" in names
    assert not [n for n in names if "gconv" in n or n.endswith(".a")]


def test_metapackages_and_several_platforms(make_deb: MakeDeb, tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    for arch in ("amd64", "arm64"):
        make_deb("tool-meta", "2", arch=arch, depends="tool-1.2 (= 1.2-1)", directory=pool)
        make_deb("tool-1.2", "1.2-1", arch=arch, files={"usr/bin/tool": arch.encode()},
                 directory=pool)  # fmt: skip
    folder = tmp_path / "multi"
    folder.mkdir()
    (folder / "recipe.toml").write_text(
        'name = "multi"\nversion = "2"\nrole = "service"\nstage = "services"\n'
        'platforms = ["linux/amd64", "linux/arm64"]\n'
        '[[packages]]\nname = "tool-meta"\nmetapackage = true\n'
    )
    result = build(folder, debs_dir=pool, apt=False, layout=tmp_path / "oci")
    assert result.descriptor.media_type == MediaType.OCI_INDEX
    assert [(p.name, p.architecture, p.via) for p in result.packages] == [
        ("tool-1.2", "amd64", "tool-meta=2"),
        ("tool-1.2", "arm64", "tool-meta=2"),
    ]
    raw = json.loads(run("skopeo", "inspect", "--raw", f"oci:{tmp_path / 'oci'}:multi:2").stdout)
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["amd64", "arm64"]
    arm = json.loads(
        run(
            "skopeo", "inspect", "--override-arch", "arm64", f"oci:{tmp_path / 'oci'}:multi:2"
        ).stdout
    )
    assert arm["Architecture"] == "arm64"
    again = build(folder, debs_dir=pool, apt=False, layout=tmp_path / "oci2")
    assert again.digest == result.digest


def test_build_needs_somewhere_to_write(tiny: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to write to"):
        build(tiny)
    with pytest.raises(ConfigError, match="not both"):
        build(tiny, store="a", layout="b")


def test_package_for_the_wrong_architecture_is_refused(make_deb: MakeDeb, tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    make_deb("armonly", "1", arch="arm64", files={"etc/x": b"x"}, directory=pool)
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "recipe.toml").write_text(
        'name = "r"\nversion = "1"\nrole = "service"\nstage = "services"\n'
        '[[packages]]\nname = "armonly"\n'
    )
    with pytest.raises(ConfigError, match=r"no \.deb of armonly for amd64") as info:
        build(load_recipe(folder), debs_dir=pool, apt=False, layout=tmp_path / "oci")
    assert info.value.path == "packages[0]"
