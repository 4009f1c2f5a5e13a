"""Manifests and indexes as exact bytes plus their parsed view, and platform selection.

A :class:`Manifest` always keeps the bytes the registry (or the store) gave us: digests are
computed over those bytes and nothing is ever re-serialised. OCI and Docker schema 2 types
are understood; Docker schema 1 is refused with a clear error.

Example::

    >>> data = (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
    ...         b'"manifests":[]}')
    >>> m = Manifest.parse(data)
    >>> m.is_index, m.descriptor.size
    (True, 88)
"""

from __future__ import annotations

from typing import Any

import attrs

from .._errors import IntegrityError, PlatformError, UnsupportedError
from .._oci import Descriptor, MediaType, digest_bytes, validate_digest
from .._parse import loads_json
from .._platform import Platform

__all__ = ["ATTESTATION_TYPE_ANNOTATION", "Manifest", "is_attestation"]

#: BuildKit marks attestation manifests in an index with this annotation.
ATTESTATION_TYPE_ANNOTATION = "vnd.docker.reference.type"
_SCHEMA1 = frozenset({MediaType.DOCKER_MANIFEST_V1, MediaType.DOCKER_MANIFEST_V1_SIGNED})
_KNOWN = MediaType.INDEXES | MediaType.MANIFESTS


def is_attestation(desc: Descriptor) -> bool:
    """True for index entries that are attestations (SBOM, provenance), not images."""
    if desc.annotation_dict.get(ATTESTATION_TYPE_ANNOTATION) == "attestation-manifest":
        return True
    return desc.platform is not None and desc.platform.is_unknown


def _bare_media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _decide_media_type(body: dict[str, Any], content_type: str | None, where: str) -> str:
    declared = body.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise UnsupportedError(f"{where}: mediaType is not a string", reference=where)
    if body.get("schemaVersion") == 1 or declared in _SCHEMA1 or content_type in _SCHEMA1:
        raise UnsupportedError(
            f"{where}: Docker schema 1 manifests are deprecated and not supported; "
            "re-push the image with a current tool",
            reference=where,
        )
    if declared is not None and content_type in _KNOWN and declared != content_type:
        raise UnsupportedError(
            f"{where}: Content-Type {content_type} contradicts the document's mediaType {declared}",
            reference=where,
        )
    media_type = declared or (content_type if content_type in _KNOWN else None)
    if media_type is None:
        # OCI documents may omit mediaType; their shape tells which one they are.
        if "manifests" in body:
            media_type = MediaType.OCI_INDEX
        elif "config" in body and "layers" in body:
            media_type = MediaType.OCI_MANIFEST
    if media_type not in _KNOWN:
        raise UnsupportedError(
            f"{where}: unsupported manifest media type {media_type or content_type!r}",
            reference=where,
        )
    if body.get("schemaVersion") != 2:
        raise UnsupportedError(
            f"{where}: schemaVersion must be 2, got {body.get('schemaVersion')!r}",
            reference=where,
        )
    return media_type


