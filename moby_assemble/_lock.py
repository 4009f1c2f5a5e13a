"""Lock: every image of a system pinned to a digest, per platform, as deterministic JSON.

A lock is what :meth:`Assembler.resolve <moby_assemble.assemble.Assembler.resolve>` returns
and what :meth:`~moby_assemble.assemble.Assembler.assemble` builds from without asking any
registry what a tag means today. For each image reference of the system it records the digest
the reference resolved to (an index or a manifest) and, for each platform, the digest of the
image manifest that platform uses.

The file format (``version`` 1) is JSON with sorted keys, two-space indent and a trailing
newline, so the same pins always give the same bytes and diffs stay readable::

    {
      "checksum": "sha256:…",            # of the normalised system the lock was made from
      "images": {
        "docker.io/linuxkit/init:v1.2": {
          "digest": "sha256:…",          # what the reference resolved to
          "mediaType": "application/vnd.oci.image.index.v1+json",
          "platforms": {"linux/amd64": "sha256:…"}   # the image manifest per platform
        }
      },
      "platforms": ["linux/amd64"],
      "version": 1
    }

An image from an OCI layout (``oci-layout:images:app:v1``) is pinned the same way, under the
reference as the system writes it (a relative path stays relative): its digest is what the
layout's ``index.json`` named when the lock was made.

When a lock matches a system: it pins every image reference the system uses, for every
platform asked for, and a reference the system itself pins (``…@sha256:…``) to the same
digest. Anything else is a :class:`~moby_assemble.LockMismatchError` naming each difference
with its place in the system (``services[1].image``). The ``checksum`` tells whether the lock
was made from exactly this system; a different checksum alone is no mismatch (changing a
container's settings needs no new pins), see :meth:`Lock.made_from`. Pins of images the system
no longer uses are harmless and ignored.

Example::

    >>> lock = Lock.from_json('{"checksum": "sha256:' + 64 * "0" + '", "images": {}, '
    ...                       '"platforms": ["linux/amd64"], "version": 1}')
    >>> lock.to_json() == Lock.from_json(lock.to_json()).to_json()
    True
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import ConfigError, ImageReferenceError, LockError, LockMismatchError, PlatformError
from ._oci import validate_digest
from ._parse import loads_json
from ._platform import Platform

if TYPE_CHECKING:
    from ._model import System
    from .store import LayoutReference

__all__ = [
    "LOCK_VERSION",
    "Lock",
    "LockedImage",
    "declared_digest",
    "image_locations",
    "layout_sources",
    "pin_system",
    "system_checksum",
]

#: The lock file format this library writes (and the only one it reads).
LOCK_VERSION = 1


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def system_checksum(system: System) -> str:
    """The sha256 of the normalised system: its LinuxKit dict form plus its platforms, as
    canonical JSON (sorted keys, no white space).

    Two systems with the same checksum describe the same thing; field order in a YAML file,
    comments and quoting do not matter.

    Example::

        >>> from moby_assemble import System
        >>> system_checksum(System(platform="linux/amd64")).startswith("sha256:")
        True
    """
    normalised = {
        "platforms": [str(p) for p in system.platforms],
        "system": system.to_dict(),
    }
    return "sha256:" + hashlib.sha256(_canonical_json(normalised)).hexdigest()


def image_locations(system: System) -> list[tuple[str, str]]:
    """``(field path, image reference)`` for every image the system uses, in build order.

    Example::

        >>> from moby_assemble import Container, System
        >>> image_locations(System(services=[Container("web", "nginx:1.27")]))
        [('services[0].image', 'docker.io/library/nginx:1.27')]
    """
    return [(path, reference) for path, reference, _component in _images(system)]


def _images(system: System) -> list[tuple[str, str, object]]:
    """``(field path, image reference, component)`` in build order."""
    out: list[tuple[str, str, object]] = []
    if system.kernel is not None and system.kernel.image:
        out.append(("kernel.image", system.kernel.image, system.kernel))
    out += [(f"init[{i}]", image.image, image) for i, image in enumerate(system.init)]
    out += [(f"volumes[{i}].image", v.image, v) for i, v in enumerate(system.volumes) if v.image]
    for stage in ("onboot", "onshutdown", "services"):
        out += [(f"{stage}[{i}].image", c.image, c) for i, c in enumerate(getattr(system, stage))]
    return out


def layout_sources(system: System) -> dict[str, LayoutReference]:
    """Each ``oci-layout:`` image reference of the system and the layout it names, with an
    absolute path: a relative path is taken relative to the directory of the YAML file the
    component came from (when the component records it, as ``File.base_dir`` does) or else
    to the current directory.

    Raises:
        ConfigError: one relative reference names two different layouts (two merged YAML
            files in different directories): a lock can pin only one of them.

    Example::

        >>> from moby_assemble import Container, System
        >>> system = System(services=[Container("web", "oci-layout:/srv/oci:web")])
        >>> layout_sources(system)["oci-layout:/srv/oci:web"].path.as_posix()
        '/srv/oci'
    """
    from .store._reference import is_layout_reference, parse_layout_reference

    out: dict[str, LayoutReference] = {}
    for path, reference, component in _images(system):
        if not is_layout_reference(reference):
            continue
        # Components do not record their YAML file's directory yet (only File does).
        source = parse_layout_reference(reference).anchored(getattr(component, "base_dir", None))
        known = out.setdefault(reference, source)
        if known.path != source.path:
            raise ConfigError(
                f"{reference} names two layouts, {known.path} and {source.path}: write "
                "the path so that it names one (an absolute path, for instance)",
                path=path,
            )
    return out


def declared_digest(reference: str) -> str | None:
    """The digest a reference pins itself to (``…@sha256:…``), if any.

    Example::

        >>> declared_digest("oci-layout:/srv/a@b/oci:web") is None
        True
    """
    from .store._reference import is_layout_reference, parse_layout_reference

    if is_layout_reference(reference):
        # A layout path may itself contain '@' (and the parser knows when that is no digest).
        try:
            return parse_layout_reference(reference).digest
        except ImageReferenceError:
            return None
    return reference.rpartition("@")[2] if "@" in reference else None


def _digest(value: Any, where: str, file: str | None) -> str:
    if not isinstance(value, str):
        raise LockError(f"{where}: expected a digest string", file=file)
    try:
        return validate_digest(value)
    except ValueError as e:
        raise LockError(f"{where}: {e}", file=file) from None


def _platform(value: Any, where: str, file: str | None) -> Platform:
    if not isinstance(value, str):
        raise LockError(f"{where}: expected a platform string", file=file)
    try:
        return Platform.parse(value)
    except PlatformError as e:
        raise LockError(f"{where}: {e}", file=file) from None


def _sorted_pairs(
    value: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), str(v)) for k, v in items))


@attrs.frozen
class LockedImage:
    """The pins of one image reference.

    Attributes:
        reference: the reference as the system writes it (``docker.io/library/nginx:1.27``).
        digest: what it resolved to: an index, or a single image manifest.
        media_type: the media type of that document.
        manifests: ``(platform, image manifest digest)`` pairs, sorted by platform.

    Example::

        >>> img = LockedImage("docker.io/x/y:1", "sha256:" + "a" * 64,
        ...                   "application/vnd.oci.image.manifest.v1+json",
        ...                   {"linux/amd64": "sha256:" + "a" * 64})
        >>> img.manifest_for(Platform.parse("linux/amd64")) == img.digest
        True
    """

    reference: str
    digest: str
    media_type: str
    manifests: tuple[tuple[str, str], ...] = attrs.field(converter=_sorted_pairs)

    def manifest_for(self, platform: Platform) -> str | None:
        """The image manifest digest pinned for ``platform``, or ``None``."""
        return dict(self.manifests).get(str(platform))

    @property
    def pinned(self) -> str:
        """The reference with its digest (``name:tag@sha256:…``; the tag stays readable)."""
        from .registry import ImageReference
        from .store._reference import is_layout_reference

        if is_layout_reference(self.reference):
            if declared_digest(self.reference) is not None:
                return self.reference
            return f"{self.reference}@{self.digest}"
        try:
            ref = ImageReference.parse(self.reference, default_tag=None)
        except ImageReferenceError:
            return self.reference
        if ref.digest is not None:
            return self.reference
        return f"{self.reference}@{self.digest}"

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "mediaType": self.media_type,
            "platforms": dict(self.manifests),
        }


def _sorted_platforms(platforms: Iterable[Platform]) -> tuple[Platform, ...]:
    return tuple(sorted(set(platforms), key=str))


def _sorted_images(images: Iterable[LockedImage]) -> tuple[LockedImage, ...]:
    return tuple(sorted(images, key=lambda i: i.reference))


@attrs.frozen(repr=False)
class Lock:
    """Pins of every image of a system, for a set of platforms.

    Build one with :meth:`Assembler.resolve <moby_assemble.assemble.Assembler.resolve>`;
    save it with :meth:`save` and read it back with :meth:`load`. Same pins, same bytes.

    Attributes:
        checksum: :func:`system_checksum` of the system it was made from.
        platforms: the platforms pinned, sorted.
        images: one :class:`LockedImage` per reference, sorted by reference.
        version: the file format version (:data:`LOCK_VERSION`).

    Example::

        lock = asm.resolve(system)
        lock.save("system.lock.json")
        bundle = asm.assemble(system, lock=Lock.load("system.lock.json"))
    """

    checksum: str
    platforms: tuple[Platform, ...] = attrs.field(converter=_sorted_platforms)
    images: tuple[LockedImage, ...] = attrs.field(converter=_sorted_images)
    version: int = LOCK_VERSION

    # -- reading -----------------------------------------------------------------------------

    def image(self, reference: str) -> LockedImage | None:
        """The pins of ``reference`` (as the system writes it), or ``None``."""
        for image in self.images:
            if image.reference == reference:
                return image
        return None

    def digests(self) -> dict[str, str]:
        """reference → pinned digest, for every image."""
        return {i.reference: i.digest for i in self.images}

    def made_from(self, system: System) -> bool:
        """True if the lock was made from exactly this system (same :func:`system_checksum`)."""
        return self.checksum == system_checksum(system)

    def differences(
        self, system: System, platforms: Iterable[Platform] | None = None
    ) -> tuple[str, ...]:
        """What keeps this lock from pinning ``system`` on ``platforms`` (default: the
        system's own platforms, or the lock's if the system names none); empty if it does.

        Example::

            >>> lock.differences(system.replace("web", image="nginx:1.28"))  # doctest: +SKIP
            ("services[0].image: docker.io/library/nginx:1.28 is not in the lock",)
        """
        wanted = tuple(platforms) if platforms is not None else system.platforms or self.platforms
        out: list[str] = []
        have = ", ".join(str(p) for p in self.platforms) or "none"
        for platform in wanted:
            if platform not in self.platforms:
                out.append(f"platform {platform} is not in the lock (it pins {have})")
        seen: set[str] = set()
        for path, reference in image_locations(system):
            if reference in seen:
                continue
            seen.add(reference)
            image = self.image(reference)
            if image is None:
                out.append(f"{path}: {reference} is not in the lock")
                continue
            declared = declared_digest(reference)
            if declared is not None and declared != image.digest:
                out.append(
                    f"{path}: {reference} is pinned to {declared} in the system but to "
                    f"{image.digest} in the lock"
                )
            for platform in wanted:
                if platform in self.platforms and image.manifest_for(platform) is None:
                    out.append(f"{path}: {reference} has no pin for platform {platform}")
        return tuple(out)

    def check(
        self,
        system: System,
        platforms: Iterable[Platform] | None = None,
        *,
        file: str | None = None,
    ) -> None:
        """Raise :class:`~moby_assemble.LockMismatchError` unless the lock pins ``system``.

        Raises:
            LockMismatchError: with ``differences``, one line per problem.
        """
        differences = self.differences(system, platforms)
        if differences:
            where = f"lock {file}" if file else "the lock"
            raise LockMismatchError(
                f"{where} does not match the system: " + "; ".join(differences),
                differences=differences,
                file=file,
            )

    # -- JSON ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (plain values)."""
        return {
            "checksum": self.checksum,
            "images": {i.reference: i.to_json() for i in self.images},
            "platforms": [str(p) for p in self.platforms],
            "version": self.version,
        }

    def to_json(self) -> str:
        """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, *, file: str | None = None) -> Lock:
        """Read a lock; ``file`` only names it in errors.

        Raises:
            LockError: not JSON, an unknown version, or a missing or malformed field.
        """
        try:
            doc = loads_json(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise LockError(f"{file or 'lock'}: not valid JSON ({e})", file=file) from None
        name = file or "lock"
        if not isinstance(doc, dict):
            raise LockError(f"{name}: a lock is a JSON object", file=file)
        version = doc.get("version")
        if version != LOCK_VERSION:
            raise LockError(
                f"{name}: unsupported lock version {version!r} (this library reads "
                f"version {LOCK_VERSION})",
                file=file,
            )
        unknown = sorted(set(doc) - {"checksum", "images", "platforms", "version"})
        if unknown:
            raise LockError(f"{name}: unknown key {unknown[0]!r}", file=file)
        checksum = _digest(doc.get("checksum"), f"{name}: checksum", file)
        raw_platforms = doc.get("platforms")
        if not isinstance(raw_platforms, list):
            raise LockError(f"{name}: platforms must be a list", file=file)
        platforms = [
            _platform(p, f"{name}: platforms[{i}]", file) for i, p in enumerate(raw_platforms)
        ]
        raw_images = doc.get("images")
        if not isinstance(raw_images, dict):
            raise LockError(f"{name}: images must be an object", file=file)
        images = [cls._image(name, ref, value, file) for ref, value in raw_images.items()]
        return cls(checksum, platforms, images, version)

    @staticmethod
    def _image(name: str, reference: str, value: Any, file: str | None) -> LockedImage:
        where = f"{name}: images[{json.dumps(reference)}]"
        if not isinstance(value, dict):
            raise LockError(f"{where}: expected an object", file=file)
        unknown = sorted(set(value) - {"digest", "mediaType", "platforms"})
        if unknown:
            raise LockError(f"{where}: unknown key {unknown[0]!r}", file=file)
        digest = _digest(value.get("digest"), f"{where}.digest", file)
        media_type = value.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            raise LockError(f"{where}.mediaType: expected a media type string", file=file)
        raw = value.get("platforms")
        if not isinstance(raw, dict):
            raise LockError(f"{where}.platforms: expected an object", file=file)
        manifests = []
        for key, manifest in raw.items():
            platform = _platform(key, f"{where}.platforms key {key!r}", file)
            manifests.append(
                (str(platform), _digest(manifest, f"{where}.platforms[{key!r}]", file))
            )
        return LockedImage(reference, digest, media_type, manifests)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to ``path`` (atomically: a temp file renamed into place)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Lock:
        """Read a lock file.

        Raises:
            LockError: the file cannot be read or is not a valid lock (names the file).
        """
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise LockError(f"cannot read lock {path}: {e.strerror}", file=str(path)) from None
        return cls.from_json(data, file=str(path))

    # -- display ------------------------------------------------------------------------------

    def _rows(self) -> Iterator[tuple[str, str, str]]:
        for image in self.images:
            manifests = image.manifests or (("", ""),)
            for platform, manifest in manifests:
                yield image.reference, platform, manifest

    def __repr__(self) -> str:
        platforms = ",".join(str(p) for p in self.platforms)
        count = len(self.images)
        return f"Lock(platforms={platforms}, images={count}, checksum={self.checksum[:19]})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        if cycle:
            p.text(repr(self))
            return
        lines = [repr(self)]
        for reference, platform, manifest in self._rows():
            lines.append(f"  {reference}  {platform}  {_short(manifest)}".rstrip())
        p.text("\n".join(lines))

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td><code>{e(ref)}</code></td><td>{e(platform)}</td>"
            f'<td><code title="{e(manifest)}">{e(_short(manifest))}</code></td></tr>'
            for ref, platform, manifest in self._rows()
        )
        platforms = ", ".join(str(p) for p in self.platforms) or "no platform"
        return (
            f"<table><caption>Lock for {e(platforms)} "
            f'(<code title="{e(self.checksum)}">{e(_short(self.checksum))}</code>)</caption>'
            "<thead><tr><th>image</th><th>platform</th><th>manifest</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )


def _short(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}" if encoded else digest


def pin_system(system: System, lock: Lock) -> System:
    """The same system with every image reference pinned to the lock's digest
    (``name:tag@sha256:…``); what ``System.pinned(lock)`` returns.

    Raises:
        LockMismatchError: the lock does not pin every image of the system.

    Example::

        pinned = pin_system(system, lock)
        pinned.services[0].image   # 'docker.io/library/nginx:1.27@sha256:…'
    """
    lock.check(system, platforms=())
    pins = {i.reference: i.pinned for i in lock.images}

    def pin(reference: str) -> str:
        return pins[reference]

    kernel = system.kernel
    if kernel is not None and kernel.image:
        kernel = attrs.evolve(kernel, image=pin(kernel.image))
    changes: dict[str, Any] = {
        "kernel": kernel,
        "init": tuple(attrs.evolve(i, image=pin(i.image)) for i in system.init),
        "volumes": tuple(
            attrs.evolve(v, image=pin(v.image)) if v.image else v for v in system.volumes
        ),
    }
    for stage in ("onboot", "onshutdown", "services"):
        changes[stage] = tuple(attrs.evolve(c, image=pin(c.image)) for c in getattr(system, stage))
    return attrs.evolve(system, **changes)
