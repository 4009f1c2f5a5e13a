"""What every command shares: output settings, registry settings, the cache, progress.

The root command builds one :class:`CliState` from the global options and puts it in
``ctx.obj``; commands ask it for a registry client, a store and a progress renderer rather
than building their own, so every command honours the same flags.

Example::

    state = CliState(registry_options=RegistryOptions(insecure=("lab.local:5000",)))
    with state.client() as client, state.progress() as progress:
        Puller(client, state.store(cache), progress=progress).pull(ref, platform)
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from .._errors import ConfigError
from ..assemble import default_cache_dir as assembler_cache_dir
from ..progress import PlainProgress
from ..registry import DockerConfig, RegistryClient, RegistryConfig
from ..store import Store

__all__ = [
    "CACHE_ENV",
    "CliState",
    "ProgressMode",
    "RegistryOptions",
    "default_cache_dir",
    "store_for_cache",
]

#: Environment variable for the default cache directory (LinuxKit's is LINUXKIT_CACHE).
CACHE_ENV = "MOBY_ASSEMBLE_CACHE"

ProgressMode = Literal["auto", "rich", "plain", "none"]
Progress = Callable[[object], None]


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$MOBY_ASSEMBLE_CACHE``, else the assembler's default (``$XDG_CACHE_HOME/
    moby-assemble``, else ``~/.cache/moby-assemble``)."""
    env = os.environ if env is None else env
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    return assembler_cache_dir()


def store_for_cache(cache: Path, *, offline: bool = False) -> Store:
    """The image store of a cache directory: ``<cache>/store``, where the
    :class:`~moby_assemble.assemble.Assembler` keeps it (an OCI image layout that
    ``skopeo``/``umoci`` read directly)."""
    return Store(cache.expanduser() / "store", offline=offline)


def _split_pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise ConfigError(f"{option} {text!r}: expected REGISTRY=VALUE", path=option)
    return key, value


@attrs.frozen
class RegistryOptions:
    """Registry settings from the command line.

    Attributes:
        insecure: hosts where plain HTTP and unverified TLS are allowed.
        plain_http: hosts always spoken to over plain HTTP.
        ca_files: ``REGISTRY=PEM`` pairs of extra CA bundles.
        mirrors: ``REGISTRY=MIRROR`` pairs of pull-through mirrors (tried first, in order).
        docker_config: a Docker ``config.json`` to read credentials from, instead of the
            usual places (``$DOCKER_CONFIG``, ``~/.docker/config.json``, podman's).
    """

    insecure: tuple[str, ...] = ()
    plain_http: tuple[str, ...] = ()
    ca_files: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    docker_config: str | None = None

    def registries(self) -> dict[str, RegistryConfig]:
        """The per-registry configuration these options describe.

        Raises:
            ConfigError: a ``REGISTRY=VALUE`` option without ``=``, or a CA file that does
                not exist.
        """
        configs: dict[str, RegistryConfig] = {}

        def update(host: str, **changes: Any) -> None:
            configs[host] = attrs.evolve(configs.get(host, RegistryConfig()), **changes)

        for host in self.insecure:
            update(host, insecure=True)
        for host in self.plain_http:
            update(host, plain_http=True)
        for pair in self.ca_files:
            host, path = _split_pair(pair, "--registry-ca")
            if not Path(path).is_file():
                raise ConfigError(f"CA file {path} for {host} does not exist", file=path)
            update(host, ca_bundle=path)
        for pair in self.mirrors:
            host, mirror = _split_pair(pair, "--mirror")
            mirror = mirror.removeprefix("https://").removeprefix("http://").rstrip("/")
            update(host, mirrors=(*configs.get(host, RegistryConfig()).mirrors, mirror))
        return configs


@attrs.define
class CliState:
    """Settings of one CLI invocation.

    Attributes:
        debug: show tracebacks.
        quiet: errors only: no progress, no informational lines.
        verbosity: ``-v`` count.
        json_logs: log lines (and progress, and errors) as JSON objects.
        progress_mode: ``auto`` (rich on a terminal, plain lines otherwise), ``rich``,
            ``plain`` or ``none``.
        registry_options: the registry flags.
    """

    debug: bool = False
    quiet: bool = False
    verbosity: int = 0
    json_logs: bool = False
    progress_mode: ProgressMode = "auto"
    registry_options: RegistryOptions = attrs.Factory(RegistryOptions)

    def client(self) -> RegistryClient:
        """A registry client honouring the registry flags (use it as a context manager)."""
        opts = self.registry_options
        credentials = DockerConfig([opts.docker_config]) if opts.docker_config else DockerConfig()
        return RegistryClient(credentials=credentials, registries=opts.registries())

    @contextlib.contextmanager
    def progress(self) -> Iterator[Progress | None]:
        """The progress renderer for this invocation (``None`` when quiet or disabled)."""
        mode = self.progress_mode
        if self.quiet or mode == "none":
            yield None
            return
        if self.json_logs:
            yield PlainProgress(json=True)
            return
        if mode == "auto":
            mode = "rich" if _rich_usable() else "plain"
        if mode == "plain":
            yield PlainProgress()
            return
        from ..progress import RichProgress

        with RichProgress(transient=False) as rich:
            yield rich

    def info(self, message: str) -> None:
        """A status line for people, on stderr (nothing when quiet; JSON with --log-format
        json)."""
        if self.quiet:
            return
        if self.json_logs:
            from ._logging import json_line

            message = json_line("info", message)
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def _rich_usable() -> bool:
    if not sys.stderr.isatty():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def dump_json(data: Any) -> str:
    """JSON for stdout: sorted keys, two-space indent."""
    return json.dumps(data, indent=2, sort_keys=True)
