"""The local store: an OCI image layout used as cache, image source and export format.

Example::

    from moby_assemble.store import Store, parse_layout_reference

    store = Store("~/.cache/moby-assemble/store")
    desc = store.resolve("app:v1")
    ref = parse_layout_reference("oci-layout:/srv/images:app:v1")

.. versionadded:: 0.1
"""

from ._blob import BlobWriter
from ._gc import GcResult, StoreProblem
from ._graph import referenced_descriptors, sniff_media_type
from ._index import StoreEntry
from ._layout import Store
from ._reference import LayoutReference, is_layout_reference, parse_layout_reference

__all__ = [
    "BlobWriter",
    "GcResult",
    "LayoutReference",
    "Store",
    "StoreEntry",
    "StoreProblem",
    "is_layout_reference",
    "parse_layout_reference",
    "referenced_descriptors",
    "sniff_media_type",
]
