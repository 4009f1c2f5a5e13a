"""The rules of :class:`~moby_assemble.testing.FaultProxy`: faults, matching, the request log.

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypedDict, Unpack

import attrs

__all__ = ["Fault", "FaultKind", "InjectedFault", "Match", "ProxiedRequest"]

FaultKind = Literal[
    "reset",
    "drop",
    "truncate",
    "flip_byte",
    "content_length",
    "status",
    "delay",
    "throttle",
    "redirect",
    "redirect_loop",
    "headers",
]


def _freeze_headers(
    value: Mapping[str, str] | tuple[tuple[str, str], ...] | None,
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, tuple):
        return value
    return tuple(value.items())


class Match(TypedDict, total=False):
    """Which requests a :class:`Fault` applies to (keyword arguments of every factory).

    Attributes:
        method: only requests with this method (``GET``, ``PUT``, …); default any.
        path: a regular expression searched in the request target (path and query).
        times: how many matching requests the fault applies to (``None``: all); default 1.
        skip: let this many matching requests through untouched first.
    """

    method: str | None
    path: str
    times: int | None
    skip: int


@attrs.frozen
class Fault:
    """One misbehaviour rule: what to do, and which requests it applies to.

    Build faults with the class methods (:meth:`reset`, :meth:`status`, …) rather than the
    constructor. A rule matches a request when ``method`` (if given) equals the request method
    and the regular expression ``path`` is found in the request target (path *and* query);
    it skips the first ``skip`` matching requests and then applies to the next ``times`` ones
    (``None``: forever). When several rules match, the earliest injected one still active wins.

    Example::

        >>> Fault.status(503, times=3, path=r"/manifests/").times
        3
    """

    kind: FaultKind
    method: str | None = None
    path: str = ""
    times: int | None = 1
    skip: int = 0
    after_bytes: int = 0
    on: Literal["request", "response"] = "response"
    status_code: int = 0
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_freeze_headers)
    body: bytes = b""
    seconds: float = 0.0
    location: str = ""
    offset: int = 0
    remove_headers: tuple[str, ...] = ()

    @classmethod
    def reset(
        cls,
        after_bytes: int = 0,
        *,
        on: Literal["request", "response"] = "response",
        **match: Unpack[Match],
    ) -> Fault:
        """Reset the TCP connection after ``after_bytes`` bytes of the response body (or,
        with ``on="request"``, after reading that many bytes of the request body, before
        anything reaches the upstream)."""
        return cls("reset", after_bytes=after_bytes, on=on, **match)

    @classmethod
    def drop(cls, **match: Unpack[Match]) -> Fault:
        """Forward the request, let the upstream act on it, then reset the connection before
        any of the answer is sent (the request happened; the client never learns how)."""
        return cls("drop", **match)

    @classmethod
    def truncate(cls, after_bytes: int, **match: Unpack[Match]) -> Fault:
        """Send ``after_bytes`` bytes of the body under the upstream's ``Content-Length``, then
        close the connection cleanly (a short body)."""
        return cls("truncate", after_bytes=after_bytes, **match)

    @classmethod
    def flip_byte(cls, offset: int = 0, **match: Unpack[Match]) -> Fault:
        """Invert the bits of the body byte at ``offset`` (no-op if the body is shorter)."""
        return cls("flip_byte", offset=offset, **match)

    @classmethod
    def content_length(cls, value: int, **match: Unpack[Match]) -> Fault:
        """Advertise ``Content-Length: value`` whatever the body is; send at most that many
        bytes and close the connection if the real body is longer or shorter."""
        return cls("content_length", after_bytes=value, **match)

    @classmethod
    def status(
        cls,
        status_code: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        **match: Unpack[Match],
    ) -> Fault:
        """Answer ``status_code`` with these headers and body without asking the upstream
        (the request body is read and discarded, the connection stays usable)."""
        return cls("status", status_code=status_code, headers=headers, body=body, **match)

    @classmethod
    def too_many_requests(cls, retry_after: float | str = 1, **match: Unpack[Match]) -> Fault:
        """A ``429`` with ``Retry-After`` and the distribution-spec ``TOOMANYREQUESTS`` body."""
        value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
        return cls.status(
            429,
            headers={"Retry-After": value, "Content-Type": "application/json"},
            body=b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
            **match,
        )

    @classmethod
    def delay(cls, seconds: float, **match: Unpack[Match]) -> Fault:
        """Wait ``seconds`` before forwarding the request (a slow registry)."""
        return cls("delay", seconds=seconds, **match)

    @classmethod
    def throttle(cls, chunk: int, seconds: float, **match: Unpack[Match]) -> Fault:
        """Send the response body ``chunk`` bytes at a time, ``seconds`` apart."""
        return cls("throttle", after_bytes=chunk, seconds=seconds, **match)

    @classmethod
    def redirect(cls, location: str, *, status_code: int = 307, **match: Unpack[Match]) -> Fault:
        """Answer a redirect to ``location`` without asking the upstream."""
        return cls("redirect", status_code=status_code, location=location, **match)

    @classmethod
    def response_headers(
        cls,
        headers: Mapping[str, str] | None = None,
        *,
        remove: Sequence[str] = (),
        **match: Unpack[Match],
    ) -> Fault:
        """Forward, but change the upstream's response headers: drop those named in
        ``remove`` (e.g. ``Docker-Content-Digest``), then add or replace ``headers``
        (e.g. ``OCI-Subject``, a wrong ``Content-Type``)."""
        return cls("headers", headers=headers, remove_headers=tuple(remove), **match)

    @classmethod
    def redirect_loop(cls, *, status_code: int = 307, **match: Unpack[Match]) -> Fault:
        """Answer every matching request with a redirect to itself (forever unless ``times``
        is given)."""
        match.setdefault("times", None)
        return cls("redirect_loop", status_code=status_code, **match)

    def describe(self) -> str:
        """A short name for logs: ``"status 503"``, ``"reset@1000"``, …"""
        if self.kind in ("status", "redirect", "redirect_loop"):
            return f"{self.kind} {self.status_code}"
        if self.kind in ("reset", "truncate", "content_length"):
            return f"{self.kind}@{self.after_bytes}"
        if self.kind == "flip_byte":
            return f"flip_byte@{self.offset}"
        return self.kind


class InjectedFault:
    """A live rule inside a :class:`FaultProxy`: how often it matched and fired.

    Returned by :meth:`FaultProxy.inject`; :meth:`remove` takes it out again.
    """

    def __init__(self, fault: Fault, remove: Callable[[InjectedFault], None]) -> None:
        self.fault = fault
        self._remove = remove
        self._pattern = re.compile(fault.path)
        self.matched = 0
        self.fired = 0

    @property
    def exhausted(self) -> bool:
        return self.fault.times is not None and self.fired >= self.fault.times

    def claim(self, method: str, target: str) -> bool:
        """Count a request; ``True`` if the fault applies to it (call under the proxy lock)."""
        if self.exhausted:
            return False
        if self.fault.method is not None and self.fault.method.upper() != method:
            return False
        if not self._pattern.search(target):
            return False
        self.matched += 1
        if self.matched <= self.fault.skip:
            return False
        self.fired += 1
        return True

    def remove(self) -> None:
        """Stop applying this rule."""
        self._remove(self)

    def __repr__(self) -> str:
        return f"<InjectedFault {self.fault.describe()} fired={self.fired}>"


@attrs.frozen
class ProxiedRequest:
    """One request as the proxy saw it (``Authorization`` values are redacted).

    Attributes:
        method: ``GET``, ``PUT``, …
        target: path and query as sent (``/v2/a/blobs/uploads/?mount=…&from=b``).
        headers: the request headers, ``Authorization``/``Proxy-Authorization`` redacted.
        status: the status sent back (``None`` if the connection died before a response).
        response_headers: the response headers sent back.
        fault: :meth:`Fault.describe` of the fault applied, if any.
        request_bytes: request body bytes received.
        response_bytes: response body bytes sent.
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    status: int | None
    response_headers: tuple[tuple[str, str], ...] = ()
    fault: str | None = None
    request_bytes: int = 0
    response_bytes: int = 0

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> dict[str, list[str]]:
        """The parsed query parameters."""
        return urllib.parse.parse_qs(self.target.partition("?")[2], keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """The first request header of that name (case-insensitive), or ``None``."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)
