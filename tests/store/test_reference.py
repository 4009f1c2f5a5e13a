"""``oci-layout:`` references."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble._errors import ImageReferenceError, StoreError
from moby_assemble._oci import digest_bytes
from moby_assemble.store import (
    LayoutReference,
    Store,
    is_layout_reference,
    parse_layout_reference,
)

from .images import build_image

DIGEST = digest_bytes(b"x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci-layout:/srv/img:app", LayoutReference(Path("/srv/img"), "app")),
        (
            "oci-layout:/srv/img:127.0.0.1:5000/lib/app:v1",
            LayoutReference(Path("/srv/img"), "127.0.0.1:5000/lib/app:v1"),
        ),
        (f"oci-layout:/srv/img@{DIGEST}", LayoutReference(Path("/srv/img"), None, DIGEST)),
        (f"oci-layout:/srv/img:app@{DIGEST}", LayoutReference(Path("/srv/img"), "app", DIGEST)),
        ("oci-layout:relative/dir", LayoutReference(Path("relative/dir"))),
        ("oci-layout:/a@b/dir:t", LayoutReference(Path("/a@b/dir"), "t")),
    ],
)
def test_parse_layout_reference_forms(text: str, expected: LayoutReference) -> None:
    ref = parse_layout_reference(text)
    assert ref == expected
    assert str(ref) == text
    assert is_layout_reference(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("docker://alpine", "expected oci-layout:"),
        ("oci-layout:", "empty layout path"),
        ("oci-layout::tag", "empty layout path"),
        ("oci-layout:/p:", "empty tag"),
        ("oci-layout:/p:bad tag", "tag 'bad tag'"),
        ("oci-layout:/p@sha256:short", "malformed sha256"),
    ],
)
def test_parse_layout_reference_errors_name_the_text(text: str, message: str) -> None:
    with pytest.raises(ImageReferenceError, match=message) as info:
        parse_layout_reference(text)
    assert info.value.reference == text


def test_layout_reference_resolves_tag_digest_or_only_entry(tmp_path: Path) -> None:
    store = Store(tmp_path / "layout")
    first = build_image(store, {"a": b"a"}, tag="first")
    base = f"oci-layout:{store.path}"
    assert parse_layout_reference(base).resolve().digest == first.manifest.digest
    second = build_image(store, {"b": b"b"}, tag="second")
    assert parse_layout_reference(f"{base}:second").resolve().digest == second.manifest.digest
    by_digest = parse_layout_reference(f"{base}@{second.manifest.digest}").resolve()
    assert by_digest.digest == second.manifest.digest
    with pytest.raises(StoreError, match="first, second"):
        parse_layout_reference(base).resolve()
    with pytest.raises(StoreError, match="points at"):
        parse_layout_reference(f"{base}:first@{second.manifest.digest}").resolve()


def test_a_layout_reference_opens_its_store_offline(tmp_path: Path) -> None:
    ref = parse_layout_reference(f"oci-layout:{tmp_path}:x")
    store = ref.open()
    assert store.offline
    assert store.path == tmp_path
