"""A real OCI registry (Debian's ``docker-registry``, i.e. distribution) for tests.

Started on 127.0.0.1 with a random port and a private storage directory, optionally with TLS
(a throw-away CA) and htpasswd Basic authentication. Used by moby_assemble's own tests and
by users' tests::

    with LocalRegistry(tmp_path) as reg:
        print(reg.host)          # "127.0.0.1:40147"
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Self

import attrs

from ._certs import TestCA
from ._service import Service

__all__ = ["LocalRegistry", "RegistryTLS", "make_tls_files"]

_LISTEN_RE = re.compile(r"listening on (127\.0\.0\.1:\d+)")


@attrs.frozen
class RegistryTLS:
    """Files of a test TLS setup: a CA certificate and a server certificate/key for 127.0.0.1."""

    ca_cert: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> RegistryTLS:
    """Make a CA and a server certificate for ``127.0.0.1`` and ``localhost`` in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    directory.mkdir(parents=True, exist_ok=True)
    ca = TestCA.new("moby_assemble test CA")
    key, cert = ca.issue(
        "127.0.0.1",
        [
            (
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                False,
            ),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    tls = RegistryTLS(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    tls.ca_cert.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


def _htpasswd_line(user: str, password: str) -> str:
    try:
        import bcrypt
    except ImportError:  # pragma: no cover - depends on the environment
        htpasswd = shutil.which("htpasswd")
        if htpasswd is None:
            raise RuntimeError(
                "htpasswd auth needs the 'bcrypt' package or apache2-utils' htpasswd"
            ) from None
        out = subprocess.run(
            [htpasswd, "-Bbn", user, password], check=True, capture_output=True, text=True
        )
        return out.stdout.strip()
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{user}:{hashed}"


class LocalRegistry(Service):
    """A ``docker-registry`` process on 127.0.0.1, stopped when the context exits.

    Args:
        directory: where its configuration, storage and TLS files go.
        tls: serve HTTPS with a throw-away CA (see :attr:`tls`).
        users: ``{user: password}`` for htpasswd Basic authentication (needs ``tls``: the
            registry refuses htpasswd over plain HTTP).
        extra_config: YAML text appended to the generated configuration.
        binary: the registry executable.
    """

    def __init__(
        self,
        directory: Path,
        *,
        tls: bool = False,
        users: dict[str, str] | None = None,
        extra_config: str = "",
        binary: str = "docker-registry",
    ) -> None:
        if users and not tls:
            raise ValueError("htpasswd authentication needs tls=True")
        self.directory = Path(directory)
        self.users = dict(users or {})
        self.tls: RegistryTLS | None = None
        self._want_tls = tls
        self._extra_config = extra_config
        self._binary = binary
        self._proc: subprocess.Popen[str] | None = None
        self._log: list[str] = []
        self.host = ""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` or ``https://…``."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def storage(self) -> Path:
        return self.directory / "storage"

    def log(self) -> str:
        """Everything the registry printed so far."""
        return "".join(self._log)

    def start(self) -> Self:
        exe = shutil.which(self._binary)
        if exe is None:
            raise RuntimeError(
                f"{self._binary} not found: install Debian's 'docker-registry' package"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            # A restart keeps the address clients already know.
            f"  addr: {self.host or '127.0.0.1:0'}",
            "  secret: moby-assemble-test-secret",
        ]
        if self._want_tls:
            if self.tls is None:  # a restart keeps its CA
                self.tls = make_tls_files(self.directory / "tls")
            lines += ["  tls:", f"    certificate: {self.tls.cert}", f"    key: {self.tls.key}"]
        if self.users:
            htpasswd = self.directory / "htpasswd"
            htpasswd.write_text("".join(_htpasswd_line(u, p) + "\n" for u, p in self.users.items()))
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: moby-assemble-test",
                f"    path: {htpasswd}",
            ]
        config = self.directory / "config.yml"
        config.write_text("\n".join(lines) + "\n" + self._extra_config)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self._proc = subprocess.Popen(
            [exe, "serve", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        found = threading.Event()

        def pump() -> None:
            assert self._proc is not None
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                self._log.append(line)
                if not found.is_set():
                    m = _LISTEN_RE.search(line)
                    if m:
                        self.host = m.group(1)
                        found.set()

        threading.Thread(target=pump, daemon=True, name="registry-log").start()
        deadline = time.monotonic() + 20
        while not found.wait(0.02):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not start:\n{self.log()}")
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def restart(self) -> Self:
        """Stop and start again on the same address, re-reading files the configuration
        names (e.g. a rotated token ``rootcertbundle``). Storage is kept."""
        self.stop()
        self._log.clear()
        return self.start()
