"""The ``moby-assemble`` command line (extra ``[cli]``: ``pip install 'moby-assemble[cli]'``).

Commands (``moby-assemble COMMAND --help`` for each one's options):

- ``build``: assemble a system from LinuxKit YAML (or TOML) and write its outputs, with
  LinuxKit's flags (``-f``, ``-o``/``-o -``, ``--dir``, ``--name``, ``--arch``, ``--cache``,
  ``--pull``, ``--dry-run``, ``--no-sbom``, several files merged, ``-`` for stdin) plus
  ``--lock``/``--locked``, ``--offline`` and ``--platform``;
- ``resolve`` (alias ``lock``): pin every image of a system in a lock file;
- ``formats``: the output formats available;
- ``pull``, ``push``: images between registries and the cache;
- ``inspect``: an image, a system file, or a built root filesystem;
- ``cache ls|rm|gc|verify|export|import``: the image cache;
- ``pkg build``: component images from recipes and Debian packages;
- ``verify``: cosign signatures of images or of a system's images;
- ``run qemu``: boot a built or pushed system with the console attached.

Global options come before the command: ``--debug`` (tracebacks), ``-q``/``--quiet``,
``-v`` (repeatable), ``--log-format json`` (one JSON object per line on stderr, for CI),
``--progress``, and the registry options ``--insecure-registry``, ``--plain-http``,
``--registry-ca``, ``--mirror``, ``--docker-config``.

Results go to stdout; logs, progress and errors to stderr. An error is one line
(``moby-assemble: error: …``) unless ``--debug`` is given, and the exit code says what kind
of error it was:

==== ==================================================================================
code meaning
==== ==================================================================================
0    success
1    any other moby_assemble error (e.g. a layer that cannot be flattened safely)
2    usage: unknown command or option, missing argument; or the [cli] extra is missing
3    configuration: invalid system file, image reference or platform
4    registry: refused, not found, authentication failed, unreachable
5    integrity: content does not match its digest, size or diff_id
6    store: the local cache is unusable, or offline and something is not in it
7    signature: missing or not verifying
8    output: an output could not be written
9    lock: the lock file is malformed or no longer matches the system
70   internal error: a bug in moby-assemble (please report it, with ``--debug`` output)
130  interrupted (Ctrl-C)
==== ==================================================================================

Example::

    $ moby-assemble pull --cache ./cache 127.0.0.1:5000/app:1
    127.0.0.1:5000/app:1@sha256:…
    $ moby-assemble --log-format json inspect 127.0.0.1:5000/nope:1; echo $?
    {"time": "…", "level": "error", "message": "…", "error": "NotFoundError", …}
    4
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_MISSING_CLICK = (
    "moby-assemble: the command line needs the 'click' package: pip install 'moby-assemble[cli]'"
)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and exit with its exit code.

    This is the only function of the package that exits the process.
    """
    try:
        import click  # noqa: F401
    except ImportError:
        sys.stderr.write(_MISSING_CLICK + "\n")
        sys.exit(2)
    from ._cli._app import cli

    cli.main(args=list(argv) if argv is not None else None, prog_name="moby-assemble")


if __name__ == "__main__":  # pragma: no cover - ``python -m moby_assemble.cli``
    main()
