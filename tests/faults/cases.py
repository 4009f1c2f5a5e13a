"""The fault tables: a misbehaving network between client and registry, crashes, concurrency.

Rows only; :mod:`tests.faults.test_registry_faults`, :mod:`tests.faults.test_crash` and
:mod:`tests.faults.test_concurrency` run them, and ``docs/_gen/faults.py`` prints them.

Fault paths are templates: ``{layer}``, ``{config}`` are replaced by the digests of the
test image's blobs when a case runs, so a rule hits exactly the request it is meant for.
"""

from __future__ import annotations

from typing import Any

from moby_assemble import (
    AuthenticationError,
    IntegrityError,
    NotFoundError,
    RateLimitError,
    RegistryError,
    RegistryTransportError,
)
from moby_assemble.testing import Fault

from ._table import Case, Table

__all__ = ["CONCURRENCY", "CRASHES", "REGISTRY", "TABLES", "describe_fault"]

LAYER = "/blobs/{layer}"
CONFIG = "/blobs/{config}"
MANIFEST = "/manifests/"
TOKEN = "/token"

_BLOB_UNKNOWN = b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}'


def describe_fault(fault: Fault) -> str:
    """``reset@300000 on GET /blobs/{layer}, once``: a proxy rule in words."""
    times = {None: "every time", 1: "once"}.get(fault.times, f"{fault.times} times")
    where = f"{fault.method or 'any'} {fault.path or '/'}"
    extra = ""
    if fault.kind in ("delay", "throttle"):
        extra = f" ({fault.seconds:g} s" + (
            f" per {fault.after_bytes} bytes)" if fault.kind == "throttle" else ")"
        )
    elif fault.kind == "headers":
        extra = " (" + ", ".join(f"{k}: {v[:19]}…" for k, v in fault.headers) + ")"
    elif fault.headers:
        extra = " (" + ", ".join(f"{k}: {v}" for k, v in fault.headers) + ")"
    return f"`{fault.describe()}`{extra} on {where}, {times}"


def _fault_case(
    id: str,
    given: str,
    outcome: str,
    faults: tuple[Fault, ...],
    *,
    error: type[BaseException] | None = None,
    bug: str | None = None,
    **params: Any,
) -> Case:
    detail = "; ".join(describe_fault(f) for f in faults)
    if params.get("token_faults"):
        detail = "; ".join(
            [detail] * bool(detail)
            + [f"token server: {describe_fault(f)}" for f in params["token_faults"]]
        )
    if "timeout" in params:
        detail += f"; client timeout {params['timeout']:g} s"
    return Case(id, given, outcome, error, detail, {"faults": faults, **params}, bug)


