"""pull, push and inspect against the real local registry, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from moby_assemble import Platform
from moby_assemble.registry import ImageReference, RegistryClient
from moby_assemble.store import Store
from moby_assemble.testing import ImageIndex, LocalRegistry

from .conftest import LABEL, Invoke, PushedImage, app_image, push_images


def test_pull_prints_the_pinned_reference_and_fills_the_cache(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    result = invoke("--progress", "none", "pull", "--cache", cache, single_image.reference)
    assert result.stdout.strip() == f"{single_image.reference}@{single_image.digest}"
    store = Store(cache / "store")
    assert store.resolve(single_image.reference).digest == single_image.digest
    for digest in single_image.layer_digests:
        assert store.has_blob(digest)


def test_pull_of_an_index_stores_only_the_chosen_platform(
    invoke: Invoke, index_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    result = invoke(
        "-q", "pull", "--cache", cache, "--platform", "linux/arm64", "--json", index_image.reference
    )
    (pulled,) = json.loads(result.stdout)
    assert pulled["digest"] == index_image.digest
    assert pulled["platform"] == "linux/arm64"
    arm = index_image.images.manifest_for("linux/arm64")
    amd = index_image.images.manifest_for("linux/amd64")
    store = Store(cache / "store")
    assert all(store.has_blob(layer["digest"]) for layer in arm["layers"])
    assert not store.has_blob(amd["layers"][1]["digest"])  # the platform-specific layer


def test_arch_is_linuxkits_spelling_of_platform(
    invoke: Invoke, index_image: PushedImage, tmp_path: Path
) -> None:
    result = invoke(
        "-q", "pull", "--cache", tmp_path / "c", "--arch", "arm64", "--json", index_image.reference
    )
    assert json.loads(result.stdout)[0]["platform"] == "linux/arm64"


def test_contradicting_arch_and_platform_is_a_usage_error(
    invoke: Invoke, index_image: PushedImage, tmp_path: Path
) -> None:
    result = invoke(
        "pull",
        "--cache",
        tmp_path / "c",
        "--arch",
        "arm64",
        "--platform",
        "linux/amd64",
        index_image.reference,
        code=2,
    )
    assert "--arch arm64 contradicts --platform linux/amd64" in result.stderr


def test_push_copies_a_cached_image_to_another_repository(
    invoke: Invoke, single_image: PushedImage, registry: LocalRegistry, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    invoke("-q", "pull", "--cache", cache, single_image.reference)
    target = f"{registry.host}/cli/copies/app:copy"
    result = invoke("-q", "push", "--cache", cache, single_image.reference, target)
    assert result.stdout.strip() == f"{target}@{single_image.digest}"
    with RegistryClient() as client:
        manifest = client.get_manifest(ImageReference.parse(target))
    assert manifest.digest == single_image.digest
    assert manifest.data == single_image.images.blobs[single_image.digest]


def test_push_from_an_oci_layout(
    invoke: Invoke, registry: LocalRegistry, single_image: PushedImage, tmp_path: Path
) -> None:
    layout = tmp_path / "single" / "layout"  # written by the fixture, tagged "src"
    target = f"{registry.host}/cli/from-layout:v1"
    result = invoke("-q", "push", f"oci-layout:{layout}:src", target, "--json")
    assert json.loads(result.stdout) == {"digest": single_image.digest, "reference": target}


def test_push_of_a_partially_pulled_index_fails_as_a_store_error(
    invoke: Invoke, index_image: PushedImage, registry: LocalRegistry, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    invoke("-q", "pull", "--cache", cache, "--platform", "linux/amd64", index_image.reference)
    result = invoke(
        "push", "--cache", cache, index_image.reference, f"{registry.host}/cli/partial:1", code=6
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("moby-assemble: error: ")
    assert "Traceback" not in result.stderr


def test_inspect_an_index_shows_platforms_and_the_chosen_image(
    invoke: Invoke, index_image: PushedImage
) -> None:
    result = invoke("inspect", "--platform", "linux/arm64", index_image.reference)
    text = result.stdout
    assert f"Digest:      {index_image.digest}" in text
    assert "Platforms:   linux/amd64, linux/arm64" in text
    arm = index_image.images.manifest_for("linux/arm64")
    for layer in arm["layers"]:
        assert layer["digest"] in text
    assert "Platform:    linux/arm64" in text
    assert 'Entrypoint:  ["/bin/app"]' in text
    assert f"org.mobyproject.config={LABEL}" in text


def test_inspect_json_has_manifest_and_config(invoke: Invoke, single_image: PushedImage) -> None:
    report = json.loads(invoke("inspect", "--json", single_image.reference).stdout)
    assert report["digest"] == single_image.digest
    assert report["manifestDigest"] == single_image.digest
    assert [layer["digest"] for layer in report["manifest"]["layers"]] == list(
        single_image.layer_digests
    )
    assert report["config"]["config"]["Labels"]["org.mobyproject.config"] == LABEL
    assert "platforms" not in report


def test_inspect_an_index_shows_the_hosts_image_by_default(
    invoke: Invoke, registry: LocalRegistry, tmp_path: Path, unique: str
) -> None:
    host = str(Platform.host())
    index = ImageIndex((app_image("linux/s390x"), app_image(host))).build()
    pushed = push_images(registry, tmp_path / "x", index, unique)
    report = json.loads(invoke("inspect", "--json", pushed.reference).stdout)
    assert report["platforms"] == ["linux/s390x", host]
    assert report["platform"] == host
    assert report["manifestDigest"] == index.json()["manifests"][1]["digest"]


def test_inspect_an_index_without_the_hosts_platform_lists_platforms_only(
    invoke: Invoke, registry: LocalRegistry, tmp_path: Path, unique: str
) -> None:
    others = [
        p for p in ("linux/s390x", "linux/ppc64le", "linux/riscv64") if p != str(Platform.host())
    ]
    index = ImageIndex((app_image(others[0]), app_image(others[1]))).build()
    pushed = push_images(registry, tmp_path / "x", index, unique)
    report = json.loads(invoke("inspect", "--json", pushed.reference).stdout)
    assert report["platforms"] == others[:2]
    assert "manifest" not in report
    text = invoke("inspect", pushed.reference).stdout
    assert "use --platform" in text


def test_inspect_of_a_platform_the_index_lacks_names_those_it_has(
    invoke: Invoke, index_image: PushedImage
) -> None:
    result = invoke("inspect", "--platform", "linux/s390x", index_image.reference, code=3)
    assert "linux/amd64, linux/arm64" in result.stderr


def test_inspect_offline_reads_the_cache_and_never_the_registry(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    invoke("-q", "pull", "--cache", cache, single_image.reference)
    report = json.loads(
        invoke(
            "--insecure-registry",
            "127.0.0.1:1",  # nothing listens there: any request would fail
            "inspect",
            "--offline",
            "--cache",
            cache,
            "--json",
            single_image.reference,
        ).stdout
    )
    assert report["manifestDigest"] == single_image.digest


def test_inspect_offline_of_an_uncached_image_is_an_offline_error(
    invoke: Invoke, tmp_path: Path, registry: LocalRegistry
) -> None:
    result = invoke(
        "inspect", "--offline", "--cache", tmp_path / "empty", f"{registry.host}/nope:1", code=6
    )
    assert "offline" in result.stderr
    assert f"{registry.host}/nope:1" in result.stderr
