"""cosign's encrypted private key files (``cosign generate-key-pair`` → ``cosign.key``).

The PEM block (``ENCRYPTED SIGSTORE PRIVATE KEY``, or ``ENCRYPTED COSIGN PRIVATE KEY`` from
older cosign) holds JSON::

    {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": "<b64>"},
     "cipher": {"name": "nacl/secretbox", "nonce": "<b64, 24 bytes>"},
     "ciphertext": "<b64>"}

The key is ``scrypt(password, salt, N, r, p)``; the ciphertext is a NaCl ``secretbox``
(XSalsa20 + Poly1305: a 16-byte tag, then the encrypted DER private key). The Poly1305 tag
is checked (by OpenSSL, through ``cryptography``) before anything decrypted is used, so a
wrong password or a damaged file is an error, never a wrong key.

``cryptography`` has no (X)Salsa20, so the stream cipher is written out here (about forty
lines, after Bernstein's "Salsa20 specification" and "Extending the Salsa20 nonce"); it
only ever decrypts a local key file of a few hundred bytes, and the tests decrypt cosign's
own encrypted test keys with it.

Example::

    der = decrypt_cosign_key(Path("cosign.key").read_bytes(), b"password")
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.poly1305 import Poly1305

__all__ = ["COSIGN_KEY_LABELS", "CosignKeyError", "decrypt_cosign_key", "secretbox_open"]

#: PEM labels of cosign's encrypted key format (current, then pre-1.x).
COSIGN_KEY_LABELS = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
#: cosign uses N = 32768 (older keys 65536); refuse parameters that would make scrypt
#: allocate absurd amounts of memory (128 * r * N bytes).
_MAX_SCRYPT_MEMORY = 512 * 1024 * 1024
_PEM_RE = re.compile(
    rb"-----BEGIN (?P<label>[A-Z ]+)-----\s*(?P<body>[A-Za-z0-9+/=\s]+?)\s*-----END (?P=label)-----"
)
_MASK = 0xFFFFFFFF
_SIGMA = struct.unpack("<4I", b"expand 32-byte k")


class CosignKeyError(ValueError):
    """The file is not a readable cosign key, or the password is wrong (message says which;
    the caller turns it into a ConfigError naming the file)."""


def _rotl(v: int, c: int) -> int:
    return ((v << c) & _MASK) | (v >> (32 - c))


def _salsa_rounds(state: list[int]) -> list[int]:
    x = list(state)
    for _ in range(10):  # 10 double rounds = Salsa20/20
        for a, b, c, d in (
            (0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11),  # columns
            (0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14),  # rows
        ):  # fmt: skip
            x[b] ^= _rotl((x[a] + x[d]) & _MASK, 7)
            x[c] ^= _rotl((x[b] + x[a]) & _MASK, 9)
            x[d] ^= _rotl((x[c] + x[b]) & _MASK, 13)
            x[a] ^= _rotl((x[d] + x[c]) & _MASK, 18)
    return x


def _state(key: bytes, block16: bytes) -> list[int]:
    k = struct.unpack("<8I", key)
    n = struct.unpack("<4I", block16)
    return [
        _SIGMA[0], k[0], k[1], k[2], k[3], _SIGMA[1], n[0], n[1],
        n[2], n[3], _SIGMA[2], k[4], k[5], k[6], k[7], _SIGMA[3],
    ]  # fmt: skip


def _hsalsa20(key: bytes, nonce16: bytes) -> bytes:
    x = _salsa_rounds(_state(key, nonce16))
    return struct.pack("<8I", *(x[i] for i in (0, 5, 10, 15, 6, 7, 8, 9)))


def _salsa20_stream(key: bytes, nonce8: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        state = _state(key, nonce8 + struct.pack("<Q", counter))
        mixed = _salsa_rounds(state)
        out += struct.pack("<16I", *((m + s) & _MASK for m, s in zip(mixed, state, strict=True)))
        counter += 1
    return bytes(out[:length])


def secretbox_open(box: bytes, nonce: bytes, key: bytes) -> bytes:
    """NaCl ``crypto_secretbox_open``: check the Poly1305 tag, then decrypt.

    Raises:
        CosignKeyError: the tag does not match (wrong key, damaged data).
    """
    if len(key) != 32 or len(nonce) != 24 or len(box) < 16:
        raise CosignKeyError("malformed secretbox")
    subkey = _hsalsa20(key, nonce[:16])
    tag, ciphertext = box[:16], box[16:]
    stream = _salsa20_stream(subkey, nonce[16:], 32 + len(ciphertext))
    try:
        Poly1305.verify_tag(stream[:32], ciphertext, tag)
    except InvalidSignature:
        raise CosignKeyError("wrong password, or the key file is damaged") from None
    return bytes(c ^ s for c, s in zip(ciphertext, stream[32:], strict=True))


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise CosignKeyError(f"{what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CosignKeyError(f"{what} is not base64") from None


def _pem_body(pem: bytes) -> bytes:
    for match in _PEM_RE.finditer(pem):
        if match.group("label").decode() in COSIGN_KEY_LABELS:
            try:
                return base64.b64decode(b"".join(match.group("body").split()), validate=True)
            except (binascii.Error, ValueError):
                break
    raise CosignKeyError("no readable cosign private key PEM block")


def decrypt_cosign_key(pem: bytes, password: bytes) -> bytes:
    """The DER private key inside a cosign ``cosign.key`` file.

    Raises:
        CosignKeyError: not cosign's format, unsupported KDF or cipher, scrypt parameters
            out of bounds, or a wrong password.
    """
    try:
        doc = json.loads(_pem_body(pem))
    except (ValueError, UnicodeDecodeError):
        raise CosignKeyError("the cosign key's PEM body is not JSON") from None
    kdf = doc.get("kdf") if isinstance(doc, dict) else None
    cipher = doc.get("cipher") if isinstance(doc, dict) else None
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise CosignKeyError("unsupported key derivation (only scrypt)")
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise CosignKeyError("unsupported cipher (only nacl/secretbox)")
    params = kdf.get("params")
    try:
        n, r, p = (int(params[k]) for k in ("N", "r", "p"))  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise CosignKeyError("malformed scrypt parameters") from None
    memory = 128 * r * n * max(p, 1)
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or memory > _MAX_SCRYPT_MEMORY:
        raise CosignKeyError(f"scrypt parameters out of bounds (N={n}, r={r}, p={p})")
    salt = _b64(kdf.get("salt"), "the scrypt salt")
    nonce = _b64(cipher.get("nonce"), "the secretbox nonce")
    box = _b64(doc.get("ciphertext"), "the ciphertext")
    key = hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=memory + 16 * 1024 * 1024
    )
    return secretbox_open(box, nonce, key)
