"""cosign v3's signature layout: a sigstore bundle attached to the image as a referrer.

The signature is a DSSE envelope around an in-toto statement whose ``subject`` names the
image digest and whose ``predicateType`` is ``https://sigstore.dev/cosign/sign/v1``; the
envelope travels in a sigstore bundle (v0.3 JSON), stored as the one layer of an OCI
artifact manifest (``artifactType`` = the bundle media type, empty config) whose ``subject``
is the signed manifest. Registries with the referrers API list it there; on the others the
``sha256-<hex>`` referrers tag holds the list (the registry client maintains it).

DSSE signs the *pre-authentication encoding* (:func:`pae`) of payload type and payload, not
the payload itself. A bundle counts when a trusted key verifies one of its signatures, the
payload type is in-toto, the predicate is a signature predicate, and a statement subject
carries the digest being checked.

Transparency-log entries, certificates and timestamps in the bundle are not checked: this is
offline, key-based verification (``cosign verify --key … --insecure-ignore-tlog``).

Example::

    desc = attach_bundle(client, ref, subject_descriptor, key)
    key, sig = verify_bundles(client, ref, digest, [key.public_key], rejections=[])
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import IntegrityError, NotFoundError, UnsupportedError
from .._oci import Descriptor, MediaType, digest_bytes, validate_digest
from ..registry._push import attach_referrer, push_bytes
from ..registry._referrers import referrers
from ._keys import PrivateKey, PublicKey
from ._untrusted import (
    MAX_PAYLOAD_SIZE,
    MAX_SIGNATURE_MANIFEST_SIZE,
    MAX_SIGNATURES,
    Rejection,
    decode_base64,
    fetch_blob,
    strict_json,
)

if TYPE_CHECKING:
    from ..registry import ImageReference, RegistryClient

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "COSIGN_SIGN_PREDICATE",
    "IN_TOTO_PAYLOAD_TYPE",
    "IN_TOTO_STATEMENT_V1",
    "attach_bundle",
    "check_bundle",
    "check_dsse_envelope",
    "check_statement",
    "make_bundle",
    "pae",
    "verify_bundles",
]

_LOG = logging.getLogger("moby_assemble.trust")

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: Older spellings of the bundle media type that carry the same JSON.
_BUNDLE_MEDIA_TYPES = frozenset(
    {
        BUNDLE_MEDIA_TYPE,
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
    }
)
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
_STATEMENT_TYPES = frozenset({IN_TOTO_STATEMENT_V1, "https://in-toto.io/Statement/v0.1"})
#: The predicate cosign v3 gives image signatures (``pkg/types/predicate.go``).
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
_CREATED_ANNOTATION = "org.opencontainers.image.created"
_TITLE_ANNOTATION = "org.opencontainers.image.title"
#: More signatures than this in one envelope is not something a signer produces.
_MAX_ENVELOPE_SIGNATURES = 16


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature actually covers.

    Example::

        >>> pae("t", b"ab")
        b'DSSEv1 1 t 2 ab'
    """
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_bundle(
    key: PrivateKey,
    digest: str,
    *,
    name: str,
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    predicate: Mapping[str, Any] | None = None,
) -> bytes:
    """A signed sigstore bundle (v0.3, DSSE) stating that ``digest`` is signed.

    Args:
        key: the signing key (ECDSA with the curve's hash, as sigstore signs bundles).
        digest: the manifest or index digest (becomes the statement's subject).
        name: the subject's name (the repository, ``registry/repository``).
        predicate_type: the statement's predicate type.
        predicate: the predicate (``{}`` for a plain signature).

    Example::

        >>> k = PrivateKey.generate()
        >>> json.loads(make_bundle(k, "sha256:" + "0" * 64, name="r.io/a"))["mediaType"]
        'application/vnd.dev.sigstore.bundle.v0.3+json'
    """
    algorithm, encoded = validate_digest(digest).split(":", 1)
    statement = {
        "_type": IN_TOTO_STATEMENT_V1,
        "subject": [{"name": name, "digest": {algorithm: encoded}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate or {}),
    }
    payload = json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode()
    signature = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload))
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key.public_key.hint}},
        "dsseEnvelope": {
            "payload": _b64(payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": _b64(signature)}],
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def check_dsse_envelope(
    envelope: object, keys: Sequence[PublicKey], *, what: str
) -> tuple[PublicKey, bytes]:
    """The trusted key that signed this DSSE envelope, and the in-toto payload it covers.

    Raises:
        Rejection: malformed envelope, a payload type other than in-toto, or no signature
            verifies with any of ``keys``.
    """
    if not isinstance(envelope, dict):
        raise Rejection(f"{what}: no DSSE envelope")
    payload_type = envelope.get("payloadType")
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise Rejection(f"{what}: payload type {payload_type!r} is not {IN_TOTO_PAYLOAD_TYPE}")
    payload = decode_base64(envelope.get("payload"), what=f"{what}: payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise Rejection(f"{what}: the envelope has no signatures")
    if len(signatures) > _MAX_ENVELOPE_SIGNATURES:
        raise Rejection(f"{what}: {len(signatures)} signatures in one envelope")
    message = pae(payload_type, payload)
    for i, entry in enumerate(signatures):
        raw = entry.get("sig") if isinstance(entry, dict) else None
        signature = decode_base64(raw, what=f"{what}: signatures[{i}]")
        for key in keys:
            if key.verify(signature, message):
                return key, payload
    raise Rejection(f"{what}: no envelope signature verifies with any trusted key")


def check_statement(
    payload: bytes, digest: str, *, predicate_types: Collection[str], what: str
) -> None:
    """Check that an in-toto statement is about ``digest`` with an accepted predicate.

    Raises:
        Rejection: not an in-toto statement, another predicate type, or no subject
            carries ``digest``.
    """
    statement = strict_json(payload, what=f"{what}: statement")
    if statement.get("_type") not in _STATEMENT_TYPES:
        raise Rejection(f"{what}: not an in-toto statement ({statement.get('_type')!r})")
    predicate_type = statement.get("predicateType")
    if predicate_type not in predicate_types:
        raise Rejection(f"{what}: predicate type {predicate_type!r} is not accepted")
    algorithm, encoded = validate_digest(digest).split(":", 1)
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise Rejection(f"{what}: the statement has no subject")
    for subject in subjects:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digests, dict) and digests.get(algorithm) == encoded:
            return
    raise Rejection(f"{what}: no statement subject is {digest}")


def check_bundle(
    bundle: bytes,
    digest: str,
    keys: Sequence[PublicKey],
    *,
    predicate_types: Collection[str] = (COSIGN_SIGN_PREDICATE,),
    what: str = "bundle",
) -> PublicKey:
    """The trusted key that signed this sigstore bundle, a bundle about ``digest``.

    Raises:
        Rejection: see :func:`check_dsse_envelope` and :func:`check_statement`; also a
            bundle that is not a sigstore bundle or holds a message signature instead of a
            DSSE envelope (cosign signs images with DSSE).
    """
    doc = strict_json(bundle, what=what)
    media_type = doc.get("mediaType")
    if media_type not in _BUNDLE_MEDIA_TYPES:
        raise Rejection(f"{what}: media type {media_type!r} is not a sigstore bundle")
    if "dsseEnvelope" not in doc:
        raise Rejection(f"{what}: holds no DSSE envelope (a message signature is for blobs)")
    key, payload = check_dsse_envelope(doc["dsseEnvelope"], keys, what=what)
    check_statement(payload, digest, predicate_types=predicate_types, what=what)
    return key


def attach_bundle(
    client: RegistryClient,
    ref: ImageReference,
    subject: Descriptor,
    key: PrivateKey,
    *,
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    created: datetime.datetime | None = None,
) -> Descriptor:
    """Sign ``subject`` (a manifest or index in ``ref``'s repository) and attach the
    bundle as a referrer, as cosign v3 does.

    Args:
        client: the registry client.
        ref: the repository (tag and digest ignored).
        subject: the signed manifest's descriptor (media type, digest, size).
        key: the signing key.
        predicate_type: the statement's predicate type.
        created: the ``org.opencontainers.image.created`` annotation (default: now, UTC).

    Returns:
        The descriptor of the referrer manifest.
    """
    bundle = make_bundle(key, subject.digest, name=ref.name, predicate_type=predicate_type)
    title = subject.digest.replace(":", "-") + ".sigstore.json"
    bundle_desc = Descriptor.for_bytes(
        BUNDLE_MEDIA_TYPE, bundle, annotations={_TITLE_ANNOTATION: title}
    )
    push_bytes(client, ref, bundle_desc, bundle)
    empty = Descriptor(MediaType.OCI_EMPTY, digest_bytes(b"{}"), 2)
    push_bytes(client, ref, empty, b"{}")
    when = created or datetime.datetime.now(datetime.UTC)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": empty.to_json(),
        "layers": [bundle_desc.to_json()],
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "annotations": {
            _CONTENT_ANNOTATION: "dsse-envelope",
            _PREDICATE_ANNOTATION: predicate_type,
            _CREATED_ANNOTATION: when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    desc = attach_referrer(client, ref, data, MediaType.OCI_MANIFEST)
    _LOG.info(
        "signed %s@%s with %s (sigstore bundle %s)",
        ref.name, subject.digest, key.public_key, desc.digest,
    )  # fmt: skip
    return desc


def verify_bundles(
    client: RegistryClient,
    ref: ImageReference,
    digest: str,
    keys: Sequence[PublicKey],
    *,
    rejections: list[str],
    predicate_types: Collection[str] = (COSIGN_SIGN_PREDICATE,),
    max_payload_size: int = MAX_PAYLOAD_SIZE,
) -> tuple[PublicKey, str] | None:
    """Look for a sigstore bundle referrer of ``digest`` signed by one of ``keys``.

    Referrers are listed through the referrers API, or its ``sha256-<hex>`` tag fallback.
    Entries that cannot be read, whose manifest's ``subject`` is not ``digest`` or whose
    bundle does not verify are described in ``rejections`` and skipped.

    Returns:
        ``(key, referrer manifest digest)`` for the first bundle that verifies, or ``None``.

    Raises:
        RegistryError: the registry failed while listing referrers.
    """
    try:
        entries = referrers(client, ref, digest, artifact_type=BUNDLE_MEDIA_TYPE)
    except UnsupportedError as e:
        rejections.append(f"referrers of {ref.name}@{digest} unreadable ({e})")
        return None
    if not entries:
        rejections.append(f"no sigstore bundle referrers of {ref.name}@{digest}")
        return None
    if len(entries) > MAX_SIGNATURES:
        rejections.append(f"only the first {MAX_SIGNATURES} of {len(entries)} bundles checked")
    for entry in entries[:MAX_SIGNATURES]:
        what = f"bundle referrer {ref.name}@{entry.digest}"
        try:
            found = _check_referrer(client, ref, entry, digest, keys, what, predicate_types,
                                    max_payload_size)  # fmt: skip
        except Rejection as e:
            rejections.append(str(e))
            continue
        except (IntegrityError, NotFoundError, UnsupportedError) as e:
            # Anyone who can push can add junk to a fallback index; it must not hide
            # a good signature listed next to it.
            rejections.append(f"{what}: unreadable ({e})")
            continue
        return found, entry.digest
    return None


def _check_referrer(
    client: RegistryClient,
    repo: ImageReference,
    entry: Descriptor,
    digest: str,
    keys: Sequence[PublicKey],
    what: str,
    predicate_types: Collection[str],
    max_payload_size: int,
) -> PublicKey:
    if entry.size > MAX_SIGNATURE_MANIFEST_SIZE:
        raise Rejection(f"{what}: manifest of {entry.size} bytes is over the cap")
    manifest = client.get_manifest(
        repo.with_digest(entry.digest), expected=entry, max_size=MAX_SIGNATURE_MANIFEST_SIZE
    )
    if manifest.is_index:
        raise Rejection(f"{what}: an index, not a bundle manifest")
    subject = manifest.subject
    if subject is None or subject.digest != digest:
        named = subject.digest if subject is not None else "nothing"
        raise Rejection(f"{what}: its subject is {named}, not {digest}")
    layer = next((x for x in manifest.layers if x.media_type in _BUNDLE_MEDIA_TYPES), None)
    if layer is None:
        raise Rejection(f"{what}: no sigstore bundle layer")
    bundle = fetch_blob(client, repo, layer, max_size=max_payload_size, what=f"{what}: bundle")
    return check_bundle(bundle, digest, keys, predicate_types=predicate_types, what=what)
