"""The fault-injection proxy, in front of the real test registries."""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from moby_assemble.testing import Fault, FaultProxy, LocalRegistry, make_tls_files
from tests.conftest import TEST_PASSWORD, TEST_USER

BLOB = bytes(range(256)) * 1024  # 256 KiB, every byte value, so a flipped byte is visible
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
REPO = "proxy-test/blob"
BLOB_PATH = f"/v2/{REPO}/blobs/{BLOB_DIGEST}"


def _upload(base: str, repo: str, data: bytes) -> str:
    """Monolithic upload straight through ``base``; returns the blob digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client() as c:
        start = c.post(f"{base}/v2/{repo}/blobs/uploads/")
        assert start.status_code == 202, start.text
        location = httpx.URL(base).join(start.headers["Location"])
        # params= would replace the upload URL's own query (its state token): merge instead.
        done = c.put(location.copy_merge_params({"digest": digest}), content=data)
        assert done.status_code == 201, done.text
    return digest


@pytest.fixture(scope="module")
def seeded(registry: LocalRegistry) -> LocalRegistry:
    _upload(registry.url, REPO, BLOB)
    return registry


@pytest.fixture
def proxy(seeded: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(seeded.url) as p:
        yield p


def test_forwards_requests_unchanged_and_logs_them(proxy: FaultProxy) -> None:
    with httpx.Client(base_url=proxy.url) as c:
        assert c.get("/v2/").status_code == 200
        r = c.get(BLOB_PATH)
    assert r.status_code == 200
    assert r.content == BLOB
    assert r.headers["Docker-Content-Digest"] == BLOB_DIGEST
    assert [(e.method, e.path, e.status) for e in proxy.requests] == [
        ("GET", "/v2/", 200),
        ("GET", BLOB_PATH, 200),
    ]
    assert proxy.requests[1].response_bytes == len(BLOB)


def test_keeps_client_connections_alive(proxy: FaultProxy) -> None:
    with httpx.Client(base_url=proxy.url) as c:
        for _ in range(3):
            assert c.head(BLOB_PATH).status_code == 200
    assert proxy.connections_accepted == 1


def test_range_requests_reach_the_upstream(proxy: FaultProxy) -> None:
    r = httpx.get(proxy.url + BLOB_PATH, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.content == BLOB[1000:2000]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(BLOB)}"


def test_streamed_chunked_upload_is_reframed_for_the_upstream(
    proxy: FaultProxy, seeded: LocalRegistry
) -> None:
    data = b"chunked body " * 10000

    def pieces() -> Iterator[bytes]:  # no length: httpx sends Transfer-Encoding: chunked
        for i in range(0, len(data), 7000):
            yield data[i : i + 7000]

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client() as c:
        start = c.post(f"{proxy.url}/v2/proxy-test/chunked/blobs/uploads/")
        # The registry built the upload URL for the proxy, so the upload stays on it.
        assert start.headers["Location"].startswith(proxy.url)
        location = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": digest})
        done = c.put(location, content=pieces())
    assert done.status_code == 201, done.text
    put = proxy.find("PUT", "/blobs/uploads/")[0]
    assert put.header("Transfer-Encoding") == "chunked"
    assert put.request_bytes == len(data)
    got = httpx.get(f"{seeded.url}/v2/proxy-test/chunked/blobs/{digest}")
    assert got.content == data


def test_reset_cuts_the_response_after_n_bytes_once(proxy: FaultProxy) -> None:
    rule = proxy.inject(Fault.reset(after_bytes=10_000, path="/blobs/sha256:"))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(proxy.url + BLOB_PATH)
    assert rule.fired == 1
    assert httpx.get(proxy.url + BLOB_PATH).content == BLOB
    cut, ok = proxy.requests
    assert (cut.fault, cut.response_bytes) == ("reset@10000", 10_000)
    assert (ok.fault, ok.response_bytes) == (None, len(BLOB))


def test_reset_on_request_kills_an_upload_before_the_upstream_sees_it(
    proxy: FaultProxy, seeded: LocalRegistry
) -> None:
    data = b"x" * 200_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    proxy.inject(Fault.reset(after_bytes=50_000, on="request", method="PUT"))
    with pytest.raises(httpx.TransportError):
        _upload(proxy.url, "proxy-test/dead-upload", data)
    assert proxy.find("PUT")[0].request_bytes == 50_000
    assert httpx.head(f"{seeded.url}/v2/proxy-test/dead-upload/blobs/{digest}").status_code == 404


def test_drop_lets_the_upstream_act_but_loses_the_answer(
    proxy: FaultProxy, seeded: LocalRegistry
) -> None:
    data = b"dropped answer"
    proxy.inject(Fault.drop(method="PUT"))
    with pytest.raises(httpx.TransportError):
        _upload(proxy.url, "proxy-test/dropped", data)
    assert proxy.find("PUT")[0].status is None
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert httpx.head(f"{seeded.url}/v2/proxy-test/dropped/blobs/{digest}").status_code == 200


def test_truncate_sends_a_short_body_under_the_full_length(proxy: FaultProxy) -> None:
    proxy.inject(Fault.truncate(1234, path=BLOB_DIGEST))
    received = bytearray()

    def read_all() -> None:
        with httpx.stream("GET", proxy.url + BLOB_PATH) as r:
            assert r.headers["Content-Length"] == str(len(BLOB))
            for piece in r.iter_raw():
                received.extend(piece)

    with pytest.raises(httpx.RemoteProtocolError):
        read_all()
    assert bytes(received) == BLOB[:1234]


def test_flip_byte_corrupts_exactly_one_byte(proxy: FaultProxy) -> None:
    proxy.inject(Fault.flip_byte(offset=100_000, path=BLOB_DIGEST))
    body = httpx.get(proxy.url + BLOB_PATH).content
    assert len(body) == len(BLOB)
    assert [i for i in range(len(BLOB)) if body[i] != BLOB[i]] == [100_000]
    assert body[100_000] == BLOB[100_000] ^ 0xFF


def test_wrong_content_length_shorter_ends_the_body_early(proxy: FaultProxy) -> None:
    proxy.inject(Fault.content_length(10, path=BLOB_DIGEST))
    r = httpx.get(proxy.url + BLOB_PATH)
    assert r.headers["Content-Length"] == "10"
    assert r.content == BLOB[:10]


def test_wrong_content_length_longer_breaks_the_read(proxy: FaultProxy) -> None:
    proxy.inject(Fault.content_length(len(BLOB) + 5, path=BLOB_DIGEST))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(proxy.url + BLOB_PATH)


def test_response_headers_are_removed_and_set(proxy: FaultProxy) -> None:
    proxy.inject(
        Fault.response_headers(
            {"OCI-Subject": "sha256:" + "1" * 64, "Content-Type": "text/plain"},
            remove=["Docker-Content-Digest"],
            path=BLOB_DIGEST,
        )
    )
    r = httpx.get(proxy.url + BLOB_PATH)
    assert r.content == BLOB
    assert "Docker-Content-Digest" not in r.headers
    assert r.headers["OCI-Subject"] == "sha256:" + "1" * 64
    assert r.headers.get_list("Content-Type") == ["text/plain"]


def test_status_burst_then_the_upstream_answers(proxy: FaultProxy) -> None:
    proxy.inject(Fault.status(503, times=2, path="/blobs/"))
    with httpx.Client(base_url=proxy.url) as c:
        statuses = [c.get(BLOB_PATH).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert proxy.connections_accepted == 1  # a status fault leaves the connection usable


def test_too_many_requests_carries_retry_after_and_the_spec_error_body(
    proxy: FaultProxy,
) -> None:
    proxy.inject(Fault.too_many_requests(retry_after=2, method="HEAD"))
    r = httpx.head(proxy.url + BLOB_PATH)
    assert (r.status_code, r.headers["Retry-After"]) == (429, "2")
    r = httpx.get(proxy.url + "/v2/nope/manifests/latest")  # GET does not match method=HEAD
    assert r.status_code == 404
    proxy.inject(Fault.too_many_requests(retry_after=2))
    r = httpx.get(proxy.url + BLOB_PATH)
    assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"


def test_skip_lets_the_first_matches_through(proxy: FaultProxy) -> None:
    proxy.inject(Fault.status(500, skip=1, times=1, path="/v2/$"))
    statuses = [httpx.get(proxy.url + "/v2/").status_code for _ in range(3)]
    assert statuses == [200, 500, 200]


def test_delay_slows_the_answer(proxy: FaultProxy) -> None:
    proxy.inject(Fault.delay(0.4, path="/v2/$"))
    t0 = time.monotonic()
    assert httpx.get(proxy.url + "/v2/").status_code == 200
    assert time.monotonic() - t0 >= 0.4


def test_throttle_trickles_the_body(proxy: FaultProxy) -> None:
    proxy.inject(Fault.throttle(64 * 1024, 0.1, path=BLOB_DIGEST))
    t0 = time.monotonic()
    assert httpx.get(proxy.url + BLOB_PATH).content == BLOB
    assert time.monotonic() - t0 >= 0.3  # four 64 KiB pieces, 0.1 s apart


def test_redirect_loop_never_ends(proxy: FaultProxy) -> None:
    proxy.inject(Fault.redirect_loop(path="/blobs/"))
    with (
        httpx.Client(follow_redirects=True, max_redirects=5) as c,
        pytest.raises(httpx.TooManyRedirects),
    ):
        c.get(proxy.url + BLOB_PATH)
    assert len(proxy.requests) == 6


def test_redirect_sends_the_client_elsewhere(proxy: FaultProxy, seeded: LocalRegistry) -> None:
    proxy.inject(Fault.redirect(seeded.url + BLOB_PATH, path="/blobs/"))
    r = httpx.get(proxy.url + BLOB_PATH, follow_redirects=True)
    assert r.content == BLOB
    assert str(r.url).startswith(seeded.url)
    assert r.history[0].status_code == 307


def test_removed_and_cleared_faults_stop_firing(proxy: FaultProxy) -> None:
    rule = proxy.inject(Fault.status(500, times=None))
    assert httpx.get(proxy.url + "/v2/").status_code == 500
    rule.remove()
    assert httpx.get(proxy.url + "/v2/").status_code == 200
    proxy.inject(Fault.status(502, times=None))
    proxy.clear_faults()
    assert httpx.get(proxy.url + "/v2/").status_code == 200
    proxy.clear_log()
    assert proxy.requests == ()


def test_tls_upstream_with_basic_auth_and_redacted_log(tls_registry: LocalRegistry) -> None:
    assert tls_registry.tls is not None
    upstream_ctx = ssl.create_default_context(cafile=str(tls_registry.tls.ca_cert))
    with FaultProxy(tls_registry.url, upstream_ssl=upstream_ctx) as p:
        anonymous = httpx.get(p.url + "/v2/")
        authed = httpx.get(p.url + "/v2/", auth=(TEST_USER, TEST_PASSWORD))
    assert anonymous.status_code == 401
    assert authed.status_code == 200
    logged = p.requests[1]
    assert logged.header("Authorization") == "<redacted>"
    assert TEST_PASSWORD not in repr(p.requests)


def test_serves_https_itself(seeded: LocalRegistry, tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tls.cert, tls.key)
    with FaultProxy(seeded.url, server_ssl=server_ctx) as p:
        assert p.url.startswith("https://127.0.0.1:")
        client_ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
        r = httpx.get(p.url + BLOB_PATH, verify=client_ctx)
    assert r.content == BLOB


class _ChallengeHandler(BaseHTTPRequestHandler):
    """A stand-in upstream answering a Bearer challenge that points at a token realm."""

    realm = ""

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Bearer realm="{self.realm}/token",service="t"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_rewrite_points_a_token_realm_at_another_proxy() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChallengeHandler)
    _ChallengeHandler.realm = "http://auth.invalid"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        upstream = f"http://127.0.0.1:{server.server_address[1]}"
        with FaultProxy(upstream, rewrite={"http://auth.invalid": "http://127.0.0.1:9"}) as p:
            r = httpx.get(p.url + "/v2/")
    finally:
        server.shutdown()
        server.server_close()
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="http://127.0.0.1:9/token",service="t"'


def test_bad_upstream_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="upstream"):
        FaultProxy("ftp://127.0.0.1/")
