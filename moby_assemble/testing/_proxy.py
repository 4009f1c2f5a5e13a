"""A fault-injection HTTP proxy for testing registry clients against a misbehaving network.

:class:`FaultProxy` is a real reverse proxy on 127.0.0.1 (a random port, its own threads) in
front of one upstream URL, typically a :class:`~moby_assemble.testing.LocalRegistry` or a token
server. It forwards every request unchanged (``Range`` included, streamed both ways, chunked
bodies re-framed) and misbehaves when a :class:`Fault` rule matches::

    with FaultProxy(registry.url) as proxy:
        proxy.inject(Fault.status(503, times=2, path=r"/manifests/"))
        proxy.inject(Fault.reset(after_bytes=1000, path=r"/blobs/sha256:"))
        client_under_test(proxy.host)               # 127.0.0.1:PORT
        assert [r.status for r in proxy.requests][:2] == [503, 503]

Faults (built with the class methods of :class:`Fault`):

* ``reset`` - forward, then reset the connection (TCP RST) after N response body bytes;
  with ``on="request"`` reset after reading N bytes of the *request* body (an upload dies).
* ``drop`` - forward the request, then reset the connection before sending any of the answer
  (the upstream acted on it, the client cannot know).
* ``truncate`` - send only N body bytes under the original ``Content-Length``, then close.
* ``flip_byte`` - invert one byte of the body (a corrupt blob that still has the right size).
* ``content_length`` - advertise a wrong ``Content-Length`` and close after the shorter of it
  and the real body.
* ``status`` (``too_many_requests``) - answer with a status (429 + ``Retry-After``, 500/503
  bursts, a token endpoint that fails) without contacting the upstream.
* ``response_headers`` - forward, but remove, add or replace response headers.
* ``delay`` / ``throttle`` - a slow registry: wait before answering, or trickle the body.
* ``redirect`` / ``redirect_loop`` - answer a redirect to another URL, or to the same URL.

Every request is recorded in :attr:`FaultProxy.requests` (method, target, headers with
``Authorization`` values redacted, status, the fault applied). Absolute URLs of the upstream in
``Location``, ``Link`` and ``WWW-Authenticate`` headers are rewritten to point at the proxy, and
``X-Forwarded-Proto``/``X-Forwarded-Host`` are sent so a registry builds upload locations that
come back through the proxy; ``rewrite=`` adds more substitutions (e.g. a token realm → a second
proxy in front of the token server).

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from ._proxy_rules import Fault, InjectedFault, Match, ProxiedRequest
from ._service import Service

__all__ = ["Fault", "FaultProxy", "InjectedFault", "Match", "ProxiedRequest"]

_CHUNK = 64 * 1024
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_REWRITTEN = frozenset({"location", "link", "www-authenticate", "content-location"})
_REDACTED = "<redacted>"


class _AbortError(Exception):
    """The handler gave up on this connection (it was reset or closed on purpose)."""


class FaultProxy(Service):
    """A reverse proxy on 127.0.0.1 that forwards to ``upstream`` and misbehaves on command.

    Args:
        upstream: the URL of the upstream server (``http://127.0.0.1:5000`` or ``https://…``).
        upstream_ssl: the SSL context for an ``https`` upstream (e.g. one trusting the test CA);
            default: the system's default context.
        server_ssl: serve HTTPS with this server-side context instead of plain HTTP.
        rewrite: extra ``{old: new}`` substitutions applied to ``Location``, ``Link`` and
            ``WWW-Authenticate`` response headers (the upstream URL → :attr:`url` is built in).
        timeout: seconds to wait for the upstream and for idle client connections.

    Example::

        with LocalRegistry(tmp) as reg, FaultProxy(reg.url) as proxy:
            proxy.inject(Fault.too_many_requests(retry_after=1, path="/manifests/"))
            ...
            assert proxy.requests[0].status == 429
    """

    def __init__(
        self,
        upstream: str,
        *,
        upstream_ssl: ssl.SSLContext | None = None,
        server_ssl: ssl.SSLContext | None = None,
        rewrite: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._up_scheme = parts.scheme
        self._up_host = parts.hostname
        self._up_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._up_prefix = parts.path.rstrip("/")
        self._upstream_ssl = upstream_ssl
        self._server_ssl = server_ssl
        self._extra_rewrite = dict(rewrite or {})
        self.timeout = timeout
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._rules: list[InjectedFault] = []
        self._log: list[ProxiedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        #: How many client connections were accepted so far (keep-alive reuses one).
        self.connections_accepted = 0
        self.host = ""

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with ``server_ssl``)."""
        return f"{'https' if self._server_ssl else 'http'}://{self.host}"

    def start(self) -> Self:
        """Start listening on 127.0.0.1 (random port) and serving in a daemon thread."""
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"proxy": self, "timeout": self.timeout})
        server = _Server(("127.0.0.1", 0), handler)
        if self._server_ssl is not None:
            # Handshakes happen lazily in the handler threads, not in the accept loop.
            server.socket = self._server_ssl.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self.host = f"127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fault-proxy-{self.host}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    # -- rules and log -------------------------------------------------------------------

    def inject(self, fault: Fault) -> InjectedFault:
        """Add a rule; it applies to requests that start after this call."""
        rule = InjectedFault(fault, self._remove)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def _remove(self, rule: InjectedFault) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    @property
    def requests(self) -> tuple[ProxiedRequest, ...]:
        """Every finished request so far, oldest first.

        A client can hold a complete answer a moment before the proxy thread has logged it,
        so this waits (up to a second) for requests still in progress to be logged.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=1.0)
            return tuple(self._log)

    def clear_log(self) -> None:
        """Forget the recorded requests (after those in progress are logged)."""
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=1.0)
            self._log.clear()

    def find(self, method: str | None = None, path: str = "") -> list[ProxiedRequest]:
        """Recorded requests with this method (if given) whose target matches ``path``."""
        pattern = re.compile(path)
        return [  # self.requests waits for requests in progress
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and pattern.search(r.target)
        ]

    # -- used by the handler -------------------------------------------------------------

    def _claim(self, method: str, target: str) -> Fault | None:
        with self._lock:
            self._inflight += 1
            for rule in self._rules:
                if rule.claim(method, target):
                    return rule.fault
        return None

    def _record(self, entry: ProxiedRequest) -> None:
        with self._idle:
            self._log.append(entry)
            self._inflight -= 1
            self._idle.notify_all()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self.connections_accepted += 1
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _rewrite(self, value: str) -> str:
        value = value.replace(self.upstream, self.url)
        for old, new in self._extra_rewrite.items():
            value = value.replace(old, new)
        return value

    def _connect_upstream(self) -> http.client.HTTPConnection:
        if self._up_scheme == "https":
            ctx = self._upstream_ssl or ssl.create_default_context()
            return http.client.HTTPSConnection(
                self._up_host, self._up_port, timeout=self.timeout, context=ctx
            )
        return http.client.HTTPConnection(self._up_host, self._up_port, timeout=self.timeout)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    # socketserver prints tracebacks of failed handlers to stderr; a test proxy that resets
    # connections on purpose must stay quiet.
    def handle_error(self, request: object, client_address: object) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.1"
    server_version = "moby-assemble-fault-proxy"

    # Library code never prints: http.server logs every request to stderr by default.
    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.proxy._track(self.connection, True)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def finish(self) -> None:
        self.proxy._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _AbortError:
            self.close_connection = True
        except (OSError, http.client.HTTPException):
            self.close_connection = True

    # Every method goes through one path.
    def do_GET(self) -> None:
        self._proxy_request()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET  # noqa: N815

    # -- the request ---------------------------------------------------------------------

    def _proxy_request(self) -> None:
        method = self.command
        target = self.path
        fault = self.proxy._claim(method, target)
        self._status: int | None = None
        self._sent_headers: list[tuple[str, str]] = []
        self._req_bytes = 0
        self._resp_bytes = 0
        try:
            self._dispatch(method, target, fault)
        finally:
            self.proxy._record(
                ProxiedRequest(
                    method=method,
                    target=target,
                    headers=tuple(
                        (
                            k,
                            _REDACTED
                            if k.lower() in ("authorization", "proxy-authorization")
                            else v,
                        )
                        for k, v in self.headers.items()
                    ),
                    status=self._status,
                    response_headers=tuple(self._sent_headers),
                    fault=fault.describe() if fault is not None else None,
                    request_bytes=self._req_bytes,
                    response_bytes=self._resp_bytes,
                )
            )

    def _dispatch(self, method: str, target: str, fault: Fault | None) -> None:
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and kind == "reset" and fault.on == "request":
            for _ in self._request_body(limit=fault.after_bytes):
                pass
            self._reset()
        if fault is not None and kind in ("status", "redirect", "redirect_loop"):
            for _ in self._request_body():
                pass
            if kind == "status":
                self._answer(fault.status_code, fault.headers, fault.body)
            else:
                location = fault.location if kind == "redirect" else self.proxy.url + target
                self._answer(fault.status_code, (("Location", location),), b"")
            return
        self._forward(method, target, fault)

    def _request_body(self, limit: int | None = None) -> Iterator[bytes]:
        """The request body in pieces, un-chunked; stops after ``limit`` bytes if given."""
        encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in encoding:
            pieces = self._read_chunked()
        else:
            pieces = self._read_length(int(self.headers.get("Content-Length") or 0))
        for piece in pieces:
            if limit is not None and self._req_bytes + len(piece) >= limit:
                piece = piece[: limit - self._req_bytes]
                self._req_bytes += len(piece)
                yield piece
                return
            self._req_bytes += len(piece)
            yield piece

    def _read_length(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            piece = self.rfile.read(min(_CHUNK, remaining))
            if not piece:
                raise _AbortError("client closed the connection mid-body")
            remaining -= len(piece)
            yield piece

    def _read_chunked(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise _AbortError("client closed the connection mid-body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailers, then the empty line that ends the body.
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return
            yield from self._read_length(size)
            self.rfile.readline(1024)

    def _forward(self, method: str, target: str, fault: Fault | None) -> None:
        proxy = self.proxy
        conn = proxy._connect_upstream()
        try:
            conn.putrequest(
                method, proxy._up_prefix + target, skip_host=True, skip_accept_encoding=True
            )
            chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            for name, value in self.headers.items():
                if name.lower() in _HOP_BY_HOP:
                    continue
                conn.putheader(name, value)
            conn.putheader("X-Forwarded-Proto", "https" if proxy._server_ssl else "http")
            conn.putheader("X-Forwarded-Host", self.headers.get("Host") or proxy.host)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for piece in self._request_body():
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                conn.send(b"0\r\n\r\n")
            resp = conn.getresponse()
            self._relay(method, resp, fault)
        finally:
            conn.close()

    # -- the response --------------------------------------------------------------------

    def _relay(self, method: str, resp: http.client.HTTPResponse, fault: Fault | None) -> None:
        kind = fault.kind if fault is not None else None
        if kind == "drop":
            resp.read()
            self._reset()
        headers: list[tuple[str, str]] = []
        length: int | None = None
        for name, value in resp.getheaders():
            lname = name.lower()
            if lname in _HOP_BY_HOP:
                continue
            if lname == "content-length":
                length = int(value)
                continue
            if lname in _REWRITTEN:
                value = self.proxy._rewrite(value)
            headers.append((name, value))
        if fault is not None and kind == "headers":
            dropped = {n.lower() for n in fault.remove_headers}
            dropped |= {n.lower() for n, _ in fault.headers}
            headers = [(n, v) for n, v in headers if n.lower() not in dropped]
            headers.extend(fault.headers)
        bodyless = method == "HEAD" or resp.status in (204, 304) or resp.status < 200
        advertised = length
        if fault is not None and kind == "content_length":
            advertised = fault.after_bytes
        if advertised is not None:
            headers.append(("Content-Length", str(advertised)))
        chunked_out = advertised is None and not bodyless
        if chunked_out:
            headers.append(("Transfer-Encoding", "chunked"))
        self._head(resp.status, resp.reason, headers)
        if bodyless:
            resp.read()
            return

        sent = 0
        budget: int | None = None  # stop after this many body bytes
        if fault is not None and kind in ("reset", "truncate", "content_length"):
            budget = fault.after_bytes
        piece_size = fault.after_bytes if (fault is not None and kind == "throttle") else _CHUNK
        try:
            while True:
                piece = resp.read(max(1, piece_size))
                if not piece:
                    break
                if fault is not None and kind == "flip_byte":
                    at = fault.offset - sent
                    if 0 <= at < len(piece):
                        piece = piece[:at] + bytes([piece[at] ^ 0xFF]) + piece[at + 1 :]
                if budget is not None and sent + len(piece) > budget:
                    piece = piece[: budget - sent]
                    self._write_body(piece, chunked_out)
                    sent += len(piece)
                    self._cut(kind)
                self._write_body(piece, chunked_out)
                sent += len(piece)
                if fault is not None and kind == "throttle":
                    time.sleep(fault.seconds)
        except http.client.HTTPException:
            # The upstream itself broke off: pass the failure on rather than fake an end.
            self._reset()
        if budget is not None and kind != "content_length" and sent >= budget:
            self._cut(kind)
        if kind == "content_length" and sent != advertised:
            self._cut("truncate")
        if chunked_out:
            self.wfile.write(b"0\r\n\r\n")

    def _write_body(self, piece: bytes, chunked: bool) -> None:
        if not piece:
            return
        if chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        else:
            self.wfile.write(piece)
        self._resp_bytes += len(piece)

    def _cut(self, kind: str | None) -> None:
        if kind == "reset":
            self._reset()
        # A clean close (FIN) after a short body.
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _AbortError("body cut short on purpose")

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into a TCP RST: "connection reset by peer".
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        raise _AbortError("connection reset on purpose")

    def _head(self, status: int, reason: str, headers: list[tuple[str, str]]) -> None:
        self.send_response_only(status, reason or None)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self._status = status
        self._sent_headers = headers

    def _answer(self, status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> None:
        out = [(k, v) for k, v in headers if k.lower() != "content-length"]
        out.append(("Content-Length", str(len(body))))
        self._head(status, "", out)
        if self.command != "HEAD":
            self.wfile.write(body)
            self._resp_bytes += len(body)
