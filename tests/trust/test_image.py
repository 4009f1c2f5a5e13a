"""sign_image / verify_image: both formats together, the order they are looked for, and
multi-platform images (the index digest is what is signed)."""

from __future__ import annotations

import json

import pytest

from moby_assemble._errors import SignatureError
from moby_assemble.registry import (
    Credentials,
    ImageReference,
    RegistryClient,
    RegistryConfig,
    StaticCredentials,
)
from moby_assemble.registry._push import push_artifact
from moby_assemble.testing import Image, Layer, LocalRegistry
from moby_assemble.trust import (
    PrivateKey,
    SignatureFormat,
    TrustPolicy,
    TrustRule,
    sign_image,
    verify_image,
)
from tests.conftest import TEST_PASSWORD, TEST_USER
from tests.trust.conftest import PushImage, push_set


def test_sign_image_writes_both_formats_and_verify_prefers_the_bundle(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ecdsa-p256"]
    bundle, simple = sign_image(client, ref, key)
    result = verify_image(client, ref, [key.public_key])
    assert result.format is SignatureFormat.SIGSTORE_BUNDLE
    assert result.signature == bundle.digest
    assert result.digest == desc.digest  # the tag was resolved
    only_simple = verify_image(
        client, ref, [key.public_key], formats=[SignatureFormat.SIMPLE_SIGNING]
    )
    assert only_simple.signature == simple.digest


def test_an_image_signed_only_the_old_way_is_found_after_the_bundle_lookup(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ed25519"]
    sign_image(client, ref, key, formats=[SignatureFormat.SIMPLE_SIGNING])
    result = verify_image(client, ref.with_digest(desc.digest), [key.public_key])
    assert result.format is SignatureFormat.SIMPLE_SIGNING
    assert result.key == key.public_key


def test_an_unsigned_image_error_lists_what_was_looked_for_in_both_formats(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    with pytest.raises(SignatureError) as err:
        verify_image(client, str(ref), [keys["rsa"].public_key])
    text = str(err.value)
    assert text.startswith(f"{ref.name}:1@{desc.digest} is not signed by a trusted key (rsa key")
    assert "no sigstore bundle referrers" in text
    assert "no simple-signing signatures" in text


def test_an_index_digest_is_signed_and_its_platform_manifests_are_not(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, index = push_image(multi_arch=True)
    key = keys["ecdsa-p384"]
    sign_image(client, ref, key)
    result = verify_image(client, ref, [key.public_key])
    assert result.digest == index.digest
    child = json.loads(client.get_manifest(ref).data)["manifests"][0]["digest"]
    with pytest.raises(SignatureError, match=child):
        verify_image(client, ref, [key.public_key], digest=child)


def test_a_digest_that_contradicts_the_pinned_reference_is_refused(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    with pytest.raises(SignatureError, match="pinned to"):
        verify_image(
            client,
            ref.with_digest(desc.digest),
            [keys["rsa"].public_key],
            digest="sha256:" + "1" * 64,
        )


def test_verifying_without_keys_is_an_error_not_a_pass(
    client: RegistryClient, push_image: PushImage
) -> None:
    ref, _ = push_image()
    with pytest.raises(SignatureError, match="no trusted keys"):
        verify_image(client, ref, [])


def test_signing_and_verifying_work_on_the_tls_registry_with_basic_auth(
    keys: dict[str, PrivateKey], tls_registry: LocalRegistry
) -> None:
    assert tls_registry.tls is not None
    with RegistryClient(
        credentials=StaticCredentials({tls_registry.host: Credentials(TEST_USER, TEST_PASSWORD)}),
        registries={tls_registry.host: RegistryConfig(ca_bundle=str(tls_registry.tls.ca_cert))},
    ) as client:
        ref = ImageReference.parse(f"{tls_registry.host}/trust/tls/app:1")
        push_set(client, ref, Image([Layer().file("etc/tls", b"1\n")]).build())
        key = keys["ecdsa-p256"]
        sign_image(client, ref, key)
        for fmt in SignatureFormat:
            policy = TrustPolicy(
                [TrustRule(f"{tls_registry.host}/trust/**", [key.public_key], [fmt])]
            )
            assert policy.verify(client, ref).format is fmt


def test_an_oras_artifact_we_push_is_signed_and_verified_like_an_image(
    keys: dict[str, PrivateKey], client: RegistryClient, registry: LocalRegistry
) -> None:
    ref = ImageReference.parse(f"{registry.host}/trust/artifact/system:1")
    artifact = push_artifact(
        client, ref, {"system.yml": b"kernel: {}\n"}, "application/vnd.example.system"
    )
    key = keys["ed25519"]
    sign_image(client, ref, key)
    result = verify_image(client, ref, [key.public_key])
    assert (result.digest, result.format) == (artifact.digest, SignatureFormat.SIGSTORE_BUNDLE)
