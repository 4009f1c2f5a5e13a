"""Throw-away certificates for the test servers: a CA and the certificates it issues.

The registry's TLS (:func:`._registry.make_tls_files`) and the token server's signing chain
(:mod:`._token_server`) both need an EC P-256 CA valid for two days; this module makes it
once. ``cryptography`` is imported only when a certificate is made.

Example::

    ca = TestCA.new("moby_assemble test CA")
    key, cert = ca.issue("127.0.0.1")
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["TestCA"]

# Valid from a little before now (clock skew between client and server) for two days.
_SKEW = datetime.timedelta(minutes=5)
_LIFETIME = datetime.timedelta(days=2)


def _builder(subject: str, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _LIFETIME)
    )


@attrs.frozen
class TestCA:
    """A self-signed certificate authority and its key (pytest: not a test class)."""

    __test__ = False

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def new(cls, common_name: str, *, path_length: int | None = None) -> TestCA:
        """A new CA called ``common_name`` that may sign certificates (and CRLs)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            _builder(common_name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(
        self,
        common_name: str,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A new key and its certificate signed by this CA, with ``(extension, critical)``s."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(common_name, self.cert.subject, key.public_key())
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return key, builder.sign(self.key, hashes.SHA256())
