"""Registry credentials: values, providers, and Docker's ``config.json`` with credential helpers.

``DockerConfig`` reads the files ``docker login``, ``podman login`` and ``skopeo login`` write,
the way docker does: ``credHelpers`` for the registry, else ``credsStore``, each run as
``docker-credential-<name> get``; else the ``auths`` entry (``auth``, ``username``/``password``,
``identitytoken``). Docker Hub is stored under ``https://index.docker.io/v1/``::

    creds = DockerConfig().get("docker.io")        # None when nothing is stored

Secrets never appear in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from .._errors import AuthenticationError, ConfigError
from .._parse import loads_json
from ._reference import DOCKER_HUB

__all__ = [
    "DOCKER_HUB_CONFIG_KEY",
    "CredentialProvider",
    "Credentials",
    "DockerConfig",
    "StaticCredentials",
    "normalise_registry",
]

log = logging.getLogger("moby_assemble.registry.auth")

#: The key ``docker login`` uses for Docker Hub in ``config.json`` and credential helpers.
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})
# What credential helpers print when they have nothing for a server (docker-credential-helpers
# ``credentials.ErrCredentialsNotFound``).
_NOT_FOUND = "credentials not found in native keychain"
# docker-credential-helpers' convention: this user name means "the secret is an identity token".
_TOKEN_USER = "<token>"  # noqa: S105 - a marker, not a secret


def _hide(value: str | None) -> str:
    return "None" if value is None else "'***'"


@attrs.frozen
class Credentials:
    """What we know to authenticate to one registry.

    Either a user name and password, or an OAuth2 identity (refresh) token as ``docker
    login`` stores for some registries. ``repr`` never shows the secrets.

    Example::

        >>> Credentials("alice", "s3cret")
        Credentials(username='alice', password='***', identity_token=None)
    """

    username: str | None = None
    password: str | None = attrs.field(default=None, repr=_hide)
    identity_token: str | None = attrs.field(default=None, repr=_hide)

    @property
    def has_password(self) -> bool:
        """True when a user name and password are there (usable for Basic)."""
        return bool(self.username) and self.password is not None


@runtime_checkable
class CredentialProvider(Protocol):
    """Anything that can say which credentials to use for a registry.

    ``registry`` is the name as written in references (``docker.io``, ``ghcr.io``,
    ``localhost:5000``), not the API host.
    """

    def get(self, registry: str) -> Credentials | None: ...


def normalise_registry(key: str) -> str | None:
    """The registry a ``config.json`` key (or a registry name) stands for.

    Schemes and ``/v1/``-style API paths are dropped and Docker Hub's aliases become
    ``docker.io``. Keys with a repository path (podman's per-namespace entries) are not
    registry-wide and give ``None``.

    Example::

        >>> normalise_registry("https://index.docker.io/v1/"), normalise_registry("ghcr.io/ns")
        ('docker.io', None)
    """
    text = key.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    host, _, path = text.partition("/")
    if path.strip("/") not in ("", "v1", "v2"):
        return None
    host = host.lower()
    if not host:
        return None
    return DOCKER_HUB if host in _HUB_ALIASES else host


class StaticCredentials:
    """Credentials given in code, per registry (Docker Hub aliases are folded together).

    Example::

        >>> creds = StaticCredentials({"localhost:5000": Credentials("alice", "pw")})
        >>> creds.get("localhost:5000").username
        'alice'
    """

    def __init__(self, credentials: Mapping[str, Credentials]) -> None:
        self._credentials: dict[str, Credentials] = {}
        for key, value in credentials.items():
            if not isinstance(value, Credentials):
                raise TypeError(f"credentials for {key!r} must be a Credentials value")
            self._credentials[normalise_registry(key) or key] = value

    def get(self, registry: str) -> Credentials | None:
        return self._credentials.get(normalise_registry(registry) or registry)

    def __repr__(self) -> str:
        return f"StaticCredentials(registries={sorted(self._credentials)!r})"


def default_config_paths(env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Where credentials are looked for, in order.

    ``$REGISTRY_AUTH_FILE`` (if set), ``$DOCKER_CONFIG/config.json`` (else
    ``~/.docker/config.json``), ``$XDG_RUNTIME_DIR/containers/auth.json``,
    ``~/.config/containers/auth.json``.
    """
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    paths: list[Path] = []
    if env.get("REGISTRY_AUTH_FILE"):
        paths.append(Path(env["REGISTRY_AUTH_FILE"]))
    docker_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else home / ".docker"
    paths.append(docker_dir / "config.json")
    if env.get("XDG_RUNTIME_DIR"):
        paths.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    paths.append(home / ".config" / "containers" / "auth.json")
    return tuple(paths)


class DockerConfig:
    """Credentials from Docker's ``config.json`` (and podman's ``auth.json``).

    Args:
        paths: the files to read, first hit wins; default :func:`default_config_paths`.
        env: environment used to find the files and credential helpers (default
            ``os.environ``).
        helper_timeout: seconds a ``docker-credential-*`` helper may take.

    Files are read on every :meth:`get`, so a ``docker login`` made meanwhile is seen
    (:class:`~moby_assemble.registry.Authenticator` asks once per registry).

    Example::

        >>> DockerConfig(paths=["/nonexistent/config.json"]).get("ghcr.io") is None
        True

    Raises (from :meth:`get`):
        ConfigError: a file is not valid JSON or an ``auth`` field is not base64 ``user:pass``.
        AuthenticationError: a credential helper failed (other than "not found").
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        helper_timeout: float = 30.0,
    ) -> None:
        self._env = env
        self.paths: tuple[Path, ...] = (
            default_config_paths(env) if paths is None else tuple(Path(p) for p in paths)
        )
        self._helper_timeout = helper_timeout

    def __repr__(self) -> str:
        return f"DockerConfig(paths={[str(p) for p in self.paths]!r})"

    def get(self, registry: str) -> Credentials | None:
        wanted = normalise_registry(registry) or registry
        for path in self.paths:
            config = self._load(path)
            if config is None:
                continue
            creds = self._from_config(config, path, wanted)
            if creds is not None:
                log.debug("credentials for %s from %s", wanted, path)
                return creds
        return None

    # -- files -----------------------------------------------------------------------------

    def _load(self, path: Path) -> Mapping[str, Any] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigError(
                f"cannot read credentials file: {e.strerror}", file=str(path)
            ) from None
        if not text.strip():
            return None
        try:
            config = loads_json(text)
        except ValueError as e:
            # The message names the position only: the text may hold secrets.
            raise ConfigError(
                f"not valid JSON (line {getattr(e, 'lineno', '?')})", file=str(path)
            ) from None
        if not isinstance(config, dict):
            raise ConfigError("expected a JSON object", file=str(path))
        return config

    def _from_config(
        self, config: Mapping[str, Any], path: Path, registry: str
    ) -> Credentials | None:
        helpers = config.get("credHelpers")
        helper = None
        if isinstance(helpers, dict):
            for key in _matching_keys(helpers, registry):
                if isinstance(helpers[key], str) and helpers[key]:
                    helper = helpers[key]
                    break
        store = config.get("credsStore")
        if helper is None and isinstance(store, str) and store:
            helper = store
        if helper is not None:
            creds = self._run_helper(helper, registry)
            if creds is not None:
                return creds
        auths = config.get("auths")
        if not isinstance(auths, dict):
            return None
        for key in _matching_keys(auths, registry):
            entry = auths[key]
            if isinstance(entry, dict):
                creds = _from_auth_entry(entry, path, key)
                if creds is not None:
                    return creds
        return None

    # -- credential helpers ----------------------------------------------------------------

    def _run_helper(self, name: str, registry: str) -> Credentials | None:
        program = f"docker-credential-{name}"
        env = dict(os.environ if self._env is None else self._env)
        exe = shutil.which(program, path=env.get("PATH"))
        if exe is None:
            # Docker fails here; we go on without it so a config copied from another machine
            # (credsStore "desktop", "osxkeychain") does not break anonymous pulls.
            log.warning(
                "credential helper %s not found on PATH; ignoring it for %s", program, registry
            )
            return None
        server = DOCKER_HUB_CONFIG_KEY if registry == DOCKER_HUB else registry
        try:
            done = subprocess.run(
                [exe, "get"],
                input=server,
                capture_output=True,
                text=True,
                timeout=self._helper_timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AuthenticationError(
                f"credential helper {program} timed out after {self._helper_timeout:g} s "
                f"for registry {registry}",
                registry=registry,
            ) from None
        except OSError as e:
            raise AuthenticationError(
                f"credential helper {program} could not run for registry {registry}: {e.strerror}",
                registry=registry,
            ) from None
        if done.returncode != 0:
            if _NOT_FOUND in done.stdout or _NOT_FOUND in done.stderr:
                log.debug("credential helper %s has nothing for %s", program, registry)
                return None
            # Its output is not repeated: a broken helper might echo what it holds.
            raise AuthenticationError(
                f"credential helper {program} failed for registry {registry} "
                f"(exit status {done.returncode})",
                registry=registry,
            )
        try:
            data = loads_json(done.stdout)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise AuthenticationError(
                f"credential helper {program} printed no JSON object for registry {registry}",
                registry=registry,
            )
        username = data.get("Username")
        secret = data.get("Secret")
        if not isinstance(secret, str) or not secret:
            return None
        if username == _TOKEN_USER:
            return Credentials(identity_token=secret)
        return Credentials(username if isinstance(username, str) else None, secret)


def _matching_keys(entries: Mapping[str, Any], registry: str) -> list[str]:
    """Keys of ``entries`` that stand for ``registry``, the most exact first."""
    exact = [k for k in entries if k == registry]
    preferred = DOCKER_HUB_CONFIG_KEY if registry == DOCKER_HUB else f"https://{registry}"
    scheme = [k for k in entries if k == preferred and k not in exact]
    rest = [
        k
        for k in entries
        if k not in exact and k not in scheme and normalise_registry(k) == registry
    ]
    return exact + scheme + rest


def _from_auth_entry(entry: Mapping[str, Any], path: Path, key: str) -> Credentials | None:
    username = entry.get("username") if isinstance(entry.get("username"), str) else None
    password = entry.get("password") if isinstance(entry.get("password"), str) else None
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = None
        if decoded is None or ":" not in decoded:
            raise ConfigError(
                "not base64 of 'user:password'", file=str(path), path=f"auths[{key!r}].auth"
            )
        username, _, password = decoded.partition(":")
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(username or None, None, token)
    if username and password is not None:
        return Credentials(username, password)
    return None