@attrs.frozen
class Manifest:
    """An image manifest or index: its descriptor, its exact bytes and the parsed JSON.

    Build it with :meth:`parse`, which verifies the digest when one is expected.

    Attributes:
        descriptor: media type, digest of :attr:`data`, size; plus ``platform`` when it
            was selected from an index.
        data: the exact bytes.
        json: the parsed document (do not modify).
    """

    descriptor: Descriptor
    data: bytes = attrs.field(repr=False)
    json: dict[str, Any] = attrs.field(repr=False, eq=False, hash=False)

    @classmethod
    def parse(
        cls,
        data: bytes,
        *,
        content_type: str | None = None,
        digest: str | None = None,
        size: int | None = None,
        reference: str = "manifest",
    ) -> Manifest:
        """Parse and check a manifest or index.

        Args:
            data: the exact bytes.
            content_type: the ``Content-Type`` it came with (or the media type of the
                descriptor that pointed at it).
            digest: the digest it must have (a pinned reference, a descriptor,
                ``Docker-Content-Digest``); its algorithm is used for hashing.
            size: the size it must have.
            reference: what it is, for error messages.

        Raises:
            IntegrityError: digest or size differ.
            UnsupportedError: not JSON, schema 1, unknown media type, malformed fields.
        """
        if size is not None and len(data) != size:
            raise IntegrityError(
                f"{reference}: manifest is {len(data)} bytes, expected {size}",
                digest=digest,
                subject=reference,
            )
        algorithm = validate_digest(digest).split(":", 1)[0] if digest else "sha256"
        actual = digest_bytes(data, algorithm)
        if digest is not None and actual != digest:
            raise IntegrityError(
                f"{reference}: manifest content hashes to {actual}, expected {digest}",
                digest=digest,
                actual=actual,
                subject=reference,
            )
        try:
            body = loads_json(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise UnsupportedError(
                f"{reference}: manifest is not valid JSON ({e})", reference=reference
            ) from None
        if not isinstance(body, dict):
            raise UnsupportedError(
                f"{reference}: manifest is not a JSON object", reference=reference
            )
        media_type = _decide_media_type(body, _bare_media_type(content_type), reference)
        manifest = cls(Descriptor(media_type, actual, len(data)), data, body)
        # Parse the descriptors once now so malformed documents fail here, not later.
        if manifest.is_index:
            manifest.manifests  # noqa: B018
        else:
            manifest.config  # noqa: B018
            manifest.layers  # noqa: B018
        return manifest

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def is_index(self) -> bool:
        """True for OCI image indexes and Docker manifest lists."""
        return self.descriptor.media_type in MediaType.INDEXES

    def _where(self) -> str:
        return f"manifest {self.descriptor.digest}"

    def _descriptors(self, key: str) -> tuple[Descriptor, ...]:
        items = self.json.get(key)
        if not isinstance(items, list):
            raise UnsupportedError(
                f"{self._where()}: {key!r} must be a list", reference=self.descriptor.digest
            )
        out = []
        for i, item in enumerate(items):
            try:
                out.append(Descriptor.from_json(item, where=f"{self._where()} {key}[{i}]"))
            except ValueError as e:
                raise UnsupportedError(str(e), reference=self.descriptor.digest) from None
        return tuple(out)

    @property
    def manifests(self) -> tuple[Descriptor, ...]:
        """The entries of an index (empty for an image manifest)."""
        if not self.is_index:
            return ()
        return self._descriptors("manifests")

    @property
    def config(self) -> Descriptor:
        """The config descriptor of an image manifest.

        Raises:
            UnsupportedError: this is an index, or the field is malformed.
        """
        if self.is_index:
            raise UnsupportedError(
                f"{self._where()} is an index and has no config",
                reference=self.descriptor.digest,
            )
        try:
            config = self.json.get("config")
            return Descriptor.from_json(config, where=f"{self._where()} config")  # type: ignore[arg-type]
        except ValueError as e:
            raise UnsupportedError(str(e), reference=self.descriptor.digest) from None

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        """The layer descriptors of an image manifest, base layer first."""
        if self.is_index:
            return ()
        return self._descriptors("layers")

    @property
    def subject(self) -> Descriptor | None:
        """The manifest this one refers to (signatures, SBOMs), if any."""
        subject = self.json.get("subject")
        if subject is None:
            return None
        try:
            return Descriptor.from_json(subject, where=f"{self._where()} subject")
        except ValueError as e:
            raise UnsupportedError(str(e), reference=self.descriptor.digest) from None

    @property
    def nested_indexes(self) -> tuple[Descriptor, ...]:
        """Index entries that are themselves indexes (searched after direct entries)."""
        return tuple(d for d in self.manifests if d.media_type in MediaType.INDEXES)

    def platforms(self) -> tuple[Platform, ...]:
        """The image platforms this index offers directly, in order (attestations, nested
        indexes and entries of unknown media types left out)."""
        seen: list[Platform] = []
        for desc in self._image_entries():
            assert desc.platform is not None
            if desc.platform not in seen:
                seen.append(desc.platform)
        return tuple(seen)

    def _image_entries(self) -> list[Descriptor]:
        # The entries that may be chosen for a platform: image manifests of a type we know,
        # with a platform, that are not attestations. The image-spec says an unknown media
        # type MUST be ignored, so an entry is never taken for what its bytes look like;
        # nested indexes are left out too (nobody nests them per platform).
        return [
            d
            for d in self.manifests
            if d.platform is not None
            and d.media_type in MediaType.MANIFESTS
            and not is_attestation(d)
        ]

    def select_platform(
        self, platform: Platform, *, fallback: bool = False, reference: str | None = None
    ) -> Descriptor:
        """The entry of this index to use for ``platform``.

        Matching is strict (``linux/arm64/v8`` is ``linux/arm64``, but ``linux/arm/v7``
        is not ``linux/arm/v6``) unless ``fallback`` is true, then containerd's
        preference order applies. Attestation entries, nested indexes and entries whose
        media type is not an image manifest type we know are never chosen. When several
        entries match, the first one wins.

        Raises:
            PlatformError: nothing matches; it lists the platforms the index has.
        """
        where = reference or self._where()
        if not self.is_index:
            raise UnsupportedError(
                f"{where} is an image manifest, not an index", reference=reference
            )
        entries = self._image_entries()
        candidates = platform.compatible() if fallback else (platform,)
        for wanted in candidates:
            for desc in entries:
                assert desc.platform is not None
                if wanted.matches(desc.platform):
                    return desc
        available = tuple(str(p) for p in self.platforms())
        raise PlatformError(
            f"{where}: no image for platform {platform}"
            + (" (or a compatible one)" if fallback else "")
            + f"; available: {', '.join(available) if available else 'none'}",
            reference=reference,
            wanted=str(platform),
            available=available,
        )
