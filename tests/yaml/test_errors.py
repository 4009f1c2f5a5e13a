"""Strictness: every rejected document says file, line and path, and why."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from moby_assemble import ConfigError
from moby_assemble._model import System
from moby_assemble._yaml import MAX_NODES, load_yaml, resolve_plain

SERVICES = """\
services:
  - name: a
    image: alpine
  - name: b
    image: alpine
  - name: c
    image: alpine
"""


def _error(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "system.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        System.from_yaml(path)
    assert info.value.file == str(path)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "path", "fragment"),
    [
        (SERVICES + "    foo: 1\n", 8, "services[2].foo", "unknown key 'foo'"),
        (SERVICES + "    Binds: []\n", 8, "services[2].Binds", "did you mean 'binds'"),
        (SERVICES + "    binds: /a:/b\n", 8, "services[2].binds", "expected a list of strings"),
        (SERVICES + "    binds: [/a:/b, 3]\n", 8, "services[2].binds[1]", "expected a string"),
        (SERVICES + "    binds:\n", 8, "services[2].binds", "got null"),
        (SERVICES + "    readonly: yes\n", 8, "services[2].readonly", "expected a boolean"),
        (SERVICES + "    oomScoreAdj: '5'\n", 8, "services[2].oomScoreAdj", "integer"),
        (SERVICES + "    image: b\n", 8, "services[2].image", "duplicate key 'image'"),
        (SERVICES + "  - name: a\n    image: x\n", 8, "services[3].name", "duplicate service"),
        ("services:\n  - name: a\n", 2, "services[0]", "missing required key 'image'"),
        ("files:\n  - path: etc/x\n    mode: 0644\n", 3, "files[0].mode", 'quote it: mode: "0644"'),
        ("files:\n  - path: etc/x\n    mode: '0688'\n", 3, "files[0].mode", "invalid octal"),
        (
            "files:\n  - path: a\n    contents: x\n    source: y\n",
            4,
            "files[0].source",
            "exclusive",
        ),
        ("volumes:\n  - name: My_Vol\n", 2, "volumes[0].name", "invalid volume name"),
        ("volumes:\n  - name: v\n  - name: v\n", 3, "volumes[1].name", "duplicate volume"),
        ("init:\n  - Alpine\n", 2, "init[0]", "lowercase"),
        ("kernel:\n  image: k\n  cmdline: 3\n", 3, "kernel.cmdline", "expected a string"),
        ("kernel:\n  ucode: x\n  foo: y\n", 3, "kernel.foo", "unknown key"),
        (
            "onboot:\n  - name: a\n    image: a\n    devices:\n      - path: /dev/x\n"
            "        type: c\n        mode: 0666\n",
            7,
            "onboot[0].devices[0].mode",
            "octal string",
        ),
        (
            "onboot:\n  - name: a\n    image: a\n    resources:\n      memory:\n        limt: 1\n",
            6,
            "onboot[0].resources.memory.limt",
            "unknown key",
        ),
        (
            "onboot:\n  - name: a\n    image: a\n    runtime:\n      bindNS:\n        nett: x\n",
            6,
            "onboot[0].runtime.bindNS.nett",
            "unknown key",
        ),
        (
            "onboot:\n  - name: a\n    image: a\n    mounts:\n      - type: bind\n"
            "        uidMappings: []\n",
            6,
            "onboot[0].mounts[0].uidMappings",
            "unknown key",
        ),
        ("unknownField: 1\n", 1, "unknownField", "unknown key"),
        ("services: {}\n", 1, "services", "expected a list"),
        ("- a\n- b\n", 1, "", "a configuration is an object"),
        (
            "services:\n  - name: a\n    image: a\n    sysctl: {1: x}\n",
            4,
            "services[0].sysctl",
            "keys must be strings",
        ),
    ],
)
def test_invalid_documents_name_file_line_and_path(
    tmp_path: Path, text: str, line: int, path: str, fragment: str
) -> None:
    error = _error(tmp_path, text)
    assert (error.line, error.path) == (line, path)
    assert fragment in error.reason


def test_syntax_errors_carry_the_line(tmp_path: Path) -> None:
    error = _error(tmp_path, "services:\n  - name: a\n   image: b\n")
    assert error.line == 3
    assert "invalid YAML" in error.reason


def test_alias_bomb_is_stopped_quickly() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    start = time.monotonic()
    with pytest.raises(ConfigError, match=f"more than {MAX_NODES} values"):
        load_yaml("\n".join(lines) + "\n")
    assert time.monotonic() - start < 5


def test_recursive_alias_is_rejected() -> None:
    with pytest.raises(ConfigError, match="recursive alias"):
        load_yaml("a: &a\n  b: *a\n")


def test_several_documents_and_empty_documents_are_rejected() -> None:
    with pytest.raises(ConfigError, match="single document"):
        System.from_yaml("services: []\n---\nfiles: []\n")
    with pytest.raises(ConfigError, match="empty document"):
        System.from_yaml("# nothing\n\n")


def test_unknown_tags_are_rejected() -> None:
    with pytest.raises(ConfigError, match="unsupported YAML tag"):
        load_yaml("a: !!python/name:os.system x\n")


def test_scalars_resolve_like_go_yaml_v3() -> None:
    assert resolve_plain("0644") == 0o644
    assert resolve_plain("0x1F") == 31
    assert resolve_plain("-12") == -12
    assert resolve_plain("yes") == "yes"
    assert resolve_plain("on") == "on"
    assert resolve_plain("True") is True
    assert resolve_plain("~") is None
    assert resolve_plain("1.5") == 1.5
    assert resolve_plain("2001-12-14") == "2001-12-14"
    data, _ = load_yaml("a: !!str 0644\nb: '0644'\nc: 0644\n")
    assert data == {"a": "0644", "b": "0644", "c": 420}


def test_merge_keys_are_supported_and_explicit_keys_win() -> None:
    data, _ = load_yaml("base: &b {net: host, pid: host}\nsvc:\n  <<: *b\n  pid: new\n")
    assert data["svc"] == {"net": "host", "pid": "new"}


def test_null_section_is_an_error_not_an_empty_list() -> None:
    with pytest.raises(ConfigError, match="onboot is null") as info:
        System.from_yaml("onboot:\n")
    assert info.value.path == "onboot"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        System.from_yaml(tmp_path / "absent.yml")
    assert info.value.file == str(tmp_path / "absent.yml")


def test_toml_errors_carry_file_and_path(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[[services]]\nname = "a"\nimage = "a"\nbinds = "x"\n')
    with pytest.raises(ConfigError, match="expected a list") as info:
        System.from_toml(path)
    assert (info.value.file, info.value.path) == (str(path), "services[0].binds")
    path.write_text("[[services]\n")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        System.from_toml(path)
    assert info.value.line == 1


def test_merge_conflicts_name_the_later_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    a.write_text("services:\n  - name: web\n    image: nginx\n")
    b.write_text("services:\n  - name: web\n    image: httpd\n")
    with pytest.raises(ConfigError, match="after merging: duplicate service name") as info:
        System.from_yaml(a, b)
    assert info.value.file == str(b)
