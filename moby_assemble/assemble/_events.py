"""Progress events of an assembly: small immutable values handed to a callback.

The assembler never draws anything itself; a front end (the CLI, a notebook widget) passes a
callable and renders what it receives. Besides the events below, the callback also gets the
registry's blob events (:class:`~moby_assemble.registry.BlobStarted`, ``BlobProgress``,
``BlobFinished``) while images are fetched; those arrive on download threads, so callbacks
should return quickly.

Example::

    def show(event: AssemblyEvent) -> None:
        if isinstance(event, StepFinished):
            print(f"{event.step:<10} {event.seconds:6.2f}s {event.entries} entries")

    with Assembler(cache, progress=show) as asm:
        asm.assemble(system)
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ..registry import BlobFinished, BlobProgress, BlobStarted

__all__ = [
    "AssemblyEvent",
    "AssemblyFinished",
    "BlobFinished",
    "BlobProgress",
    "BlobStarted",
    "ImageCopied",
    "ImageFlattened",
    "ImageReused",
    "ProgressSink",
    "StepFailed",
    "StepFinished",
    "StepStarted",
]


@attrs.frozen
class StepStarted:
    """A pipeline step begins.

    Attributes:
        step: its name (``kernel``, ``init``, ``onboot`` …).
        index: its position, from 0.
        total: how many steps the pipeline has.
    """

    step: str
    index: int
    total: int


@attrs.frozen
class StepFinished:
    """A pipeline step is done.

    Attributes:
        step: its name.
        seconds: how long it took.
        entries: tar entries it added to the root filesystem.
        bytes: bytes it added to the root filesystem tar (headers included).
        skipped: true when the step had nothing to do (no kernel, SBOM off …).
    """

    step: str
    seconds: float
    entries: int
    bytes: int
    skipped: bool = False


@attrs.frozen
class StepFailed:
    """A pipeline step raised; the assembly stops and the error propagates.

    Attributes:
        step: its name.
        error: the error's message.
    """

    step: str
    error: str


@attrs.frozen
class ImageFlattened:
    """An image's layers were decompressed and flattened (its content was not cached yet).

    Attributes:
        reference: the image.
        digest: its manifest digest (the flat cache's key).
        layers: how many layers were read.
        size: bytes of the flattened tar.
    """

    reference: str
    digest: str
    layers: int
    size: int


@attrs.frozen
class ImageCopied:
    """An image's flattened content was copied into the root filesystem.

    Attributes:
        location: where in the system (``init[0]``, ``services[2]`` …).
        reference: the image.
        digest: its manifest digest.
        cached: true when the content came from an earlier build's flat cache (no layer was
            decompressed for it in this build).
    """

    location: str
    reference: str
    digest: str
    cached: bool


@attrs.frozen
class ImageReused:
    """A container uses an image already written for another container, so its files are not
    written again (the bundle mounts the first copy).

    Attributes:
        location: the container (``onboot[1]``).
        reference: the image.
        directory: where the shared copy is in the root filesystem.
    """

    location: str
    reference: str
    directory: str


@attrs.frozen
class AssemblyFinished:
    """The root filesystem tar is complete.

    Attributes:
        bundle: the bundle's name (its directory in ``<cache>/bundles``; the tar's own
            digest is :attr:`Bundle.rootfs_sha256 <moby_assemble.assemble.Bundle.rootfs_sha256>`,
            computed when asked for).
        size: the tar's size in bytes.
        seconds: the whole assembly's duration.
    """

    bundle: str
    size: int
    seconds: float


#: Every event an assembly reports (blob events come from the registry package).
AssemblyEvent = (
    StepStarted
    | StepFinished
    | StepFailed
    | ImageFlattened
    | ImageCopied
    | ImageReused
    | AssemblyFinished
    | BlobStarted
    | BlobProgress
    | BlobFinished
)
#: What a progress callback looks like.
ProgressSink = Callable[[AssemblyEvent], None]
