"""``oci-layout:`` references: any OCI image layout directory as an image source.

Forms (the path may not contain ``:``; the tag may, so full image names work)::

    oci-layout:/path/to/layout:tag          the entry whose ref.name annotation is "tag"
    oci-layout:/path/to/layout@sha256:<hex> the manifest or index with that digest
    oci-layout:/path/to/layout:tag@sha256:… both: the tag must point at that digest
    oci-layout:/path/to/layout              the layout's only entry

The *tag* is the ``org.opencontainers.image.ref.name`` annotation of an ``index.json``
entry, as ``skopeo``'s ``oci:`` transport and ``umoci`` use it.

Example::

    >>> ref = parse_layout_reference("oci-layout:/srv/images:alpine:3.19")
    >>> ref.path.as_posix(), ref.tag, ref.digest
    ('/srv/images', 'alpine:3.19', None)
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from .._errors import ImageReferenceError, StoreError
from .._oci import Descriptor, validate_digest
from ._index import validate_ref_name
from ._layout import Store

__all__ = ["LAYOUT_SCHEME", "LayoutReference", "is_layout_reference", "parse_layout_reference"]

LAYOUT_SCHEME = "oci-layout:"

# "<algorithm>:<anything without a slash>": an '@' followed by this starts a digest, while
# an '@' inside a directory name ("/srv/a@b/dir") does not.
_DIGEST_LIKE_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[^/]*$")


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

    def resolve(self, store: Store | None = None) -> Descriptor:
        """The descriptor of the referenced manifest or index.

        Raises:
            OfflineError / StoreError: the tag or digest is not in the layout, the layout
                has several entries and no tag was given, or tag and digest disagree.
        """
        store = store if store is not None else self.open()
        if self.tag is not None:
            desc = store.resolve(self.tag)
            if self.digest is not None and desc.digest != self.digest:
                raise StoreError(
                    f"{self}: tag {self.tag!r} points at {desc.digest}, not {self.digest}",
                    path=str(self.path),
                )
            return desc
        if self.digest is not None:
            return store.resolve_digest(self.digest)
        entries = store.entries()
        if len(entries) != 1:
            names = ", ".join(str(e.name) for e in entries) or "none"
            raise StoreError(
                f"{self}: name a tag or digest; the layout has {len(entries)} entries ({names})",
                path=str(self.path),
            )
        return entries[0].descriptor


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
