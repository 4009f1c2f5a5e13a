"""The push output's ``sign_key``: the pushed system artifact carries a cosign signature
that our verifier accepts for the signing key only; against the real test registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from moby_assemble import ConfigError, ImageReference, RegistryError, SignatureError
from moby_assemble._platform import Platform
from moby_assemble.outputs import write_formats
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import LocalRegistry
from moby_assemble.trust import PrivateKey, SignatureFormat, TrustPolicy, verify_image
from tests.outputs.conftest import SYSTEM_ITEMS, FakeBundle, system_containers, write_tar

from .conftest import DATA

MakeBundle = Callable[..., FakeBundle]
COSIGN_KEY = DATA / "cosign-encrypted-sigstore.key"  # cosign's own test key, password "hello"


@pytest.fixture
def make_bundle(tmp_path: Path) -> MakeBundle:
    """A bundle the push output can write (the outputs tests' FakeBundle over a real tar)."""

    def make() -> FakeBundle:
        root = write_tar(tmp_path / "rootfs.tar", SYSTEM_ITEMS)
        return FakeBundle(
            Platform.parse("linux/amd64"), root, kernel=b"KERNEL", cmdline="console=ttyS0",
            containers=system_containers(),
        )  # fmt: skip

    return make


def pushed(written: dict[str, tuple[Path, ...]]) -> ImageReference:
    return ImageReference.parse(written["push"][0].read_text().strip())


def test_pushed_system_is_signed_with_the_key_object(
    make_bundle: MakeBundle,
    registry: LocalRegistry,
    client: RegistryClient,
    keys: dict[str, PrivateKey],
    other_key: PrivateKey,
    tmp_path: Path,
) -> None:
    key = keys["ecdsa-p384"]
    target = f"{registry.host}/trust/push/signed:1"
    ref = pushed(
        write_formats(
            make_bundle(), tmp_path, "push", name="s", reference=target, client=client,
            sign_key=key,
        )
    )  # fmt: skip
    assert ref.digest is not None
    for fmt in SignatureFormat:
        result = verify_image(client, target, [key.public_key], formats=[fmt])
        assert result.digest == ref.digest
        assert result.format == fmt
    with pytest.raises(SignatureError, match="not signed by a trusted key") as info:
        verify_image(client, target, [other_key.public_key])
    assert target in str(info.value)
    policy = TrustPolicy().with_rule(f"{registry.host}/trust/push/*", [key.public_key])
    assert policy.verify(client, target, ref.digest).verified


def test_pushed_system_is_signed_with_a_cosign_key_file(
    make_bundle: MakeBundle, registry: LocalRegistry, client: RegistryClient, tmp_path: Path
) -> None:
    target = f"{registry.host}/trust/push/cosign-key:1"
    write_formats(
        make_bundle(), tmp_path, "push", name="s", reference=target, client=client,
        sign_key=str(COSIGN_KEY), sign_key_password="hello",
    )  # fmt: skip
    public = PrivateKey.load(COSIGN_KEY, password=b"hello").public_key
    assert verify_image(client, target, [public]).verified


def test_a_wrong_password_fails_before_anything_is_pushed(
    make_bundle: MakeBundle, registry: LocalRegistry, client: RegistryClient, tmp_path: Path
) -> None:
    target = f"{registry.host}/trust/push/wrong-password:1"
    with pytest.raises(ConfigError) as info:
        write_formats(
            make_bundle(), tmp_path, "push", name="s", reference=target, client=client,
            sign_key=COSIGN_KEY, sign_key_password="not-it",
        )  # fmt: skip
    assert str(COSIGN_KEY) in str(info.value)
    assert "not-it" not in str(info.value)
    assert not list(tmp_path.glob("*.pushed"))
    with pytest.raises(RegistryError):
        client.head_manifest(ImageReference.parse(target))


def test_unsigned_push_has_no_signature(
    make_bundle: MakeBundle,
    registry: LocalRegistry,
    client: RegistryClient,
    keys: dict[str, PrivateKey],
    tmp_path: Path,
) -> None:
    target = f"{registry.host}/trust/push/unsigned:1"
    write_formats(make_bundle(), tmp_path, "push", name="s", reference=target, client=client)
    with pytest.raises(SignatureError):
        verify_image(client, target, [keys["ecdsa-p256"].public_key])
