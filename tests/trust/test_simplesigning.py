"""cosign's ``.sig`` tag layout: payload format, signing, and every way a signature found
under the tag can be wrong, on the real registry."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from moby_assemble._errors import SignatureError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry import ImageReference, RegistryClient
from moby_assemble.registry._push import push_bytes, push_manifest
from moby_assemble.testing import LocalRegistry
from moby_assemble.trust import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    PrivateKey,
    SignatureFormat,
    VerificationResult,
    sign_simple_signing,
    signature_tag,
    simple_signing_payload,
    verify_image,
)
from tests.trust.conftest import DATA, KINDS, PushImage

SIMPLE_ONLY = [SignatureFormat.SIMPLE_SIGNING]


def test_the_payload_is_byte_for_byte_what_cosign_writes() -> None:
    expected = (DATA / "cosign-simple-signing-payload.json").read_bytes()
    digest = "sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"
    assert simple_signing_payload("index.docker.io/namespace/image", digest) == expected


def test_annotations_go_to_the_optional_section_sorted() -> None:
    payload = json.loads(
        simple_signing_payload("r.io/a", "sha256:" + "0" * 64, {"b": "2", "a": "1"})
    )
    assert list(payload["optional"].items()) == [("a", "1"), ("b", "2")]


def test_the_signature_tag_is_the_digest_with_a_dash_and_sig_suffix() -> None:
    # The example in cosign's SIGNATURE_SPEC.md.
    digest = "sha256:97fc222cee7991b5b061d4d4afdb5f3428fcb0c9054e1690313786befa1e4e36"
    assert signature_tag(digest) == (
        "sha256-97fc222cee7991b5b061d4d4afdb5f3428fcb0c9054e1690313786befa1e4e36.sig"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_simple_signing_signature_verifies_with_each_key_type(
    kind: str, keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    sig = sign_simple_signing(client, ref, desc.digest, keys[kind])
    result = verify_image(client, ref, [keys[kind].public_key], formats=SIMPLE_ONLY)
    assert (result.format, result.key, result.signature) == (
        SignatureFormat.SIMPLE_SIGNING,
        keys[kind].public_key,
        sig.digest,
    )


def fetch_sig_manifest(registry: LocalRegistry, ref: ImageReference, digest: str) -> Any:
    response = httpx.get(
        f"{registry.url}/v2/{ref.repository}/manifests/{signature_tag(digest)}",
        headers={"Accept": MediaType.OCI_MANIFEST},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_signature_image_has_cosigns_layout_and_p384_signs_over_sha256(
    keys: dict[str, PrivateKey],
    client: RegistryClient,
    push_image: PushImage,
    registry: LocalRegistry,
) -> None:
    ref, desc = push_image()
    sign_simple_signing(client, ref, desc.digest, keys["ecdsa-p384"])
    manifest = fetch_sig_manifest(registry, ref, desc.digest)
    assert manifest["mediaType"] == MediaType.OCI_MANIFEST
    assert manifest["config"]["mediaType"] == MediaType.OCI_CONFIG
    [layer] = manifest["layers"]
    assert layer["mediaType"] == SIMPLE_SIGNING_MEDIA_TYPE
    payload = httpx.get(f"{registry.url}/v2/{ref.repository}/blobs/{layer['digest']}").content
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == desc.digest
    # `cosign verify --key` checks ECDSA over SHA-256 unless told otherwise.
    raw = serialization.load_pem_public_key(keys["ecdsa-p384"].public_key.to_pem())
    assert isinstance(raw, ec.EllipticCurvePublicKey)
    signature = base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION])
    raw.verify(signature, payload, ec.ECDSA(hashes.SHA256()))


def test_signing_again_appends_a_layer_and_every_signer_verifies(
    keys: dict[str, PrivateKey],
    client: RegistryClient,
    push_image: PushImage,
    registry: LocalRegistry,
) -> None:
    ref, desc = push_image()
    sign_simple_signing(client, ref, desc.digest, keys["ecdsa-p256"])
    sign_simple_signing(client, ref, desc.digest, keys["ed25519"])
    assert len(fetch_sig_manifest(registry, ref, desc.digest)["layers"]) == 2
    for kind in ("ecdsa-p256", "ed25519"):
        key = keys[kind].public_key
        assert verify_image(client, ref, [key], formats=SIMPLE_ONLY).key == key


def push_signatures(
    client: RegistryClient,
    ref: ImageReference,
    digest: str,
    layers: Sequence[tuple[bytes, str]],
) -> None:
    """Put a hand-made signature image under ``digest``'s ``.sig`` tag:
    ``(payload, base64 signature annotation)`` per layer."""
    sig_ref = ref.with_tag(signature_tag(digest))
    descs = []
    for payload, signature in layers:
        desc = Descriptor.for_bytes(
            SIMPLE_SIGNING_MEDIA_TYPE, payload, annotations={SIGNATURE_ANNOTATION: signature}
        )
        push_bytes(client, sig_ref, desc, payload)
        descs.append(desc.to_json())
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_desc = Descriptor.for_bytes(MediaType.OCI_CONFIG, config)
    push_bytes(client, sig_ref, config_desc, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": descs,
    }
    push_manifest(client, sig_ref, json.dumps(manifest).encode(), MediaType.OCI_MANIFEST)


def b64sig(key: PrivateKey, payload: bytes) -> str:
    return base64.b64encode(key.sign(payload)).decode()


def verify_signed(
    client: RegistryClient, ref: ImageReference, digest: str, key: PrivateKey, payload: bytes
) -> VerificationResult:
    """Sign ``payload`` with ``key`` as the only signature of ``digest``, then verify the
    image trusting that key alone."""
    push_signatures(client, ref, digest, [(payload, b64sig(key, payload))])
    return verify_image(client, ref, [key.public_key], formats=SIMPLE_ONLY)


def test_a_signature_by_an_untrusted_key_fails_naming_the_image(
    keys: dict[str, PrivateKey],
    other_key: PrivateKey,
    client: RegistryClient,
    push_image: PushImage,
) -> None:
    ref, desc = push_image()
    sign_simple_signing(client, ref, desc.digest, other_key)
    with pytest.raises(SignatureError, match="does not verify with any trusted key") as err:
        verify_image(client, ref, [keys["ecdsa-p256"].public_key], formats=SIMPLE_ONLY)
    assert f"{ref.name}:1@{desc.digest}" in str(err.value)


def test_a_tampered_payload_or_signature_is_refused(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ecdsa-p256"]
    payload = simple_signing_payload(ref.name, desc.digest)
    good = b64sig(key, payload)
    tampered_payload = simple_signing_payload(ref.name, desc.digest, {"approved": "yes"})
    flipped = bytearray(base64.b64decode(good))
    flipped[-1] ^= 1
    push_signatures(
        client,
        ref,
        desc.digest,
        [
            (tampered_payload, good),  # the payload changed after signing
            (payload, base64.b64encode(bytes(flipped)).decode()),  # the signature changed
            (payload, "not base64!"),  # the annotation is junk
        ],
    )
    with pytest.raises(SignatureError) as err:
        verify_image(client, ref, [key.public_key], formats=SIMPLE_ONLY)
    text = str(err.value)
    assert "layer 0: the signature does not verify" in text
    assert "layer 1: the signature does not verify" in text
    assert "layer 2: signature is not valid base64" in text


def test_a_valid_signature_of_another_image_is_refused(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image("a")
    other_ref, other = push_image("b")
    key = keys["ecdsa-p256"]
    payload = simple_signing_payload(other_ref.name, other.digest)
    with pytest.raises(SignatureError, match=f"but for '{other.digest}', not {desc.digest}"):
        verify_signed(client, ref, desc.digest, key, payload)


def claims(digest: str, *, kind: str = "cosign container image signature", key: str =
           "docker-manifest-digest") -> bytes:  # fmt: skip
    return json.dumps(
        {"critical": {"identity": {"docker-reference": "x"}, "image": {key: digest}, "type": kind}}
    ).encode()


def test_a_signed_payload_with_another_critical_type_is_refused(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ecdsa-p256"]
    payload = claims(desc.digest, kind="atomic container signature")
    with pytest.raises(SignatureError, match=r"critical\.type is 'atomic container signature'"):
        verify_signed(client, ref, desc.digest, key, payload)


def test_the_digest_key_is_matched_case_insensitively_like_go_but_not_ambiguously(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ecdsa-p256"]
    # SIGNATURE_SPEC.md's own example spells it "Docker-manifest-digest".
    spec_spelling = claims(desc.digest, key="Docker-manifest-digest")
    ambiguous = (
        b'{"critical":{"image":{"docker-manifest-digest":"' + desc.digest.encode()
        + b'","DOCKER-MANIFEST-DIGEST":"sha256:' + b"0" * 64
        + b'"},"type":"cosign container image signature"}}'
    )  # fmt: skip
    with pytest.raises(SignatureError, match="appears 2 times with different case"):
        verify_signed(client, ref, desc.digest, key, ambiguous)
    assert verify_signed(client, ref, desc.digest, key, spec_spelling).verified


def test_a_signed_payload_with_duplicate_keys_is_refused(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ecdsa-p256"]
    payload = claims(desc.digest)[:-1] + b',"critical":{}}'
    with pytest.raises(SignatureError, match="duplicate key 'critical'"):
        verify_signed(client, ref, desc.digest, key, payload)


def test_a_payload_over_the_size_cap_is_refused_unread(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ecdsa-p256"]
    sign_simple_signing(client, ref, desc.digest, key)
    with pytest.raises(SignatureError, match="over the 64 cap"):
        verify_image(client, ref, [key.public_key], formats=SIMPLE_ONLY, max_payload_size=64)


def test_an_image_without_a_sig_tag_is_unsigned(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, _ = push_image()
    with pytest.raises(SignatureError, match=r"no simple-signing signatures .*\.sig does not"):
        verify_image(client, ref, [keys["ecdsa-p256"].public_key], formats=SIMPLE_ONLY)


def test_skopeo_reads_the_signature_image_as_a_valid_image(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    sig = sign_simple_signing(client, ref, desc.digest, keys["ecdsa-p256"])
    target = f"docker://{ref.name}:{signature_tag(desc.digest)}"
    out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", target],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    info = json.loads(out.stdout)
    assert info["Digest"] == sig.digest
    assert info["Layers"] == [layer["digest"] for layer in json.loads(
        client.get_manifest(ref.with_digest(sig.digest)).data)["layers"]]  # fmt: skip
