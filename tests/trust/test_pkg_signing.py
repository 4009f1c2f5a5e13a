"""pkg build(sign_key=...): the pushed component image carries a cosign signature that our
verifier accepts for that key only; against the real test registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble import ConfigError, SignatureError
from moby_assemble.pkg import build
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import LocalRegistry
from moby_assemble.trust import PrivateKey, SignatureFormat, TrustPolicy, verify_image

RECIPE = """
name = "{name}"
version = "1.0"
role = "service"
stage = "services"
description = "one file, no packages"

[[files]]
path = "etc/{name}.conf"
contents = "signed\\n"
mode = "0644"
"""


def component(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "recipe.toml").write_text(RECIPE.format(name=name))
    return folder


def test_pushed_component_is_signed(
    registry: LocalRegistry,
    client: RegistryClient,
    keys: dict[str, PrivateKey],
    other_key: PrivateKey,
    tmp_path: Path,
) -> None:
    key = keys["ecdsa-p256"]
    result = build(
        component(tmp_path, "signed"),
        debs_dir=tmp_path / "debs",
        apt=False,
        push=f"{registry.host}/trust/pkg/signed",
        client=client,
        sign_key=key,
    )
    assert [name for name, _seconds in result.steps][-2:] == ["push", "sign"]
    reference = result.pushed
    assert reference == f"{registry.host}/trust/pkg/signed:1.0"
    for fmt in SignatureFormat:
        checked = verify_image(client, reference, [key.public_key], formats=[fmt])
        assert checked.digest == result.digest
    with pytest.raises(SignatureError, match="not signed by a trusted key"):
        verify_image(client, reference, [other_key.public_key])
    policy = TrustPolicy().with_rule(f"{registry.host}/trust/pkg/*", [key.public_key])
    assert policy.verify(client, reference, result.digest).verified


def test_unsigned_component_has_no_signature(
    registry: LocalRegistry, client: RegistryClient, keys: dict[str, PrivateKey], tmp_path: Path
) -> None:
    result = build(
        component(tmp_path, "plain"),
        debs_dir=tmp_path / "debs",
        apt=False,
        push=f"{registry.host}/trust/pkg/plain",
        client=client,
    )
    assert result.pushed is not None
    with pytest.raises(SignatureError):
        verify_image(client, result.pushed, [keys["ecdsa-p256"].public_key])


def test_sign_key_without_push_is_refused(keys: dict[str, PrivateKey], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give push too") as info:
        build(
            component(tmp_path, "local"),
            debs_dir=tmp_path / "debs",
            apt=False,
            layout=tmp_path / "oci",
            sign_key=keys["ecdsa-p256"],
        )
    assert info.value.path == "sign_key"
    assert not (tmp_path / "oci").exists()
