"""Outputs appear whole or not at all: write under temporary names, then rename.

An :class:`AtomicOutput` hands out temporary paths next to the final ones (same directory,
so ``rename`` is atomic and never copies), fsyncs everything on :meth:`~AtomicOutput.commit`,
and renames all of them only once every part of the output is complete. An exception
inside the ``with`` block removes every temporary file and directory, so a failed write
leaves neither a half-written file under its final name nor litter behind. A writer that is
killed cannot clean up: its temporary names stay, next to its lock file
(``.moby-assemble-<token>.lock``, ``flock``-ed while it writes). The next writer in the
directory removes the names whose lock file nobody holds any more, never a live writer's.

Example::

    with AtomicOutput(out_dir, format="kernel+initrd") as out:
        with out.open("system-kernel") as f:
            f.write(kernel)
        out.path("system-initrd.img").write_bytes(initrd)
    out.paths   # (out_dir/system-kernel, out_dir/system-initrd.img), both complete
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .._errors import OutputError
from .._fsync import fsync_path
from .._stale import lock_path, remove_stale_groups

__all__ = ["AtomicOutput", "check_output_name"]

logger = logging.getLogger("moby_assemble.outputs")


def check_output_name(name: str, *, format: str | None = None) -> str:
    """Return ``name`` if it can be a file name in the output directory.

    Raises:
        OutputError: empty, hidden (our temporary files start with ``.``), or holding a
            path separator or NUL.
    """
    if not name or name.startswith(".") or "/" in name or "\0" in name:
        raise OutputError(
            f"output name {name!r} must be a plain file name (no '/', not starting with '.')",
            format=format,
            path=name,
        )
    return name


# Temporary names: ".<final>.tmp-<token>" (parts) and ".<final>.old-<token>" (a directory
# moved aside); ".moby-assemble-<token>.lock" is held by the writer while they exist.
_TEMP_NAME = re.compile(r"\..+\.(?:tmp|old)-(?P<token>[0-9a-f]{8})")
_LOCK_NAME = ".moby-assemble-{token}.lock"


def _fsync_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in files:
                fsync_path(Path(root, name))
            for name in dirs:
                fsync_path(Path(root, name))
    fsync_path(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class AtomicOutput:
    """The files (and directories) of one output, committed together or not at all.

    Args:
        directory: where the final files go (created if missing).
        format: the output format, named in errors.

    Use it as a context manager: a clean exit commits, an exception discards.
    """

    def __init__(self, directory: str | os.PathLike[str], *, format: str) -> None:
        self.directory = Path(directory)
        self.format = format
        self._token = secrets.token_hex(4)
        self._parts: dict[str, Path] = {}
        self._committed: tuple[Path, ...] | None = None
        self._lock_fd: int | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # What an earlier writer killed mid-way left here goes first; then this writer's
            # own lock, held until commit or discard, keeps its names safe from others.
            remove_stale_groups(self.directory, _TEMP_NAME, _LOCK_NAME)
            self._lock_path = self.directory / _LOCK_NAME.format(token=self._token)
            self._lock_fd = lock_path(self._lock_path)
        except OSError as e:
            raise OutputError(
                f"cannot create output directory {self.directory}: {e.strerror}",
                format=format,
                path=str(self.directory),
            ) from None

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            self._lock_path.unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def paths(self) -> tuple[Path, ...]:
        """The final paths, in the order they were asked for (after :meth:`commit`)."""
        if self._committed is None:
            raise OutputError(
                f"{self.format}: output in {self.directory} is not committed",
                format=self.format,
                path=str(self.directory),
            )
        return self._committed

    def _temp(self, final_name: str) -> Path:
        check_output_name(final_name, format=self.format)
        if final_name in self._parts:
            raise OutputError(
                f"{self.format}: {final_name} is written twice",
                format=self.format,
                path=str(self.directory / final_name),
            )
        temp = self.directory / f".{final_name}.tmp-{self._token}"
        self._parts[final_name] = temp
        return temp

    def path(self, final_name: str) -> Path:
        """A temporary path to write the file ``final_name`` at."""
        return self._temp(final_name)

    def open(self, final_name: str) -> BinaryIO:
        """:meth:`path`, opened for binary writing."""
        return open(self._temp(final_name), "wb")  # the caller closes it

    def mkdir(self, final_name: str) -> Path:
        """A temporary directory that becomes ``final_name`` (e.g. an OCI layout)."""
        temp = self._temp(final_name)
        temp.mkdir()
        return temp

    def commit(self) -> tuple[Path, ...]:
        """fsync every part, then rename each to its final name; return the final paths.

        An existing file or directory of the same name is replaced.
        """
        finals = []
        try:
            for name, temp in self._parts.items():
                if not temp.exists():
                    raise OutputError(
                        f"{self.format}: {name} was never written",
                        format=self.format,
                        path=str(self.directory / name),
                    )
                _fsync_tree(temp)
            for name, temp in self._parts.items():
                final = self.directory / name
                self._replace(temp, final)
                finals.append(final)
            fsync_path(self.directory)
        except OSError as e:
            self.discard()
            raise OutputError(
                f"{self.format}: cannot commit output in {self.directory}: {e.strerror}",
                format=self.format,
                path=str(self.directory),
            ) from None
        except BaseException:
            self.discard()
            raise
        self._parts.clear()
        self._unlock()
        self._committed = tuple(finals)
        logger.info("%s: wrote %s", self.format, ", ".join(p.name for p in finals))
        return self._committed

    def _replace(self, temp: Path, final: Path) -> None:
        if temp.is_dir() and (final.is_dir() and not final.is_symlink()):
            # rename() cannot replace a non-empty directory: move the old one aside first.
            old = final.with_name(f".{final.name}.old-{self._token}")
            final.rename(old)
            temp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        elif final.is_dir() and not final.is_symlink():
            _remove(final)
            temp.rename(final)
        else:
            os.replace(temp, final)

    def discard(self) -> None:
        """Remove every temporary part (nothing under a final name is touched)."""
        for temp in self._parts.values():
            _remove(temp)
        self._parts.clear()
        self._unlock()

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
