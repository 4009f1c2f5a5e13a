"""Assembler(trust_policy=...): every locked image is checked against the policy, at the
digest the lock pins, before the assembly writes anything; against the real test registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble import Assembler, ConfigError, SignatureError, System
from moby_assemble.registry import RegistryClient
from moby_assemble.testing import Image, Layer
from moby_assemble.trust import PrivateKey, TrustPolicy, sign_image

from .conftest import PushImage


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (nothing if it does not exist)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def policy_for(pattern: str, key: PrivateKey) -> TrustPolicy:
    return TrustPolicy(default="allow").with_rule(pattern, [key.public_key])


def test_unsigned_image_fails_before_anything_is_written(
    push_image: PushImage, client: RegistryClient, keys: dict[str, PrivateKey], tmp_path: Path
) -> None:
    signed, _ = push_image("signed")
    unsigned, _ = push_image("unsigned")
    sign_image(client, signed, keys["ecdsa-p256"])
    system = System(platform="linux/amd64", init=[str(signed), str(unsigned)])
    policy = policy_for(f"{signed.registry}/trust/**", keys["ecdsa-p256"])
    cache = tmp_path / "cache"
    with Assembler(cache, client=client, trust_policy=policy) as asm:
        lock = asm.resolve(system)
        before = tree(tmp_path)
        with pytest.raises(SignatureError) as info:
            asm.assemble(system, lock=lock)
        assert tree(tmp_path) == before
        assert not (cache / "bundles").exists()
        assert not (cache / "flat").exists() or not any((cache / "flat").iterdir())
    assert str(unsigned) in str(info.value)
    assert info.value.reference == str(unsigned)
    assert str(signed) not in str(info.value)


def test_unsigned_image_fails_when_the_assembler_resolves(
    push_image: PushImage, client: RegistryClient, keys: dict[str, PrivateKey], tmp_path: Path
) -> None:
    unsigned, _ = push_image("unsigned")
    system = System(platform="linux/amd64", init=[str(unsigned)])
    policy = policy_for(f"{unsigned.registry}/trust/**", keys["ecdsa-p256"])
    with (
        Assembler(tmp_path / "cache", client=client, trust_policy=policy) as asm,
        pytest.raises(SignatureError, match="unsigned"),
    ):
        asm.assemble(system)
    assert not (tmp_path / "cache" / "bundles").exists()


def test_image_signed_with_a_trusted_key_builds(
    push_image: PushImage, client: RegistryClient, keys: dict[str, PrivateKey], tmp_path: Path
) -> None:
    ref, desc = push_image("app")
    sign_image(client, ref, keys["ed25519"])
    system = System(platform="linux/amd64", init=[str(ref)])
    policy = policy_for(f"{ref.registry}/trust/**", keys["ed25519"])
    with Assembler(tmp_path / "cache", client=client, trust_policy=policy) as asm:
        lock = asm.resolve(system)
        assert lock.images[0].digest == desc.digest
        bundle = asm.assemble(system, lock=lock)
    assert bundle.rootfs_tar.is_file()


def test_image_signed_with_another_key_fails(
    push_image: PushImage,
    client: RegistryClient,
    keys: dict[str, PrivateKey],
    other_key: PrivateKey,
    tmp_path: Path,
) -> None:
    ref, _ = push_image("app")
    sign_image(client, ref, other_key)
    system = System(platform="linux/amd64", init=[str(ref)])
    policy = policy_for(f"{ref.registry}/trust/**", keys["ecdsa-p256"])
    with (
        Assembler(tmp_path / "cache", client=client, trust_policy=policy) as asm,
        pytest.raises(SignatureError, match="not signed by a trusted key") as info,
    ):
        asm.assemble(system)
    assert info.value.reference == str(ref)
    assert not (tmp_path / "cache" / "bundles").exists()


def test_images_no_rule_matches_need_no_signature(
    push_image: PushImage, client: RegistryClient, keys: dict[str, PrivateKey], tmp_path: Path
) -> None:
    ref, _ = push_image("app")
    system = System(platform="linux/amd64", init=[str(ref)])
    policy = policy_for("elsewhere.example/**", keys["ecdsa-p256"])
    with Assembler(tmp_path / "cache", client=client, trust_policy=policy) as asm:
        assert asm.assemble(system).rootfs_tar.is_file()


def test_images_no_rule_matches_fail_under_default_deny(
    push_image: PushImage, client: RegistryClient, keys: dict[str, PrivateKey], tmp_path: Path
) -> None:
    ref, _ = push_image("app")
    system = System(platform="linux/amd64", init=[str(ref)])
    policy = TrustPolicy(default="deny").with_rule("elsewhere.example/**", [keys["rsa"].public_key])
    with (
        Assembler(tmp_path / "cache", client=client, trust_policy=policy) as asm,
        pytest.raises(SignatureError, match="no trust policy rule matches"),
    ):
        asm.assemble(system)


def test_a_policy_is_refused_offline(keys: dict[str, PrivateKey], tmp_path: Path) -> None:
    policy = policy_for("**", keys["ecdsa-p256"])
    with pytest.raises(ConfigError, match="cannot be checked offline") as info:
        Assembler(tmp_path / "cache", offline=True, trust_policy=policy)
    assert info.value.path == "trust_policy"


def test_oci_layout_images_are_refused_unless_the_policy_leaves_them_unmatched(
    client: RegistryClient, keys: dict[str, PrivateKey], tmp_path: Path
) -> None:
    Image([Layer().file("etc/id", b"from a layout\n")]).build().write_oci_layout(
        tmp_path / "oci", "app"
    )
    reference = f"oci-layout:{tmp_path / 'oci'}:app"
    system = System(platform="linux/amd64", init=[reference])
    deny = TrustPolicy(default="deny").with_rule("**", [keys["ecdsa-p256"].public_key])
    with (
        Assembler(tmp_path / "cache", client=client, trust_policy=deny) as asm,
        pytest.raises(SignatureError, match="oci-layout image cannot be checked") as info,
    ):
        asm.assemble(system)
    assert info.value.reference == reference
    assert not (tmp_path / "cache" / "bundles").exists()
    every = TrustPolicy(default="allow").with_rule("**", [keys["ecdsa-p256"].public_key])
    with (
        Assembler(tmp_path / "cache", client=client, trust_policy=every) as asm,
        pytest.raises(SignatureError, match="rule '\\*\\*' covers every image"),
    ):
        asm.assemble(system)
    allow = TrustPolicy(default="allow").with_rule("127.0.0.1:*/**", [keys["rsa"].public_key])
    with Assembler(tmp_path / "cache", client=client, trust_policy=allow) as asm:
        assert asm.assemble(system).rootfs_tar.is_file()
