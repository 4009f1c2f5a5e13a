"""build --policy / --sign-key and pkg build --sign-key against the real test registry: the
policy is checked before anything is written (exit 7 naming the image), what is pushed is
signed so that our verifier (and so ``cosign verify --key``) accepts it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moby_assemble import ImageReference, SignatureError
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import LocalRegistry
from moby_assemble.trust import PrivateKey, sign_image, verify_image

from .conftest import Invoke, TinySystem, make_tiny_system

COSIGN_KEY = Path(__file__).parents[1] / "trust/data/cosign-encrypted-sigstore.key"  # "hello"

RECIPE = """
name = "signed"
version = "1.0"
role = "service"
stage = "services"
description = "one file, no packages"

[[files]]
path = "etc/signed.conf"
contents = "yes\\n"
mode = "0644"
"""


@pytest.fixture(scope="module")
def release() -> PrivateKey:
    return PrivateKey.generate(name="release")


@pytest.fixture
def own_system(registry: LocalRegistry, tmp_path: Path) -> TinySystem:
    """Images of this test only (signing one must not sign another test's)."""
    return make_tiny_system(registry, tmp_path / "system")


def policy_file(tmp_path: Path, key: PrivateKey, registry: LocalRegistry, suffix: str) -> Path:
    (tmp_path / "release.pub").write_bytes(key.public_key.to_pem())
    match = f"{registry.host}/cli/**"
    path = tmp_path / f"trust{suffix}"
    if suffix == ".toml":
        path.write_text(
            f'default = "allow"\n[[rules]]\nmatch = "{match}"\nkeys = ["release.pub"]\n'
        )
    else:
        path.write_text(f"default: allow\nrules:\n  - match: '{match}'\n    keys: [release.pub]\n")
    return path


def sign_all(system: TinySystem, key: PrivateKey, skip: str = "") -> None:
    with RegistryClient() as client:
        for ref in (system.kernel, system.init, system.tool, system.web):
            if ref != skip:
                sign_image(client, ref, key)


def test_an_unsigned_image_is_exit_7_and_nothing_is_written(
    invoke: Invoke,
    own_system: TinySystem,
    registry: LocalRegistry,
    release: PrivateKey,
    tmp_path: Path,
) -> None:
    sign_all(own_system, release, skip=own_system.web)
    policy = policy_file(tmp_path, release, registry, ".yml")
    out, cache = tmp_path / "out", tmp_path / "cache"
    result = invoke(
        "build", "--cache", cache, "--dir", out, "--policy", policy, own_system.config, code=7
    )
    (error,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert own_system.web in error
    assert own_system.init not in error
    assert not out.exists()
    assert not (cache / "bundles").exists()


def test_signed_images_build_and_the_pushed_system_is_signed(
    invoke: Invoke,
    own_system: TinySystem,
    registry: LocalRegistry,
    release: PrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sign_all(own_system, release)
    policy = policy_file(tmp_path, release, registry, ".toml")
    target = f"{registry.host}/cli/signed-system:1"
    monkeypatch.setenv("COSIGN_PASSWORD", "hello")
    invoke(
        "-q", "build", "--cache", tmp_path / "cache", "--dir", tmp_path / "out",
        "--policy", policy, "-f", "push", "--reference", target, "--sign-key", COSIGN_KEY,
        own_system.config,
    )  # fmt: skip
    pinned = ImageReference.parse((tmp_path / "out/system.pushed").read_text().strip())
    public = PrivateKey.load(COSIGN_KEY, password=b"hello").public_key
    with RegistryClient() as client:
        result = verify_image(client, target, [public])
        assert result.digest == pinned.digest
        with pytest.raises(SignatureError, match="not signed by a trusted key"):
            verify_image(client, target, [release.public_key])
    # The verify command agrees.
    (tmp_path / "cosign.pub").write_bytes(public.to_pem())
    rows = json.loads(invoke("verify", "--json", "--key", tmp_path / "cosign.pub", target).stdout)
    assert rows[0]["verified"] is True


def test_a_wrong_cosign_password_is_exit_3_before_building(
    invoke: Invoke,
    tiny_system: TinySystem,
    registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "not-the-password")
    result = invoke(
        "build", "--cache", tmp_path / "cache", "--dir", tmp_path / "out", "-f", "push",
        "--reference", f"{registry.host}/cli/never:1", "--sign-key", COSIGN_KEY,
        tiny_system.config, code=3,
    )  # fmt: skip
    assert str(COSIGN_KEY) in result.stderr
    assert "not-the-password" not in result.stderr
    assert not (tmp_path / "cache").exists()


def test_trust_flags_that_cannot_work_are_usage_errors(
    invoke: Invoke, tiny_system: TinySystem, registry: LocalRegistry, tmp_path: Path
) -> None:
    policy = policy_file(tmp_path, PrivateKey.generate(), registry, ".yml")
    result = invoke("build", "--offline", "--policy", policy, tiny_system.config, code=2)
    assert "--offline" in result.stderr
    result = invoke("build", "--sign-key", COSIGN_KEY, tiny_system.config, code=2)
    assert "-f push" in result.stderr


def test_pkg_build_signs_the_pushed_component(
    invoke: Invoke,
    registry: LocalRegistry,
    release: PrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "signed"
    folder.mkdir()
    (folder / "recipe.toml").write_text(RECIPE)
    key_file = tmp_path / "release.pem"
    key_file.write_bytes(release.to_pem())  # a plain PEM key: no password needed
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    target = f"{registry.host}/cli/pkg-signed/signed"
    rows = json.loads(
        invoke(
            "-q", "pkg", "build", "--json", "--layout", tmp_path / "oci", "--no-apt",
            "--debs-dir", tmp_path / "debs", "--push", target, "--sign-key", key_file, folder,
        ).stdout
    )  # fmt: skip
    with RegistryClient() as client:
        result = verify_image(client, rows[0]["pushed"], [release.public_key])
    assert result.digest == rows[0]["digest"]
    invoke("pkg", "build", "--no-apt", "--sign-key", key_file, folder, code=2)
