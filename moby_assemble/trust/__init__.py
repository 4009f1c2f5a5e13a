"""Image signatures: cosign-compatible, key-based signing and verification, and a policy.

Both layouts cosign writes are read and written: the sigstore bundle attached as an OCI
referrer (cosign v3's default) and the simple-signing payload under the ``sha256-<hex>.sig``
tag (older cosign). Keys are ECDSA (P-256, P-384, P-521), RSA (PKCS#1 v1.5, SHA-256) and
Ed25519; private keys are read from cosign's ``cosign.key`` files and from PKCS#8.
Verification is offline and key-based: transparency-log entries and certificates are not
checked.

Example::

    from moby_assemble.registry import ImageReference, RegistryClient
    from moby_assemble.trust import PrivateKey, PublicKey, TrustPolicy, sign_image

    with RegistryClient() as client:
        ref = ImageReference.parse("127.0.0.1:5000/moby-assemble/init:1.0")
        sign_image(client, ref, PrivateKey.load("release.pem"))
        trusted = [PublicKey.load("release.pub")]
        policy = TrustPolicy().with_rule("127.0.0.1:*/moby-assemble/*", trusted)
        result = policy.verify(client, ref)       # SignatureError if unsigned or badly signed
        print(result.format, result.key)

.. versionadded:: 0.1
"""

from ._bundle import (
    BUNDLE_MEDIA_TYPE,
    COSIGN_SIGN_PREDICATE,
    IN_TOTO_PAYLOAD_TYPE,
    attach_bundle,
    make_bundle,
    pae,
)
from ._image import ALL_FORMATS, sign_image, verify_image
from ._keys import KeyKind, PrivateKey, PublicKey
from ._policy import TrustPolicy, TrustRule
from ._result import SignatureFormat, VerificationResult
from ._simplesigning import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    sign_simple_signing,
    signature_tag,
    simple_signing_payload,
)
from ._untrusted import MAX_PAYLOAD_SIZE

__all__ = [
    "ALL_FORMATS",
    "BUNDLE_MEDIA_TYPE",
    "COSIGN_SIGN_PREDICATE",
    "IN_TOTO_PAYLOAD_TYPE",
    "MAX_PAYLOAD_SIZE",
    "SIGNATURE_ANNOTATION",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "KeyKind",
    "PrivateKey",
    "PublicKey",
    "SignatureFormat",
    "TrustPolicy",
    "TrustRule",
    "VerificationResult",
    "attach_bundle",
    "make_bundle",
    "pae",
    "sign_image",
    "sign_simple_signing",
    "signature_tag",
    "simple_signing_payload",
    "verify_image",
]
