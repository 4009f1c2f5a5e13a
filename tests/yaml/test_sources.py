"""Reading from files and text, relative sources, key order and style of what we write."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from moby_assemble import ConfigError
from moby_assemble._model import Container, File, Kernel, System, Volume


def test_relative_file_sources_resolve_against_the_yaml_directory(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "s.yml").write_text(
        "files:\n  - path: etc/a\n    source: data/a.txt\n"
        "  - path: etc/b\n    source: /abs/b\n  - path: etc/c\n    source: ~/c\n"
    )
    s = System.from_yaml(conf / "s.yml")
    assert [f.source_path() for f in s.files] == [
        str(conf / "data" / "a.txt"),
        "/abs/b",
        str(Path("~/c").expanduser()),
    ]
    # what was written is kept, so output YAML and metadata files carry no host paths
    assert [f.source for f in s.files] == ["data/a.txt", "/abs/b", "~/c"]
    assert "source: data/a.txt" in s.to_yaml()
    assert System.from_yaml(str(conf / "s.yml")) == s  # a str path works too
    # text has no directory: the source is relative to the current directory
    text = System.from_yaml("files:\n  - path: etc/a\n    source: data/a.txt\n")
    assert text.files[0].source_path() == "data/a.txt"


def test_systems_loaded_from_two_checkouts_are_equal(tmp_path: Path) -> None:
    body = "files:\n  - path: etc/a\n    source: data/a.txt\n"
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "s.yml").write_text(body)
    one = System.from_yaml(tmp_path / "one" / "s.yml")
    two = System.from_yaml(tmp_path / "two" / "s.yml")
    assert one == two
    assert hash(one) == hash(two)
    assert one.files[0].source_path() != two.files[0].source_path()


def test_yaml_output_is_linuxkit_shaped() -> None:
    s = System(
        kernel=Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0"),
        init=["linuxkit/init:v1"],
        onboot=[Container("a", "a")],
        onshutdown=[Container("b", "b")],
        services=[Container("c", "c", capabilities_add=["CAP_NET_ADMIN"], readonly=True)],
        files=[File("etc/motd", contents="line1\nline2\n", mode=0o644)],
        volumes=[Volume("v")],
    )
    text = s.to_yaml()
    assert list(yaml.safe_load(text)) == [
        "kernel",
        "init",
        "onboot",
        "onshutdown",
        "services",
        "files",
        "volumes",
    ]
    assert 'mode: "0644"' in text
    assert "contents: |\n      line1\n      line2\n" in text
    assert "capabilities.add:\n      - CAP_NET_ADMIN" in text
    assert "  - name: c\n    image: docker.io/library/c\n" in text


def test_strings_that_look_like_other_types_are_quoted() -> None:
    s = System(services=[Container("x", "x", env=["0644", "true", "1e3", "null", "yes", "0o7"])])
    again = System.from_yaml(s.to_yaml())
    assert again.services[0].env == ("0644", "true", "1e3", "null", "yes", "0o7")


def test_toml_uses_the_same_shape() -> None:
    s = System(services=[Container("x", "x", binds_add=["/a:/b"], sysctl={"a.b": "1"})])
    text = s.to_toml()
    assert '"binds.add" = [' in text
    assert System.from_toml(text) == s


def test_non_utf8_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(b'[kernel]\nimage = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        System.from_toml(path)
    assert info.value.file == str(path)


def test_platforms_and_roles_are_not_part_of_the_yaml() -> None:
    s = System(platform="linux/arm64", services=[Container("x", "x", role="network")])
    again = System.from_yaml(s.to_yaml(), platform="linux/arm64")
    assert again.platforms == s.platforms
    assert again.services[0].role is None
    assert again.services[0] == Container("x", "x")
