"""Keeping the assembly cache bounded: bundles, sections and flat-cache entries not used for
a while are removed.

Every assembly adds a bundle (its own entries, a few megabytes) and the sections of images
at places no earlier assembly had them; rebuilds add more. Each of these names records when
it was last *used*, not only written, in its modification time: a bundle when an assembly
finds it already there, a section when an assembly reuses it, a flat-cache entry when it is
read. :func:`prune_cache` removes what was not used for ``older_than`` seconds (but never a
section that a bundle it keeps still needs), then what killed processes left behind (see
:meth:`Assembler.remove_stale <moby_assemble.assemble.Assembler.remove_stale>`).
Nothing a later assembly needs for correctness is removed: anything missing is made again
(from the store's blobs, which :meth:`Store.gc <moby_assemble.store.Store.gc>` looks after).

Example::

    result = prune_cache(Path("~/.cache/moby-assemble").expanduser(), older_than=7 * 86400)
    print(len(result.removed), result.freed_bytes)
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import attrs

from .._errors import StoreError
from .._stale import remove_stale
from ._flatcache import FORMAT as FLAT_FORMAT
from ._parts import RootfsParts
from ._segments import FORMAT as SECTION_FORMAT
from ._segments import SectionStore

__all__ = ["PruneResult", "prune_cache", "remove_litter"]

logger = logging.getLogger("moby_assemble.assemble")


@attrs.frozen
class PruneResult:
    """What :func:`prune_cache` removed (or would remove, with ``dry_run``).

    Attributes:
        removed: the paths, sorted.
        freed_bytes: their total size (killed processes' litter not counted).
    """

    removed: tuple[Path, ...]
    freed_bytes: int


def _size(path: Path) -> int:
    try:
        if path.is_dir() and not path.is_symlink():
            return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir())
        return path.lstat().st_size
    except OSError:
        return 0


def _old(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime < cutoff
    except OSError:
        return False


def _sections_of(bundle: Path) -> set[str]:
    """The keys of the sections ``bundle`` is made of (none if it is damaged)."""
    try:
        return {part.section for part in RootfsParts.load(bundle).parts if part.section}
    except (StoreError, RecursionError):
        return set()


def remove_litter(cache: Path, *, now: float | None = None) -> list[Path]:
    """Remove what killed assemblies left in ``cache`` (unfinished bundles, sections and
    flat-cache entries, and a bundle's ``rootfs.tar`` or digest being written) that no live
    process holds; returns what was removed."""
    bundles = cache / "bundles"
    removed = remove_stale(bundles, (".assembling-*",), now=now)
    if bundles.is_dir():
        for bundle in sorted(bundles.iterdir()):
            if not bundle.name.startswith(".") and bundle.is_dir():
                removed += remove_stale(bundle, (".*.tmp",), now=now)
    removed += remove_stale(cache / "flat", (".*.tmp",), now=now)
    removed += remove_stale(cache / "sections", (".*.tmp",), now=now)
    return removed


def prune_cache(
    cache: Path, *, older_than: float, dry_run: bool = False, now: float | None = None
) -> PruneResult:
    """Remove bundles, sections and flat-cache entries of ``cache`` not used for
    ``older_than`` seconds (keeping the sections of the bundles kept), and killed
    processes' litter.

    Args:
        cache: the assembler's cache directory (``store/`` is left alone).
        older_than: seconds since the last use.
        dry_run: only report what would be removed.
        now: the current time (for tests).

    Raises:
        ValueError: ``older_than`` is negative.
    """
    if older_than < 0:
        raise ValueError(f"older_than must not be negative, got {older_than}")
    now = time.time() if now is None else now
    cutoff = now - older_than
    doomed: list[Path] = []
    bundles = cache / "bundles"
    needed: set[str] = set()
    if bundles.is_dir():
        for path in sorted(bundles.iterdir()):
            if path.name.startswith(".") or not path.is_dir():
                continue
            if _old(path, cutoff):
                doomed.append(path)
            else:
                needed.update(_sections_of(path))
    flat = cache / "flat"
    if flat.is_dir():
        for path in sorted(flat.glob(f"{FLAT_FORMAT}-*.tar")):
            if _old(path, cutoff):
                doomed.append(path)
                sidecar = path.with_name(path.name + ".crc32")
                if sidecar.exists():
                    doomed.append(sidecar)
        for path in sorted(flat.glob(f"{FLAT_FORMAT}-*.seen")):
            if _old(path, cutoff):
                doomed.append(path)
    sections = cache / "sections"
    if sections.is_dir():
        for path in sorted(sections.glob(f"{SECTION_FORMAT}-*.tar")):
            if _old(path, cutoff) and path.stem.partition("-")[2] not in needed:
                # With its description and the files kept with it (kernel, microcode).
                doomed += sorted(sections.glob(f"{path.stem}.*"))
        for path in sorted(sections.glob("v*-*.json")):  # descriptions without their bytes
            if not path.with_suffix(".tar").exists() and path not in doomed:
                doomed.append(path)
        gone = set(doomed)
        for path in sorted(sections.glob(f"{SECTION_FORMAT}-base-*.key")):
            # Which section a new top layer is rebased on (see _rebase): useless without it.
            try:
                key = path.read_text().strip()
            except OSError:
                key = ""
            tar = SectionStore(sections).tar_path(key)
            if not key or tar in gone or not tar.exists():
                doomed.append(path)
    # What earlier versions kept (section descriptions pointing into whole root tars).
    for path in sorted((cache / "segments").glob("*.json")):
        doomed.append(path)
    freed = sum(_size(p) for p in doomed)
    if not dry_run:
        for path in doomed:
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            except OSError as e:
                logger.warning("cannot remove %s: %s", path, e)
        doomed += remove_litter(cache, now=now)
    logger.info("cache prune: %d paths, %d bytes", len(doomed), freed)
    return PruneResult(tuple(sorted(doomed)), freed)
