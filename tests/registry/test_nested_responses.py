"""Deeply nested JSON in a registry's answers (error bodies, tag lists, referrers indexes)
is treated like any other malformed answer, never as a RecursionError."""

from __future__ import annotations

import pytest

from moby_assemble import UnsupportedError
from moby_assemble.registry import ImageReference
from moby_assemble.registry._errors_map import parse_error_body
from moby_assemble.registry._referrers import _index_entries
from moby_assemble.registry._tags import _page_tags

DEEP = b'{"errors": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_a_deep_error_body_is_not_a_spec_error_body() -> None:
    assert parse_error_body(DEEP) == ()
    assert parse_error_body(b'{"errors": [{"code": "DENIED", "message": "no"}]}') == (
        ("DENIED", "no"),
    )


def test_a_deep_tag_list_is_unsupported_naming_the_repository() -> None:
    ref = ImageReference.parse("127.0.0.1:5000/a/b")
    with pytest.raises(
        UnsupportedError,
        match=r"tags of 127.0.0.1:5000/a/b from registry 127.0.0.1:5000: not valid JSON",
    ):
        _page_tags(b'{"tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", ref)


def test_a_deep_referrers_index_is_unsupported_naming_where_it_came_from() -> None:
    with pytest.raises(UnsupportedError, match="referrers of x"):
        _index_entries(b'{"manifests": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "referrers of x")
