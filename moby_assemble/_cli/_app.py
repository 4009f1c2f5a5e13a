"""The root ``moby-assemble`` command: global options, logging, and errors → exit codes.

Every library error ends the command with one line on stderr (``moby-assemble: error:
…``, or a JSON object with ``--log-format json``) and the exit code of its class (see
:mod:`._exit`); ``--debug`` adds the traceback. Anything else is a bug: exit code 70.

Example::

    from click.testing import CliRunner
    result = CliRunner().invoke(cli, ["cache", "ls", "--cache", "/tmp/c"])
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from .._version import __version__
from ._build import build, list_formats, resolve
from ._cache import cache
from ._exit import (
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    error_details,
    exit_code_for,
    one_line,
)
from ._images import pull, push
from ._inspect import inspect
from ._logging import configure_logging, json_line
from ._pkg import pkg
from ._run import run
from ._state import CliState, RegistryOptions
from ._verify import verify

__all__ = ["cli"]

_PROG = "moby-assemble"


def report_error(error: BaseException, *, debug: bool, json_logs: bool) -> int:
    """Write ``error`` to stderr the way the CLI shows errors; return its exit code."""
    code = exit_code_for(error)
    internal = code == EXIT_INTERNAL
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    message = one_line(error)
    if internal:
        message = f"internal error: {type(error).__name__}: {message}"
        if not debug:
            message += " (run with --debug for the traceback, and please report it)"
    if json_logs:
        line = json_line(
            "error",
            message,
            error=type(error).__name__,
            exit_code=code,
            **error_details(error),
        )
    else:
        line = f"{_PROG}: error: {message}"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    return code


class _Root(click.Group):
    """A group that turns library errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as e:  # every error ends as one line and an exit code
            debug = bool(ctx.params.get("debug"))
            json_logs = ctx.params.get("log_format") == "json"
            ctx.exit(report_error(e, debug=debug, json_logs=json_logs))


@click.group(
    cls=_Root, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name=_PROG)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors: no progress, no status lines.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log, progress and error lines on stderr as text or as JSON objects (for CI).",
)
@click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(["auto", "rich", "plain", "none"]),
    default="auto",
    show_default=True,
    help="Progress display: bars on a terminal ('auto'), plain lines, or none.",
)
@click.option(
    "--insecure-registry",
    "insecure",
    multiple=True,
    metavar="HOST",
    help="Allow plain HTTP and unverified TLS for this registry (repeatable).",
)
@click.option(
    "--plain-http",
    multiple=True,
    metavar="HOST",
    help="Always use plain HTTP for this registry (repeatable).",
)
@click.option(
    "--registry-ca",
    "ca_files",
    multiple=True,
    metavar="HOST=PEM",
    help="Trust the CA certificates in PEM for this registry (repeatable).",
)
@click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    metavar="REGISTRY=MIRROR",
    help="Pull REGISTRY's images through MIRROR first, e.g. docker.io=mirror.lab:5000.",
)
@click.option(
    "--docker-config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Read registry credentials from this config.json (default: Docker's and podman's).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    debug: bool,
    quiet: bool,
    verbose: int,
    log_format: str,
    progress_mode: str,
    insecure: tuple[str, ...],
    plain_http: tuple[str, ...],
    ca_files: tuple[str, ...],
    mirrors: tuple[str, ...],
    docker_config: str | None,
) -> None:
    """Assemble container-based Linux systems from OCI images (LinuxKit-compatible)."""
    json_logs = log_format == "json"
    ctx.obj = CliState(
        debug=debug,
        quiet=quiet,
        verbosity=verbose,
        json_logs=json_logs,
        progress_mode=progress_mode,  # type: ignore[arg-type]  # click.Choice checked it
        registry_options=RegistryOptions(
            insecure=insecure,
            plain_http=plain_http,
            ca_files=ca_files,
            mirrors=mirrors,
            docker_config=docker_config,
        ),
    )
    undo = configure_logging(
        verbosity=verbose, quiet=quiet, json_lines=json_logs, stream=sys.stderr
    )
    ctx.call_on_close(undo)


cli.add_command(build)
cli.add_command(resolve)
cli.add_command(resolve, "lock")
cli.add_command(list_formats)
cli.add_command(pull)
cli.add_command(push)
cli.add_command(inspect)
cli.add_command(cache)
cli.add_command(verify)
cli.add_command(run)
cli.add_command(pkg)
