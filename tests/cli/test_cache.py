"""cache ls, rm, gc, verify, export and import on real caches."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from moby_assemble.store import Store

from .conftest import Invoke, PushedImage, TinySystem


def _pull(invoke: Invoke, cache: Path, image: PushedImage, *extra: str) -> None:
    invoke("-q", "pull", "--cache", cache, *extra, image.reference)


def test_ls_shows_the_pulled_image_by_tag_and_by_digest(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _pull(invoke, cache, single_image)
    lines = invoke("cache", "ls", "--cache", cache).stdout.splitlines()
    name = single_image.reference.rsplit(":", 1)[0]
    assert f"{single_image.reference}\t{single_image.digest}\timage" in lines
    assert f"{name}@{single_image.digest}\t{single_image.digest}\timage" in lines
    rows = json.loads(invoke("cache", "ls", "--cache", cache, "--json").stdout)
    assert {r["name"] for r in rows} == {single_image.reference, f"{name}@{single_image.digest}"}


def test_ls_of_a_new_cache_is_empty(invoke: Invoke, tmp_path: Path) -> None:
    assert invoke("cache", "ls", "--cache", tmp_path / "new").stdout == ""


def test_cache_option_defaults_to_the_environment_variable(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOBY_ASSEMBLE_CACHE", str(tmp_path / "env-cache"))
    invoke("-q", "pull", single_image.reference)
    assert Store(tmp_path / "env-cache" / "store").resolve(single_image.reference)


def test_export_then_import_into_another_cache(
    invoke: Invoke, index_image: PushedImage, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _pull(invoke, cache, index_image, "--platform", "linux/arm64")
    _pull(invoke, cache, single_image)
    archive = tmp_path / "images.tar"
    invoke("-q", "cache", "export", "--cache", cache, "-o", archive, index_image.reference)
    with tarfile.open(archive) as tf:
        names = set(tf.getnames())
    assert {"index.json", "oci-layout"} <= names
    assert f"blobs/sha256/{single_image.layer_digests[1].split(':')[1]}" not in names

    other = tmp_path / "other"
    result = invoke("cache", "import", "--cache", other, archive)
    assert result.stdout.splitlines() == [index_image.reference]
    assert Store(other / "store").resolve(index_image.reference).digest == index_image.digest
    assert invoke("cache", "verify", "--cache", other).stdout.strip().endswith(": ok")
    # Imported content is usable offline, as if it had been pulled.
    report = json.loads(
        invoke(
            "inspect",
            "--offline",
            "--cache",
            other,
            "--platform",
            "linux/arm64",
            "--json",
            index_image.reference,
        ).stdout
    )
    assert report["platform"] == "linux/arm64"


def test_export_to_stdout_and_import_from_stdin(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _pull(invoke, cache, single_image)
    exported = invoke("cache", "export", "--cache", cache, "-o", "-").stdout_bytes
    assert exported[257:262] == b"ustar"
    result = invoke("cache", "import", "--cache", tmp_path / "other", "-", input=exported)
    assert single_image.reference in result.stdout.splitlines()


def test_export_is_readable_by_skopeo(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _pull(invoke, cache, single_image)
    archive = tmp_path / "images.tar"
    invoke("-q", "cache", "export", "--cache", cache, "-o", archive, single_image.reference)
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci-archive:{archive}:{single_image.reference}"],
        check=True,
        capture_output=True,
    ).stdout
    assert out == single_image.images.blobs[single_image.digest]


def test_rm_removes_both_names_and_frees_the_blobs(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _pull(invoke, cache, single_image)
    result = invoke("cache", "rm", "--cache", cache, single_image.reference)
    assert f"removed {single_image.reference}" in result.stderr
    assert "freed" in result.stderr
    assert invoke("cache", "ls", "--cache", cache).stdout == ""
    assert not any(Store(cache / "store").has_blob(d) for d in single_image.layer_digests)


def test_gc_frees_what_rm_keep_blobs_left(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _pull(invoke, cache, single_image)
    invoke("-q", "cache", "rm", "--keep-blobs", "--cache", cache, single_image.reference)
    assert all(Store(cache / "store").has_blob(d) for d in single_image.layer_digests)
    dry = json.loads(invoke("cache", "gc", "--cache", cache, "--dry-run", "--json").stdout)
    assert set(single_image.layer_digests) <= set(dry["removed"])
    assert all(Store(cache / "store").has_blob(d) for d in single_image.layer_digests)
    result = invoke("cache", "gc", "--cache", cache)
    assert result.stdout.startswith("freed ")
    assert not any(Store(cache / "store").has_blob(d) for d in single_image.layer_digests)


def test_rm_of_an_unknown_name_lists_what_is_cached(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _pull(invoke, cache, single_image)
    result = invoke("cache", "rm", "--cache", cache, "nothere:1", code=6)
    assert single_image.reference in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_verify_reports_a_corrupted_blob(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _pull(invoke, cache, single_image)
    blob = Store(cache / "store").blob_path(single_image.layer_digests[0])
    blob.write_bytes(b"not the layer")
    result = invoke("cache", "verify", "--cache", cache, code=6)
    assert single_image.layer_digests[0].split(":")[1] in result.stdout
    assert "problems in the cache" in result.stderr


def test_gc_removes_bundles_not_used_for_max_age(
    invoke: Invoke, tiny_system: TinySystem, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    invoke("-q", "build", "--cache", cache, "--dir", tmp_path / "out", "-f", "tar",
           tiny_system.config)  # fmt: skip
    bundles = [p for p in (cache / "bundles").iterdir() if not p.name.startswith(".")]
    assert len(bundles) == 1
    kept = json.loads(invoke("cache", "gc", "--cache", cache, "--json").stdout)
    assert kept["removedAssemblyFiles"] == []  # used just now: within the default 7d
    assert bundles[0].exists()
    then = time.time() - 3 * 3600
    os.utime(bundles[0], (then, then))
    dry = json.loads(
        invoke("cache", "gc", "--cache", cache, "--max-age", "2h", "--dry-run", "--json").stdout
    )
    assert str(bundles[0]) in dry["removedAssemblyFiles"]
    assert dry["freedAssemblyBytes"] > 0
    assert bundles[0].exists()
    result = invoke("cache", "gc", "--cache", cache, "--max-age", "2h")
    assert "of bundles and flattened images not used for 2h" in result.stdout
    assert not bundles[0].exists()


def test_gc_refuses_a_max_age_that_is_not_a_duration(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("cache", "gc", "--cache", tmp_path, "--max-age", "soon", code=2)
    assert "'soon' is not a duration like 12h, 7d or 2w" in result.stderr
