"""Per-registry connection settings: TLS, plain HTTP, client certificates, mirrors.

A registry is keyed by its name as written in references (``ImageReference.registry``:
``docker.io``, ``127.0.0.1:5000``). Anything not configured gets the safe defaults: HTTPS
with certificate verification, plain HTTP only for loopback hosts whose HTTPS attempt fails.

Example::

    >>> cfg = RegistryConfig(ca_bundle="/etc/ssl/my-ca.pem", mirrors=("mirror.local:5000",))
    >>> cfg.insecure
    False
    >>> is_loopback("127.0.0.1:5000"), is_loopback("registry.example")
    (True, False)
"""

from __future__ import annotations

import http.cookiejar
import ipaddress
import ssl
from collections.abc import Iterable

import attrs
import httpx

__all__ = [
    "RegistryConfig",
    "cert_verify_error",
    "host_without_port",
    "is_loopback",
    "no_cookies",
    "ssl_context_for",
]


def _to_mirrors(value: Iterable[str]) -> tuple[str, ...]:
    # A named, typed converter: attrs' ``converter=tuple`` makes mypy reject a tuple argument.
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _check_cert_pair(_instance: object, _attribute: object, value: tuple[str, str] | None) -> None:
    if value is not None and (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(v, str) for v in value)
    ):
        raise ValueError("client_cert must be a (certificate file, key file) pair")


@attrs.frozen
class RegistryConfig:
    """How to talk to one registry host.

    Example::

        RegistryClient(registries={
            "registry.internal:5000": RegistryConfig(ca_bundle="/etc/ssl/internal-ca.pem"),
            "lab.local": RegistryConfig(insecure=True),
            "docker.io": RegistryConfig(mirrors=("mirror.internal:5000",)),
        })

    Attributes:
        insecure: allow plain HTTP (after HTTPS fails) and unverified TLS for this host.
        plain_http: always use plain HTTP for this host.
        ca_bundle: a PEM file of extra CA certificates trusted for this host (in addition
            to the default trust store).
        client_cert: ``(certificate, key)`` PEM files for mutual TLS.
        mirrors: pull-through mirrors (``host[:port]``) tried first, in order, for pulls
            only; each mirror's own settings are looked up under its name.
    """

    insecure: bool = False
    plain_http: bool = False
    ca_bundle: str | None = None
    client_cert: tuple[str, str] | None = attrs.field(default=None, validator=_check_cert_pair)
    mirrors: tuple[str, ...] = attrs.field(default=(), converter=_to_mirrors)

    @property
    def needs_own_tls(self) -> bool:
        """True when this host needs an SSL context other than the default one."""
        return self.insecure or self.ca_bundle is not None or self.client_cert is not None


def host_without_port(host: str) -> str:
    """``"127.0.0.1"`` for ``"127.0.0.1:5000"``, ``"::1"`` for ``"[::1]:5000"``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1`` (with or without a port).

    Only loopback hosts may silently fall back to plain HTTP: traffic to them never leaves
    the machine, so nothing can be read or changed on the way.
    """
    name = host_without_port(host).lower().split("%", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def ssl_context_for(config: RegistryConfig) -> ssl.SSLContext:
    """The SSL context for a host with these settings.

    Verification stays on unless the host is marked ``insecure``; a ``ca_bundle`` adds to
    the default trust store rather than replacing it.
    """
    ctx = httpx.create_ssl_context(verify=not config.insecure)
    if config.ca_bundle is not None and not config.insecure:
        ctx.load_verify_locations(cafile=config.ca_bundle)
    if config.client_cert is not None:
        ctx.load_cert_chain(*config.client_cert)
    return ctx


def cert_verify_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``exc`` (an httpx error), if that is
    what it is: a TLS server we do not trust, as opposed to one that does not speak TLS."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def no_cookies() -> http.cookiejar.CookieJar:
    """A cookie jar that never stores anything."""
    # Registries have no use for cookies, and some (Harbor) turn on CSRF checks when a
    # client sends them back.
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
