"""WWW-Authenticate parsing: quoted and bare parameters, several challenges, token68."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moby_assemble.registry._challenge import Challenge, parse_challenges


def test_docker_hub_style_bearer_challenge() -> None:
    (c,) = parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    assert c.scheme == "bearer"
    assert c.get("realm") == "https://auth.docker.io/token"
    assert c.get("service") == "registry.docker.io"
    assert c.scopes == ("repository:samalba/my-app:pull,push",)


def test_unquoted_parameters_keep_urls_whole() -> None:
    (c,) = parse_challenges("Bearer realm=https://127.0.0.1:5001/token,service=reg")
    assert c.params == (("realm", "https://127.0.0.1:5001/token"), ("service", "reg"))


def test_several_challenges_in_one_header() -> None:
    found = parse_challenges(
        'Basic realm="r", Bearer realm="https://a/t",service=reg,scope="repository:x:pull"'
    )
    assert [c.scheme for c in found] == ["basic", "bearer"]
    assert found[0].params == (("realm", "r"),)
    assert found[1].get("scope") == "repository:x:pull"


def test_several_header_lines() -> None:
    found = parse_challenges(['Basic realm="a"', 'Bearer realm="b"'])
    assert [(c.scheme, c.get("realm")) for c in found] == [("basic", "a"), ("bearer", "b")]


def test_escaped_quotes_and_commas_inside_quotes() -> None:
    (c,) = parse_challenges(r'Bearer realm="a\"b,c", error="insufficient_scope"')
    assert c.get("realm") == 'a"b,c'
    assert c.get("error") == "insufficient_scope"


def test_scheme_and_parameter_names_are_case_insensitive() -> None:
    (c,) = parse_challenges('BEARER Realm="x", SERVICE="y"')
    assert c.scheme == "bearer"
    assert (c.get("realm"), c.get("Service")) == ("x", "y")


@pytest.mark.parametrize(
    ("header", "token68"),
    [("Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpvcGVuc2VzYW1l"), ("Basic abc==", "abc==")],
)
def test_token68_is_not_mistaken_for_a_parameter(header: str, token68: str) -> None:
    (c,) = parse_challenges(header)
    assert (c.token68, c.params) == (token68, ())


def test_token68_followed_by_another_challenge() -> None:
    found = parse_challenges("Basic abc==, Bearer realm=x")
    assert found == (Challenge("basic", (), "abc=="), Challenge("bearer", (("realm", "x"),)))


def test_scheme_without_parameters_and_empty_values() -> None:
    found = parse_challenges('Negotiate, Bearer realm="x",scope=""')
    assert [c.scheme for c in found] == ["negotiate", "bearer"]
    assert found[1].scopes == ()


def test_junk_between_challenges_does_not_hide_the_next() -> None:
    found = parse_challenges("Bearer realm=x junk, Basic realm=y")
    assert [(c.scheme, c.get("realm")) for c in found] == [("bearer", "x"), ("basic", "y")]


@pytest.mark.parametrize("header", ["", " ", ",,,", '="x"', 'Bearer realm="unterminated'])
def test_malformed_headers_do_not_raise(header: str) -> None:
    for c in parse_challenges(header):
        assert c.scheme


@given(st.text(max_size=100))
def test_parser_never_raises(header: str) -> None:
    for c in parse_challenges(header):
        assert c.scheme == c.scheme.lower()
