"""The OCI distribution client: one httpx client, per-host TLS, auth, retries, typed errors.

:class:`RegistryClient` is the one place registry traffic goes through. :meth:`~RegistryClient.
request` is the general entry point (the pusher uses it too); manifests and blobs have
verified helpers on top of it.

Example::

    from moby_assemble.registry import ImageReference, RegistryClient

    with RegistryClient() as client:
        ref = ImageReference.parse("127.0.0.1:5000/tools/busybox:1.36")
        manifest = client.get_manifest(ref)
        print(manifest.descriptor.digest, manifest.is_index)

Scheme rules: HTTPS with verification always, except for hosts configured ``plain_http``
(always HTTP), hosts marked ``insecure`` (unverified TLS, HTTP if HTTPS fails), and loopback
hosts (``127.0.0.0/8``, ``::1``, ``localhost``) whose HTTPS attempt fails for a reason other
than a bad certificate. The scheme that worked is remembered per host. A request with a
plain ``http://`` URL to any other host is refused before it is sent, also after redirects.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from .._errors import (
    ConfigError,
    IntegrityError,
    NotFoundError,
    RegistryError,
    RegistryTransportError,
    UnsupportedError,
)
from .._oci import Descriptor, MediaType
from .._version import __version__
from ._auth import Authenticator
from ._blobs import BlobSink, ProgressFn, fetch_blob_into, pull_scope
from ._config import (
    RegistryConfig,
    cert_verify_error,
    is_loopback,
    no_cookies,
    ssl_context_for,
)
from ._credentials import CredentialProvider
from ._errors_map import MAX_ERROR_BODY, error_for_status
from ._manifest import Manifest
from ._reference import ImageReference
from ._retry import RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_MAX_MANIFEST_SIZE",
    "DEFAULT_TIMEOUT",
    "BlobSink",
    "RegistryClient",
    "pull_scope",
    "push_scope",
]

_LOG = logging.getLogger("moby_assemble.registry")

#: Connect quickly or fail; reads may be slow for big layers on busy registries.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=15.0)
#: The spec asks registries and clients to handle manifests of at least 4 MB.
DEFAULT_MAX_MANIFEST_SIZE = 4 * 1024 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_PULL_METHODS = frozenset({"GET", "HEAD"})


def push_scope(ref: ImageReference) -> str:
    """The token scope for writing ``ref``'s repository."""
    return f"repository:{ref.repository}:pull,push"


def _strip_query(path: str) -> str:
    return path.split("?", 1)[0]


