"""Run the standard tools some writers use, with errors that say what to install.

Example::

    tar2sqfs = find_tool("tar2sqfs", package="squashfs-tools-ng", format="kernel+squashfs")
    run_tool([tar2sqfs, "-q", "out.sqfs"], format="kernel+squashfs", stdin=tar_file)
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import BinaryIO

from .._errors import OutputError

__all__ = ["find_tool", "run_tool"]

logger = logging.getLogger("moby_assemble.disk")
_STDERR_TAIL = 2000


def find_tool(name: str, *, package: str, format: str) -> str:
    """The path of the program ``name``.

    Raises:
        OutputError: it is not on ``PATH``; the message names the Debian ``package``.
    """
    path = shutil.which(name)
    if path is None:
        raise OutputError(
            f"{format}: the program {name} is needed and not installed "
            f"(Debian package {package}: apt-get install {package})",
            format=format,
        )
    return path


def run_tool(
    args: Sequence[str | os.PathLike[str]],
    *,
    format: str,
    path: str | None = None,
    stdin: BinaryIO | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a tool to completion and return its standard output.

    The environment is the caller's plus ``env``, with ``LC_ALL=C`` and ``TZ=UTC`` so that
    nothing depends on the host's locale or time zone.

    Raises:
        OutputError: the tool failed; the message holds the end of its error output.
    """
    command = [os.fspath(a) for a in args]
    logger.debug("%s: running %s", format, " ".join(command))
    full_env = {**os.environ, "LC_ALL": "C", "TZ": "UTC", **(env or {})}
    try:
        result = subprocess.run(
            command,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            env=full_env,
            check=False,
        )
    except OSError as e:
        raise OutputError(
            f"{format}: cannot run {command[0]}: {e.strerror}", format=format, path=path
        ) from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).decode(errors="replace").strip()
        raise OutputError(
            f"{format}: {os.path.basename(command[0])} failed (exit {result.returncode}) "
            f"writing {path or '?'}: {detail[-_STDERR_TAIL:]}",
            format=format,
            path=path,
        )
    return result.stdout.decode(errors="replace")
