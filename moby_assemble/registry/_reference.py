"""Image references with Docker's normalisation.

``alpine`` is ``docker.io/library/alpine:latest``; ``localhost:5000/x`` is on ``localhost:5000``;
``[::1]:5000/x:1@sha256:…`` keeps both tag and digest (the digest is what gets fetched).
The grammar follows distribution's ``reference`` package: a first path component is a registry
host only if it contains ``.`` or ``:``, is ``localhost``, or is a bracketed IPv6 address.
"""

from __future__ import annotations

import ipaddress
import re

import attrs

from .._errors import ImageReferenceError
from .._oci import validate_digest

__all__ = ["DOCKER_HUB", "DOCKER_HUB_API", "ImageReference"]

#: The canonical name of Docker Hub in references.
DOCKER_HUB = "docker.io"
#: Where Docker Hub's registry API is actually served.
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# fullmatch everywhere: "$" would also match before a trailing newline. Tags are ASCII only
# (``\w`` would let Unicode letters in).
_COMPONENT_RE = re.compile(_COMPONENT)
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_RE = re.compile(
    rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::[0-9]+)?"
)
_MAX_NAME = 255


def _valid_host(host: str) -> bool:
    m = _HOST_RE.fullmatch(host)
    if m is None:
        return False
    if m.group("ipv6") is not None:
        # The grammar alone accepts "[:::::]"; only a real IPv6 address is a host.
        try:
            ipaddress.IPv6Address(m.group("ipv6"))
        except ValueError:
            return False
    return True


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        domain, remainder = first, rest
    else:
        domain, remainder = DOCKER_HUB, name
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


@attrs.frozen(order=True)
class ImageReference:
    """A parsed, normalised image reference.

    Example::

        >>> ref = ImageReference.parse("alpine")
        >>> str(ref), ref.api_host
        ('docker.io/library/alpine:latest', 'registry-1.docker.io')
        >>> ImageReference.parse("localhost:5000/kernel:6.6").registry
        'localhost:5000'

    Attributes:
        registry: the registry as written in references (``docker.io``, ``host:port``).
        repository: the repository path inside it (``library/alpine``).
        tag: the tag, or ``None`` when the reference names only a digest.
        digest: the manifest digest, if pinned.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, *, default_tag: str | None = "latest") -> ImageReference:
        """Parse and normalise a reference.

        Args:
            text: ``[registry/]repository[:tag][@digest]``.
            default_tag: the tag used when neither tag nor digest is given (``None`` to leave
                it unset, as LinuxKit's configuration normaliser does).

        Raises:
            ImageReferenceError: the text is not a valid reference (the message says why:
                upper case, bad tag, bad digest, too long, …).
        """
        if not isinstance(text, str):
            raise ImageReferenceError(repr(text), "a reference must be a string")
        if not text or text != text.strip():
            raise ImageReferenceError(text, "empty or surrounded by white space")
        rest = text
        digest = None
        if "@" in rest:
            rest, _, digest = rest.partition("@")
            try:
                validate_digest(digest)
            except ValueError as e:
                raise ImageReferenceError(text, str(e)) from None
        tag = None
        # A tag is after the last ':' that comes after the last '/': "host:5000/x" has none.
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash and not rest.endswith("]"):
            rest, tag = rest[:colon], rest[colon + 1 :]
            if not _TAG_RE.fullmatch(tag):
                raise ImageReferenceError(text, f"invalid tag {tag!r}")
        if not rest:
            raise ImageReferenceError(text, "missing repository name")
        domain, remainder = _split_domain(rest)
        if not _valid_host(domain):
            raise ImageReferenceError(text, f"invalid registry host {domain!r}")
        for component in remainder.split("/"):
            if not _COMPONENT_RE.fullmatch(component):
                if component.lower() != component and _COMPONENT_RE.fullmatch(component.lower()):
                    raise ImageReferenceError(text, "repository name must be lowercase")
                raise ImageReferenceError(text, f"invalid repository path component {component!r}")
        if len(domain) + 1 + len(remainder) > _MAX_NAME:
            raise ImageReferenceError(text, f"name longer than {_MAX_NAME} characters")
        if tag is None and digest is None:
            if default_tag is not None and not _TAG_RE.fullmatch(default_tag):
                raise ImageReferenceError(text, f"invalid default tag {default_tag!r}")
            tag = default_tag
        return cls(domain, remainder, tag, digest)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host that serves the registry API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        if self.digest is not None:
            return self.digest
        return self.tag or "latest"

    @property
    def is_pinned(self) -> bool:
        return self.digest is not None

    def with_digest(self, digest: str) -> ImageReference:
        """The same reference pinned to ``digest`` (the tag is kept for readability).

        Raises:
            ImageReferenceError: ``digest`` is not a valid digest.
        """
        try:
            # validate_digest's "$" accepts a trailing newline; a digest never holds space.
            if any(c.isspace() for c in digest):
                raise ValueError(f"malformed digest {digest!r}")
            validate_digest(digest)
        except (ValueError, TypeError) as e:
            raise ImageReferenceError(f"{self}@{digest}", str(e)) from None
        return attrs.evolve(self, digest=digest)

    def with_tag(self, tag: str) -> ImageReference:
        """The same repository at another tag (drops any digest)."""
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise ImageReferenceError(f"{self.name}:{tag}", f"invalid tag {tag!r}")
        return attrs.evolve(self, tag=tag, digest=None)

    def in_repository(self, repository: str) -> ImageReference:
        """The same tag and digest in another repository of the same registry."""
        for component in repository.split("/"):
            if not _COMPONENT_RE.fullmatch(component):
                raise ImageReferenceError(
                    f"{self.registry}/{repository}",
                    f"invalid repository path component {component!r}",
                )
        if len(self.registry) + 1 + len(repository) > _MAX_NAME:
            raise ImageReferenceError(
                f"{self.registry}/{repository}", f"name longer than {_MAX_NAME} characters"
            )
        return attrs.evolve(self, repository=repository)

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out