class RegistryClient:
    """A thread-safe client for OCI registries (pull side; the pusher builds on it).

    Args:
        credentials: where credentials come from (``DockerConfig()``,
            ``StaticCredentials({...})``); ``None`` for anonymous access.
        registries: per-registry settings keyed by registry name (``ImageReference.
            registry``); mirrors are configured under their own names too.
        timeout: httpx timeout (seconds or :class:`httpx.Timeout`).
        retry: the retry policy for idempotent requests.
        max_connections: connection pool size per host configuration.
        transport: an httpx transport to use for all traffic (a test seam).
        user_agent: the ``User-Agent`` header.

    Example::

        with RegistryClient(registries={"127.0.0.1:5000": RegistryConfig(plain_http=True)}) as c:
            desc = c.head_manifest(ImageReference.parse("127.0.0.1:5000/app:1"))
    """

    def __init__(
        self,
        *,
        credentials: CredentialProvider | None = None,
        registries: Mapping[str, RegistryConfig] | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_connections: int = 8,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = f"moby-assemble/{__version__}",
    ) -> None:
        self._registries = dict(registries or {})
        self._retry = retry or RetryPolicy()
        self._authenticator = Authenticator(credentials)
        self._schemes: dict[str, str] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        mounts: dict[str, httpx.BaseTransport | None] = {}
        if transport is None:
            # Loading the system's CA certificates costs ~30 ms: made on the first https
            # request. Plain-HTTP URLs (loopback and insecure registries) go through a
            # transport whose TLS context trusts nothing, so it can never carry TLS.
            transport = _LazyTransport(limits=limits)
            mounts["http://"] = httpx.HTTPTransport(
                limits=limits, verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            )
            for name, config in self._registries.items():
                if config.needs_own_tls:
                    host = "registry-1.docker.io" if name == "docker.io" else name
                    try:
                        ctx = ssl_context_for(config)
                    except (OSError, ssl.SSLError) as e:
                        raise ConfigError(
                            f"registry {name}: cannot load TLS files: {e}",
                            path=f"registries[{name!r}]",
                        ) from None
                    mounts[f"https://{host}"] = httpx.HTTPTransport(verify=ctx, limits=limits)
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            mounts=mounts,
            headers={"User-Agent": user_agent},
            cookies=no_cookies(),
            event_hooks={"request": [self._guard_plain_http]},
        )

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close all connections."""
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    def config_for(self, registry: str) -> RegistryConfig:
        """The settings for a registry name (defaults if it is not configured)."""
        config = self._registries.get(registry)
        if config is None and registry == "registry-1.docker.io":
            config = self._registries.get("docker.io")
        return config or RegistryConfig()

    # -- scheme handling ----------------------------------------------------------------

    def _plain_http_allowed(self, host: str) -> bool:
        config = self.config_for(host)
        return is_loopback(host) or config.insecure or config.plain_http

    def _guard_plain_http(self, request: httpx.Request) -> None:
        # Runs for every request httpx sends, redirects and token requests included.
        if request.url.scheme != "http":
            return
        host = request.url.netloc.decode("ascii")
        if not self._plain_http_allowed(host) and not self._plain_http_allowed(request.url.host):
            raise RegistryError(
                f"refusing plain HTTP to {host}: only loopback hosts and registries "
                "configured insecure or plain_http may be used without TLS",
                registry=host,
            )

    def _scheme(self, host: str) -> str:
        if self.config_for(host).plain_http:
            return "http"
        with self._lock:
            return self._schemes.get(host, "https")

    def _may_fall_back(self, host: str, scheme: str, exc: httpx.TransportError) -> bool:
        if scheme != "https" or not isinstance(exc, httpx.ConnectError):
            return False
        with self._lock:
            if host in self._schemes:
                return False
        config = self.config_for(host)
        if config.insecure:
            return True
        # A loopback host that speaks TLS with a certificate we do not trust is a
        # misconfiguration to report, not a reason to send the same request in clear.
        return is_loopback(host) and cert_verify_error(exc) is None

    def _remember_scheme(self, host: str, scheme: str) -> None:
        with self._lock:
            if self._schemes.get(host) != scheme:
                self._schemes[host] = scheme
                if scheme == "http":
                    _LOG.info("registry %s: using plain HTTP", host)

    # -- requests -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        ref: ImageReference,
        path: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
        idempotent: bool | None = None,
        url: str | None = None,
        expect: Collection[int] = (200,),
        use_mirrors: bool = False,
    ) -> httpx.Response:
        """Send one registry API request, with auth, scheme rules, retries and typed errors.

        Args:
            method: HTTP method.
            ref: the image (its registry and repository build the URL and name errors).
            path: the part after ``/v2/<repository>/`` (``manifests/latest``,
                ``blobs/sha256:…``, ``blobs/uploads/``).
            scopes: token scopes (:func:`pull_scope`, :func:`push_scope`, mount sources).
            headers: extra request headers.
            content: the body; an iterable is streamed (and then never retried).
            params: query parameters.
            stream: return without reading the body (the caller must close the response).
            idempotent: whether the request may be repeated; default from the method.
            url: send to this URL instead (an upload ``Location``: absolute, or relative
                to the registry).
            expect: the statuses that count as success.
            use_mirrors: try the registry's configured mirrors first (GET/HEAD only:
                never for existence checks before a push).

        Returns:
            The response (body read unless ``stream``).

        Raises:
            AuthenticationError, PermissionDeniedError, NotFoundError, RateLimitError,
            UnsupportedError, RegistryError: the registry answered a status not in
                ``expect``.
            RegistryTransportError: no answer after the retry budget.
        """
        method = method.upper()
        if use_mirrors and url is None and method in _PULL_METHODS:
            for mirror in self.config_for(ref.registry).mirrors:
                try:
                    return self._send(
                        method, ref, mirror, mirror, path, scopes=scopes, headers=headers,
                        content=content, params=params, stream=stream, idempotent=idempotent,
                        url=None, expect=expect,
                    )  # fmt: skip
                except (RegistryError, IntegrityError) as e:
                    _LOG.info("mirror %s failed for %s, trying the next source: %s", mirror, ref, e)
        return self._send(
            method, ref, ref.api_host, ref.registry, path, scopes=scopes, headers=headers,
            content=content, params=params, stream=stream, idempotent=idempotent, url=url,
            expect=expect,
        )  # fmt: skip

    def _build_url(self, host: str, ref: ImageReference, path: str, url: str | None) -> str:
        if url is None:
            return f"{self._scheme(host)}://{host}/v2/{ref.repository}/{path}"
        if url.startswith(("http://", "https://")):
            return url
        return f"{self._scheme(host)}://{host}/{url.lstrip('/')}"

    def _send(
        self,
        method: str,
        ref: ImageReference,
        host: str,
        registry: str,
        path: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None,
        content: bytes | Iterable[bytes] | None,
        params: Mapping[str, str] | None,
        stream: bool,
        idempotent: bool | None,
        url: str | None,
        expect: Collection[int],
    ) -> httpx.Response:
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        can_retry = idempotent and (content is None or isinstance(content, bytes))
        policy = self._retry
        absolute = url is not None and url.startswith(("http://", "https://"))
        where = _strip_query(path) if url is None else httpx.URL(url).path
        action = f"{method} {where or '/'}"
        reference = str(ref)
        auth = self._auth(registry, host, scopes)
        attempt = 0
        while True:
            attempt += 1
            target = httpx.URL(self._build_url(host, ref, path, url))
            if params:
                # httpx replaces a URL's query with ``params``; upload Locations carry state
                # (distribution's ``_state``) in theirs, so merge instead.
                target = target.copy_merge_params(dict(params))
            scheme = target.scheme
            request = self._http.build_request(method, target, headers=headers, content=content)
            _LOG.debug("%s %s (try %d)", method, request.url.copy_with(query=None), attempt)
            try:
                response = self._http.send(
                    request, auth=auth, stream=True, follow_redirects=method in _PULL_METHODS
                )
                if response.status_code in expect and not stream:
                    try:
                        response.read()
                    finally:
                        response.close()
            except httpx.TooManyRedirects:
                # A redirect loop is the registry's (or its CDN's) fault, not the network's:
                # retrying would loop again. Name where it started, never the URLs it went
                # through (their queries may carry signed tokens).
                raise RegistryError(
                    f"{action} {reference} on registry {registry}: too many redirects "
                    f"(more than {self._http.max_redirects})",
                    registry=registry,
                    reference=reference,
                ) from None
            except httpx.TransportError as exc:
                if not absolute and self._may_fall_back(host, scheme, exc):
                    _LOG.info("registry %s: HTTPS failed (%s), trying plain HTTP", host, exc)
                    self._remember_scheme(host, "http")
                    attempt -= 1
                    continue
                bad_cert = cert_verify_error(exc)
                if bad_cert is not None:
                    raise RegistryTransportError(
                        f"{action} {reference}: TLS certificate of {host} not trusted "
                        f"({bad_cert.verify_message}); configure a ca_bundle for registry "
                        f"{registry} or mark it insecure",
                        registry=registry,
                        reference=reference,
                    ) from None
                if can_retry and attempt < policy.attempts:
                    delay = policy.delay(attempt)
                    _LOG.info(
                        "%s %s on %s: %s; retrying in %.1f s",
                        action, reference, host, type(exc).__name__, delay,
                    )  # fmt: skip
                    time.sleep(delay)
                    continue
                raise RegistryTransportError(
                    f"{action} {reference} on registry {registry} failed after {attempt} "
                    f"tries: {type(exc).__name__}: {exc}",
                    registry=registry,
                    reference=reference,
                ) from None
            if not absolute:
                self._remember_scheme(host, scheme)
            self._note_warnings(registry, response)
            if response.status_code in expect:
                return response
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if (
                can_retry
                and policy.should_retry_status(response.status_code)
                and attempt < policy.attempts
                and (retry_after is None or retry_after <= policy.max_retry_after)
            ):
                response.close()
                delay = policy.delay(attempt, retry_after)
                _LOG.info(
                    "%s %s on %s: HTTP %d; retrying in %.1f s",
                    action, reference, host, response.status_code, delay,
                )  # fmt: skip
                time.sleep(delay)
                continue
            body = self._error_body(response)
            raise error_for_status(
                response.status_code,
                body,
                registry=registry,
                reference=reference,
                action=action,
                retry_after=retry_after,
            )

    def _auth(self, registry: str, host: str, scopes: Sequence[str]) -> httpx.Auth:
        return self._authenticator.auth_for(registry, host, tuple(scopes))

    @staticmethod
    def _error_body(response: httpx.Response) -> bytes:
        try:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_ERROR_BODY:
                    break
            return body
        except (httpx.HTTPError, httpx.StreamError):
            return b""
        finally:
            response.close()

    def _note_warnings(self, registry: str, response: httpx.Response) -> None:
        # Spec: surface ``Warning: 299 - "text"`` to the user, once each, never act on it.
        for value in response.headers.get_list("Warning"):
            if not value.startswith("299"):
                continue
            text = value[3:].strip().lstrip("-").strip().strip('"')
            key = f"{registry}\0{text}"
            with self._lock:
                if key in self._warned:
                    continue
                self._warned.add(key)
            _LOG.warning("registry %s warns: %s", registry, text)

    # -- manifests ----------------------------------------------------------------------

    def get_manifest(
        self,
        ref: ImageReference,
        *,
        accept: Sequence[str] = MediaType.ACCEPT_MANIFESTS,
        max_size: int = DEFAULT_MAX_MANIFEST_SIZE,
        expected: Descriptor | None = None,
    ) -> Manifest:
        """GET a manifest or index by tag or digest, keeping and verifying its exact bytes.

        The digest is checked against the pinned reference (or ``expected``), and against
        ``Docker-Content-Digest`` when the registry sends one.

        Raises:
            NotFoundError: no such manifest.
            IntegrityError: the bytes do not match a digest or size we know.
            UnsupportedError: larger than ``max_size``, schema 1, or not a manifest.
        """
        want_digest = expected.digest if expected is not None else ref.digest
        limit = min(max_size, expected.size) if expected is not None else max_size
        response = self.request(
            "GET",
            ref,
            f"manifests/{want_digest or ref.reference}",
            scopes=[pull_scope(ref)],
            headers={"Accept": ", ".join(accept)},
            stream=True,
            use_mirrors=True,
        )
        try:
            data = self._read_capped(response, limit, ref, max_size, expected)
        finally:
            response.close()
        header_digest = response.headers.get("Docker-Content-Digest")
        if header_digest is not None and want_digest is not None and header_digest != want_digest:
            raise IntegrityError(
                f"{ref}: registry {ref.registry} says the manifest is {header_digest}, "
                f"but {want_digest} was asked for",
                digest=want_digest,
                actual=header_digest,
                subject=str(ref),
            )
        try:
            check = want_digest or header_digest
            return Manifest.parse(
                data,
                content_type=response.headers.get("Content-Type"),
                digest=check,
                size=expected.size if expected is not None else None,
                reference=str(ref),
            )
        except ValueError as e:  # a malformed Docker-Content-Digest header
            raise UnsupportedError(
                f"{ref}: registry {ref.registry} sent a malformed digest header: {e}",
                registry=ref.registry,
                reference=str(ref),
            ) from None

    @staticmethod
    def _read_capped(
        response: httpx.Response,
        limit: int,
        ref: ImageReference,
        max_size: int,
        expected: Descriptor | None,
    ) -> bytes:
        def too_big(size: int | str) -> Exception:
            if expected is not None and expected.size < max_size:
                return IntegrityError(
                    f"{ref}: manifest is larger than its descriptor's {expected.size} bytes",
                    digest=expected.digest,
                    subject=str(ref),
                )
            return UnsupportedError(
                f"{ref}: manifest of {size} bytes exceeds the limit of {max_size} bytes",
                registry=ref.registry,
                reference=str(ref),
            )

        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_big(int(length))
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > limit:
                raise too_big(f"more than {limit}")
        return bytes(data)

    def head_manifest(
        self, ref: ImageReference, *, accept: Sequence[str] = MediaType.ACCEPT_MANIFESTS
    ) -> Descriptor:
        """Resolve a tag (or check a digest) with HEAD: media type, digest and size.

        Falls back to a GET when the registry sends no ``Docker-Content-Digest``.

        Raises:
            NotFoundError: no such manifest.
        """
        response = self.request(
            "HEAD",
            ref,
            f"manifests/{ref.reference}",
            scopes=[pull_scope(ref)],
            headers={"Accept": ", ".join(accept)},
            use_mirrors=True,
        )
        digest = response.headers.get("Docker-Content-Digest")
        length = response.headers.get("Content-Length", "")
        content_type = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        if (
            digest is None
            or not length.isdigit()
            or content_type not in (MediaType.INDEXES | MediaType.MANIFESTS)
        ):
            return self.get_manifest(ref, accept=accept).descriptor
        if ref.digest is not None and digest != ref.digest:
            raise IntegrityError(
                f"{ref}: registry {ref.registry} says the manifest is {digest}",
                digest=ref.digest,
                actual=digest,
                subject=str(ref),
            )
        try:
            return Descriptor(content_type, digest, int(length))
        except ValueError as e:
            raise UnsupportedError(
                f"{ref}: registry {ref.registry} sent a malformed digest header: {e}",
                registry=ref.registry,
                reference=str(ref),
            ) from None

    # -- blobs --------------------------------------------------------------------------

    def blob_exists(self, ref: ImageReference, digest: str) -> bool:
        """HEAD a blob in ``ref``'s repository (no mirrors: this answers "is it there")."""
        try:
            self.request("HEAD", ref, f"blobs/{digest}", scopes=[pull_scope(ref)], expect=(200,))
        except NotFoundError:
            return False
        return True

    def fetch_blob(
        self,
        ref: ImageReference,
        desc: Descriptor,
        writer: BlobSink,
        *,
        progress: ProgressFn | None = None,
    ) -> None:
        """Stream a blob into ``writer``, hashing as it arrives, resuming with ``Range``.

        Size and digest are checked before this returns; on a mismatch nothing further is
        written and :class:`IntegrityError` is raised (the store then discards the
        partial file). A dropped connection resumes at ``writer.offset`` with a ``Range``
        request; a registry that ignores ``Range`` makes us start again.

        Args:
            ref: the image (repository) the blob belongs to.
            desc: the blob's descriptor (digest and size are what is checked).
            writer: the sink, usually from ``Store.blob_writer(desc)``.
            progress: optional ``callable(done_bytes)`` called as data arrives.
        """
        fetch_blob_into(self, ref, desc, writer, progress=progress)


class _LazyTransport(httpx.BaseTransport):
    """httpx's :class:`~httpx.HTTPTransport`, made on its first request."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._transport: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def _get(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._transport is None:
                self._transport = httpx.HTTPTransport(**self._options)
            return self._transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._get().handle_request(request)

    def close(self) -> None:
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
