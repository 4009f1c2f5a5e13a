"""Image references: Docker's normalisation, clear rejections, and round-trip properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moby_assemble._errors import ImageReferenceError
from moby_assemble.registry._reference import DOCKER_HUB, DOCKER_HUB_API, ImageReference

D = "sha256:" + "ab" * 32


# (input, registry, repository, tag, digest) — the normalisation docker and distribution's
# reference.ParseNormalizedNamed apply.
NORMALISED = [
    ("alpine", "docker.io", "library/alpine", "latest", None),
    ("alpine:3.20", "docker.io", "library/alpine", "3.20", None),
    ("library/alpine", "docker.io", "library/alpine", "latest", None),
    ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
    ("docker.io/library/alpine:edge", "docker.io", "library/alpine", "edge", None),
    ("index.docker.io/alpine", "docker.io", "library/alpine", "latest", None),
    ("index.docker.io/foo/bar", "docker.io", "foo/bar", "latest", None),
    ("foo/bar", "docker.io", "foo/bar", "latest", None),
    ("foo/bar/baz", "docker.io", "foo/bar/baz", "latest", None),
    # registry-1.docker.io is the API host, not a name docker rewrites
    ("registry-1.docker.io/foo", "registry-1.docker.io", "foo", "latest", None),
    ("localhost/foo", "localhost", "foo", "latest", None),
    ("localhost:5000/foo:1", "localhost:5000", "foo", "1", None),
    ("localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", None),
    ("127.0.0.1:5000/foo", "127.0.0.1:5000", "foo", "latest", None),
    ("example.com/foo", "example.com", "foo", "latest", None),
    ("Example.COM/foo", "Example.COM", "foo", "latest", None),
    ("host:5000/foo", "host:5000", "foo", "latest", None),
    ("[::1]/foo", "[::1]", "foo", "latest", None),
    ("[::1]:5000/foo:bar", "[::1]:5000", "foo", "bar", None),
    ("[2001:db8::1]:443/a/b@" + D, "[2001:db8::1]:443", "a/b", None, D),
    # "localhost:5000" alone is Docker Hub's library/localhost at tag 5000, as docker says
    ("localhost:5000", "docker.io", "library/localhost", "5000", None),
    ("alpine@" + D, "docker.io", "library/alpine", None, D),
    ("alpine:3.20@" + D, "docker.io", "library/alpine", "3.20", D),
    ("ghcr.io/a-b/c__d/e.f_g:T_1.x-y", "ghcr.io", "a-b/c__d/e.f_g", "T_1.x-y", None),
    ("a---b/c", "docker.io", "a---b/c", "latest", None),
    ("foo:_tag", "docker.io", "library/foo", "_tag", None),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), NORMALISED)
def test_parse_applies_docker_normalisation(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageReference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_docker_hub_is_served_from_registry_1() -> None:
    ref = ImageReference.parse("alpine")
    assert ref.registry == DOCKER_HUB
    assert ref.api_host == DOCKER_HUB_API == "registry-1.docker.io"
    assert ImageReference.parse("localhost:5000/x").api_host == "localhost:5000"
    assert ImageReference.parse("[::1]:5000/x").api_host == "[::1]:5000"


def test_str_is_the_fully_qualified_form() -> None:
    assert str(ImageReference.parse("alpine")) == "docker.io/library/alpine:latest"
    assert str(ImageReference.parse("alpine:3@" + D)) == f"docker.io/library/alpine:3@{D}"
    assert str(ImageReference.parse("x.io/a@" + D)) == f"x.io/a@{D}"


def test_digest_wins_over_tag_for_fetching() -> None:
    ref = ImageReference.parse("alpine:3.20@" + D)
    assert ref.reference == D
    assert ref.is_pinned
    assert ImageReference.parse("alpine:3.20").reference == "3.20"


def test_default_tag_can_be_left_unset() -> None:
    ref = ImageReference.parse("alpine", default_tag=None)
    assert ref.tag is None
    assert str(ref) == "docker.io/library/alpine"
    assert ref.reference == "latest"


def test_invalid_default_tag_is_rejected() -> None:
    with pytest.raises(ImageReferenceError, match="default tag"):
        ImageReference.parse("alpine", default_tag="not valid")


REJECTED = [
    ("", "empty"),
    (" alpine", "white space"),
    ("alpine\n", "white space"),
    ("Alpine", "must be lowercase"),
    ("foo/Bar", "must be lowercase"),
    ("example.com/Foo/bar", "must be lowercase"),
    ("alpine:", "invalid tag ''"),
    ("alpine:-x", "invalid tag"),
    ("alpine:.x", "invalid tag"),
    ("alpine:" + "t" * 129, "invalid tag"),
    ("alpine:t\u00e9", "invalid tag"),
    ("a:b:c", "invalid repository path component 'a:b'"),
    ("foo//bar", "invalid repository path component ''"),
    ("foo/", "invalid repository path component ''"),
    ("-foo", "invalid repository path component '-foo'"),
    ("foo_", "invalid repository path component"),
    ("fo..o", "invalid repository path component"),
    ("foo___bar", "invalid repository path component"),
    ("@" + D, "missing repository name"),
    (":tag", "missing repository name"),
    ("alpine@sha256:abc", "malformed sha256 digest"),
    ("alpine@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("alpine@sha256:" + "AB" * 32, "malformed sha256 digest"),
    ("alpine@", "malformed digest"),
    ("foo:bar/baz", "invalid registry host 'foo:bar'"),
    ("host:/foo", "invalid registry host"),
    ("-host.com/foo", "invalid registry host"),
    ("[:::::]/foo", "invalid registry host"),
    ("[fe80::1%eth0]/foo", "invalid registry host"),
    ("[::1/foo", "invalid registry host"),
    ("example.com/" + "a" * 250, "longer than 255"),
]


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_parse_rejects_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ImageReferenceError) as info:
        ImageReference.parse(text)
    assert reason in str(info.value)
    assert info.value.reference == text
    assert repr(text) in str(info.value)


def test_name_at_exactly_255_characters_is_accepted() -> None:
    text = "example.com/" + "a" * (255 - len("example.com/"))
    assert ImageReference.parse(text).name == text


def test_non_string_is_an_image_reference_error() -> None:
    with pytest.raises(ImageReferenceError, match="must be a string"):
        ImageReference.parse(42)  # type: ignore[arg-type]


def test_with_digest_pins_and_keeps_tag() -> None:
    ref = ImageReference.parse("alpine:3").with_digest(D)
    assert (ref.tag, ref.digest) == ("3", D)


@pytest.mark.parametrize("bad", ["x", "sha256:abc", D + "\n", "sha256:" + "A" * 64])
def test_with_digest_rejects_bad_digest_as_reference_error(bad: str) -> None:
    with pytest.raises(ImageReferenceError, match="digest"):
        ImageReference.parse("alpine").with_digest(bad)


def test_with_tag_drops_digest_and_validates() -> None:
    ref = ImageReference.parse("alpine:3@" + D).with_tag("edge")
    assert (ref.tag, ref.digest) == ("edge", None)
    with pytest.raises(ImageReferenceError, match="invalid tag"):
        ref.with_tag("no spaces")


def test_in_repository_keeps_registry_tag_and_digest() -> None:
    ref = ImageReference.parse("localhost:5000/a:1@" + D).in_repository("b/c")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == ("localhost:5000", "b/c", "1", D)
    with pytest.raises(ImageReferenceError, match="component 'B'"):
        ref.in_repository("B")
    with pytest.raises(ImageReferenceError, match="longer than 255"):
        ref.in_repository("a" * 250)


def test_references_are_hashable_ordered_values() -> None:
    a = ImageReference.parse("alpine")
    assert a == ImageReference.parse("docker.io/library/alpine:latest")
    assert len({a, ImageReference.parse("index.docker.io/alpine")}) == 1
    assert sorted([ImageReference.parse("b"), a]) == [a, ImageReference.parse("b")]


# --- properties ---------------------------------------------------------------------------

_component = st.from_regex(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", fullmatch=True).filter(
    lambda s: len(s) <= 30
)
_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_hostname = st.lists(_label, min_size=2, max_size=3).map(".".join)
_host = st.one_of(
    _hostname,
    st.tuples(_hostname, st.integers(1, 65535)).map(lambda t: f"{t[0]}:{t[1]}"),
    st.just("localhost"),
    st.integers(1, 65535).map(lambda p: f"localhost:{p}"),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.tuples(st.ip_addresses(v=6), st.integers(1, 65535)).map(lambda t: f"[{t[0]}]:{t[1]}"),
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digest = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())


@st.composite
def references(draw: st.DrawFn) -> ImageReference:
    registry = draw(st.one_of(st.just("docker.io"), _host))
    path = draw(st.lists(_component, min_size=1, max_size=3))
    if registry == "docker.io" and len(path) == 1:
        path.insert(0, "library")
    tag = draw(st.none() | _tag)
    digest = draw(st.none() | _digest)
    return ImageReference(registry, "/".join(path), tag, digest)


@given(references())
def test_parse_of_str_round_trips(ref: ImageReference) -> None:
    assert ImageReference.parse(str(ref), default_tag=None) == ref


@given(st.text(max_size=80))
def test_arbitrary_text_raises_only_image_reference_error(text: str) -> None:
    ref: ImageReference | ImageReferenceError
    try:
        ref = ImageReference.parse(text)
    except ImageReferenceError as e:
        ref = e
    if isinstance(ref, ImageReferenceError):
        assert ref.reference == text
    else:
        # Whatever parses is a fixed point: normalising again changes nothing.
        assert ImageReference.parse(str(ref)) == ref


@given(
    st.text(alphabet="abcAB019:/@.-_[]%", max_size=40)
    | st.text(alphabet=st.characters(codec="ascii"), max_size=40)
)
def test_reference_like_text_raises_only_image_reference_error(text: str) -> None:
    with contextlib.suppress(ImageReferenceError):
        ImageReference.parse(text)
