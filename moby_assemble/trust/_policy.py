"""A per-system trust policy: which images must be signed, and by which keys.

A policy is an ordered list of rules and a default. Each rule has a glob over the image's
normalised ``registry/repository`` and the keys it trusts (any one of them suffices). The
first rule that matches an image decides; an image no rule matches is allowed unsigned
(``default="allow"``) or refused (``default="deny"``, the default).

Glob syntax: ``*`` matches within one path component (no ``/``), ``**`` matches across
components, ``?`` matches one character other than ``/``; everything else is literal.
Names are normalised first, so Docker Hub images read ``docker.io/library/alpine``.

Example::

    policy = (
        TrustPolicy(default="deny")
        .with_rule("localhost:*/moby-assemble/*", [PublicKey.load("release.pub")])
        .with_rule("docker.io/library/**", [PublicKey.load("mirror.pub")])
    )
    results = policy.verify_all(client, [(ref, digest) for ref, digest in resolved])

The assembler calls :meth:`TrustPolicy.verify_all` after resolving every image to a digest
and before writing any output, so an unsigned or badly signed image fails the build early,
named in the :class:`SignatureError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from .._errors import ConfigError, SignatureError
from ..registry import ImageReference, RegistryClient
from ._image import ALL_FORMATS, describe_image, resolve_digest, verify_image
from ._keys import PublicKey
from ._result import SignatureFormat, VerificationResult

__all__ = ["TrustPolicy", "TrustRule"]


def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _check_pattern(_instance: object, _attribute: object, value: str) -> None:
    if not isinstance(value, str) or not value or value != value.strip() or "@" in value:
        raise ConfigError(
            f"invalid image pattern {value!r}: a glob over 'registry/repository'",
            path="match",
        )


def _to_formats(value: Iterable[SignatureFormat | str]) -> tuple[SignatureFormat, ...]:
    try:
        out = tuple(dict.fromkeys(SignatureFormat(v) for v in value))
    except ValueError as e:
        raise ConfigError(f"unknown signature format: {e}", path="formats") from None
    if not out:
        raise ConfigError("a rule needs at least one signature format", path="formats")
    return out


def _to_keys(value: Iterable[PublicKey]) -> tuple[PublicKey, ...]:
    keys = tuple(dict.fromkeys(value))
    if not keys:
        raise ConfigError("a rule needs at least one trusted key", path="keys")
    if not all(isinstance(k, PublicKey) for k in keys):
        raise ConfigError("rule keys must be PublicKey values", path="keys")
    return keys


@attrs.frozen
class TrustRule:
    """Images whose ``registry/repository`` matches :attr:`pattern` must be signed by one
    of :attr:`keys` in one of :attr:`formats`.

    Example::

        >>> rule = TrustRule("localhost:*/moby-assemble/*", [PrivateKey.generate().public_key])
        >>> rule.matches("localhost:5000/moby-assemble/init:1.0")
        True
        >>> rule.matches("localhost:5000/moby-assemble/x/init")   # '*' stops at '/'
        False
    """

    pattern: str = attrs.field(validator=_check_pattern)
    keys: tuple[PublicKey, ...] = attrs.field(converter=_to_keys)
    formats: tuple[SignatureFormat, ...] = attrs.field(default=ALL_FORMATS, converter=_to_formats)
    _regex: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_regex", _compile(self.pattern))

    def matches(self, ref: ImageReference | str) -> bool:
        """Whether this rule applies to ``ref`` (tag and digest are ignored)."""
        image = ImageReference.parse(ref) if isinstance(ref, str) else ref
        return self._regex.fullmatch(image.name) is not None


def _to_rules(value: Iterable[TrustRule]) -> tuple[TrustRule, ...]:
    rules = tuple(value)
    if not all(isinstance(r, TrustRule) for r in rules):
        raise ConfigError("rules must be TrustRule values", path="rules")
    return rules


@attrs.frozen
class TrustPolicy:
    """Ordered rules plus a default for images no rule matches.

    Args:
        rules: tried in order; the first match decides.
        default: ``"deny"`` (unmatched images fail) or ``"allow"`` (they need no signature).

    Example::

        >>> policy = TrustPolicy(default="allow")
        >>> policy.rule_for("docker.io/library/alpine") is None
        True
    """

    rules: tuple[TrustRule, ...] = attrs.field(default=(), converter=_to_rules)
    default: Literal["deny", "allow"] = attrs.field(default="deny")

    @default.validator
    def _check_default(self, _attribute: object, value: str) -> None:
        if value not in ("deny", "allow"):
            raise ConfigError(f"default must be 'deny' or 'allow', not {value!r}", path="default")

    def with_rule(
        self,
        pattern: str,
        keys: Iterable[PublicKey],
        *,
        formats: Iterable[SignatureFormat | str] = ALL_FORMATS,
    ) -> TrustPolicy:
        """A copy with one more rule at the end (earlier rules keep precedence)."""
        rule = TrustRule(pattern, tuple(keys), tuple(formats))
        return attrs.evolve(self, rules=(*self.rules, rule))

    def rule_for(self, ref: ImageReference | str) -> TrustRule | None:
        """The first rule that applies to ``ref``, if any."""
        return next((r for r in self.rules if r.matches(ref)), None)

    def requires_signature(self, ref: ImageReference | str) -> bool:
        """Whether ``ref`` must be signed (a rule matches, or the default is ``deny``)."""
        return self.rule_for(ref) is not None or self.default == "deny"

    def verify(
        self, client: RegistryClient, ref: ImageReference | str, digest: str | None = None
    ) -> VerificationResult:
        """Check one image against the policy.

        Args:
            client: the registry client.
            ref: the image.
            digest: the digest the build resolved ``ref`` to (for a multi-platform image,
                the index digest); resolved from the tag when omitted.

        Returns:
            What verified, or a result with ``format=None`` when no rule matched and the
            default is ``allow``.

        Raises:
            SignatureError: unsigned, badly signed, or unmatched under ``default="deny"``;
                the message names the image and the reasons.
            RegistryError, IntegrityError: the registry failed or sent corrupt content.
        """
        image = ImageReference.parse(ref) if isinstance(ref, str) else ref
        rule = self.rule_for(image)
        if rule is None:
            if self.default == "allow":
                return VerificationResult(str(image), resolve_digest(client, image, digest))
            where = describe_image(image, digest) if digest else str(image)
            raise SignatureError(
                f"{where}: no trust policy rule matches {image.name}, and unmatched images "
                "are denied",
                reference=str(image),
            )
        return verify_image(
            client, image, rule.keys, digest=digest, formats=rule.formats, rule=rule.pattern
        )

    def verify_all(
        self,
        client: RegistryClient,
        images: Iterable[tuple[ImageReference | str, str | None]],
    ) -> tuple[VerificationResult, ...]:
        """Check every ``(reference, digest)``; report every failure at once.

        Returns:
            One result per image, in order.

        Raises:
            SignatureError: at least one image failed; the message has one line per
                failing image, ``reference`` is the first of them.
            RegistryError, IntegrityError: the registry failed or sent corrupt content.
        """
        results: list[VerificationResult] = []
        failures: list[SignatureError] = []
        for ref, digest in images:
            try:
                results.append(self.verify(client, ref, digest))
            except SignatureError as e:
                failures.append(e)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            lines = "\n".join(f"  {e}" for e in failures)
            raise SignatureError(
                f"{len(failures)} images failed signature verification:\n{lines}",
                reference=failures[0].reference,
            )
        return tuple(results)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, base_dir: str | Path | None = None
    ) -> TrustPolicy:
        """Build a policy from plain data (a YAML/TOML/JSON section)::

            default: deny
            rules:
              - match: "localhost:*/moby-assemble/*"
                keys: [keys/release.pub]        # files relative to base_dir, or PEM text
                formats: [sigstore-bundle, simple-signing]   # optional

        Raises:
            ConfigError: unknown keys, bad values or unreadable key files, with the field
                path (``rules[1].keys[0]``).
        """
        if not isinstance(data, Mapping):
            raise ConfigError("a trust policy must be a mapping")
        unknown = sorted(set(data) - {"default", "rules"})
        if unknown:
            raise ConfigError(f"unknown trust policy key {unknown[0]!r}", path=unknown[0])
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, Sequence) or isinstance(raw_rules, str):
            raise ConfigError("rules must be a list", path="rules")
        base = Path(base_dir) if base_dir is not None else Path()
        rules = tuple(_rule_from(r, f"rules[{i}]", base) for i, r in enumerate(raw_rules))
        return cls(rules, data.get("default", "deny"))


def _rule_from(raw: object, path: str, base: Path) -> TrustRule:
    if not isinstance(raw, Mapping):
        raise ConfigError("a rule must be a mapping", path=path)
    unknown = sorted(set(raw) - {"match", "keys", "formats"})
    if unknown:
        raise ConfigError(f"unknown rule key {unknown[0]!r}", path=f"{path}.{unknown[0]}")
    raw_keys = raw.get("keys")
    if not isinstance(raw_keys, Sequence) or isinstance(raw_keys, str):
        raise ConfigError("keys must be a list of key files or PEM texts", path=f"{path}.keys")
    keys = []
    for i, item in enumerate(raw_keys):
        where = f"{path}.keys[{i}]"
        if not isinstance(item, str):
            raise ConfigError("a key is a file name or PEM text", path=where)
        try:
            if item.lstrip().startswith("-----BEGIN"):
                keys.append(PublicKey.from_pem(item, name=where))
            else:
                keys.append(PublicKey.load(base / item, name=item))
        except ConfigError as e:
            raise ConfigError(e.reason, path=where, file=e.file) from None
    formats = raw.get("formats", [f.value for f in ALL_FORMATS])
    if not isinstance(formats, Sequence) or isinstance(formats, str):
        raise ConfigError("formats must be a list", path=f"{path}.formats")
    try:
        return TrustRule(raw.get("match", ""), tuple(keys), tuple(formats))
    except ConfigError as e:
        raise ConfigError(e.reason, path=f"{path}.{e.path}") from None