REGISTRY = Table(
    title="Registry faults",
    anchor="registry",
    test="tests/faults/test_registry_faults.py",
    intro=(
        "A real `docker-registry` holds a one-layer image (a 1 MiB incompressible layer). A "
        "`FaultProxy` between the client and the registry misbehaves as the row says, and "
        "`Puller.pull` pulls the image into an empty `Store` with a fast retry policy "
        "(3 attempts). Every row then checks that `Store.verify()` finds nothing wrong, that "
        "no temporary file is left in `ingest/`, and, when the pull failed, that the layer "
        "was not committed and that the same pull succeeds once the fault is gone."
    ),
    cases=(
        _fault_case(
            "reset-mid-blob",
            "The connection is reset (TCP RST) after 300,000 bytes of the layer.",
            "The pull succeeds: the download resumes with `Range: bytes=300000-` and the "
            "stored layer is byte-identical.",
            (Fault.reset(after_bytes=300_000, path=LAYER),),
            resumed=True,
        ),
        _fault_case(
            "reset-every-time",
            "Every request for the layer is reset after 1,000 bytes.",
            "After 3 interrupted transfers: `RegistryTransportError` naming the registry and "
            "the layer digest. Nothing is committed.",
            (Fault.reset(after_bytes=1000, path=LAYER, times=None),),
            error=RegistryTransportError,
            message=("{layer}", "{registry}"),
            attempts=3,
        ),
        _fault_case(
            "truncated-body",
            "The layer's body stops after 100,000 bytes under the full `Content-Length`, "
            "then the connection closes cleanly.",
            "The pull succeeds: the short body is noticed and the rest is fetched with `Range`.",
            (Fault.truncate(after_bytes=100_000, path=LAYER),),
            resumed=True,
        ),
        _fault_case(
            "flipped-byte-layer",
            "One byte of the layer is inverted in transit (size unchanged).",
            "`IntegrityError` naming the layer digest, with the digest the bytes really have "
            "in `.actual`; the layer is never committed. No silent retry.",
            (Fault.flip_byte(offset=4242, path=LAYER),),
            error=IntegrityError,
            message=("{layer}", "hashes to"),
            actual=True,
            attempts=1,
        ),
        _fault_case(
            "flipped-byte-config",
            "One byte of the image config is inverted in transit.",
            "`IntegrityError` naming the config digest; nothing of the image is tagged.",
            (Fault.flip_byte(offset=3, path=CONFIG),),
            error=IntegrityError,
            message=("{config}",),
        ),
        _fault_case(
            "flipped-byte-manifest",
            "One byte of the manifest is inverted in transit.",
            "`IntegrityError` naming the image: the manifest does not hash to the digest the "
            "tag resolved to.",
            (Fault.flip_byte(offset=10, method="GET", path=MANIFEST),),
            error=IntegrityError,
            message=("faults/app",),
        ),
        _fault_case(
            "lying-digest-header",
            "The registry's `Docker-Content-Digest` header names another digest than the "
            "manifest it sends.",
            "`IntegrityError`: the header contradicts the digest that was asked for.",
            (
                Fault.response_headers(
                    {"Docker-Content-Digest": "sha256:" + "0" * 64},
                    method="GET",
                    path=MANIFEST,
                ),
            ),
            error=IntegrityError,
            message=("sha256:" + "0" * 64,),
        ),
        _fault_case(
            "content-length-short",
            "The registry announces `Content-Length: 500000` for the 1 MiB layer.",
            "`IntegrityError` before any byte is stored: the announced size is not the "
            "descriptor's.",
            (Fault.content_length(500_000, path=LAYER),),
            error=IntegrityError,
            message=("{layer}", "500000"),
        ),
        _fault_case(
            "content-length-long",
            "The registry announces 1,000 bytes more than the layer has, then closes.",
            "`IntegrityError` naming the layer: the announced size is not the descriptor's.",
            (Fault.content_length(1_049_576, path=LAYER),),
            error=IntegrityError,
            message=("{layer}", "1049576"),
        ),
        _fault_case(
            "429-retry-after",
            "The first layer request is answered `429 Too Many Requests` with `Retry-After: 1`.",
            "The pull succeeds, having waited the second the registry asked for.",
            (Fault.too_many_requests(retry_after=1, path=LAYER),),
            min_seconds=1.0,
        ),
        _fault_case(
            "429-retry-after-too-long",
            "Every manifest request is answered `429` with `Retry-After: 3600`.",
            "`RateLimitError` at once (no hour-long sleep), with `.retry_after == 3600`.",
            (Fault.too_many_requests(retry_after=3600, path=MANIFEST, times=None),),
            error=RateLimitError,
            max_seconds=5.0,
            retry_after=3600.0,
        ),
        _fault_case(
            "503-burst",
            "The first two layer requests are answered `503 Service Unavailable`.",
            "The pull succeeds after two retries.",
            (Fault.status(503, times=2, path=LAYER),),
        ),
        _fault_case(
            "500-burst-manifest",
            "The first two manifest requests are answered `500 Internal Server Error`.",
            "The pull succeeds after two retries.",
            (Fault.status(500, times=2, path=MANIFEST),),
        ),
        _fault_case(
            "500-forever",
            "Every layer request is answered `500`.",
            "`RegistryError` with `.status_code == 500` after 3 attempts, naming the registry.",
            (Fault.status(500, times=None, path=LAYER),),
            error=RegistryError,
            status_code=500,
            message=("{registry}",),
            attempts=3,
        ),
        _fault_case(
            "blob-unknown",
            "The registry answers `404 BLOB_UNKNOWN` for the layer the manifest lists.",
            "`NotFoundError` naming the layer digest, `.code == 'BLOB_UNKNOWN'`.",
            (
                Fault.status(
                    404,
                    headers={"Content-Type": "application/json"},
                    body=_BLOB_UNKNOWN,
                    times=None,
                    path=LAYER,
                ),
            ),
            error=NotFoundError,
            message=("{layer}",),
            code="BLOB_UNKNOWN",
        ),
        _fault_case(
            "answer-lost",
            "The registry handles the first manifest request, but the connection dies before "
            "any of the answer arrives.",
            "The pull succeeds: the request is repeated.",
            (Fault.drop(method="GET", path=MANIFEST),),
        ),
        _fault_case(
            "redirect-loop",
            "Every layer request is redirected to itself (`307`, forever).",
            "`RegistryError` naming the registry and the layer after the redirect limit.",
            (Fault.redirect_loop(path=LAYER),),
            error=RegistryError,
            message=("{layer}",),
        ),
        _fault_case(
            "slow-registry",
            "The registry takes 0.5 s before answering each manifest request.",
            "The pull succeeds with the default timeouts (60 s read, 15 s connect).",
            (Fault.delay(0.5, path=MANIFEST, times=None),),
        ),
        _fault_case(
            "slow-registry-timeout",
            "The registry takes 2 s before answering any layer request; the client's "
            "timeout is 0.3 s.",
            "`RegistryTransportError` (`ReadTimeout`) naming the registry and the layer "
            "after 3 attempts.",
            (Fault.delay(2.0, path=LAYER, times=None),),
            error=RegistryTransportError,
            timeout=0.3,
            message=("{layer}", "Timeout"),
            attempts=3,
        ),
        _fault_case(
            "stalled-body",
            "The layer's body trickles out 64 KiB per second; the client's timeout is 0.3 s.",
            "The stall is a read timeout; the download resumes with `Range` where it stalled "
            "and succeeds.",
            (Fault.throttle(65536, 1.0, path=LAYER),),
            timeout=0.3,
            resumed=True,
        ),
        _fault_case(
            "registry-down",
            "Nothing listens on the registry's port.",
            "`RegistryTransportError` (`ConnectError`) naming the registry, after 3 attempts.",
            (),
            error=RegistryTransportError,
            down=True,
            message=("{registry}", "ConnectError"),
        ),
        _fault_case(
            "token-endpoint-fails",
            "The registry wants a Bearer token, and its token endpoint answers `500`.",
            "`AuthenticationError` naming the token realm's host; no request reaches the "
            "registry's blobs.",
            (),
            error=AuthenticationError,
            token_faults=(Fault.status(500, path=TOKEN, times=None),),
            message=("{realm}",),
        ),
        _fault_case(
            "token-endpoint-reset",
            "The token endpoint resets the connection the first time.",
            "The pull succeeds: the token request is repeated.",
            (),
            token_faults=(Fault.reset(0, path=TOKEN),),
        ),
    ),
)


