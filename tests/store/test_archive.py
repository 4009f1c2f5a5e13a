"""OCI layout tars: deterministic export, verified import, unsafe members refused."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from moby_assemble._errors import IntegrityError, OfflineError, StoreError
from moby_assemble._oci import MediaType, digest_bytes
from moby_assemble.store import Store

from .conftest import require_tool
from .images import build_image, build_index


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getmembers()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _layout_members(index_entries: list[dict[str, object]]) -> dict[str, bytes]:
    return {
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
        "index.json": json.dumps({"schemaVersion": 2, "manifests": index_entries}).encode(),
    }


def test_export_import_round_trip_keeps_tags_and_blobs(tmp_path: Path) -> None:
    src = Store(tmp_path / "src")
    amd = build_image(src, {"a": b"amd64"}, platform="linux/amd64")
    arm = build_image(src, {"a": b"arm64"}, platform="linux/arm64")
    index = build_index(src, [amd.manifest, arm.manifest], tag="multi:1")
    single = build_image(src, {"b": b"single"}, tag="127.0.0.1:5000/single:v2", docker=True)
    build_image(src, {"c": b"not exported"}, tag="other:1")

    archive = tmp_path / "out.tar"
    src.export_tar(archive, ["multi:1", "127.0.0.1:5000/single:v2"])

    dst = Store(tmp_path / "dst")
    assert dst.import_tar(archive) == ("127.0.0.1:5000/single:v2", "multi:1")
    assert dst.resolve("multi:1").digest == index.digest
    assert dst.resolve("127.0.0.1:5000/single:v2").digest == single.manifest.digest
    wanted = amd.digests | arm.digests | single.digests | {index.digest}
    assert {d for d, _ in dst.blob_files()} == wanted
    for digest in wanted:
        assert dst.read_blob(digest) == src.read_blob(digest)
    assert dst.verify(complete=True) == ()


def test_export_is_deterministic_sorted_and_owner_free(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    build_image(store, {"a": b"a"}, tag="b:1")
    build_image(store, {"b": b"b"}, tag="a:1")
    first, second = io.BytesIO(), io.BytesIO()
    store.export_tar(first)
    store.export_tar(second, ["b:1", "a:1"])
    assert first.getvalue() == second.getvalue()
    members = _members(first.getvalue())
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[:2] == ["blobs", "blobs/sha256"]
    assert names[-2:] == ["index.json", "oci-layout"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tf:
        f = tf.extractfile("index.json")
        assert f is not None
        index = json.loads(f.read())
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [
        "a:1",
        "b:1",
    ]


def test_export_of_a_missing_tag_names_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "s", offline=True)
    build_image(store, {"a": b"a"}, tag="here:1")
    with pytest.raises(OfflineError, match="'gone:1'"):
        store.export_tar(tmp_path / "x.tar", ["gone:1"])
    assert not (tmp_path / "x.tar").exists()


def test_export_of_an_incomplete_image_fails_but_a_partial_index_exports(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    amd = build_image(store, {"a": b"amd64"})
    arm = build_image(store, {"a": b"arm64"}, platform="linux/arm64")
    build_index(store, [amd.manifest, arm.manifest], tag="multi:1")
    store.blob_path(arm.manifest.digest).unlink()  # only amd64 was fetched
    out = io.BytesIO()
    store.export_tar(out, ["multi:1"])
    assert arm.manifest.digest[7:] not in {
        m.name.rsplit("/", 1)[-1] for m in _members(out.getvalue())
    }

    broken = build_image(store, {"z": b"z"}, tag="broken:1")
    store.blob_path(broken.layers[0].digest).unlink()
    with pytest.raises(StoreError, match=broken.layers[0].digest):
        store.export_tar(io.BytesIO(), ["broken:1"])


def test_export_re_verifies_blobs_and_leaves_no_file_on_corruption(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    image = build_image(store, {"a": b"a"}, tag="app:1")
    path = store.blob_path(image.layers[0].digest)
    path.write_bytes(b"X" * image.layers[0].size)  # same size, wrong content
    dest = tmp_path / "out.tar"
    with pytest.raises(IntegrityError, match=image.layers[0].digest):
        store.export_tar(dest)
    assert list(tmp_path.iterdir()) == [tmp_path / "s"]


def test_import_rejects_a_parent_directory_member_and_writes_nothing_outside(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    build_image(store, {"a": b"a"}, tag="keep:1")
    index_before = (store.path / "index.json").read_bytes()
    evil = _tar({"../evil": b"pwned", **_layout_members([])})
    with pytest.raises(StoreError, match=r"\.\./evil"):
        store.import_tar(io.BytesIO(evil))
    assert not (tmp_path / "evil").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    assert (store.path / "index.json").read_bytes() == index_before


@pytest.mark.parametrize("name", ["/etc/evil", "blobs/../../evil", "blobs/sha256/../../x"])
def test_import_rejects_absolute_and_dotdot_members(store: Store, name: str) -> None:
    with pytest.raises(StoreError, match="unsafe member name"):
        store.import_tar(io.BytesIO(_tar({name: b"x", **_layout_members([])})))


def test_import_rejects_a_symlink_posing_as_a_blob(store: Store) -> None:
    digest = digest_bytes(b"target")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(f"blobs/sha256/{digest[7:]}")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(StoreError, match="not a regular file"):
        store.import_tar(io.BytesIO(buf.getvalue()))
    assert not store.has_blob(digest)


def test_import_verifies_each_blob_against_its_name(store: Store) -> None:
    digest = digest_bytes(b"expected")
    tar = _tar({f"blobs/sha256/{digest[7:]}": b"imposter", **_layout_members([])})
    with pytest.raises(IntegrityError, match=digest) as info:
        store.import_tar(io.BytesIO(tar))
    assert info.value.subject == f"blobs/sha256/{digest[7:]}"
    assert not store.has_blob(digest)
    assert not list((store.path / "ingest").iterdir())


def test_import_requires_a_layout_and_complete_images(tmp_path: Path, store: Store) -> None:
    with pytest.raises(StoreError, match="no oci-layout"):
        store.import_tar(io.BytesIO(_tar({"index.json": b"{}"})))
    config = b"{}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST,
            "config": {
                "mediaType": MediaType.OCI_CONFIG,
                "digest": digest_bytes(config),
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    entry = {
        "mediaType": MediaType.OCI_MANIFEST,
        "digest": digest_bytes(manifest),
        "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "lacks-config"},
    }
    tar = _tar({f"blobs/sha256/{digest_bytes(manifest)[7:]}": manifest, **_layout_members([entry])})
    with pytest.raises(StoreError, match=digest_bytes(config)):
        store.import_tar(io.BytesIO(tar))
    assert store.names() == ()


def test_import_prefers_the_containerd_image_name_and_reads_gzip(tmp_path: Path) -> None:
    src = Store(tmp_path / "src")
    image = build_image(src, {"a": b"a"})
    entry = image.manifest.to_json()
    entry["annotations"] = {
        "org.opencontainers.image.ref.name": "3.19",
        "io.containerd.image.name": "docker.io/library/alpine:3.19",
    }
    members = {
        f"blobs/sha256/{d[7:]}": src.read_blob(d) for d in sorted(image.digests)
    } | _layout_members([entry])
    members["manifest.json"] = b"[]"  # docker save's extra file: ignored
    dst = Store(tmp_path / "dst")
    assert dst.import_tar(io.BytesIO(gzip.compress(_tar(members)))) == (
        "docker.io/library/alpine:3.19",
    )
    assert dst.resolve("docker.io/library/alpine:3.19").digest == image.manifest.digest


def test_import_of_garbage_is_a_store_error_naming_the_source(tmp_path: Path, store: Store) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive at all" * 20)
    with pytest.raises(StoreError, match=r"junk\.tar"):
        store.import_tar(junk)


def test_skopeo_reads_the_exported_archive(tmp_path: Path) -> None:
    skopeo = require_tool("skopeo")
    import subprocess

    store = Store(tmp_path / "s")
    image = build_image(store, {"hello.txt": b"hi\n"}, tag="app")
    archive = tmp_path / "app.tar"
    store.export_tar(archive)
    out = subprocess.run(
        [skopeo, "inspect", f"oci-archive:{archive}:app"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    info = json.loads(out.stdout)
    assert info["Digest"] == image.manifest.digest
    assert info["Layers"] == [image.layers[0].digest]
