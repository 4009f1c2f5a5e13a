"""Garbage collection and store verification."""

from __future__ import annotations

import json
import os

import pytest

from moby_assemble._errors import StoreError
from moby_assemble._oci import Descriptor, MediaType, digest_bytes
from moby_assemble.store import GcResult, Store

from .images import build_image, build_index


def _blobs(store: Store) -> set[str]:
    return {d for d, _ in store.blob_files() if d is not None}


def test_gc_removes_only_blobs_no_tag_reaches_through_nested_indexes(store: Store) -> None:
    amd = build_image(store, {"a": b"amd64"}, platform="linux/amd64")
    arm = build_image(store, {"a": b"arm64"}, platform="linux/arm64")
    inner = build_index(store, [amd.manifest, arm.manifest])
    outer = build_index(store, [inner], tag="multi:1")
    lone = build_image(store, {"b": b"kept by its own tag"}, tag="lone:1")
    orphan = build_image(store, {"c": b"nobody tags me"})
    stray = store.put_bytes("application/octet-stream", b"stray")
    orphan_only = orphan.digests - lone.digests - amd.digests - arm.digests

    result = store.gc()

    kept = amd.digests | arm.digests | lone.digests | {inner.digest, outer.digest}
    assert _blobs(store) == kept
    assert set(result.removed) == orphan_only | {stray.digest}
    assert result.removed == tuple(sorted(result.removed))
    assert result.freed_bytes == sum(len(b) for b in [b"stray"]) + sum(
        d.size for d in (orphan.manifest, orphan.config, *orphan.layers) if d.digest in orphan_only
    )
    assert store.verify(complete=True) == ()


def test_gc_after_untag_frees_the_image(store: Store) -> None:
    image = build_image(store, {"a": b"a"}, tag="app:v1")
    store.untag("app:v1")
    result = store.gc()
    assert set(result.removed) == image.digests
    assert _blobs(store) == set()


def test_gc_dry_run_reports_without_removing(store: Store) -> None:
    stray = store.put_bytes("application/octet-stream", b"stray")
    (store.path / "ingest" / "leftover.tmp").write_bytes(b"half")
    result = store.gc(dry_run=True)
    assert result == GcResult((stray.digest,), 5, 1)
    assert store.has_blob(stray.digest)
    assert (store.path / "ingest" / "leftover.tmp").exists()


def test_gc_keeps_what_a_partial_index_has(store: Store) -> None:
    amd = build_image(store, {"a": b"amd64"}, platform="linux/amd64")
    never_fetched = Descriptor(MediaType.OCI_MANIFEST, digest_bytes(b"arm64 manifest"), 14)
    build_index(store, [amd.manifest, never_fetched], tag="partial:1")
    assert store.gc().removed == ()
    assert amd.digests <= _blobs(store)
    assert store.verify() == ()
    problems = store.verify(complete=True)
    assert [p.digest for p in problems] == [never_fetched.digest]


def test_gc_does_not_follow_a_referrers_subject(store: Store) -> None:
    target = build_image(store, {"a": b"signed"})
    empty = store.put_bytes(MediaType.OCI_EMPTY, b"{}")
    sig_layer = store.put_bytes("application/vnd.example.signature", b"sig")
    referrer = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": empty.to_json(),
        "layers": [sig_layer.to_json()],
        "subject": target.manifest.to_json(),
    }
    ref = store.put_bytes(MediaType.OCI_MANIFEST, json.dumps(referrer).encode())
    store.tag("sig", ref)
    store.gc()
    assert _blobs(store) == {ref.digest, empty.digest, sig_layer.digest}


def test_gc_stops_without_removing_anything_when_a_reachable_manifest_is_malformed(
    store: Store,
) -> None:
    bad = store.put_bytes(MediaType.OCI_MANIFEST, b'{"schemaVersion": 2, "layers": "nope"}')
    store.tag("bad", bad)
    stray = store.put_bytes("application/octet-stream", b"stray")
    with pytest.raises(StoreError, match=bad.digest):
        store.gc()
    assert store.has_blob(stray.digest)


def test_gc_leaves_files_that_are_not_blobs_alone(store: Store) -> None:
    store.put_bytes("application/octet-stream", b"x")
    odd = store.path / "blobs" / "sha256" / "README"
    odd.write_text("not a blob")
    store.gc()
    assert odd.exists()
    assert [p.message for p in store.verify()] == ["not a blob (name is not a digest)"]


def test_gc_waits_for_leases_and_times_out_while_a_write_is_in_flight(store: Store) -> None:
    store.put_bytes("application/octet-stream", b"x")
    with store.lease(), pytest.raises(StoreError, match="busy"):
        store.gc(timeout=0.2)
    assert store.gc(timeout=1).removed != ()


def test_verify_reports_corrupt_blobs_and_missing_entries(store: Store) -> None:
    image = build_image(store, {"a": b"a"}, tag="app:v1")
    layer_path = store.blob_path(image.layers[0].digest)
    os.chmod(layer_path, 0o644)
    layer_path.write_bytes(b"bitrot")
    other = build_image(store, {"b": b"b"}, tag="other:1")
    store.blob_path(other.manifest.digest).unlink()
    problems = store.verify()
    assert {p.digest for p in problems} == {image.layers[0].digest, other.manifest.digest}
    messages = " | ".join(str(p) for p in problems)
    assert "content hashes to" in messages
    assert f"entry {other.manifest.digest} is not in the store" in messages


def test_verify_reports_a_corrupt_oci_layout(store: Store) -> None:
    store.put_bytes("application/octet-stream", b"x")
    (store.path / "oci-layout").write_text("{}")
    assert [p.path for p in store.verify()] == [str(store.path / "oci-layout")]
