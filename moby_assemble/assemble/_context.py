"""The one context every pipeline step works on: inputs, the output tar, and what was built.

A :class:`BuildContext` is created by :meth:`Assembler.assemble
<moby_assemble.assemble.Assembler.assemble>` for one assembly and handed to each step in
turn. Steps read the system, lock and platform, get image content through
:meth:`BuildContext.image_entries` (which goes through the flat cache), write to
:attr:`BuildContext.writer`, and record what they produced (kernel, containers) for the
:class:`~moby_assemble.assemble.Bundle`.

Example::

    with ctx.image_entries(container.image, "services[0]") as entries:
        copy_image(ctx.writer, entries, prefix="containers/services/web/lower", ...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import attrs

from .._errors import ConfigError
from ._events import AssemblyEvent, ImageCopied, ImageFlattened

if TYPE_CHECKING:
    from .._lock import Lock
    from .._model import System
    from .._platform import Platform
    from ..layers import TarEntry
    from ..registry import PulledImage, Puller
    from ..store import Store
    from ._bundle import BundleContainer
    from ._flatcache import FlatCache
    from ._rootfs import RootfsWriter

__all__ = ["BuildContext", "ImageUse", "SbomGenerator"]


@attrs.frozen
class ImageUse:
    """One use of an image in the system: where, which reference, and what was pulled.

    Attributes:
        location: the place in the system (``kernel``, ``init[1]``, ``volume[0]``,
            ``services[2]``; LinuxKit's ``LINUXKIT.location`` values).
        reference: the reference as the system writes it.
        image: the pulled image (manifest, config, layers), all in the store.
    """

    location: str
    reference: str
    image: PulledImage


class SbomGenerator(Protocol):
    """What the ``sbom`` step calls (the seam for an SPDX generator).

    ``generate`` gets every image use of the assembly, in build order, and returns the files
    to add to the root filesystem as ``(path, content)`` (LinuxKit writes one
    ``sbom.spdx.json`` at the root). It must be deterministic for reproducible outputs.
    """

    def generate(
        self,
        uses: Sequence[ImageUse],
        *,
        store: Store,
        platform: Platform,
        source_date_epoch: int,
    ) -> Sequence[tuple[str, bytes]]: ...


@attrs.define(eq=False)
class BuildContext:
    """State of one assembly, shared by the pipeline's steps.

    Attributes:
        system: what is assembled (not pinned: references as the user wrote them).
        lock: the pins used.
        platform: the platform assembled for.
        writer: the root filesystem tar.
        store: the blob store.
        flat: the flat cache.
        images: reference → pulled image (filled by the ``pull`` step).
        work_dir: the bundle directory (kernel and ucode files go here).
        emit: the progress sink.
        id_map: container name → uid/gid (LinuxKit's allocation from 100).
        source_date_epoch: mtime of generated entries.
        sbom: the SBOM generator, or ``None`` (the ``sbom`` step is skipped).
        puller: fetches images (offline if the assembler is).
        written: manifest digest → directory holding that image's files (de-duplication).
        containers: the container bundles written, in build order.
        uses: every image use, in build order (for the SBOM).
        kernel: the kernel file in ``work_dir``, once the kernel step ran.
        cmdline: the kernel command line.
        ucode: the microcode cpio in ``work_dir``, if any.
        flattened: images flattened (not found in the flat cache) during this assembly.
    """

    system: System
    lock: Lock
    platform: Platform
    writer: RootfsWriter
    store: Store
    flat: FlatCache
    puller: Puller
    work_dir: Path
    emit: Callable[[AssemblyEvent], None]
    id_map: dict[str, int]
    source_date_epoch: int
    sbom: SbomGenerator | None = None
    images: dict[str, PulledImage] = attrs.Factory(dict)
    written: dict[str, str] = attrs.Factory(dict)
    containers: list[BundleContainer] = attrs.Factory(list)
    uses: list[ImageUse] = attrs.Factory(list)
    kernel: Path | None = None
    cmdline: str | None = None
    ucode: Path | None = None
    flattened: int = 0

    def image(self, reference: str) -> PulledImage:
        """The pulled image for a reference of the system.

        Raises:
            ConfigError: the reference was not pulled (a step asked for an image the
                system does not name: a bug, reported clearly rather than as a KeyError).
        """
        try:
            return self.images[reference]
        except KeyError:
            raise ConfigError(f"image {reference} was not pulled for {self.platform}") from None

    def record_use(self, location: str, reference: str) -> PulledImage:
        """Note that ``location`` uses ``reference`` (for the SBOM) and return the image."""
        image = self.image(reference)
        self.uses.append(ImageUse(location, reference, image))
        return image

    @contextlib.contextmanager
    def image_entries(
        self, reference: str, location: str, *, announce: bool = True
    ) -> Iterator[Iterator[TarEntry]]:
        """The flattened entries of an image (no root entry), from the flat cache.

        The image is flattened through the cache if it is not there (an
        :class:`~moby_assemble.assemble.ImageFlattened` event follows its last entry); an
        :class:`~moby_assemble.assemble.ImageCopied` event says whether the content came
        from the cache (``announce=False`` skips it, for a second pass over one image).
        """
        image = self.image(reference)
        digest = image.manifest.digest

        def flattened(size: int) -> None:
            self.flattened += 1
            self.emit(ImageFlattened(reference, digest, len(image.layers), size))

        cached = self.flat.has(digest)
        if announce:
            self.emit(ImageCopied(location, reference, digest, cached))
        if cached:
            with self.flat.entries(digest) as entries:
                yield entries
        else:
            # First use: flatten through the cache (nothing is read back).
            with self.flat.flatten_entries(image, self.store, on_flatten=flattened) as entries:
                yield entries
