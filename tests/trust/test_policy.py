"""TrustPolicy: rule matching, any-of keys, the default for unmatched images, errors that
name the image, and policies from plain data."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble._errors import ConfigError, SignatureError
from moby_assemble.registry import RegistryClient
from moby_assemble.trust import (
    PrivateKey,
    SignatureFormat,
    TrustPolicy,
    TrustRule,
    sign_image,
)
from tests.trust.conftest import PushImage


@pytest.fixture(scope="module")
def pub(keys: dict[str, PrivateKey]) -> PrivateKey:
    return keys["ecdsa-p256"]


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("localhost:*/moby-assemble/*", "localhost:5000/moby-assemble/init:1", True),
        ("localhost:*/moby-assemble/*", "localhost:5000/moby-assemble/x/init", False),
        ("localhost:*/moby-assemble/**", "localhost:5000/moby-assemble/x/init", True),
        ("localhost:*/moby-assemble/*", "localhost:5000/moby-assemblex/init", False),
        ("127.0.0.1:500?/app", "127.0.0.1:5001/app@sha256:" + "0" * 64, True),
        ("127.0.0.1:500?/app", "127.0.0.1:50011/app", False),
        ("docker.io/library/*", "alpine", True),
        ("docker.io/library/*", "docker.io/tools/alpine", False),
        ("r.io/a.b", "r.io/axb", False),  # '.' is literal
        ("**", "anything.example/x/y/z:latest", True),
    ],
)
def test_rule_globs_match_the_normalised_registry_and_repository(
    pattern: str, name: str, matches: bool, pub: PrivateKey
) -> None:
    assert TrustRule(pattern, [pub.public_key]).matches(name) is matches


def test_rules_need_a_pattern_keys_and_known_formats(pub: PrivateKey) -> None:
    with pytest.raises(ConfigError, match="at least one trusted key"):
        TrustRule("r.io/*", [])
    with pytest.raises(ConfigError, match="invalid image pattern"):
        TrustRule("", [pub.public_key])
    with pytest.raises(ConfigError, match="unknown signature format"):
        TrustRule("r.io/*", [pub.public_key], ("notation",))
    with pytest.raises(ConfigError, match="'deny' or 'allow'"):
        TrustPolicy(default="maybe")  # type: ignore[arg-type]


def test_the_first_matching_rule_decides(keys: dict[str, PrivateKey]) -> None:
    a, b = keys["ecdsa-p256"].public_key, keys["ed25519"].public_key
    policy = TrustPolicy().with_rule("r.io/team/special", [a]).with_rule("r.io/team/*", [b])
    assert policy.rule_for("r.io/team/special:1") == TrustRule("r.io/team/special", [a])
    rule = policy.rule_for("r.io/team/other")
    assert rule is not None
    assert rule.keys == (b,)
    assert policy.rule_for("r.io/elsewhere/x") is None


def test_any_of_the_rules_keys_verifies_and_the_result_names_the_matching_one(
    keys: dict[str, PrivateKey],
    other_key: PrivateKey,
    client: RegistryClient,
    push_image: PushImage,
) -> None:
    ref, desc = push_image()
    sign_image(client, ref, keys["rsa"])
    policy = TrustPolicy().with_rule(
        f"{ref.registry}/trust/**", [other_key.public_key, keys["rsa"].public_key]
    )
    result = policy.verify(client, ref, desc.digest)
    assert result.verified
    assert result.key == keys["rsa"].public_key
    assert result.rule == f"{ref.registry}/trust/**"
    assert result.format is SignatureFormat.SIGSTORE_BUNDLE


def test_a_rule_can_insist_on_one_format(
    pub: PrivateKey, client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    sign_image(client, ref, pub, formats=[SignatureFormat.SIGSTORE_BUNDLE])
    policy = TrustPolicy().with_rule(
        ref.name, [pub.public_key], formats=[SignatureFormat.SIMPLE_SIGNING]
    )
    with pytest.raises(SignatureError, match="no simple-signing signatures"):
        policy.verify(client, ref, desc.digest)


def test_unmatched_images_are_denied_by_default_and_the_error_names_them(
    pub: PrivateKey, client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    policy = TrustPolicy().with_rule("elsewhere.example/**", [pub.public_key])
    with pytest.raises(SignatureError, match="no trust policy rule matches") as err:
        policy.verify(client, ref, desc.digest)
    assert f"{ref.name}:1@{desc.digest}" in str(err.value)
    assert err.value.reference == str(ref)


def test_unmatched_images_pass_unsigned_when_the_default_is_allow(
    pub: PrivateKey, client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    policy = TrustPolicy(default="allow").with_rule("elsewhere.example/**", [pub.public_key])
    result = policy.verify(client, ref)  # the tag is resolved
    assert not result.verified
    assert result.digest == desc.digest
    assert (result.format, result.key, result.rule) == (None, None, None)
    assert not policy.requires_signature(ref)
    assert TrustPolicy().requires_signature(ref)


def test_a_matched_image_must_be_signed_even_when_the_default_is_allow(
    pub: PrivateKey, client: RegistryClient, push_image: PushImage
) -> None:
    ref, desc = push_image()
    policy = TrustPolicy(default="allow").with_rule(f"{ref.registry}/**", [pub.public_key])
    with pytest.raises(SignatureError, match=f"{ref.name}:1@{desc.digest} is not signed"):
        policy.verify(client, ref, desc.digest)


def test_verify_all_reports_every_failing_image_at_once(
    pub: PrivateKey, client: RegistryClient, push_image: PushImage
) -> None:
    good, good_desc = push_image("good")
    bad1, bad1_desc = push_image("bad1")
    bad2, bad2_desc = push_image("bad2")
    sign_image(client, good, pub)
    policy = TrustPolicy().with_rule(f"{good.registry}/trust/**", [pub.public_key])
    assert [r.digest for r in policy.verify_all(client, [(good, good_desc.digest)])] == [
        good_desc.digest
    ]
    with pytest.raises(SignatureError) as err:
        policy.verify_all(
            client,
            [(bad1, bad1_desc.digest), (good, good_desc.digest), (str(bad2), bad2_desc.digest)],
        )
    text = str(err.value)
    assert text.startswith("2 images failed signature verification")
    assert bad1.name in text
    assert bad2.name in text
    assert good.name not in text
    assert err.value.reference == str(bad1)


def test_a_policy_from_plain_data_reads_key_files_and_inline_pem(
    keys: dict[str, PrivateKey], tmp_path: Path
) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "release.pub").write_bytes(keys["ed25519"].public_key.to_pem())
    policy = TrustPolicy.from_mapping(
        {
            "default": "allow",
            "rules": [
                {"match": "localhost:*/moby-assemble/*", "keys": ["keys/release.pub"]},
                {
                    "match": "r.io/**",
                    "keys": [keys["rsa"].public_key.to_pem().decode()],
                    "formats": ["simple-signing"],
                },
            ],
        },
        base_dir=tmp_path,
    )
    assert policy.default == "allow"
    first, second = policy.rules
    assert first.keys == (keys["ed25519"].public_key,)
    assert first.keys[0].name == "keys/release.pub"
    assert second.keys == (keys["rsa"].public_key,)
    assert second.formats == (SignatureFormat.SIMPLE_SIGNING,)


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"rules": [], "mode": "x"}, "mode", "unknown trust policy key"),
        ({"rules": [{"match": "r.io/*", "keys": []}]}, "rules[0].keys", "at least one"),
        ({"rules": [{"match": "r.io/*", "keys": ["missing.pub"]}]}, "rules[0].keys[0]", "read"),
        ({"rules": [{"match": "r.io/*", "key": ["a.pub"]}]}, "rules[0].key", "unknown rule key"),
        ({"rules": [{"keys": ["-----BEGIN PUBLIC KEY-----\nAA==\n"]}]}, "rules[0].keys[0]", "PEM"),
        ({"default": "maybe"}, "default", "'deny' or 'allow'"),
    ],
)
def test_bad_policy_data_is_a_config_error_with_the_field_path(
    data: dict[str, object], path: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        TrustPolicy.from_mapping(data, base_dir=tmp_path)
    assert err.value.path == path


def test_with_rule_reports_an_unknown_format_as_a_config_error(pub: PrivateKey) -> None:
    with pytest.raises(ConfigError, match="unknown signature format"):
        TrustPolicy().with_rule("r.io/*", [pub.public_key], formats=["cosign-v9"])
