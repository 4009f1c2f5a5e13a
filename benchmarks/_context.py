"""What every benchmark gets: the launcher, the scale, the images and scratch space.

Example::

    ctx = Context(launcher, QUICK, work, layout, images, log=print)
    scratch = ctx.scratch("pull-ours-1")   # a fresh, empty directory
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from ._images import BuiltImage, Scale
from ._measure import Launcher

__all__ = ["Context", "remove_tree"]


def remove_tree(path: Path) -> None:
    """Delete a directory tree, even one ``umoci unpack --rootless`` left read-only."""

    def make_writable(func: Callable[..., object], name: str, _exc: object) -> None:
        parent = os.path.dirname(name)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, os.stat(name).st_mode | stat.S_IRWXU)
        func(name)

    if path.exists():
        # onerror, not onexc: Python 3.11 is supported.
        shutil.rmtree(path, onerror=make_writable)


@attrs.frozen
class Context:
    """Shared state of one benchmark run.

    Attributes:
        launcher: runs and measures every step.
        scale: image sizes and repetitions.
        work: the run's work directory.
        layout: the OCI layout (a Store) holding the benchmark images.
        images: the built images by tag.
        log: progress lines (stderr in the CLI).
        cpu: the one CPU that single-core steps are pinned to.
        registry: ``host:port`` of the local registry (pull benchmark only).
        profile_dir: where cProfile statistics go, if profiling was asked for.
    """

    launcher: Launcher
    scale: Scale
    work: Path
    layout: Path
    images: Mapping[str, BuiltImage]
    log: Callable[[str], None]
    cpu: int = attrs.field(factory=lambda: max(os.sched_getaffinity(0)))
    registry: str = ""
    profile_dir: Path | None = None

    def scratch(self, name: str) -> Path:
        """A fresh empty directory under the work directory (removed first if present)."""
        path = self.work / "scratch" / name
        remove_tree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
