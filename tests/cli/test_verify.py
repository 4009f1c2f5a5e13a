"""verify: cosign signatures of images and of a system's images, with keys or a policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moby_assemble.registry import RegistryClient
from moby_assemble.testing import LocalRegistry
from moby_assemble.trust import PrivateKey, sign_image

from .conftest import Invoke, PushedImage, make_tiny_system


@pytest.fixture(scope="module")
def signer() -> PrivateKey:
    return PrivateKey.generate(name="release")


def _public(key: PrivateKey, path: Path) -> Path:
    path.write_bytes(key.public_key.to_pem())
    return path


def test_a_signed_image_verifies_with_its_key(
    invoke: Invoke, single_image: PushedImage, signer: PrivateKey, tmp_path: Path
) -> None:
    with RegistryClient() as client:
        sign_image(client, single_image.reference, signer)
    pub = _public(signer, tmp_path / "release.pub")
    result = invoke("verify", "--key", pub, single_image.reference)
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"{single_image.reference}@{single_image.digest}: sigstore-bundle")
    rows = json.loads(invoke("verify", "--json", "--key", pub, single_image.reference).stdout)
    assert rows[0]["verified"] is True
    assert rows[0]["digest"] == single_image.digest


def test_an_unsigned_image_is_exit_7_naming_it(
    invoke: Invoke, single_image: PushedImage, signer: PrivateKey, tmp_path: Path
) -> None:
    pub = _public(signer, tmp_path / "release.pub")
    result = invoke("verify", "--key", pub, single_image.reference, code=7)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert single_image.reference.rsplit(":", 1)[0] in line


def test_a_signature_by_another_key_does_not_count(
    invoke: Invoke, single_image: PushedImage, signer: PrivateKey, tmp_path: Path
) -> None:
    with RegistryClient() as client:
        sign_image(client, single_image.reference, PrivateKey.generate(name="stranger"))
    pub = _public(signer, tmp_path / "release.pub")
    invoke("verify", "--key", pub, single_image.reference, code=7)


def test_every_image_of_a_system_is_checked_at_its_locked_digest(
    invoke: Invoke, registry: LocalRegistry, signer: PrivateKey, tmp_path: Path
) -> None:
    # Own images: signing them changes what the registry holds for other tests.
    tiny_system = make_tiny_system(registry, tmp_path / "own")
    signed = (tiny_system.kernel, tiny_system.init, tiny_system.tool)
    with RegistryClient() as client:
        for ref in signed:
            sign_image(client, ref, signer)
    pub = _public(signer, tmp_path / "release.pub")
    lock = tmp_path / "l.json"
    invoke("-q", "resolve", "--cache", tmp_path / "c", "-o", lock, tiny_system.config)
    result = invoke("verify", "--key", pub, "--lock", lock, tiny_system.config, code=7)
    assert tiny_system.web.rsplit(":", 1)[0] in result.stderr  # the unsigned one, named
    # A policy that lets the web image through unsigned makes the system pass.
    web_repo = tiny_system.web.rsplit(":", 1)[0]
    policy = tmp_path / "trust.yml"
    policy.write_text(
        "default: deny\n"
        "rules:\n"
        f"  - match: '{web_repo}'\n"
        "    keys: [release.pub]\n"
        "    formats: [simple-signing]\n"
        "  - match: '127.0.0.1:*/**'\n"
        "    keys: [release.pub]\n"
    )
    invoke("verify", "--policy", policy, "--lock", lock, tiny_system.config, code=7)
    policy.write_text(
        "default: allow\nrules:\n"
        + "".join(f"  - match: '{r.rsplit(':', 1)[0]}'\n    keys: [release.pub]\n" for r in signed)
    )
    rows = json.loads(
        invoke("verify", "--json", "--policy", policy, "--lock", lock, tiny_system.config).stdout
    )
    pins = json.loads(lock.read_text())["images"]
    assert {r["reference"]: r["digest"] for r in rows} == {
        ref: pins[ref]["digest"] for ref in (*signed, tiny_system.web)
    }
    assert [r["verified"] for r in rows] == [True, True, True, False]


def test_keys_and_policy_are_exclusive(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("verify", "127.0.0.1:1/x:1", code=2)
    assert "either --key" in result.stderr


def test_an_invalid_policy_is_a_config_error_naming_the_field(
    invoke: Invoke, tmp_path: Path
) -> None:
    policy = tmp_path / "trust.yml"
    policy.write_text("rules:\n  - match: 'x/*'\n    keys: [missing.pub]\n")
    result = invoke("verify", "--policy", policy, "127.0.0.1:1/x:1", code=3)
    assert "rules[0].keys[0]" in result.stderr
