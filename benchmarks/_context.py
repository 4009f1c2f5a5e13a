"""What every benchmark gets: the launcher, the scale, the images and scratch space.

Example::

    ctx = Context(launcher, QUICK, work, layout, images, log=print)
    scratch = ctx.scratch("pull-ours-1")   # a fresh, empty directory
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ._measure import Launcher, remove_tree

if TYPE_CHECKING:
    # Not at run time: the child steps import this module and must stay small.
    from ._images import BuiltImage, Scale

__all__ = ["Context"]


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
