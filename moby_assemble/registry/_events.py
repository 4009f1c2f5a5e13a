"""Progress events of a pull: small immutable values handed to a callback.

The library never draws progress bars itself; a front end (the CLI, a notebook widget)
passes a callable and renders what it receives. Callbacks run on download threads and
should return quickly.

Example::

    def show(event: ProgressEvent) -> None:
        if isinstance(event, BlobFinished):
            print(event.digest[:19], "cached" if event.cached else "done")

    Puller(client, store, progress=show).pull(ref, platform)
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = ["BlobFinished", "BlobProgress", "BlobStarted", "ProgressCallback", "ProgressEvent"]


@attrs.frozen
class BlobStarted:
    """A blob download begins.

    Attributes:
        reference: the image it is fetched for.
        digest: the blob digest.
        size: its size in bytes.
        media_type: its media type (layer, config, manifest).
    """

    reference: str
    digest: str
    size: int
    media_type: str


@attrs.frozen
class BlobProgress:
    """Bytes of a blob have arrived (``done`` of ``size``)."""

    digest: str
    done: int
    size: int


@attrs.frozen
class BlobFinished:
    """A blob is verified and in the store.

    Attributes:
        cached: true when it was already there and nothing was downloaded.
    """

    digest: str
    size: int
    cached: bool = False


#: Any of the events above.
ProgressEvent = BlobStarted | BlobProgress | BlobFinished
#: What a progress hook looks like.
ProgressCallback = Callable[[ProgressEvent], None]
