"""``oci-layout:`` references: any OCI image layout directory as an image source.

Forms (the path may not contain ``:``; the tag may, so full image names work)::

    oci-layout:/path/to/layout:tag          the entry whose ref.name annotation is "tag"
    oci-layout:/path/to/layout@sha256:<hex> the manifest or index with that digest
    oci-layout:/path/to/layout:tag@sha256:… both: the tag must point at that digest
    oci-layout:/path/to/layout              the layout's only entry

The *tag* is the ``org.opencontainers.image.ref.name`` annotation of an ``index.json``
entry, as ``skopeo``'s ``oci:`` transport and ``umoci`` use it. A relative path is kept as
written and made absolute only when used (:meth:`LayoutReference.anchored`), against the
directory of the file it came from or else the current directory.

Example::

    >>> ref = parse_layout_reference("oci-layout:/srv/images:alpine:3.19")
    >>> ref.path.as_posix(), ref.tag, ref.digest
    ('/srv/images', 'alpine:3.19', None)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import attrs

from .._errors import ImageReferenceError, IntegrityError, StoreError
from .._oci import Descriptor, validate_digest
from ._blob import CHUNK_SIZE
from ._index import validate_ref_name
from ._layout import MAX_DOCUMENT_SIZE, Store

__all__ = [
    "LAYOUT_SCHEME",
    "LayoutReference",
    "copy_layout_blob",
    "is_layout_reference",
    "parse_layout_reference",
    "read_layout_document",
]

LAYOUT_SCHEME = "oci-layout:"

# "<algorithm>:<anything without a slash>": an '@' followed by this starts a digest, while
# an '@' inside a directory name ("/srv/a@b/dir") does not.
_DIGEST_LIKE_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[^/]*$")
# How many tags an error about a missing tag lists.
_MAX_LISTED = 20


@attrs.frozen
class LayoutReference:
    """An image in an OCI layout directory.

    Attributes:
        path: the layout directory.
        tag: the ref.name annotation to look up, if given.
        digest: the manifest or index digest, if given.

    Example::

        >>> str(LayoutReference(Path("/srv/images"), tag="app:v1"))
        'oci-layout:/srv/images:app:v1'
    """

    path: Path
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = LAYOUT_SCHEME + self.path.as_posix()
        if self.tag is not None:
            text += ":" + self.tag
        if self.digest is not None:
            text += "@" + self.digest
        return text

    def open(self, *, offline: bool = True) -> Store:
        """The layout as a :class:`Store` (offline by default: a source is never fetched into)."""
        return Store(self.path, offline=offline)

    def with_digest(self, digest: str) -> LayoutReference:
        """The same reference pinned to ``digest`` (the tag is kept for readability).

        Raises:
            ImageReferenceError: ``digest`` is malformed.
        """
        try:
            return attrs.evolve(self, digest=validate_digest(digest))
        except ValueError as e:
            raise ImageReferenceError(f"{self}@{digest}", str(e)) from None

    def anchored(self, base_dir: str | os.PathLike[str] | None = None) -> LayoutReference:
        """The same reference with an absolute path: a relative one is taken relative to
        ``base_dir`` (the directory of the YAML file it was written in), else to the
        current directory.

        Example::

            >>> parse_layout_reference("oci-layout:images:app").anchored("/srv/cfg").path
            PosixPath('/srv/cfg/images')
        """
        path = self.path
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        return attrs.evolve(self, path=Path(os.path.normpath(path.absolute())))

    def open_source(self) -> Store:
        """The layout as a read-only image source: it must already exist.

        Raises:
            StoreError: there is no directory, or it is not an OCI image layout.
        """
        path = self.path
        if not path.is_dir():
            raise StoreError(f"{self}: there is no OCI image layout at {path}", path=str(path))
        if not (path / "oci-layout").is_file():
            raise StoreError(
                f"{self}: {path} is not an OCI image layout (it has no oci-layout file)",
                path=str(path),
            )
        return Store(path)

    def resolve(self, store: Store | None = None) -> Descriptor:
        """The descriptor of the referenced manifest or index.

        Raises:
            OfflineError / StoreError: the tag or digest is not in the layout, the layout
                has several entries and no tag was given, or tag and digest disagree.
        """
        store = store if store is not None else self.open()
        if self.tag is not None:
            desc = self._tagged(store, self.tag)
            if self.digest is not None and desc.digest != self.digest:
                raise StoreError(
                    f"{self}: tag {self.tag!r} points at {desc.digest}, not {self.digest}",
                    path=str(self.path),
                )
            return desc
        if self.digest is not None:
            try:
                return store.resolve_digest(self.digest)
            except StoreError:
                raise StoreError(
                    f"{self}: the layout {self.path} has no manifest or index {self.digest}",
                    path=str(self.path),
                ) from None
        entries = store.entries()
        if len(entries) != 1:
            names = ", ".join(str(e.name) for e in entries) or "none"
            raise StoreError(
                f"{self}: name a tag or digest; the layout has {len(entries)} entries ({names})",
                path=str(self.path),
            )
        return entries[0].descriptor

    def _tagged(self, store: Store, tag: str) -> Descriptor:
        names = store.names()
        if tag not in names:
            shown = ", ".join(repr(n) for n in names[:_MAX_LISTED]) or "none"
            if len(names) > _MAX_LISTED:
                shown += f" and {len(names) - _MAX_LISTED} more"
            raise StoreError(
                f"{self}: no tag {tag!r} in the OCI layout {self.path} (its tags: {shown})",
                path=str(self.path),
            )
        return store.resolve(tag)


def read_layout_document(
    ref: LayoutReference, layout: Store, desc: Descriptor, *, max_size: int = MAX_DOCUMENT_SIZE
) -> bytes:
    """The bytes of a manifest or index in ``layout``, checked against ``desc``.

    Raises:
        StoreError: the layout does not have the blob, or it is larger than ``max_size``.
        IntegrityError: its size or digest is not the descriptor's; the message names the
            layout and the digest.
    """
    path = layout.blob_path(desc.digest)
    if not path.is_file():
        raise _missing_blob(ref, desc)
    try:
        data = layout.read_blob(desc.digest, max_size=max_size)
    except IntegrityError as e:
        raise _corrupt(ref, desc, path, e) from None
    if desc.size and len(data) != desc.size:
        raise _corrupt(ref, desc, path, IntegrityError(f"{len(data)} bytes, expected {desc.size}"))
    return data


def copy_layout_blob(ref: LayoutReference, layout: Store, desc: Descriptor, target: Store) -> None:
    """Stream a blob from ``layout`` into ``target``, verified against ``desc`` on the way.

    Nothing is committed to ``target`` unless size and digest match.

    Raises:
        StoreError: the layout does not have the blob.
        IntegrityError: its size or digest is not the descriptor's (naming the layout and
            the digest).
    """
    path = layout.blob_path(desc.digest)
    try:
        source = open(path, "rb")  # noqa: SIM115 (closed below; FileNotFoundError first)
    except FileNotFoundError:
        raise _missing_blob(ref, desc) from None
    except OSError as e:
        raise StoreError(
            f"{ref}: cannot read blob {desc.digest}: {e.strerror}", path=str(path)
        ) from None
    try:
        with source, target.blob_writer(desc) as writer:
            # Read one byte past the expected size: a longer file fails in the writer.
            remaining = desc.size + 1
            while remaining > 0:
                chunk = source.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    break
                writer.write(chunk)
                remaining -= len(chunk)
    except IntegrityError as e:
        raise _corrupt(ref, desc, path, e) from None


def _missing_blob(ref: LayoutReference, desc: Descriptor) -> StoreError:
    return StoreError(
        f"{ref}: blob {desc.digest} ({desc.media_type}) is missing from the OCI layout {ref.path}",
        path=str(ref.path),
    )


def _corrupt(
    ref: LayoutReference, desc: Descriptor, path: Path, cause: IntegrityError
) -> IntegrityError:
    return IntegrityError(
        f"{ref}: blob {desc.digest} in the OCI layout {ref.path} is corrupt ({cause})",
        digest=desc.digest,
        actual=cause.actual,
        subject=str(path),
    )


def is_layout_reference(text: str) -> bool:
    """True if ``text`` uses the ``oci-layout:`` scheme."""
    return text.startswith(LAYOUT_SCHEME)


def parse_layout_reference(text: str) -> LayoutReference:
    """Parse ``oci-layout:PATH[:TAG][@DIGEST]``.

    Raises:
        ImageReferenceError: wrong scheme, empty path, malformed tag or digest.
    """
    if not isinstance(text, str) or not is_layout_reference(text):
        raise ImageReferenceError(str(text), f"expected {LAYOUT_SCHEME}PATH[:TAG][@DIGEST]")
    rest = text[len(LAYOUT_SCHEME) :]
    digest: str | None = None
    if "@" in rest:
        head, tail = rest.rsplit("@", 1)
        if _DIGEST_LIKE_RE.match(tail):  # looks like a digest: it must be a valid one
            try:
                digest = validate_digest(tail)
            except ValueError as e:
                raise ImageReferenceError(text, str(e)) from None
            rest = head
    path_text, sep, tag = rest.partition(":")
    if not path_text:
        raise ImageReferenceError(text, "empty layout path")
    if sep and not tag:
        raise ImageReferenceError(text, "empty tag after ':'")
    if tag:
        try:
            validate_ref_name(tag)
        except ImageReferenceError as e:
            raise ImageReferenceError(text, f"tag {tag!r}: {e.reason}") from None
    return LayoutReference(Path(path_text).expanduser(), tag or None, digest)
