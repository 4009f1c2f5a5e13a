"""Assembling systems: resolve to a Lock, then build one root filesystem tar (a Bundle).

Example::

    from moby_assemble import System
    from moby_assemble.assemble import Assembler

    system = System.from_yaml("linuxkit.yml")
    with Assembler(cache="~/.cache/moby-assemble") as asm:
        lock = asm.resolve(system)
        lock.save("linuxkit.lock.json")
        bundle = asm.assemble(system, lock=lock)
    print(bundle.rootfs_tar, bundle.rootfs_sha256)

.. versionadded:: 0.1
"""

from ._assembler import MAX_LAYER_SIZE, Assembler, default_cache_dir, source_date_epoch
from ._bundle import Bundle, BundleContainer
from ._context import BuildContext, ImageUse, SbomGenerator
from ._display import WrittenOutputs
from ._events import (
    AssemblyEvent,
    AssemblyFinished,
    ImageCopied,
    ImageFlattened,
    ImageReused,
    ProgressSink,
    StepFailed,
    StepFinished,
    StepStarted,
)
from ._flatcache import FlatCache
from ._parts import RootfsParts
from ._pipeline import STEPS, Step, run_steps
from ._prune import PruneResult, prune_cache

__all__ = [
    "MAX_LAYER_SIZE",
    "STEPS",
    "Assembler",
    "AssemblyEvent",
    "AssemblyFinished",
    "BuildContext",
    "Bundle",
    "BundleContainer",
    "FlatCache",
    "ImageCopied",
    "ImageFlattened",
    "ImageReused",
    "ImageUse",
    "ProgressSink",
    "PruneResult",
    "RootfsParts",
    "SbomGenerator",
    "Step",
    "StepFailed",
    "StepFinished",
    "StepStarted",
    "WrittenOutputs",
    "default_cache_dir",
    "prune_cache",
    "run_steps",
    "source_date_epoch",
]
