"""Sign an image in a registry, or check that it is signed, in either cosign format.

:func:`verify_image` looks for a sigstore bundle referrer first (cosign v3's default),
then for the ``.sig`` tag (cosign before v3), and reports which one verified with which
key. :func:`sign_image` writes both by default, so every cosign version finds a signature.

The digest checked is the one the reference resolves to: for a multi-platform image that is
the *index* digest, as ``cosign sign``/``cosign verify`` use it (``cosign sign
--recursive`` additionally signs each platform's manifest).

Example::

    with RegistryClient() as client:
        ref = ImageReference.parse("127.0.0.1:5000/moby-assemble/init:1.0")
        sign_image(client, ref, PrivateKey.load("signing.pem"))
        result = verify_image(client, ref, [PublicKey.load("signing.pub")])
        print(result.format, result.key)
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence

from .._errors import SignatureError
from .._oci import Descriptor
from ..registry import ImageReference, RegistryClient
from ._bundle import COSIGN_SIGN_PREDICATE, attach_bundle, verify_bundles
from ._keys import PrivateKey, PublicKey
from ._result import SignatureFormat, VerificationResult
from ._simplesigning import sign_simple_signing, verify_simple_signing
from ._untrusted import MAX_PAYLOAD_SIZE

__all__ = ["ALL_FORMATS", "describe_image", "resolve_digest", "sign_image", "verify_image"]

_LOG = logging.getLogger("moby_assemble.trust")

#: Both formats, in the order they are looked for.
ALL_FORMATS = (SignatureFormat.SIGSTORE_BUNDLE, SignatureFormat.SIMPLE_SIGNING)
#: At most this many reasons are spelled out in one error message.
_MAX_REASONS = 12


def describe_image(ref: ImageReference, digest: str) -> str:
    """``registry/repository[:tag]@digest``: how errors name an image."""
    tag = f":{ref.tag}" if ref.tag else ""
    return f"{ref.name}{tag}@{digest}"


def resolve_digest(client: RegistryClient, ref: ImageReference, digest: str | None) -> str:
    """The digest to check: ``digest``, else the pinned one, else what the tag points at.

    Raises:
        SignatureError: ``digest`` and the reference's pinned digest differ.
        RegistryError: the tag cannot be resolved.
    """
    if digest is not None and ref.digest is not None and digest != ref.digest:
        raise SignatureError(
            f"{ref}: asked to check {digest}, but the reference is pinned to {ref.digest}",
            reference=str(ref),
        )
    if digest is not None:
        return digest
    if ref.digest is not None:
        return ref.digest
    return client.head_manifest(ref).digest


def _keys_text(keys: Sequence[PublicKey]) -> str:
    return ", ".join(str(k) for k in keys) or "no keys"


def verify_image(
    client: RegistryClient,
    ref: ImageReference | str,
    keys: Iterable[PublicKey],
    *,
    digest: str | None = None,
    formats: Collection[SignatureFormat] = ALL_FORMATS,
    predicate_types: Collection[str] = (COSIGN_SIGN_PREDICATE,),
    max_payload_size: int = MAX_PAYLOAD_SIZE,
    rule: str | None = None,
) -> VerificationResult:
    """Check that ``ref`` (at ``digest``) carries a cosign signature by one of ``keys``.

    Args:
        client: the registry client.
        ref: the image; its tag is resolved unless ``digest`` is given or it is pinned.
        keys: the trusted keys; any one of them suffices.
        digest: the manifest or index digest to check (the assembler passes the digest
            it resolved, so the signature covers exactly what is built).
        formats: which layouts to look for (bundle first, then simple signing).
        predicate_types: statement predicates accepted in bundles.
        max_payload_size: larger payloads and bundles are refused unread.
        rule: the policy rule that asked for this check, for the result.

    Returns:
        What verified: format, key and signature manifest digest.

    Raises:
        SignatureError: no signature verifies; the message names the image, the keys
            and why each signature found was refused.
        RegistryError, IntegrityError: the registry failed or sent corrupt content.
    """
    image = ImageReference.parse(ref) if isinstance(ref, str) else ref
    trusted = tuple(keys)
    checked = resolve_digest(client, image, digest)
    where = describe_image(image, checked)
    if not trusted:
        raise SignatureError(f"{where}: no trusted keys to verify with", reference=str(image))
    rejections: list[str] = []
    for fmt in ALL_FORMATS:
        if fmt not in formats:
            continue
        if fmt is SignatureFormat.SIGSTORE_BUNDLE:
            found = verify_bundles(
                client, image, checked, trusted, rejections=rejections,
                predicate_types=predicate_types, max_payload_size=max_payload_size,
            )  # fmt: skip
        else:
            found = verify_simple_signing(
                client, image, checked, trusted, rejections=rejections,
                max_payload_size=max_payload_size,
            )  # fmt: skip
        if found is not None:
            key, signature = found
            _LOG.info("%s: %s signature by %s verified", where, fmt, key)
            return VerificationResult(str(image), checked, fmt, key, signature, rule)
    shown = rejections[:_MAX_REASONS]
    if len(rejections) > len(shown):
        shown.append(f"and {len(rejections) - len(shown)} more")
    raise SignatureError(
        f"{where} is not signed by a trusted key ({_keys_text(trusted)}): " + "; ".join(shown),
        reference=str(image),
    )


def sign_image(
    client: RegistryClient,
    ref: ImageReference | str,
    key: PrivateKey,
    *,
    digest: str | None = None,
    formats: Collection[SignatureFormat] = ALL_FORMATS,
    annotations: Mapping[str, str] | None = None,
) -> tuple[Descriptor, ...]:
    """Sign an image that is in a registry, in cosign's formats, and push the signatures.

    Args:
        client: the registry client.
        ref: the image; its tag is resolved unless ``digest`` is given or it is pinned.
        key: the signing key.
        digest: the manifest or index digest to sign.
        formats: which layouts to write (default both, so cosign v2 and v3 find one).
        annotations: claims for the simple-signing payload's ``optional`` section.

    Returns:
        The descriptors of the signature manifests pushed (bundle referrer first).

    Raises:
        RegistryError: the image cannot be resolved, or an upload was refused.
    """
    image = ImageReference.parse(ref) if isinstance(ref, str) else ref
    checked = resolve_digest(client, image, digest)
    pushed: list[Descriptor] = []
    if SignatureFormat.SIGSTORE_BUNDLE in formats:
        subject = client.head_manifest(image.with_digest(checked))
        pushed.append(attach_bundle(client, image, subject, key))
    if SignatureFormat.SIMPLE_SIGNING in formats:
        pushed.append(sign_simple_signing(client, image, checked, key, annotations=annotations))
    return tuple(pushed)
