"""Options several commands share, as decorators, and their parameter types.

Example::

    @click.command()
    @cache_option
    @platform_option
    def pull(cache: Path, platform: Platform) -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._errors import ImageReferenceError, PlatformError
from .._platform import Platform
from ..registry import ImageReference
from ._state import CACHE_ENV, CliState, default_cache_dir

__all__ = [
    "IMAGE_REFERENCE",
    "PLATFORM",
    "cache_option",
    "json_option",
    "offline_option",
    "platform_option",
    "requested_platform",
    "state_of",
]

F = TypeVar("F", bound=Callable[..., Any])

# click became generic in its parameter types in 8.2; subscripting at run time would break
# older releases, so only the type checker sees the parameters.
if TYPE_CHECKING:
    _ReferenceParam = click.ParamType[ImageReference]
    _PlatformParam = click.ParamType[Platform]
else:
    _ReferenceParam = _PlatformParam = click.ParamType


class ImageReferenceType(_ReferenceParam):
    """An image reference, parsed and normalised (``alpine`` → ``docker.io/library/alpine``)."""

    name = "reference"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> ImageReference:
        if isinstance(value, ImageReference):
            return value
        try:
            return ImageReference.parse(str(value))
        except ImageReferenceError as e:
            # Raised as the library error (not a usage error) so the exit code says "bad
            # reference" the same way whether it came from a flag or from a file.
            raise e from None


class PlatformType(_PlatformParam):
    """A platform ``os/arch[/variant]`` or just ``arch`` (meaning Linux)."""

    name = "platform"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Platform:
        if isinstance(value, Platform):
            return value
        try:
            return Platform.parse(str(value))
        except PlatformError as e:
            raise e from None


IMAGE_REFERENCE = ImageReferenceType()
PLATFORM = PlatformType()


def state_of(ctx: click.Context) -> CliState:
    """The invocation's shared state (made by the root command)."""
    state = ctx.find_object(CliState)
    return state if state is not None else CliState()


cache_option = click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=CACHE_ENV,
    default=default_cache_dir,
    show_default=f"${CACHE_ENV} or ~/.cache/moby-assemble",
    help="Image cache directory (an OCI image layout).",
)

offline_option = click.option(
    "--offline",
    is_flag=True,
    help="Never contact a registry: use only what is in the cache.",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


def platform_option(func: F) -> F:
    """``--platform os/arch[/variant]`` and its LinuxKit spelling ``--arch``; default: host."""
    func = click.option(
        "--arch",
        "arch",
        type=str,
        default=None,
        help="Architecture (LinuxKit's flag): same as --platform linux/ARCH.",
    )(func)
    return click.option(
        "--platform",
        "platform",
        type=PLATFORM,
        default=None,
        help="Target platform, e.g. linux/arm64 (default: this machine's).",
    )(func)


def requested_platform(platform: Platform | None, arch: str | None) -> Platform | None:
    """The platform ``--platform``/``--arch`` ask for (they must agree), or ``None``."""
    if platform is not None and arch is not None:
        from_arch = Platform.parse(arch)
        if from_arch.architecture != platform.architecture:
            raise click.UsageError(f"--arch {arch} contradicts --platform {platform}")
    if platform is not None:
        return platform
    return Platform.parse(arch) if arch is not None else None


def chosen_platform(platform: Platform | None, arch: str | None) -> Platform:
    """The platform from ``--platform``/``--arch``, else the host's."""
    return requested_platform(platform, arch) or Platform.host()
