"""build, resolve/lock and formats on a tiny system whose images are in the real registry."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

from moby_assemble.testing import Image, Layer, LocalRegistry

from .conftest import Invoke, TinySystem, make_tiny_system, push_images, tiny_yaml


def _names(tar_path: Path) -> set[str]:
    with tarfile.open(tar_path) as tf:
        return {m.name for m in tf.getmembers()}


def _member(tar_path: Path, name: str) -> bytes:
    with tarfile.open(tar_path) as tf:
        f = tf.extractfile(name)
        assert f is not None
        return f.read()


def test_build_writes_every_format_asked_for_into_dir(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = invoke(
        "-q",
        "build",
        "--cache",
        tmp_path / "cache",
        "--dir",
        out,
        "-f",
        "kernel+initrd",
        "--format",
        "tar",
        "--name",
        "tiny",
        tiny_system.config,
    )
    expected = [out / n for n in ("tiny-kernel", "tiny-initrd.img", "tiny-cmdline", "tiny.tar")]
    assert result.stdout.splitlines() == [str(p) for p in expected]
    assert (out / "tiny-kernel").read_bytes() == b"MZ fake bzImage"
    assert (out / "tiny-cmdline").read_text().strip() == "console=ttyS0"
    assert (out / "tiny-initrd.img").read_bytes()[:2] == b"\x1f\x8b"
    names = _names(out / "tiny.tar")
    assert {"etc/motd", "etc/issue", "containers/onboot/000-setup/config.json"} <= names
    assert "containers/services/web/config.json" in names
    config = json.loads(_member(out / "tiny.tar", "containers/onboot/000-setup/config.json"))
    assert config["process"]["args"] == ["/bin/tool", "setup"]


def test_default_name_is_the_config_files_and_default_format_kernel_initrd(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    invoke("-q", "build", "--cache", tmp_path / "cache", "--dir", out, tiny_system.config)
    assert sorted(p.name for p in out.iterdir()) == [
        "system-cmdline",
        "system-initrd.img",
        "system-kernel",
    ]


def test_output_file_and_stdout_get_the_same_reproducible_tar(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    target = tmp_path / "system.tar"
    invoke("-q", "build", "--cache", cache, "-o", target, tiny_system.config)
    streamed = invoke("-q", "build", "--cache", tmp_path / "other", "-o", "-", tiny_system.config)
    assert streamed.stdout_bytes == target.read_bytes()
    assert "etc/motd" in _names(target)
    assert not any(p.name.startswith(".moby-assemble-") for p in tmp_path.iterdir())


def test_output_file_needs_one_streamable_format(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    result = invoke(
        "build", "-o", tmp_path / "x", "-f", "kernel+initrd", tiny_system.config, code=2
    )
    assert "-o writes exactly one streamable format (docker, tar)" in result.stderr


def test_an_unknown_format_is_an_output_error_listing_the_known_ones(
    invoke: Invoke, tiny_system: TinySystem
) -> None:
    result = invoke("build", "-f", "floppy", tiny_system.config, code=8)
    assert "unknown output format 'floppy'" in result.stderr
    assert "kernel+initrd" in result.stderr


def test_dry_run_prints_the_merged_configuration_without_any_network(
    invoke: Invoke, tmp_path: Path
) -> None:
    # Images on a port where nothing listens: a dry run must not try to reach them.
    base = tmp_path / "base.yml"
    base.write_text(
        tiny_yaml("127.0.0.1:1/k:1", "127.0.0.1:1/i:1", "127.0.0.1:1/t:1", "127.0.0.1:1/w:1")
    )
    extra = tmp_path / "extra.yml"
    extra.write_text("services:\n  - name: extra\n    image: 127.0.0.1:1/extra:2\n")
    result = invoke("build", "--dry-run", base, extra)
    merged = yaml.safe_load(result.stdout)
    assert [s["name"] for s in merged["services"]] == ["web", "extra"]
    assert merged["kernel"]["cmdline"] == "console=ttyS0"


def test_stdin_is_read_for_dash(invoke: Invoke, tiny_system: TinySystem, tmp_path: Path) -> None:
    text = tiny_system.config.read_text()
    dry = invoke("build", "--dry-run", "-", input=text)
    assert yaml.safe_load(dry.stdout)["onboot"][0]["name"] == "setup"
    out = tmp_path / "out"
    invoke("-q", "build", "--cache", tmp_path / "c", "--dir", out, "-f", "tar", "-", input=text)
    assert (out / "moby.tar").is_file()  # LinuxKit's name for a config from stdin


def test_an_invalid_config_is_exit_3_with_file_line_and_field(
    invoke: Invoke, tmp_path: Path
) -> None:
    config = tmp_path / "bad.yml"
    config.write_text("services:\n  - name: web\n    image: x/y:1\n    bindz: []\n")
    result = invoke("build", "--dry-run", config, code=3)
    (line,) = result.stderr.splitlines()
    assert f"{config}:4" in line
    assert "services[0]" in line


def test_lock_is_written_then_used_and_locked_never_resolves_again(
    invoke: Invoke, registry: LocalRegistry, tmp_path: Path
) -> None:
    # Own images: this test moves a tag.
    tiny_system = make_tiny_system(registry, tmp_path / "own")
    cache = tmp_path / "cache"
    lock = tmp_path / "system.lock.json"
    invoke(
        "-q",
        "build",
        "--cache",
        cache,
        "--lock",
        lock,
        "-o",
        tmp_path / "a.tar",
        tiny_system.config,
    )
    pins = json.loads(lock.read_text())
    assert set(pins["images"]) == {
        tiny_system.kernel,
        tiny_system.init,
        tiny_system.tool,
        tiny_system.web,
    }
    # The init tag moves to new content; a locked build must still use the pinned image.
    moved = Image((Layer().dir("etc").file("etc/issue", b"moved\n"),)).build()
    repo = tiny_system.init.split("/", 1)[1].rsplit(":", 1)[0]
    push_images(registry, tmp_path / "moved", moved, repo)
    invoke(
        "-q", "build", "--cache", tmp_path / "fresh", "--locked", "--lock", lock,
        "-o", tmp_path / "b.tar", tiny_system.config,
    )  # fmt: skip
    assert _member(tmp_path / "b.tar", "etc/issue") == b"tiny\n"
    assert (tmp_path / "b.tar").read_bytes() == (tmp_path / "a.tar").read_bytes()
    assert json.loads(lock.read_text()) == pins  # untouched
    # Without a lock the moved tag is what gets built.
    invoke("-q", "build", "--cache", cache, "-o", tmp_path / "c.tar", tiny_system.config)
    assert _member(tmp_path / "c.tar", "etc/issue") == b"moved\n"


def test_locked_fails_when_the_lock_does_not_match(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    lock = tmp_path / "system.lock.json"
    invoke("-q", "resolve", "--cache", tmp_path / "c", "-o", lock, tiny_system.config)
    extra = tmp_path / "extra.yml"
    extra.write_text(f"services:\n  - name: second\n    image: {tiny_system.tool}-other\n")
    result = invoke("build", "--locked", "--lock", lock, tiny_system.config, extra, code=9)
    (line,) = result.stderr.splitlines()
    assert str(lock) in line
    assert "services[1].image" in line


def test_locked_without_a_lock_file(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    result = invoke("build", "--locked", tiny_system.config, code=2)
    assert "--locked needs --lock FILE" in result.stderr
    missing = tmp_path / "missing.json"
    result = invoke("build", "--locked", "--lock", missing, tiny_system.config, code=9)
    assert f"lock file {missing} does not exist" in result.stderr


def test_a_stale_lock_is_resolved_again_without_locked(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    lock = tmp_path / "system.lock.json"
    lock.write_text(
        '{"checksum": "sha256:' + "0" * 64 + '", "images": {}, "platforms": ["linux/amd64"], '
        '"version": 1}\n'
    )
    result = invoke(
        "--progress", "none", "build", "--cache", tmp_path / "c", "--lock", lock,
        "-o", tmp_path / "x.tar", tiny_system.config,
    )  # fmt: skip
    assert "does not match the system: resolving again" in result.stderr
    assert tiny_system.web in json.loads(lock.read_text())["images"]


def test_offline_builds_from_the_cache_only(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    invoke("-q", "build", "--cache", cache, "-o", tmp_path / "a.tar", tiny_system.config)
    invoke(
        "-q", "--insecure-registry", "127.0.0.1:1", "build", "--offline", "--cache", cache,
        "-o", tmp_path / "b.tar", tiny_system.config,
    )  # fmt: skip
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    result = invoke("build", "--offline", "--cache", tmp_path / "empty", tiny_system.config, code=6)
    assert "offline" in result.stderr


def test_resolve_prints_the_lock_and_lock_is_its_alias(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    first = invoke("resolve", "--cache", tmp_path / "c", tiny_system.config).stdout
    second = invoke("lock", "--cache", tmp_path / "c", tiny_system.config).stdout
    assert first == second
    doc = json.loads(first)
    assert doc["platforms"] == ["linux/amd64"]
    assert first.endswith("}\n")
    digest = json.loads(first)["images"][tiny_system.web]["digest"]
    assert digest.startswith("sha256:")


def test_formats_lists_the_registered_output_formats(invoke: Invoke) -> None:
    lines = invoke("formats").stdout.splitlines()
    assert any(line.startswith("kernel+initrd ") for line in lines)
    rows = json.loads(invoke("formats", "--json").stdout)
    tar = next(r for r in rows if r["name"] == "tar")
    assert tar["streamable"] is True
    assert tar["files"] == ["{name}.tar"]


def test_inspect_a_system_with_its_lock(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    lock = tmp_path / "l.json"
    invoke("-q", "resolve", "--cache", tmp_path / "c", "-o", lock, tiny_system.config)
    pins = json.loads(lock.read_text())["images"]
    report = json.loads(invoke("inspect", "--json", "--lock", lock, tiny_system.config).stdout)
    assert report["images"] == [
        tiny_system.kernel,
        tiny_system.init,
        tiny_system.tool,
        tiny_system.web,
    ]
    web = next(c for c in report["components"] if c["name"] == "web")
    assert web["digest"] == pins[tiny_system.web]["digest"]
    assert report["lockDifferences"] == []
    text = invoke("inspect", tiny_system.config).stdout
    assert "setup" in text
    assert tiny_system.tool in text


def test_inspect_a_built_root_filesystem(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    target = tmp_path / "system.tar"
    invoke("-q", "build", "--cache", tmp_path / "c", "-o", target, tiny_system.config)
    report = json.loads(invoke("inspect", "--json", target).stdout)
    assert report["boot"]["cmdline"].strip() == "console=ttyS0"
    assert report["boot"]["kernel"] == len(b"MZ fake bzImage")
    assert [(c["directory"], c["image"], c["args"]) for c in report["containers"]] == [
        ("containers/onboot/000-setup", tiny_system.tool, ["/bin/tool", "setup"]),
        ("containers/services/web", tiny_system.web, ["/bin/app"]),
    ]
    text = invoke("inspect", target).stdout
    assert "Command line:    console=ttyS0" in text


def test_the_executable_streams_a_build_to_stdout(tiny_system: TinySystem, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("moby-assemble")
    result = subprocess.run(
        [str(exe), "build", "--cache", str(tmp_path / "c"), "-o", "-", str(tiny_system.config)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tf:
        motd = tf.extractfile("etc/motd")
        assert motd is not None
        assert motd.read() == b"hello from the cli test\n"
    # Not a terminal: plain progress lines, no control codes.
    assert b"step 2/9 kernel: started" in result.stderr
    assert b"\x1b[" not in result.stderr


def test_an_spdx_sbom_is_in_the_root_unless_no_sbom_is_given(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with_sbom, without = tmp_path / "with.tar", tmp_path / "without.tar"
    invoke("-q", "build", "--cache", cache, "-o", with_sbom, tiny_system.config)
    invoke("-q", "build", "--cache", cache, "--no-sbom", "-o", without, tiny_system.config)
    document = json.loads(_member(with_sbom, "sbom.spdx.json"))
    assert document["spdxVersion"] == "SPDX-2.3"
    assert "sbom.spdx.json" not in _names(without)
    assert _names(with_sbom) - _names(without) == {"sbom.spdx.json"}
