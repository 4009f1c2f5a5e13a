"""Keys: PEM loading, the signature scheme of each key type, and what is refused."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

from moby_assemble._errors import ConfigError
from moby_assemble.trust import PrivateKey, PublicKey
from tests.trust.conftest import DATA, KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_a_signature_verifies_with_its_public_key_only_over_the_same_message(
    kind: str, keys: dict[str, PrivateKey], other_key: PrivateKey
) -> None:
    key = keys[kind]
    sig = key.sign(b"message")
    public = PublicKey.from_pem(key.public_key.to_pem())
    assert public.kind == kind
    assert public.verify(sig, b"message")
    assert not public.verify(sig, b"messagE")
    assert not other_key.public_key.verify(sig, b"message")


def test_key_id_and_hint_are_the_sha256_of_the_der_public_key(keys: dict[str, PrivateKey]) -> None:
    public = keys["ecdsa-p256"].public_key
    der = serialization.load_pem_public_key(public.to_pem()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.key_id == "sha256:" + hashlib.sha256(der).hexdigest()
    assert public.hint == base64.b64encode(hashlib.sha256(der).digest()).decode()
    assert PublicKey.from_pem(public.to_pem(), name="copy") == public


def test_p384_signatures_are_accepted_with_sha384_or_sha256_but_p256_needs_sha256(
    keys: dict[str, PrivateKey],
) -> None:
    p384 = keys["ecdsa-p384"]
    for name in ("sha384", "sha256"):
        assert p384.public_key.verify(p384.sign(b"m", hash_name=name), b"m"), name
    p256 = keys["ecdsa-p256"]
    assert not p256.public_key.verify(p256.sign(b"m", hash_name="sha384"), b"m")


def test_rsa_keys_verify_pkcs1_v15_and_not_pss(keys: dict[str, PrivateKey]) -> None:
    raw = rsa.generate_private_key(65537, 2048)
    public = PrivateKey(raw).public_key
    pkcs1 = raw.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    pss = raw.sign(
        b"m", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH), hashes.SHA256()
    )
    assert public.verify(pkcs1, b"m")
    assert not public.verify(pss, b"m")


def test_ecdsa_signatures_are_der_encoded_like_cosigns() -> None:
    raw = ec.generate_private_key(ec.SECP256R1())
    sig = PrivateKey(raw).sign(b"payload")
    raw.public_key().verify(sig, b"payload", ec.ECDSA(hashes.SHA256()))  # raises if not


def test_cosigns_static_test_public_key_loads_as_p256() -> None:
    key = PublicKey.load(DATA / "cosign-blob-attestation.pub")
    assert key.kind == "ecdsa-p256"
    assert key.name.endswith("cosign-blob-attestation.pub")


def test_private_keys_load_from_plain_and_encrypted_pkcs8_and_traditional_pem(
    tmp_path: Path,
) -> None:
    key = PrivateKey.generate("ecdsa-p256")
    plain = tmp_path / "plain.pem"
    plain.write_bytes(key.to_pem())
    assert PrivateKey.load(plain).public_key == key.public_key
    secret = key.to_pem(password=b"s3cret")
    assert b"ENCRYPTED PRIVATE KEY" in secret
    assert PrivateKey.from_pem(secret, password=b"s3cret").public_key == key.public_key
    raw = ec.generate_private_key(ec.SECP256R1())
    traditional = raw.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert b"BEGIN EC PRIVATE KEY" in traditional
    assert PrivateKey.from_pem(traditional).kind == "ecdsa-p256"


def test_a_wrong_or_missing_password_is_a_config_error_that_does_not_repeat_it() -> None:
    secret = PrivateKey.generate("ed25519").to_pem(password=b"right-password")
    with pytest.raises(ConfigError, match="password") as wrong:
        PrivateKey.from_pem(secret, password=b"wrong-password", name="k.pem")
    assert "wrong-password" not in str(wrong.value)
    assert wrong.value.file == "k.pem"
    with pytest.raises(ConfigError, match="password is needed"):
        PrivateKey.from_pem(secret)


@pytest.mark.parametrize(
    "name", ["cosign-encrypted-sigstore.key", "cosign-encrypted-cosign-ec.key"]
)
def test_cosigns_encrypted_test_keys_decrypt_with_their_password_and_sign(name: str) -> None:
    # cosign's keys_test.go encrypts these with the password "hello".
    key = PrivateKey.load(DATA / name, password=b"hello")
    assert key.kind == "ecdsa-p256"
    assert key.public_key.verify(key.sign(b"m"), b"m")


def test_a_cosign_key_with_a_wrong_or_no_password_is_refused_without_repeating_it() -> None:
    path = DATA / "cosign-encrypted-sigstore.key"
    with pytest.raises(ConfigError, match="wrong password") as err:
        PrivateKey.load(path, password=b"hellO")
    assert "hellO" not in str(err.value)
    assert err.value.file == str(path)
    with pytest.raises(ConfigError, match="wrong password"):
        PrivateKey.load(path)  # cosign's empty password


def cosign_pem(doc: dict[str, object]) -> bytes:
    body = base64.encodebytes(json.dumps(doc).encode())
    label = b"ENCRYPTED SIGSTORE PRIVATE KEY"
    return b"-----BEGIN %s-----\n%s-----END %s-----\n" % (label, body, label)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kdf": {"name": "argon2"}}, "only scrypt"),
        ({"kdf": {"name": "scrypt"}, "cipher": {"name": "aes"}}, "only nacl/secretbox"),
        (
            {"kdf": {"name": "scrypt", "params": {"N": 2**30, "r": 8, "p": 1}, "salt": "AA=="},
             "cipher": {"name": "nacl/secretbox", "nonce": "AA=="}, "ciphertext": "AA=="},
            "out of bounds",
        ),
        (
            {"kdf": {"name": "scrypt", "params": {"N": 16, "r": 1, "p": 1}, "salt": "AA=="},
             "cipher": {"name": "nacl/secretbox", "nonce": "AA=="}, "ciphertext": "AA=="},
            "malformed secretbox",
        ),
    ],
)  # fmt: skip
def test_malformed_cosign_key_files_are_config_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PrivateKey.from_pem(cosign_pem(doc), password=b"x", name="cosign.key")


def test_small_rsa_keys_and_dsa_keys_are_refused() -> None:
    small = rsa.generate_private_key(65537, 1024).public_key()  # noqa: S505 (refused below)
    pem = small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigError, match="1024 bits is too small"):
        PublicKey.from_pem(pem, name="small.pub")
    dsa_pem = (
        dsa.generate_private_key(2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigError, match="unsupported public key type"):
        PublicKey.from_pem(dsa_pem)


def test_files_that_are_not_public_keys_are_config_errors_naming_the_file(tmp_path: Path) -> None:
    private = tmp_path / "cosign.pem"
    private.write_bytes(PrivateKey.generate().to_pem())
    with pytest.raises(ConfigError, match="not a PEM public key") as err:
        PublicKey.load(private)
    assert err.value.file == str(private)
    with pytest.raises(ConfigError, match="cannot read key file"):
        PublicKey.load(tmp_path / "missing.pub")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"hello")
    with pytest.raises(ConfigError, match="not a PEM private key"):
        PrivateKey.load(garbage)


def test_a_private_keys_repr_shows_only_the_public_half() -> None:
    key = PrivateKey.generate("ecdsa-p256", name="release.pem")
    body = b"".join(key.to_pem().splitlines()[1:-1]).decode()
    text = repr(key)
    assert key.public_key.key_id in text
    assert "release.pem" in text
    assert body[:16] not in text
    assert "PRIVATE" not in text
