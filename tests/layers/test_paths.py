"""Member-name normalisation and whiteout markers."""

from __future__ import annotations

import pytest

from moby_assemble import LayerError
from moby_assemble.layers._paths import is_whiteout, normalise_name, parent_of, whiteout_target


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("etc/passwd", "etc/passwd"),
        ("./etc/passwd", "etc/passwd"),
        ("././etc//passwd", "etc/passwd"),
        ("etc/./passwd", "etc/passwd"),
        ("usr/bin/", "usr/bin"),
        (".//usr///", "usr"),
        ("./", "."),
        (".", "."),
        (".hidden/.x", ".hidden/.x"),
        ("a/..b/c..", "a/..b/c.."),
        ("...", "..."),
    ],
)
def test_names_are_normalised(raw: str, clean: str) -> None:
    assert normalise_name(raw) == clean


@pytest.mark.parametrize("raw", ["..", "../x", "a/../b", "a/b/..", "/etc", "/", "", "a\0b"])
def test_unsafe_names_are_rejected(raw: str) -> None:
    with pytest.raises(LayerError) as err:
        normalise_name(raw, layer="sha256:1")
    assert err.value.member == raw
    assert err.value.layer == "sha256:1"


def test_parent_of_top_level_names_is_the_root() -> None:
    assert parent_of("etc") == "."
    assert parent_of("etc/ssl/certs") == "etc/ssl"


@pytest.mark.parametrize(
    ("name", "target"),
    [
        (".wh.foo", ("foo", False)),
        ("etc/.wh.motd", ("etc/motd", False)),
        ("etc/.wh..wh..opq", ("etc", True)),
        (".wh..wh..opq", (".", True)),
        ("etc/.wh..wh.plnk", None),
        ("etc/.wh.", "error"),
        ("etc/.wh...", "error"),
    ],
)
def test_whiteout_markers(name: str, target: object) -> None:
    assert is_whiteout(name)
    if target == "error":
        with pytest.raises(LayerError, match="names no file"):
            whiteout_target(name)
    else:
        assert whiteout_target(name) == target


def test_names_merely_containing_wh_are_not_whiteouts() -> None:
    assert not is_whiteout("etc/x.wh.y")
    assert not is_whiteout("wh.x")
