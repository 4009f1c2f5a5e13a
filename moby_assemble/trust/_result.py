"""What a verification found: the signature format, the key that matched, and why others
did not.

Example::

    result = verify_image(client, ref, [key])
    print(result.format, result.key, result.signature)
"""

from __future__ import annotations

import enum

import attrs

from ._keys import PublicKey

__all__ = ["SignatureFormat", "VerificationResult"]


class SignatureFormat(enum.StrEnum):
    """The two cosign signature layouts in a registry."""

    #: cosign v3's default: a sigstore bundle (DSSE + in-toto statement) attached to the
    #: image as an OCI 1.1 referrer (found through the referrers API or its tag fallback).
    SIGSTORE_BUNDLE = "sigstore-bundle"
    #: cosign's original layout: simple-signing payloads as layers of the manifest tagged
    #: ``sha256-<hex>.sig``, the signature in the ``dev.cosignproject.cosign/signature``
    #: annotation.
    SIMPLE_SIGNING = "simple-signing"


@attrs.frozen
class VerificationResult:
    """The outcome of checking one image against a trust policy.

    Attributes:
        reference: the image as given (``registry/repository[:tag]``).
        digest: the manifest (or index) digest whose signature was checked.
        format: the signature format that verified, or ``None`` when no signature was
            required (no policy rule matched and the default is ``"allow"``).
        key: the trusted key that made the signature, or ``None`` as for ``format``.
        signature: the digest of the signature manifest (the ``.sig`` image or the bundle
            referrer), or ``None``.
        rule: the policy rule's pattern that applied, or ``None``.

    Example::

        >>> VerificationResult("r.io/app:1", "sha256:" + "0" * 64).verified
        False
    """

    reference: str
    digest: str
    format: SignatureFormat | None = None
    key: PublicKey | None = None
    signature: str | None = None
    rule: str | None = None

    @property
    def verified(self) -> bool:
        """True when a trusted signature was found (not merely allowed unsigned)."""
        return self.format is not None

    def __str__(self) -> str:
        if self.format is None:
            return f"{self.reference}@{self.digest}: no signature required"
        return f"{self.reference}@{self.digest}: {self.format} signature by {self.key}"
