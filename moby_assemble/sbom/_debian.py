"""Debian packages recorded by the packager, read back from an image and made SPDX packages.

``moby_assemble.pkg`` writes the ``.deb`` files that went into a catalog image to the image
config label (and manifest annotation) ``org.mobyproject.moby-assemble.packages``: a JSON
list of objects with ``name``, ``version``, ``architecture``, ``sha256`` (hex of the
``.deb``) and, for packages a metapackage pointed at, ``via``. Unknown keys are ignored so a
newer packager can add fields; missing or mistyped known ones are a
:class:`~moby_assemble.ConfigError` naming the image and the entry.

Example::

    >>> pkgs = parse_packages_label('[{"name":"runc","version":"1.1.5+ds1-1",'
    ...                             '"architecture":"amd64","sha256":"' + "a" * 64 + '"}]')
    >>> debian_purl(pkgs[0])
    'pkg:deb/debian/runc@1.1.5%2Bds1-1?arch=amd64'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs

from .._errors import ConfigError
from ._spdx import Checksum, ExternalRef, Package, element_id

__all__ = [
    "PACKAGES_LABEL",
    "DebianPackage",
    "debian_package",
    "debian_purl",
    "packages_from_config",
    "parse_packages_label",
]

#: The label (and manifest annotation) the packager writes; see the module docstring.
PACKAGES_LABEL = "org.mobyproject.moby-assemble.packages"
#: A packages label is a short JSON list; a bigger one is refused rather than parsed.
MAX_LABEL_SIZE = 4 * 1024 * 1024

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@attrs.frozen
class DebianPackage:
    """One ``.deb`` in an image: control-file name, version and architecture, file hash.

    Attributes:
        name, version, architecture: as in the package's control file.
        sha256: hex SHA-256 of the ``.deb`` file, if recorded.
        via: the metapackage that pulled it in (``linux-image-cloud-amd64=6.1.1-1``).
    """

    name: str
    version: str
    architecture: str
    sha256: str | None = None
    via: str | None = None


def _field(
    entry: Mapping[str, Any], key: str, path: str, image: str, *, required: bool
) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"label of image {image}: {key!r} must be a non-empty string, got {value!r}",
            path=f"{path}.{key}",
        )
    return value


def _required(entry: Mapping[str, Any], key: str, path: str, image: str) -> str:
    value = _field(entry, key, path, image, required=True)
    assert value is not None
    return value


def parse_packages_label(text: str, *, image: str = "image") -> tuple[DebianPackage, ...]:
    """Parse the packager's label value.

    Args:
        text: the label's JSON text.
        image: the image it came from, for error messages.

    Raises:
        ConfigError: not a JSON list of package objects (``path`` names the entry, the
            message the image).
    """
    where = f"label of image {image}"
    if len(text) > MAX_LABEL_SIZE:
        raise ConfigError(
            f"{where}: {len(text)} bytes, more than {MAX_LABEL_SIZE} allowed", path=PACKAGES_LABEL
        )
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{where}: not valid JSON ({e})", path=PACKAGES_LABEL) from None
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a JSON list", path=PACKAGES_LABEL)
    out = []
    for i, entry in enumerate(value):
        item = f"{PACKAGES_LABEL}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: entry {i} is not an object", path=item)
        name = _required(entry, "name", item, image)
        version = _required(entry, "version", item, image)
        arch = _required(entry, "architecture", item, image)
        sha256 = _field(entry, "sha256", item, image, required=False)
        if sha256 is not None and not _SHA256.fullmatch(sha256):
            raise ConfigError(
                f"{where}: sha256 is not 64 lowercase hex digits", path=f"{item}.sha256"
            )
        via = _field(entry, "via", item, image, required=False)
        out.append(DebianPackage(name, version, arch, sha256, via))
    return tuple(out)


def packages_from_config(
    config: Mapping[str, Any],
    annotations: Mapping[str, str] | None = None,
    *,
    image: str = "image",
) -> tuple[DebianPackage, ...]:
    """The packages an image records: its config label, else its manifest annotation.

    Args:
        config: the parsed image config (``config.Labels`` is read).
        annotations: the image manifest's annotations.
        image: the image, for error messages.

    Raises:
        ConfigError: the label is malformed.
    """
    inner = config.get("config")
    labels = inner.get("Labels") if isinstance(inner, Mapping) else None
    text = labels.get(PACKAGES_LABEL) if isinstance(labels, Mapping) else None
    if text is None and annotations is not None:
        text = annotations.get(PACKAGES_LABEL)
    if text is None:
        return ()
    if not isinstance(text, str):
        raise ConfigError(f"label of image {image}: not a string", path=PACKAGES_LABEL)
    return parse_packages_label(text, image=image)


def _encode(text: str) -> str:
    # purl percent-encodes everything but unreserved characters: "+" → %2B, ":" → %3A.
    return quote(text, safe="")


def debian_purl(pkg: DebianPackage) -> str:
    """``pkg:deb/debian/<name>@<version>?arch=<architecture>`` (purl-spec ``deb`` type)."""
    name, version, arch = (_encode(v) for v in (pkg.name, pkg.version, pkg.architecture))
    return f"pkg:deb/debian/{name}@{version}?arch={arch}"


def debian_package(pkg: DebianPackage) -> Package:
    """The SPDX package for a ``.deb``; its id depends on the purl and the file hash only,
    so the same ``.deb`` in several images is one package."""
    purl = debian_purl(pkg)
    checksums = (Checksum("SHA256", pkg.sha256),) if pkg.sha256 else ()
    return Package(
        element_id("Package-deb", purl, pkg.sha256),
        pkg.name,
        pkg.version,
        checksums=checksums,
        external_refs=(ExternalRef("PACKAGE-MANAGER", "purl", purl),),
        comment=f"pulled in by the metapackage {pkg.via}" if pkg.via else None,
        source_info=f"recorded by the moby-assemble packager in the {PACKAGES_LABEL} label",
    )
