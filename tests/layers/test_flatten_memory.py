"""flatten_layers keeps a small, fixed amount of state per entry (never file data).

The state is what pass 2 remembers per path: its name, and one packed int for the latest
version (an object only for hard-link inodes). On CPython 3.11 that is about 160 bytes
per entry for short names; the bound below fails if each entry grows an object again
(a slotted object and its boxed position cost about 70 bytes more).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

from moby_assemble.layers import EntryType, LayerSource, TarEntry, flatten_layers
from moby_assemble.testing import Layer

FILES = 20_000
DIRS = 100
MAX_BYTES_PER_ENTRY = 190


def _lower() -> Iterator[tuple[TarEntry, bytes | None]]:
    for d in range(DIRS):
        yield TarEntry(f"d{d:03}", EntryType.DIRECTORY), None
    data = b"data" * 100  # memory must not depend on the data anyway
    for i in range(FILES):
        yield TarEntry(f"d{i % DIRS:03}/f{i:06}", size=len(data)), data


def _layers() -> list[LayerSource]:
    lower = Layer.generated(_lower)
    upper = Layer().file("d000/f000000", b"new").whiteout("d001/f000001")
    return [lower.source(), upper.source()]


def test_flatten_state_stays_under_a_fixed_number_of_bytes_per_entry() -> None:
    layers = _layers()
    expected = DIRS + FILES - 1  # one file whited out
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        seen = 0
        held = 0
        for _entry in flatten_layers(layers):
            seen += 1
            if seen % 1000 == 0 or seen == expected:
                # Measured while the flattener is suspended, holding all of its state.
                held = max(held, tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    assert seen == expected
    assert held / seen < MAX_BYTES_PER_ENTRY, f"{held / seen:.0f} bytes per entry"
