"""Sigstore bundles: DSSE and statement checks against cosign's own vectors, and bundles
attached as referrers on the real registry (no referrers API: the tag fallback)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from moby_assemble._errors import SignatureError
from moby_assemble._oci import Descriptor, MediaType
from moby_assemble.registry import ImageReference, RegistryClient
from moby_assemble.registry._push import attach_referrer, push_bytes
from moby_assemble.registry._referrers import add_referrer, referrers_tag
from moby_assemble.testing import LocalRegistry
from moby_assemble.trust import (
    BUNDLE_MEDIA_TYPE,
    IN_TOTO_PAYLOAD_TYPE,
    PrivateKey,
    PublicKey,
    SignatureFormat,
    attach_bundle,
    make_bundle,
    pae,
    verify_image,
)
from moby_assemble.trust._bundle import check_bundle, check_dsse_envelope, check_statement
from moby_assemble.trust._untrusted import Rejection
from tests.trust.conftest import DATA, KINDS, PushImage

SLSA_V02 = "https://slsa.dev/provenance/v0.2"
BUNDLE_ONLY = [SignatureFormat.SIGSTORE_BUNDLE]


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / "cosign-blob-attestation-envelopes.json").read_text())
    doc["key"] = PublicKey.load(DATA / "cosign-blob-attestation.pub")
    doc["digest"] = "sha256:" + doc["blobSha256"]
    return doc


def envelope(vectors: dict[str, Any], name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(base64.b64decode(vectors["envelopes"][name]))
    return doc


def check_vector(vectors: dict[str, Any], name: str, digest: str | None = None) -> None:
    key, payload = check_dsse_envelope(envelope(vectors, name), [vectors["key"]], what=name)
    assert key == vectors["key"]
    check_statement(payload, digest or vectors["digest"], predicate_types=[SLSA_V02], what=name)


def test_pae_is_dsses_pre_authentication_encoding() -> None:
    # The example in the DSSE protocol description.
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.mark.parametrize("name", ["blobSLSAProvenanceSignature", "dssePredicateMultipleSubjects"])
def test_cosigns_dsse_vectors_for_the_blob_verify(vectors: dict[str, Any], name: str) -> None:
    check_vector(vectors, name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dssePredicateEmptySubject", "no subject"),
        ("dssePredicateMissingSha256", "no statement subject is"),
        ("dssePredicateMultipleSubjectsInvalid", "no statement subject is"),
    ],
)
def test_cosigns_dsse_vectors_with_bad_subjects_are_refused(
    vectors: dict[str, Any], name: str, reason: str
) -> None:
    with pytest.raises(Rejection, match=reason):
        check_vector(vectors, name)


def test_a_cosign_vector_is_refused_for_another_digest_predicate_or_key(
    vectors: dict[str, Any], other_key: PrivateKey
) -> None:
    name = "blobSLSAProvenanceSignature"
    with pytest.raises(Rejection, match="no statement subject"):
        check_vector(vectors, name, digest="sha256:" + "0" * 64)
    _, payload = check_dsse_envelope(envelope(vectors, name), [vectors["key"]], what=name)
    with pytest.raises(Rejection, match="predicate type"):
        check_statement(payload, vectors["digest"], predicate_types=["custom"], what=name)
    with pytest.raises(Rejection, match="no envelope signature verifies"):
        check_dsse_envelope(envelope(vectors, name), [other_key.public_key], what=name)


def test_a_cosign_vector_with_a_changed_payload_does_not_verify(vectors: dict[str, Any]) -> None:
    env = envelope(vectors, "blobSLSAProvenanceSignature")
    payload = base64.b64decode(env["payload"]).replace(b'"id":"2"', b'"id":"3"')
    env["payload"] = base64.b64encode(payload).decode()
    with pytest.raises(Rejection, match="no envelope signature verifies"):
        check_dsse_envelope(env, [vectors["key"]], what="tampered")


def cert_key(bundle: dict[str, Any]) -> PublicKey:
    der = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    pem = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return PublicKey.from_pem(pem, name="fulcio certificate")


def test_cosigns_oci_attestation_bundle_verifies_with_its_certificates_key(
    vectors: dict[str, Any],
) -> None:
    raw = (DATA / "oci-attestation.sigstore.json").read_bytes()
    key = cert_key(json.loads(raw))
    digest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    predicate = ["https://cosign.sigstore.dev/attestation/v1"]
    assert check_bundle(raw, digest, [vectors["key"], key], predicate_types=predicate) == key
    with pytest.raises(Rejection, match="no envelope signature verifies"):
        check_bundle(raw, digest, [vectors["key"]], predicate_types=predicate)
    with pytest.raises(Rejection, match="no statement subject"):
        check_bundle(raw, "sha256:" + "1" * 64, [key], predicate_types=predicate)
    # An attestation is not a signature: the default predicate is cosign's sign/v1.
    with pytest.raises(Rejection, match="predicate type"):
        check_bundle(raw, digest, [key])


def signed_envelope(key: PrivateKey, payload_type: str, statement: bytes) -> dict[str, Any]:
    sig = key.sign(pae(payload_type, statement))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(statement).decode(),
        "signatures": [{"sig": base64.b64encode(sig).decode()}],
    }


def test_a_validly_signed_envelope_of_another_payload_type_is_refused(
    keys: dict[str, PrivateKey],
) -> None:
    key = keys["ecdsa-p256"]
    bundle = json.loads(make_bundle(key, "sha256:" + "a" * 64, name="r.io/a"))
    statement = base64.b64decode(bundle["dsseEnvelope"]["payload"])
    bundle["dsseEnvelope"] = signed_envelope(key, "application/json", statement)
    with pytest.raises(Rejection, match="payload type 'application/json'"):
        check_bundle(json.dumps(bundle).encode(), "sha256:" + "a" * 64, [key.public_key])


def test_a_signed_statement_with_duplicate_keys_is_refused(keys: dict[str, PrivateKey]) -> None:
    key = keys["ecdsa-p256"]
    digest = "sha256:" + "b" * 64
    statement = (
        b'{"_type":"https://in-toto.io/Statement/v1","predicateType":'
        b'"https://sigstore.dev/cosign/sign/v1","subject":[{"digest":{"sha256":"' + b"b" * 64
        + b'"}}],"subject":[],"predicate":{}}'
    )  # fmt: skip
    bundle = {"mediaType": BUNDLE_MEDIA_TYPE, "dsseEnvelope": signed_envelope(
        key, IN_TOTO_PAYLOAD_TYPE, statement)}  # fmt: skip
    with pytest.raises(Rejection, match="duplicate key 'subject'"):
        check_bundle(json.dumps(bundle).encode(), digest, [key.public_key])


def test_message_signature_bundles_and_other_documents_are_refused(
    keys: dict[str, PrivateKey],
) -> None:
    key = keys["ed25519"].public_key
    digest = "sha256:" + "c" * 64
    message = {"mediaType": BUNDLE_MEDIA_TYPE, "messageSignature": {"signature": "AAAA"}}
    with pytest.raises(Rejection, match="no DSSE envelope"):
        check_bundle(json.dumps(message).encode(), digest, [key])
    with pytest.raises(Rejection, match="not a sigstore bundle"):
        check_bundle(b'{"mediaType":"application/json"}', digest, [key])
    with pytest.raises(Rejection, match="not valid JSON"):
        check_bundle(b"\xff", digest, [key])


# -- on the registry ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_bundle_attached_as_referrer_verifies_with_each_key_type(
    kind: str, keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    referrer = attach_bundle(client, ref, desc, keys[kind])
    result = verify_image(client, ref, [keys[kind].public_key], formats=BUNDLE_ONLY)
    assert result.format is SignatureFormat.SIGSTORE_BUNDLE
    assert result.key == keys[kind].public_key
    assert result.digest == desc.digest
    assert result.signature == referrer.digest


def test_the_referrer_is_cosigns_layout_and_listed_under_the_fallback_tag(
    keys: dict[str, PrivateKey],
    client: RegistryClient,
    push_image: PushImage,
    registry: LocalRegistry,
) -> None:
    ref, desc = push_image()
    referrer = attach_bundle(client, ref, desc, keys["ecdsa-p256"])
    accept = {"Accept": ", ".join(MediaType.ACCEPT_MANIFESTS)}
    base = f"{registry.url}/v2/{ref.repository}/manifests"
    index = httpx.get(f"{base}/{referrers_tag(desc.digest)}", headers=accept).json()
    assert [(m["digest"], m["artifactType"]) for m in index["manifests"]] == [
        (referrer.digest, BUNDLE_MEDIA_TYPE)
    ]
    manifest = httpx.get(f"{base}/{referrer.digest}", headers=accept).json()
    assert manifest["artifactType"] == BUNDLE_MEDIA_TYPE
    assert manifest["config"]["mediaType"] == MediaType.OCI_EMPTY
    assert manifest["subject"] == {
        "mediaType": desc.media_type,
        "digest": desc.digest,
        "size": desc.size,
    }
    assert manifest["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    assert manifest["annotations"]["dev.sigstore.bundle.predicateType"] == (
        "https://sigstore.dev/cosign/sign/v1"
    )
    [layer] = manifest["layers"]
    assert layer["mediaType"] == BUNDLE_MEDIA_TYPE
    assert layer["annotations"]["org.opencontainers.image.title"].endswith(".sigstore.json")


def test_a_bundle_by_an_untrusted_key_fails_naming_the_image_and_the_key(
    keys: dict[str, PrivateKey],
    other_key: PrivateKey,
    client: RegistryClient,
    push_image: PushImage,
) -> None:
    ref, desc = push_image()
    attach_bundle(client, ref, desc, other_key)
    trusted = keys["ecdsa-p256"].public_key
    with pytest.raises(SignatureError) as err:
        verify_image(client, ref, [trusted], formats=BUNDLE_ONLY)
    text = str(err.value)
    assert f"{ref.name}:1@{desc.digest}" in text
    assert trusted.key_id[:19] in text
    assert "no envelope signature verifies" in text
    assert err.value.reference == str(ref)


def attach_raw_bundle(
    client: RegistryClient, ref: ImageReference, subject: Descriptor, bundle: bytes
) -> Descriptor:
    """Attach ``bundle`` bytes as a referrer of ``subject`` the way attach_bundle does."""
    layer = Descriptor.for_bytes(BUNDLE_MEDIA_TYPE, bundle)
    push_bytes(client, ref, layer, bundle)
    empty = Descriptor.for_bytes(MediaType.OCI_EMPTY, b"{}")
    push_bytes(client, ref, empty, b"{}")
    manifest = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": empty.to_json(),
        "layers": [layer.to_json()],
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
    }
    return attach_referrer(client, ref, json.dumps(manifest).encode())


def test_a_bundle_signed_for_another_image_is_refused_when_attached_to_this_one(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image("a")
    _, other = push_image("b")
    key = keys["ecdsa-p256"]
    attach_raw_bundle(client, ref, desc, make_bundle(key, other.digest, name=ref.name))
    with pytest.raises(SignatureError, match=f"no statement subject is {desc.digest}"):
        verify_image(client, ref, [key.public_key], formats=BUNDLE_ONLY)


def test_a_tampered_bundle_is_refused_and_does_not_hide_a_good_one(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ecdsa-p256"]
    bundle = json.loads(make_bundle(key, desc.digest, name=ref.name))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"] = {"note": "added later"}
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    attach_raw_bundle(client, ref, desc, json.dumps(bundle).encode())
    with pytest.raises(SignatureError, match="no envelope signature verifies"):
        verify_image(client, ref, [key.public_key], formats=BUNDLE_ONLY)
    good = attach_bundle(client, ref, desc, key)
    assert verify_image(client, ref, [key.public_key], formats=BUNDLE_ONLY).signature == (
        good.digest
    )


def test_a_referrer_whose_subject_is_another_image_is_refused(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image("a")
    _, other = push_image("b")
    key = keys["ecdsa-p256"]
    # A bundle for `desc`, but its manifest's subject is `other`: someone listed it in
    # desc's fallback index by hand.
    foreign = attach_raw_bundle(client, ref, other, make_bundle(key, desc.digest, name=ref.name))
    entry = Descriptor(
        foreign.media_type, foreign.digest, foreign.size, artifact_type=BUNDLE_MEDIA_TYPE
    )
    add_referrer(client, ref, desc.digest, entry)
    with pytest.raises(SignatureError, match=f"its subject is {other.digest}"):
        verify_image(client, ref, [key.public_key], formats=BUNDLE_ONLY)


def test_a_bundle_over_the_size_cap_is_refused_unread(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    key = keys["ecdsa-p256"]
    attach_bundle(client, ref, desc, key)
    with pytest.raises(SignatureError, match="over the 100 cap"):
        verify_image(client, ref, [key.public_key], formats=BUNDLE_ONLY, max_payload_size=100)


def test_an_image_without_referrers_is_unsigned(
    keys: dict[str, PrivateKey], client: RegistryClient, push_image: PushImage
) -> None:
    ref, _ = push_image()
    with pytest.raises(SignatureError, match="no sigstore bundle referrers"):
        verify_image(client, ref, [keys["rsa"].public_key], formats=BUNDLE_ONLY)
