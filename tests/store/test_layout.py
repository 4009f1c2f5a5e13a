"""Store basics: layout creation, blobs, tags, offline behaviour."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moby_assemble._errors import (
    ImageReferenceError,
    IntegrityError,
    OfflineError,
    StoreError,
    UnsupportedError,
)
from moby_assemble._oci import Descriptor, MediaType, digest_bytes
from moby_assemble.store import Store, StoreEntry

from .images import build_image, build_index


def test_store_creates_nothing_until_the_first_write(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    assert store.entries() == ()
    assert not store.has_blob(digest_bytes(b"x"))
    assert store.verify() == ()
    assert not (tmp_path / "cache").exists()


def test_first_write_creates_a_layout_valid_against_the_image_spec_schemas(
    store: Store, image_schema: Callable[[str, Any], None]
) -> None:
    image = build_image(store, {"hello.txt": b"hi\n"}, tag="app:v1")
    layout = json.loads((store.path / "oci-layout").read_bytes())
    index = json.loads((store.path / "index.json").read_bytes())
    image_schema("image-layout-schema.json", layout)
    image_schema("image-index-schema.json", index)
    assert layout == {"imageLayoutVersion": "1.0.0"}
    assert index["manifests"][0]["digest"] == image.manifest.digest
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "app:v1"}
    assert store.blob_path(image.layers[0].digest).is_file()


def test_schema_check_is_real_it_rejects_a_broken_index(
    image_schema: Callable[[str, Any], None],
) -> None:
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        image_schema("image-index-schema.json", {"schemaVersion": 2, "manifests": [{"size": 1}]})


def test_a_non_empty_directory_that_is_not_a_layout_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match=str(tmp_path)) as info:
        Store(tmp_path)
    assert info.value.path == str(tmp_path)


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        Store(f)


def test_an_unknown_layout_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(StoreError, match=r"2\.0\.0"):
        Store(tmp_path)


def test_an_empty_directory_becomes_a_store(tmp_path: Path) -> None:
    store = Store(tmp_path)
    desc = store.put_bytes("application/octet-stream", b"data")
    assert (tmp_path / "oci-layout").is_file()
    assert store.read_blob(desc.digest) == b"data"


def test_put_bytes_stores_under_the_digest_path(store: Store) -> None:
    desc = store.put_bytes(MediaType.OCI_CONFIG, b"{}", annotations={"a": "b"})
    assert desc == Descriptor(MediaType.OCI_CONFIG, digest_bytes(b"{}"), 2, annotations={"a": "b"})
    assert store.blob_path(desc.digest) == store.path / "blobs" / "sha256" / desc.digest[7:]
    assert store.blob_path(desc.digest).read_bytes() == b"{}"
    assert store.has_blob(desc.digest)


def test_blob_path_rejects_malformed_digests(store: Store) -> None:
    with pytest.raises(ImageReferenceError, match="md5"):
        store.blob_path("md5:abc")
    with pytest.raises(ImageReferenceError):
        store.blob_path("sha256:../../etc/passwd")


def test_read_blob_re_verifies_content(store: Store) -> None:
    desc = store.put_bytes("application/octet-stream", b"original")
    store.blob_path(desc.digest).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match=desc.digest) as info:
        store.read_blob(desc.digest)
    assert info.value.digest == desc.digest


def test_read_blob_refuses_blobs_over_max_size(store: Store) -> None:
    desc = store.put_bytes("application/octet-stream", b"x" * 100)
    assert store.read_blob(desc.digest, max_size=100) == b"x" * 100
    with pytest.raises(StoreError, match="more than the 99"):
        store.read_blob(desc.digest, max_size=99)


def test_open_blob_raises_integrity_error_when_reading_tampered_content(store: Store) -> None:
    desc = store.put_bytes("application/octet-stream", b"original")
    with store.open_blob(desc.digest) as f:
        assert f.read() == b"original"
    store.blob_path(desc.digest).write_bytes(b"tampered")
    with store.open_blob(desc.digest) as f, pytest.raises(IntegrityError, match="hashes to"):
        f.read()


def test_open_blob_without_verify_is_seekable(store: Store) -> None:
    desc = store.put_bytes("application/octet-stream", b"0123456789")
    with store.open_blob(desc.digest, verify=False) as f:
        f.seek(5)
        assert f.read() == b"56789"


def test_missing_blob_is_a_store_error_naming_it(store: Store) -> None:
    digest = digest_bytes(b"absent")
    with pytest.raises(StoreError, match=digest) as info:
        store.open_blob(digest)
    assert not isinstance(info.value, OfflineError)


def test_offline_missing_blob_and_tag_raise_offline_error_naming_them(tmp_path: Path) -> None:
    online = Store(tmp_path / "s")
    build_image(online, {"a": b"a"}, tag="present:1")
    store = Store(tmp_path / "s", offline=True)
    assert store.offline
    digest = digest_bytes(b"absent")
    with pytest.raises(OfflineError, match=digest) as info:
        store.open_blob(digest)
    assert info.value.reference == digest
    with pytest.raises(OfflineError, match=digest):
        store.read_blob(digest)
    with pytest.raises(OfflineError, match="'absent:1'") as tag_info:
        store.resolve("absent:1")
    assert tag_info.value.reference == "absent:1"
    assert "present:1" in str(tag_info.value)  # says what is there


def test_offline_store_that_does_not_exist_yet_reports_offline(tmp_path: Path) -> None:
    store = Store(tmp_path / "nowhere", offline=True)
    with pytest.raises(OfflineError, match=r"alpine:3\.19"):
        store.resolve("alpine:3.19")


def test_tag_replaces_an_entry_of_the_same_name_and_keeps_entries_sorted(store: Store) -> None:
    a = build_image(store, {"a": b"a"})
    b = build_image(store, {"b": b"b"})
    store.tag("zeta", a.manifest)
    store.tag("alpha", a.manifest)
    store.tag("zeta", b.manifest)
    assert [(e.name, e.descriptor.digest) for e in store.entries()] == [
        ("alpha", a.manifest.digest),
        ("zeta", b.manifest.digest),
    ]
    assert store.names() == ("alpha", "zeta")


def test_index_json_bytes_do_not_depend_on_tagging_order(tmp_path: Path) -> None:
    results = []
    for order in (("x", "y", "z"), ("z", "x", "y")):
        store = Store(tmp_path / "-".join(order))
        image = build_image(store, {"f": b"1"})
        for name in order:
            store.tag(name, image.manifest)
        results.append((store.path / "index.json").read_bytes())
    assert results[0] == results[1]
    assert results[0].endswith(b"}\n")


def test_tag_requires_the_blob_and_a_valid_name(store: Store) -> None:
    image = build_image(store, {"a": b"a"})
    ghost = Descriptor(MediaType.OCI_MANIFEST, digest_bytes(b"ghost"), 5)
    with pytest.raises(StoreError, match=ghost.digest):
        store.tag("ghost", ghost)
    for bad in ("", "has space", "/leading", "trailing:", "a//b"):
        with pytest.raises(ImageReferenceError):
            store.tag(bad, image.manifest)
    store.tag("127.0.0.1:5000/library/app_x:v1.2-rc3", image.manifest)


def test_untag_removes_only_that_name(store: Store) -> None:
    image = build_image(store, {"a": b"a"}, tag="one")
    store.tag("two", image.manifest)
    store.untag("one")
    assert store.names() == ("two",)
    with pytest.raises(StoreError, match="'one'"):
        store.untag("one")
    store.untag("one", missing_ok=True)
    assert store.has_blob(image.manifest.digest)  # blobs stay until gc


def test_resolve_returns_the_tagged_descriptor(store: Store) -> None:
    image = build_image(store, {"a": b"a"}, tag="app:v1")
    desc = store.resolve("app:v1")
    assert desc.digest == image.manifest.digest
    assert desc.size == image.manifest.size
    assert desc.annotation_dict["org.opencontainers.image.ref.name"] == "app:v1"
    assert store.entries() == (StoreEntry("app:v1", desc),)


def test_resolve_digest_of_untagged_documents(store: Store) -> None:
    image = build_image(store, {"a": b"a"})
    index = build_index(store, [image.manifest])
    got = store.resolve_digest(index.digest)
    assert (got.media_type, got.digest, got.size) == (MediaType.OCI_INDEX, index.digest, index.size)
    assert store.resolve_digest(image.manifest.digest).media_type == MediaType.OCI_MANIFEST
    with pytest.raises(UnsupportedError):
        store.resolve_digest(image.layers[0].digest)


def test_rewriting_the_index_keeps_fields_other_tools_wrote(tmp_path: Path) -> None:
    store = Store(tmp_path)
    image = build_image(store, {"a": b"a"})
    foreign = {
        "schemaVersion": 2,
        "annotations": {"made.by": "another-tool"},
        "manifests": [{**image.manifest.to_json(), "x-extra": 1}],
    }
    (tmp_path / "index.json").write_text(json.dumps(foreign))
    store.tag("named", image.manifest)
    doc = json.loads((tmp_path / "index.json").read_bytes())
    assert doc["annotations"] == {"made.by": "another-tool"}
    assert [m.get("x-extra") for m in doc["manifests"]] == [None, 1]
    assert [e.name for e in store.entries()] == ["named", None]


def test_a_malformed_index_json_is_a_store_error_naming_the_file(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.put_bytes("application/octet-stream", b"x")
    (tmp_path / "index.json").write_text('{"schemaVersion": 2, "manifests": [{"size": 1}]}')
    with pytest.raises(StoreError, match=r"index\.json.*manifests\[0\]"):
        store.entries()
