"""Signing keys: PEM public keys to verify with, PKCS#8 private keys to sign with.

The key types and signature schemes are the ones sigstore's ``LoadVerifier`` /
``LoadDefaultVerifier`` use, so signatures made here are what ``cosign verify --key``
expects and cosign's signatures verify here:

========================  =======================================================
key                       signature
========================  =======================================================
ECDSA P-256               ASN.1 (DER) ECDSA over SHA-256 of the message
ECDSA P-384 / P-521       ASN.1 ECDSA over SHA-384 / SHA-512 (sigstore's default for
                          the curve); SHA-256 is accepted too, because cosign's
                          ``--signature-digest-algorithm`` defaults to it
RSA (2048 bits or more)   PKCS#1 v1.5 over SHA-256 (not PSS: ``LoadVerifier`` does not)
Ed25519                   pure Ed25519 over the message
========================  =======================================================

Private keys are read from cosign's own ``cosign.key`` files (``ENCRYPTED SIGSTORE PRIVATE
KEY``: scrypt + NaCl secretbox, the password is ``COSIGN_PASSWORD``), from PKCS#8 (``BEGIN
PRIVATE KEY``, or ``BEGIN ENCRYPTED PRIVATE KEY`` with a password) and from the traditional
``EC``/``RSA PRIVATE KEY`` forms.

Example::

    >>> key = PrivateKey.generate("ecdsa-p256")
    >>> sig = key.sign(b"hello")
    >>> PublicKey.from_pem(key.public_key.to_pem()).verify(sig, b"hello")
    True
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Literal

import attrs
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from .._errors import ConfigError
from ._cosign_key import COSIGN_KEY_LABELS, CosignKeyError, decrypt_cosign_key

__all__ = ["KeyKind", "PrivateKey", "PublicKey"]

#: The key types we sign and verify with.
KeyKind = Literal["ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa", "ed25519"]

_PublicKeyTypes = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
_PrivateKeyTypes = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

#: curve name -> (kind, the hash sigstore pairs with it)
_CURVES: dict[str, tuple[KeyKind, str]] = {
    "secp256r1": ("ecdsa-p256", "sha256"),
    "secp384r1": ("ecdsa-p384", "sha384"),
    "secp521r1": ("ecdsa-p521", "sha512"),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
#: sigstore's cryptoutils.ValidatePubKey refuses smaller RSA keys.
_MIN_RSA_BITS = 2048
#: A PEM key file is a few KiB; refuse to parse anything much larger.
_MAX_PEM = 64 * 1024


def _kind_of(key: _PublicKeyTypes, where: str) -> KeyKind:
    if isinstance(key, ec.EllipticCurvePublicKey):
        found = _CURVES.get(key.curve.name)
        if found is None:
            raise ConfigError(f"unsupported elliptic curve {key.curve.name}", file=where)
        return found[0]
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ConfigError(
                f"RSA key of {key.key_size} bits is too small (at least {_MIN_RSA_BITS})",
                file=where,
            )
        return "rsa"
    return "ed25519"


def _read(path: str | Path) -> bytes:
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_PEM:
            raise ConfigError(f"not a PEM key: larger than {_MAX_PEM} bytes", file=str(p))
        return p.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read key file: {e.strerror or e}", file=str(p)) from None


@attrs.frozen(eq=False, repr=False)
class PublicKey:
    """A public key that signatures are checked against.

    Two keys are equal when their DER ``SubjectPublicKeyInfo`` is the same (:attr:`key_id`).

    Attributes:
        kind: ``ecdsa-p256``, ``ecdsa-p384``, ``ecdsa-p521``, ``rsa`` or ``ed25519``.
        key_id: ``sha256:<hex>`` of the DER public key (cosign's and sigstore's key hint
            is the same hash, base64-encoded).
        name: where the key came from (a file name) or a label, for messages.

    Example::

        key = PublicKey.load("cosign.pub")
        print(key)          # ecdsa-p256 key sha256:3f1a… (cosign.pub)
    """

    kind: KeyKind
    key_id: str
    name: str
    _key: _PublicKeyTypes

    @classmethod
    def from_pem(cls, data: bytes | str, *, name: str = "") -> PublicKey:
        """Read a PEM ``PUBLIC KEY`` (PKIX), as ``cosign generate-key-pair`` writes it.

        Raises:
            ConfigError: not a PEM public key, or a key type or size we do not accept.
        """
        raw = data.encode() if isinstance(data, str) else data
        where = name or "public key"
        if len(raw) > _MAX_PEM:
            raise ConfigError(f"not a PEM public key: larger than {_MAX_PEM} bytes", file=where)
        try:
            key = serialization.load_pem_public_key(raw)
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError("not a PEM public key (PKIX 'PUBLIC KEY')", file=where) from None
        if not isinstance(key, _PublicKeyTypes):
            raise ConfigError(f"unsupported public key type {type(key).__name__}", file=where)
        return cls._wrap(key, name)

    @classmethod
    def load(cls, path: str | Path, *, name: str | None = None) -> PublicKey:
        """Read a PEM public key file (see :meth:`from_pem`)."""
        return cls.from_pem(_read(path), name=str(path) if name is None else name)

    @classmethod
    def _wrap(cls, key: _PublicKeyTypes, name: str) -> PublicKey:
        kind = _kind_of(key, name or "public key")
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(kind, "sha256:" + hashlib.sha256(der).hexdigest(), name, key)

    @property
    def hint(self) -> str:
        """The key hint sigstore bundles carry: base64 of the SHA-256 of the DER key."""
        return base64.b64encode(bytes.fromhex(self.key_id.split(":", 1)[1])).decode()

    def to_pem(self) -> bytes:
        """The key as a PEM ``PUBLIC KEY``."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def default_hash(self) -> str:
        """The hash sigstore signs with by default for this key (``sha256`` …)."""
        if isinstance(self._key, ec.EllipticCurvePublicKey):
            return _CURVES[self._key.curve.name][1]
        return "sha256"

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's signature over ``message``.

        ECDSA signatures are accepted with the curve's hash or with SHA-256 (see the
        module docstring); everything else has exactly one scheme.
        """
        key = self._key
        try:
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, message)
                return True
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
                return True
        except InvalidSignature:
            return False
        for name in dict.fromkeys((self.default_hash(), "sha256")):
            try:
                key.verify(signature, message, ec.ECDSA(_HASHES[name]()))
            except InvalidSignature:
                continue
            return True
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.key_id == self.key_id

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __repr__(self) -> str:
        return f"PublicKey({self.kind}, {self.key_id}, name={self.name!r})"

    def __str__(self) -> str:
        short = f"{self.kind} key {self.key_id[:19]}…"
        return f"{short} ({self.name})" if self.name else short


class PrivateKey:
    """A private key to sign with. Its ``repr`` names only the public half.

    Args:
        key: a ``cryptography`` ECDSA (P-256/384/521), RSA (≥ 2048 bits) or Ed25519
            private key.
        name: a label for messages (the file name).

    Example::

        key = PrivateKey.load("signing.pem")                 # unencrypted PKCS#8
        key = PrivateKey.load("signing.pem", password=b"…")  # encrypted PKCS#8
    """

    __slots__ = ("_key", "name", "public_key")

    def __init__(self, key: _PrivateKeyTypes, *, name: str = "") -> None:
        if not isinstance(key, _PrivateKeyTypes):
            raise ConfigError(
                f"unsupported private key type {type(key).__name__}", file=name or None
            )
        self._key = key
        self.name = name
        self.public_key = PublicKey._wrap(key.public_key(), name)

    @classmethod
    def generate(cls, kind: KeyKind = "ecdsa-p256", *, name: str = "") -> PrivateKey:
        """A new random key (``rsa`` is 3072 bits)."""
        key: _PrivateKeyTypes
        if kind == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        elif kind == "ed25519":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            curves: dict[str, type[ec.EllipticCurve]] = {
                "ecdsa-p256": ec.SECP256R1,
                "ecdsa-p384": ec.SECP384R1,
                "ecdsa-p521": ec.SECP521R1,
            }
            if kind not in curves:
                raise ValueError(f"unknown key kind {kind!r}")
            key = ec.generate_private_key(curves[kind]())
        return cls(key, name=name)

    @classmethod
    def from_pem(
        cls, data: bytes | str, *, password: bytes | None = None, name: str = ""
    ) -> PrivateKey:
        """Read a PEM private key (cosign's ``cosign.key``, PKCS#8, or traditional EC/RSA),
        decrypting it with ``password`` if it is encrypted.

        cosign keys are always encrypted; ``password=None`` means the empty password (what
        ``cosign generate-key-pair`` uses when ``COSIGN_PASSWORD`` is empty).

        Raises:
            ConfigError: not a private key we can read, wrong or missing password, or an
                unsupported type. The message never contains the password or key material.
        """
        raw = data.encode() if isinstance(data, str) else data
        where = name or "private key"
        if len(raw) > _MAX_PEM:
            raise ConfigError(f"not a PEM private key: larger than {_MAX_PEM} bytes", file=where)
        if any(f"BEGIN {label}-----".encode() in raw for label in COSIGN_KEY_LABELS):
            try:
                der = decrypt_cosign_key(raw, password or b"")
                key = serialization.load_der_private_key(der, password=None)
            except CosignKeyError as e:
                raise ConfigError(f"cosign private key: {e}", file=where) from None
            except (ValueError, UnsupportedAlgorithm):
                raise ConfigError("cosign private key: not a key inside", file=where) from None
            if not isinstance(key, _PrivateKeyTypes):
                raise ConfigError(f"unsupported private key type {type(key).__name__}", file=where)
            return cls(key, name=name)
        try:
            key = serialization.load_pem_private_key(raw, password=password)
        except TypeError:
            # cryptography: password given for a plain key, or missing for an encrypted one.
            state = "is encrypted: a password is needed" if password is None else "is not encrypted"
            raise ConfigError(f"private key {state}", file=where) from None
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError(
                "not a PEM private key we can read (or the password is wrong)", file=where
            ) from None
        if not isinstance(key, _PrivateKeyTypes):
            raise ConfigError(f"unsupported private key type {type(key).__name__}", file=where)
        return cls(key, name=name)

    @classmethod
    def load(
        cls, path: str | Path, *, password: bytes | None = None, name: str | None = None
    ) -> PrivateKey:
        """Read a PEM private key file (see :meth:`from_pem`)."""
        return cls.from_pem(
            _read(path), password=password, name=str(path) if name is None else name
        )

    @property
    def kind(self) -> KeyKind:
        return self.public_key.kind

    def to_pem(self, *, password: bytes | None = None) -> bytes:
        """The key as PKCS#8 PEM, encrypted with ``password`` if one is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def sign(self, message: bytes, *, hash_name: str | None = None) -> bytes:
        """Sign ``message`` with the key's scheme (module docstring).

        Args:
            message: the exact bytes (the key hashes them itself).
            hash_name: for ECDSA, ``sha256``/``sha384``/``sha512`` instead of the curve's
                default hash; ignored for RSA (always SHA-256) and Ed25519.
        """
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(message)
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        name = hash_name or self.public_key.default_hash()
        if name not in _HASHES:
            raise ValueError(f"unsupported hash {name!r} (sha256, sha384, sha512)")
        return key.sign(message, ec.ECDSA(_HASHES[name]()))

    def __repr__(self) -> str:
        return f"PrivateKey({self.kind}, public {self.public_key.key_id}, name={self.name!r})"
