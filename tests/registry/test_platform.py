"""Platforms: containerd-style normalisation, strict matching, and explicit fallback orders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moby_assemble._errors import PlatformError
from moby_assemble._platform import Platform

NORMALISED = [
    ("linux/amd64", "linux/amd64"),
    ("linux/x86_64", "linux/amd64"),
    ("linux/x86-64", "linux/amd64"),
    ("linux/amd64/v1", "linux/amd64"),
    ("linux/amd64/v3", "linux/amd64/v3"),
    ("linux/aarch64", "linux/arm64"),
    ("linux/arm64/v8", "linux/arm64"),
    ("linux/arm64/8", "linux/arm64"),
    ("linux/arm64/v8.2", "linux/arm64/v8.2"),
    ("linux/arm", "linux/arm/v7"),
    ("linux/arm/7", "linux/arm/v7"),
    ("linux/arm/6", "linux/arm/v6"),
    ("linux/armhf", "linux/arm/v7"),
    ("linux/armel", "linux/arm/v6"),
    ("linux/i386", "linux/386"),
    ("Linux/AMD64", "linux/amd64"),
    ("linux/ARM/V7", "linux/arm/v7"),
    ("macos/arm64", "darwin/arm64"),
    ("arm64", "linux/arm64"),
    ("riscv64", "linux/riscv64"),
    ("windows/amd64", "windows/amd64"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALISED)
def test_parse_normalises_like_containerd(text: str, expected: str) -> None:
    assert str(Platform.parse(text)) == expected


def test_equivalent_spellings_are_equal_values() -> None:
    assert Platform.parse("linux/arm64/v8") == Platform.parse("linux/arm64")
    assert Platform("linux", "x86_64") == Platform.parse("linux/amd64/v1")
    assert hash(Platform.parse("linux/aarch64")) == hash(Platform("linux", "arm64", "v8"))
    assert Platform.parse("linux/arm64/v8").matches(Platform.parse("linux/arm64"))


@pytest.mark.parametrize(
    "text", ["", "   ", "linux/", "/amd64", "linux//v7", "a/b/c/d", "linux/amd 64", "linux/ä"]
)
def test_parse_rejects_non_platforms(text: str) -> None:
    with pytest.raises(PlatformError) as info:
        Platform.parse(text)
    assert info.value.wanted is not None


def test_invalid_variant_is_rejected() -> None:
    with pytest.raises(PlatformError, match="variant"):
        Platform("linux", "arm", "v 7")


def test_strict_match_distinguishes_variants_and_architectures() -> None:
    arm7 = Platform.parse("linux/arm/v7")
    assert arm7.matches(Platform.parse("linux/arm"))
    assert not arm7.matches(Platform.parse("linux/arm/v6"))
    assert not Platform.parse("linux/amd64").matches(Platform.parse("linux/386"))
    assert not Platform.parse("linux/amd64").matches(Platform.parse("windows/amd64"))
    assert not Platform.parse("linux/amd64/v2").matches(Platform.parse("linux/amd64"))


def test_os_version_is_compared_only_when_requested() -> None:
    want = Platform("windows", "amd64", os_version="10.0.17763")
    assert want.matches(Platform("windows", "amd64", os_version="10.0.17763"))
    assert not want.matches(Platform("windows", "amd64", os_version="10.0.20348"))
    assert Platform("windows", "amd64").matches(want)


COMPATIBLE = [
    ("linux/amd64", ["linux/amd64", "linux/386"]),
    ("linux/amd64/v3", ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]),
    ("linux/386", ["linux/386"]),
    ("linux/arm/v8", ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v7", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v5", ["linux/arm/v5"]),
    (
        "linux/arm64",
        ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
    ),
    (
        "linux/arm64/v8.2",
        [
            "linux/arm64/v8.2",
            "linux/arm64/v8.1",
            "linux/arm64",
            "linux/arm/v8",
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/arm/v5",
        ],
    ),
    (
        "linux/arm64/v9.1",
        ["linux/arm64/v9.1", "linux/arm64/v9"]
        + [f"linux/arm64/v8.{n}" for n in range(6, 0, -1)]
        + ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
    ),
    ("linux/riscv64", ["linux/riscv64"]),
    ("linux/s390x", ["linux/s390x"]),
]


@pytest.mark.parametrize(("text", "expected"), COMPATIBLE)
def test_compatible_lists_fallbacks_best_first(text: str, expected: list[str]) -> None:
    assert [str(p) for p in Platform.parse(text).compatible()] == expected


def test_compatible_keeps_os_version_and_features() -> None:
    p = Platform("windows", "amd64", os_version="10.0.1", os_features=("win32k",))
    assert all(c.os_version == "10.0.1" and c.os_features == ("win32k",) for c in p.compatible())


@given(st.sampled_from([t for t, _ in NORMALISED + COMPATIBLE]))
def test_compatible_starts_with_itself_and_has_no_repeats(text: str) -> None:
    p = Platform.parse(text)
    out = p.compatible()
    assert out[0] == p
    assert len(set(out)) == len(out)


def test_json_round_trip_uses_oci_field_names() -> None:
    p = Platform("linux", "arm64", "v8.2", os_features=("a",))
    obj = p.to_json()
    assert obj == {"architecture": "arm64", "os": "linux", "variant": "v8.2", "os.features": ["a"]}
    assert Platform.from_json(obj) == p
    assert Platform.from_json(
        {"os": "linux", "architecture": "arm64", "variant": "v8"}
    ).to_json() == {
        "architecture": "arm64",
        "os": "linux",
    }


def test_from_json_names_the_missing_field() -> None:
    with pytest.raises(PlatformError, match="'architecture'"):
        Platform.from_json({"os": "linux"})
    with pytest.raises(PlatformError, match="must be an object"):
        Platform.from_json(["linux"])  # type: ignore[arg-type]


def test_attestation_entries_are_unknown() -> None:
    assert Platform("unknown", "unknown").is_unknown
    assert not Platform.parse("linux/amd64").is_unknown


def test_host_platform_is_normalised_linux() -> None:
    host = Platform.host()
    assert host.os == "linux"
    assert host == Platform.parse(str(host))


@given(st.text(max_size=30))
def test_arbitrary_text_raises_only_platform_error(text: str) -> None:
    try:
        p = Platform.parse(text)
    except PlatformError:
        pass
    else:
        assert Platform.parse(str(p)) == p
