"""cosign's original signature layout: simple-signing payloads under the ``.sig`` tag.

For an image with manifest digest ``sha256:<hex>``, cosign keeps an OCI image under the tag
``sha256-<hex>.sig`` in the same repository. Each of its layers is one signature:

* the layer blob is the *payload*, a JSON "simple signing" document naming the digest
  (``critical.image.docker-manifest-digest``) with ``critical.type`` = ``cosign container
  image signature``; media type ``application/vnd.dev.cosign.simplesigning.v1+json``;
* the layer's annotation ``dev.cosignproject.cosign/signature`` is the base64 signature over
  the payload's exact bytes (no canonicalisation).

A signature counts when it verifies with a trusted key *and* its payload names the digest
being checked: a valid signature copied from another image is refused.

Example::

    desc = sign_simple_signing(client, ref, digest, key)       # pushes ...:sha256-<hex>.sig
    key, sig = verify_simple_signing(client, ref, digest, [key.public_key], rejections=[])
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import NotFoundError, UnsupportedError
from .._oci import Descriptor, MediaType, digest_bytes, validate_digest
from ..registry._push import push_bytes, push_manifest
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
    from ..registry import ImageReference, Manifest, RegistryClient

__all__ = [
    "COSIGN_SIGNATURE_TYPE",
    "SIGNATURE_ANNOTATION",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "check_simple_signing",
    "sign_simple_signing",
    "signature_tag",
    "simple_signing_payload",
    "verify_simple_signing",
]

_LOG = logging.getLogger("moby_assemble.trust")

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
#: The epoch Go writes for a zero time.Time, as in cosign's signature image config.
_ZERO_TIME = "0001-01-01T00:00:00Z"


def signature_tag(digest: str) -> str:
    """The tag of ``digest``'s signature image: ``sha256-<hex>.sig``.

    Example::

        >>> signature_tag("sha256:" + "ab" * 32)[-12:]
        'abababab.sig'
    """
    return validate_digest(digest).replace(":", "-") + ".sig"


def simple_signing_payload(
    repository: str, digest: str, annotations: Mapping[str, str] | None = None
) -> bytes:
    """The payload cosign signs for ``repository@digest`` (compact JSON, cosign's key order).

    Args:
        repository: ``registry/repository`` (cosign's ``critical.identity.docker-reference``;
            informative only, verifiers ignore it).
        digest: the manifest or index digest being signed.
        annotations: claims for the ``optional`` section (``cosign sign -a k=v``).

    Example::

        >>> simple_signing_payload("r.io/app", "sha256:" + "0" * 64)[:45]
        b'{"critical":{"identity":{"docker-reference":"'
    """
    doc = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": validate_digest(digest)},
            "type": COSIGN_SIGNATURE_TYPE,
        },
        "optional": dict(sorted(annotations.items())) if annotations else None,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _field(obj: Mapping[str, Any], name: str, what: str) -> Any:
    """``obj[name]`` matched case-insensitively, as Go's JSON decoder does, refusing
    documents where two spellings of the name would make parsers disagree."""
    hits = [k for k in obj if k.lower() == name]
    if len(hits) > 1:
        raise Rejection(f"{what}: {name!r} appears {len(hits)} times with different case")
    return obj[hits[0]] if hits else None


def check_simple_signing(
    payload: bytes, signature: bytes, digest: str, keys: Sequence[PublicKey], *, what: str
) -> PublicKey:
    """The trusted key whose ``signature`` covers ``payload``, a payload for ``digest``.

    Raises:
        Rejection: no key verifies the signature, or the signed payload is not a cosign
            image signature for ``digest`` (wrong ``critical.type``, another digest).
    """
    key = next((k for k in keys if k.verify(signature, payload)), None)
    if key is None:
        raise Rejection(f"{what}: the signature does not verify with any trusted key")
    doc = strict_json(payload, what=f"{what}: payload")
    critical = _field(doc, "critical", what)
    if not isinstance(critical, dict):
        raise Rejection(f"{what}: payload has no 'critical' section")
    kind = _field(critical, "type", what)
    if kind != COSIGN_SIGNATURE_TYPE:
        raise Rejection(f"{what}: critical.type is {kind!r}, not {COSIGN_SIGNATURE_TYPE!r}")
    image = _field(critical, "image", what)
    signed = _field(image, "docker-manifest-digest", what) if isinstance(image, dict) else None
    if signed != digest:
        raise Rejection(f"{what}: signed by {key}, but for {signed!r}, not {digest}")
    return key


def _config(layers: Sequence[Mapping[str, Any]]) -> bytes:
    # What cosign's empty signature image grows into when layers are appended: the
    # payloads are uncompressed, so each diff_id is the layer digest.
    doc = {
        "architecture": "",
        "config": {},
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _existing_layers(manifest: Manifest) -> list[dict[str, Any]]:
    if manifest.is_index:
        return []
    layers = manifest.json.get("layers")
    return [dict(x) for x in layers if isinstance(x, dict)] if isinstance(layers, list) else []


def sign_simple_signing(
    client: RegistryClient,
    ref: ImageReference,
    digest: str,
    key: PrivateKey,
    *,
    annotations: Mapping[str, str] | None = None,
) -> Descriptor:
    """Sign ``ref``'s repository ``@digest`` and push the signature as cosign does.

    The payload is signed (ECDSA always over SHA-256, what ``cosign verify --key``
    assumes), uploaded as a blob, and appended as a layer to the ``sha256-<hex>.sig``
    image (created if missing; an identical signature is not added twice).

    Returns:
        The descriptor of the new signature manifest.

    Raises:
        RegistryError: the registry refused an upload.
    """
    repo_ref = ref.with_tag(signature_tag(digest))
    payload = simple_signing_payload(ref.name, digest, annotations)
    sig = base64.b64encode(key.sign(payload, hash_name="sha256")).decode()
    payload_desc = Descriptor(
        SIMPLE_SIGNING_MEDIA_TYPE,
        digest_bytes(payload),
        len(payload),
        annotations={SIGNATURE_ANNOTATION: sig},
    )
    try:
        layers = _existing_layers(
            client.get_manifest(repo_ref, max_size=MAX_SIGNATURE_MANIFEST_SIZE)
        )
    except NotFoundError:
        layers = []
    new_layer = payload_desc.to_json()
    if new_layer not in layers:
        layers.append(new_layer)
    push_bytes(client, repo_ref, payload_desc, payload)
    config = _config(layers)
    config_desc = Descriptor.for_bytes(MediaType.OCI_CONFIG, config)
    push_bytes(client, repo_ref, config_desc, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": layers,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    desc = push_manifest(client, repo_ref, data, MediaType.OCI_MANIFEST)
    _LOG.info(
        "signed %s@%s with %s (simple signing, %s)",
        ref.name, digest, key.public_key, desc.digest,
    )  # fmt: skip
    return desc


def verify_simple_signing(
    client: RegistryClient,
    ref: ImageReference,
    digest: str,
    keys: Sequence[PublicKey],
    *,
    rejections: list[str],
    max_payload_size: int = MAX_PAYLOAD_SIZE,
) -> tuple[PublicKey, str] | None:
    """Look for a simple-signing signature of ``digest`` by one of ``keys``.

    Args:
        client: the registry client.
        ref: the image (its registry and repository are used).
        digest: the manifest or index digest that must be signed.
        keys: the trusted keys (any one suffices).
        rejections: each signature that did not count is described here.
        max_payload_size: larger payloads are refused without being downloaded.

    Returns:
        ``(key, signature manifest digest)`` for the first signature that verifies, or
        ``None``.

    Raises:
        RegistryError, IntegrityError: the registry failed or sent corrupt content.
    """
    sig_ref = ref.with_tag(signature_tag(digest))
    try:
        manifest = client.get_manifest(sig_ref, max_size=MAX_SIGNATURE_MANIFEST_SIZE)
    except NotFoundError:
        rejections.append(f"no simple-signing signatures ({sig_ref} does not exist)")
        return None
    except UnsupportedError as e:
        rejections.append(f"{sig_ref}: unusable signature manifest ({e})")
        return None
    if manifest.is_index:
        rejections.append(f"{sig_ref}: an index, not a signature image")
        return None
    layers = manifest.layers
    if len(layers) > MAX_SIGNATURES:
        rejections.append(f"{sig_ref}: only the first {MAX_SIGNATURES} of {len(layers)} checked")
    for i, layer in enumerate(layers[:MAX_SIGNATURES]):
        what = f"{sig_ref} layer {i}"
        try:
            if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE:
                raise Rejection(f"{what}: media type {layer.media_type} is not simple signing")
            annotation = layer.annotation_dict.get(SIGNATURE_ANNOTATION)
            if annotation is None:
                raise Rejection(f"{what}: no {SIGNATURE_ANNOTATION} annotation")
            signature = decode_base64(annotation, what=f"{what}: signature")
            payload = fetch_blob(
                client, sig_ref, layer, max_size=max_payload_size, what=f"{what}: payload"
            )
            key = check_simple_signing(payload, signature, digest, keys, what=what)
        except Rejection as e:
            rejections.append(str(e))
            continue
        return key, manifest.digest
    return None
