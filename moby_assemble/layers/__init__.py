"""Layers: decompressing layer blobs, lean tar streams, and flattening an image's layers.

Nothing here extracts to the host filesystem: layers flow tar-to-tar, so ownership,
device nodes, setuid bits and hard links survive without privileges, and no member name
can escape the image root.

Example::

    from moby_assemble.layers import LayerSource, TarWriter, flatten_layers

    with open("rootfs.tar", "wb") as out, TarWriter(out) as writer:
        for entry in flatten_layers([LayerSource.from_path(p, media_type) for p in blobs]):
            writer.add(entry)

.. versionadded:: 0.1
"""

from ._compression import LayerStream, open_layer
from ._entry import EntryType, TarEntry
from ._flatten import LayerSource, flatten_layers
from ._tar_reader import read_tar
from ._tar_writer import TarWriter

__all__ = [
    "EntryType",
    "LayerSource",
    "LayerStream",
    "TarEntry",
    "TarWriter",
    "flatten_layers",
    "open_layer",
    "read_tar",
]