CRASHES = Table(
    title="Killed processes",
    anchor="crashes",
    test="tests/faults/test_crash.py",
    intro=(
        "A child process is killed with `SIGKILL` in the middle of its work (watched through "
        "the proxy and the files it writes), then the same work is run again."
    ),
    cases=(
        Case(
            "kill-during-pull",
            "`kill -9` of a process pulling through a proxy that trickles the layer, once the "
            "layer is half in the store's `ingest/`.",
            "`Store.verify()` finds nothing wrong, the layer is not in the store, the "
            "rerun succeeds, and `gc` removes the dead writer's temporary file.",
        ),
        Case(
            "kill-during-assembly",
            "`kill -9` of a process assembling a system, while it writes the root "
            "filesystem tar (64 MiB of image content).",
            "The store verifies clean; no flat-cache or segment-index entry and no bundle "
            "exists under a final name (only hidden temporary names, which no process locks "
            "any more); the rerun removes them and succeeds with the root filesystem an "
            "undisturbed build gives.",
        ),
        Case(
            "kill-during-output-write",
            "`kill -9` of a process writing the `tar` and `docker` outputs of an assembled "
            "system, once its temporary output file is growing.",
            "No file exists under a final output name; the store verifies clean; the rerun "
            "removes the dead writer's temporary files (its lock file is no longer held) and "
            "writes complete outputs identical to those of an undisturbed run.",
        ),
    ),
)


CONCURRENCY = Table(
    title="Concurrent builds",
    anchor="concurrency",
    test="tests/faults/test_concurrency.py",
    intro="Separate processes share one cache directory (store, flat cache, bundles).",
    cases=(
        Case(
            "two-builds-one-store",
            "Two processes assemble the same system into one cache directory at the same "
            "time, starting from an empty cache, pulling through a proxy that slows layer "
            "downloads so that they overlap.",
            "Both succeed with byte-identical root filesystems; the store verifies clean and "
            "holds each blob once.",
        ),
        Case(
            "two-different-builds-one-store",
            "Two processes assemble two systems that share images into one cache, at once.",
            "Both succeed; each root filesystem is the one a lone build gives.",
        ),
    ),
)

TABLES = (REGISTRY, CRASHES, CONCURRENCY)
