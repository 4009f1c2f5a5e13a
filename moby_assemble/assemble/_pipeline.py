"""The build pipeline: a fixed sequence of named steps over one :class:`BuildContext`.

Reading :data:`STEPS` top to bottom is reading the build: fetch every image, then write the
root filesystem in LinuxKit's order (later entries win when the tar is unpacked)::

    pull → kernel → init → volumes → onboot → onshutdown → services → files → sbom

:func:`run_steps` times and logs each step and reports it to the progress sink
(:class:`~moby_assemble.assemble.StepStarted`, ``StepFinished`` with the entries and bytes
it wrote, or ``StepFailed``). A failing step stops the pipeline; its exception propagates
with a note naming the step.

Example::

    run_steps(STEPS, ctx)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from .._model import Stage
from ._events import StepFailed, StepFinished, StepStarted
from ._steps_containers import containers_step
from ._steps_files import files_step
from ._steps_init import init_step
from ._steps_kernel import kernel_step
from ._steps_pull import pull_step
from ._steps_sbom import sbom_step
from ._steps_volumes import volumes_step

if TYPE_CHECKING:
    from ._context import BuildContext

__all__ = ["STEPS", "Step", "run_steps"]

logger = logging.getLogger("moby_assemble.assemble")


@attrs.frozen
class Step:
    """A named step: ``run(ctx)`` returns ``False`` when it had nothing to do.

    Attributes:
        name: what progress events and logs call it.
        run: the function.
        description: one line for humans.
    """

    name: str
    run: Callable[[BuildContext], bool]
    description: str


#: The assembly, in order.
STEPS: tuple[Step, ...] = (
    Step("pull", pull_step, "fetch every image by its pinned digest"),
    Step("kernel", kernel_step, "boot/kernel, boot/cmdline, boot/ucode.cpio and the modules"),
    Step("init", init_step, "init and runtime images, unpacked into the root"),
    Step("volumes", volumes_step, "containers/volumes/<name>/{lower,tmp,merged}"),
    Step("onboot", containers_step(Stage.ONBOOT), "containers/onboot/NNN-<name>"),
    Step("onshutdown", containers_step(Stage.ONSHUTDOWN), "containers/onshutdown/NNN-<name>"),
    Step("services", containers_step(Stage.SERVICES), "containers/services/<name>"),
    Step("files", files_step, "files, directories and symlinks of the system"),
    Step("sbom", sbom_step, "software bill of materials (when a generator is given)"),
)


def run_steps(steps: Sequence[Step], ctx: BuildContext) -> None:
    """Run ``steps`` in order over ``ctx``, timed, logged and reported.

    Raises:
        Whatever a step raises (with a note naming the step), after a ``StepFailed`` event.
    """
    total = len(steps)
    for index, step in enumerate(steps):
        ctx.emit(StepStarted(step.name, index, total))
        ctx.writer.flush()
        entries, written = ctx.writer.entries, ctx.writer.bytes_written
        start = time.monotonic()
        try:
            did_something = step.run(ctx)
        except Exception as e:
            ctx.emit(StepFailed(step.name, str(e)))
            logger.info("step %s failed after %.2fs: %s", step.name, time.monotonic() - start, e)
            e.add_note(f"moby_assemble: in the {step.name!r} step of the assembly")
            raise
        ctx.writer.flush()
        seconds = time.monotonic() - start
        entries = ctx.writer.entries - entries
        written = ctx.writer.bytes_written - written
        logger.info(
            "step %s: %d entries, %d bytes in %.2fs%s",
            step.name,
            entries,
            written,
            seconds,
            "" if did_something else " (nothing to do)",
        )
        ctx.emit(StepFinished(step.name, seconds, entries, written, skipped=not did_something))
