"""OCI value types shared by every layer of the library: media types, digests, descriptors.

Pure values, no I/O. Descriptors keep unknown fields out (they are rebuilt from their
documented fields), but the registry client and the store always keep a manifest's *exact
bytes*: a descriptor is never re-serialised to compute a digest of someone else's document.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ._errors import IntegrityError
from ._platform import Platform

__all__ = [
    "EMPTY_DESCRIPTOR",
    "Descriptor",
    "MediaType",
    "digest_bytes",
    "validate_digest",
    "verify_bytes",
]


class MediaType:
    """The media types the library reads and writes (constants, not an enum: registries send
    types we must carry through unchanged)."""

    OCI_INDEX = "application/vnd.oci.image.index.v1+json"
    OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
    OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
    OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
    OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
    OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    OCI_EMPTY = "application/vnd.oci.empty.v1+json"
    OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
    DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
    DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
    DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
    DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
    DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
    DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    #: Documents that list other manifests.
    INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
    #: Documents that describe one image (config + layers).
    MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
    #: What we put in ``Accept`` when fetching a manifest by tag or digest.
    ACCEPT_MANIFESTS = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)
    #: Image configurations we parse.
    CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})

    @staticmethod
    def layer_compression(media_type: str) -> str | None:
        """``"gzip"``, ``"zstd"``, ``None`` (plain tar) for a layer media type.

        Raises:
            ValueError: the media type is not a tar layer we know.
        """
        if media_type in (
            MediaType.OCI_LAYER_GZIP,
            MediaType.DOCKER_LAYER_GZIP,
            MediaType.DOCKER_LAYER_FOREIGN_GZIP,
            MediaType.OCI_LAYER_NONDIST_GZIP,
        ):
            return "gzip"
        if media_type in (MediaType.OCI_LAYER_ZSTD, MediaType.OCI_LAYER_NONDIST_ZSTD):
            return "zstd"
        if media_type in (MediaType.OCI_LAYER, MediaType.OCI_LAYER_NONDIST, MediaType.DOCKER_LAYER):
            return None
        raise ValueError(f"not a layer media type: {media_type}")


_DIGEST_RE = re.compile(r"^(?P<alg>[a-z0-9]+(?:[+._-][a-z0-9]+)*):(?P<enc>[a-zA-Z0-9=_-]+)$")
_ENCODED_RE = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed digest we can verify, else raise ``ValueError``.

    Only ``sha256`` and ``sha512`` are accepted: content we cannot hash cannot be verified.
    """
    m = _DIGEST_RE.fullmatch(digest)
    if m is None:
        raise ValueError(f"malformed digest {digest!r}")
    alg = m.group("alg")
    pattern = _ENCODED_RE.get(alg)
    if pattern is None:
        raise ValueError(f"unsupported digest algorithm {alg!r} in {digest!r}")
    if not pattern.fullmatch(m.group("enc")):
        raise ValueError(f"malformed {alg} digest {digest!r}")
    return digest


def new_hasher(digest: str) -> Any:
    """A hashlib object for the algorithm of ``digest``."""
    return hashlib.new(validate_digest(digest).split(":", 1)[0])


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    """The OCI digest (``sha256:<hex>``) of ``data``."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify_bytes(data: bytes, digest: str, size: int | None = None, *, subject: str = "") -> None:
    """Raise :class:`IntegrityError` unless ``data`` has this size and digest."""
    what = subject or digest
    if size is not None and len(data) != size:
        raise IntegrityError(
            f"{what}: expected {size} bytes, got {len(data)}", digest=digest, subject=subject
        )
    alg = validate_digest(digest).split(":", 1)[0]
    actual = digest_bytes(data, alg)
    if actual != digest:
        raise IntegrityError(
            f"{what}: content hashes to {actual}, expected {digest}",
            digest=digest,
            actual=actual,
            subject=subject,
        )


def _frozen_map(
    value: Mapping[str, str] | tuple[tuple[str, str], ...] | None,
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = value if isinstance(value, tuple) else tuple(dict(value).items())
    return tuple(sorted(items))


@attrs.frozen
class Descriptor:
    """An OCI content descriptor: what a piece of content is, its digest and its size.

    Example::

        >>> d = Descriptor(MediaType.OCI_MANIFEST, "sha256:" + "a" * 64, 512)
        >>> d.to_json()["size"]
        512

    Annotations are kept as a sorted tuple of pairs so descriptors stay hashable; read them
    with :attr:`annotation_dict`.
    """

    media_type: str
    digest: str = attrs.field(validator=lambda _i, _a, v: validate_digest(v))
    size: int = attrs.field()
    annotations: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_frozen_map)
    platform: Platform | None = None
    urls: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    artifact_type: str | None = None
    data: bytes | None = None

    @size.validator
    def _check_size(self, _attribute: object, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"descriptor size must be a non-negative integer, got {value!r}")

    @property
    def annotation_dict(self) -> dict[str, str]:
        return dict(self.annotations)

    def with_annotations(self, **annotations: str) -> Descriptor:
        """A copy with these annotations added (or replaced)."""
        merged = {**self.annotation_dict, **annotations}
        return attrs.evolve(self, annotations=merged)

    def to_json(self) -> dict[str, Any]:
        """The descriptor as the JSON object the specs define (only fields that are set)."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode("ascii")
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], *, where: str = "descriptor") -> Descriptor:
        """Build a descriptor from a parsed JSON object.

        Raises:
            ValueError: a required field is missing or of the wrong type (message names
                ``where``). Embedded ``data`` is verified against digest and size.
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
        try:
            media_type = obj["mediaType"]
            digest = obj["digest"]
            size = obj["size"]
        except KeyError as e:
            raise ValueError(f"{where}: missing field {e.args[0]!r}") from None
        if not isinstance(media_type, str) or not isinstance(digest, str):
            raise ValueError(f"{where}: mediaType and digest must be strings")
        annotations = obj.get("annotations") or {}
        if not isinstance(annotations, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise ValueError(f"{where}: annotations must map strings to strings")
        platform = obj.get("platform")
        data_b64 = obj.get("data")
        data = None
        if data_b64 is not None:
            try:
                data = base64.b64decode(data_b64, validate=True)
            except (ValueError, TypeError):
                raise ValueError(f"{where}: data is not valid base64") from None
        try:
            desc = cls(
                media_type=media_type,
                digest=digest,
                size=size,
                annotations=annotations,
                platform=Platform.from_json(platform) if platform is not None else None,
                urls=tuple(obj.get("urls") or ()),
                artifact_type=obj.get("artifactType"),
                data=data,
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None
        if data is not None:
            verify_bytes(data, digest, size, subject=f"{where} embedded data")
        return desc

    @classmethod
    def for_bytes(
        cls,
        media_type: str,
        data: bytes,
        *,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
        artifact_type: str | None = None,
    ) -> Descriptor:
        """A descriptor for ``data`` (sha256)."""
        return cls(
            media_type=media_type,
            digest=digest_bytes(data),
            size=len(data),
            annotations=_frozen_map(annotations),
            platform=platform,
            artifact_type=artifact_type,
        )


#: The OCI empty descriptor (``{}``), used as the config of artifacts.
EMPTY_DESCRIPTOR = Descriptor(
    MediaType.OCI_EMPTY,
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    2,
    data=b"{}",
)
