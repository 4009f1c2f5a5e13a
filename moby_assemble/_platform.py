"""Platforms (``os/arch[/variant]``) with containerd-style normalisation and matching.

``Platform.parse("linux/arm64/v8") == Platform.parse("linux/arm64")`` and
``linux/x86_64`` is ``linux/amd64``. Matching is strict by default (a reproducible system
must not silently pick another architecture); :meth:`Platform.compatible` lists what a
platform would also accept when the caller asks for fallback, in preference order.
"""

from __future__ import annotations

import platform as _host
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ._errors import PlatformError

__all__ = ["Platform"]

_PART_RE = re.compile(r"^[A-Za-z0-9_.-]+$")

_ARCH_ALIASES = {
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "amd64": ("amd64", None),
    "i386": ("386", None),
    "i686": ("386", None),
    "386": ("386", None),
    "aarch64": ("arm64", None),
    "arm64": ("arm64", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "arm": ("arm", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}


def _normalise(os: str, arch: str, variant: str | None) -> tuple[str, str, str | None]:
    os = os.lower()
    if os == "macos":
        os = "darwin"
    arch = arch.lower()
    variant = variant.lower() if variant else None
    canonical, forced = _ARCH_ALIASES.get(arch, (arch, None))
    if forced is not None and variant is None:
        variant = forced
    arch = canonical
    if (arch == "amd64" and variant in ("v1", "1")) or (arch == "arm64" and variant in ("v8", "8")):
        variant = None
    elif arch == "arm":
        if variant is None:
            variant = "v7"
        elif variant in ("5", "6", "7", "8"):
            variant = "v" + variant
    elif variant is not None and variant.isdigit():
        variant = "v" + variant
    return os, arch, variant


@attrs.frozen(order=True)
class Platform:
    """A target platform, normalised on construction.

    Example::

        >>> str(Platform.parse("linux/aarch64"))
        'linux/arm64'
        >>> Platform.parse("linux/amd64") == Platform("linux", "x86_64")
        True
    """

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        for name, value in (("os", self.os), ("architecture", self.architecture)):
            if not value or not _PART_RE.match(value):
                raise PlatformError(f"invalid platform {name} {value!r}", wanted=str(value))
        if self.variant is not None and not _PART_RE.match(self.variant):
            raise PlatformError(f"invalid platform variant {self.variant!r}", wanted=self.variant)
        os, arch, variant = _normalise(self.os, self.architecture, self.variant)
        object.__setattr__(self, "os", os)
        object.__setattr__(self, "architecture", arch)
        object.__setattr__(self, "variant", variant)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` (or just ``arch``, meaning Linux).

        Raises:
            PlatformError: the text is not a platform.
        """
        if not isinstance(text, str) or not text.strip():
            raise PlatformError(f"invalid platform {text!r}: empty", wanted=str(text))
        parts = text.strip().split("/")
        if len(parts) == 1:
            parts = ["linux", parts[0]]
        if len(parts) > 3 or not all(parts):
            raise PlatformError(
                f"invalid platform {text!r}: expected os/arch[/variant]", wanted=text
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        """The platform of the machine this runs on (Linux assumed for the OS)."""
        return cls("linux", _host.machine() or "amd64")

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Platform:
        """From an OCI ``platform`` object (``os``, ``architecture``, ``variant``, …)."""
        if not isinstance(obj, Mapping):
            raise PlatformError(f"platform must be an object, got {type(obj).__name__}")
        try:
            return cls(
                str(obj["os"]),
                str(obj["architecture"]),
                obj.get("variant") or None,
                obj.get("os.version") or None,
                tuple(obj.get("os.features") or ()),
            )
        except KeyError as e:
            raise PlatformError(f"platform object lacks {e.args[0]!r}") from None

    def to_json(self) -> dict[str, Any]:
        """The OCI ``platform`` object (normalised values)."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        return out

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    @property
    def is_unknown(self) -> bool:
        """True for BuildKit's attestation entries (``unknown/unknown``)."""
        return self.os == "unknown" or self.architecture == "unknown"

    def matches(self, other: Platform) -> bool:
        """Strict match: same OS, architecture and variant after normalisation.

        ``os.version`` is compared only when this platform names one.
        """
        if (self.os, self.architecture, self.variant) != (
            other.os,
            other.architecture,
            other.variant,
        ):
            return False
        return self.os_version is None or self.os_version == other.os_version

    def compatible(self) -> tuple[Platform, ...]:
        """Platforms this one can run, best first, starting with itself (containerd's order).

        ``amd64/v3`` → ``amd64/v3, amd64/v2, amd64, 386``; ``arm/v7`` → ``arm/v7, arm/v6,
        arm/v5``; ``arm64/v8.2`` → ``arm64/v8.2, arm64/v8.1, arm64, arm/v8, arm/v7, arm/v6,
        arm/v5``; ``arm64/v9.1`` → ``arm64/v9.1, arm64/v9, arm64/v8.6 … arm64, arm/v8 …``.
        ``os.version`` and ``os.features`` carry over to every entry.
        """
        out = [self]

        def same(architecture: str, variant: str | None) -> Platform:
            return attrs.evolve(self, architecture=architecture, variant=variant)

        if self.architecture == "amd64":
            level = _variant_number(self.variant, "v")
            if level is not None and level > 1:
                out += [same("amd64", f"v{n}") for n in range(level - 1, 1, -1)]
                out.append(same("amd64", None))
            out.append(same("386", None))
        elif self.architecture == "arm":
            level = _variant_number(self.variant, "v")
            if level is not None:
                out += [same("arm", f"v{n}") for n in range(level - 1, 4, -1)]
        elif self.architecture == "arm64":
            variant = self.variant or "v8"
            major_text, _, minor_text = variant.partition(".")
            major = _variant_number(major_text, "v")
            minor = int(minor_text) if minor_text.isdigit() else 0
            arm_variant = variant
            if major is not None and major >= 8:
                if major == 9:
                    out += [
                        same("arm64", f"v9.{n}" if n else "v9") for n in range(minor - 1, -1, -1)
                    ]
                    # v9.0 branched from v8.5: v9.x runs v8.(x+5) and below.
                    major, minor = 8, minor + 5
                    out.append(same("arm64", f"v8.{minor}"))
                out += [
                    same("arm64", f"v{major}.{n}" if n else f"v{major}")
                    for n in range(minor - 1, -1, -1)
                ]
                if variant.startswith(("v8.", "v9.")):
                    arm_variant = "v8"
            level = _variant_number(arm_variant, "v")
            if level is not None:
                out += [same("arm", f"v{n}") for n in range(level, 4, -1)]
        # Drop repeats (arm64 "v8" and no variant are the same platform) keeping the first.
        seen: set[Platform] = set()
        unique = []
        for p in out:
            if p not in seen:
                seen.add(p)
                unique.append(p)
        return tuple(unique)


def _variant_number(variant: str | None, prefix: str) -> int | None:
    if variant is None:
        return None
    digits = variant[len(prefix) :] if variant.startswith(prefix) else variant
    return int(digits) if digits.isdigit() else None
