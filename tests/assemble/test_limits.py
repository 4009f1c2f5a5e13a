"""The assembler bounds what one layer may uncompress to."""

from __future__ import annotations

from pathlib import Path

import pytest

from moby_assemble.assemble import MAX_LAYER_SIZE, Assembler


def test_the_layer_size_limit_is_on_by_default_and_can_be_lifted(tmp_path: Path) -> None:
    with Assembler(tmp_path / "a", offline=True) as asm:
        assert asm.flat_cache.max_layer_size == MAX_LAYER_SIZE == 64 << 30
    with Assembler(tmp_path / "b", offline=True, max_layer_size=None) as asm:
        assert asm.flat_cache.max_layer_size is None
    with Assembler(tmp_path / "c", offline=True, max_layer_size=1 << 20) as asm:
        assert asm.flat_cache.max_layer_size == 1 << 20


@pytest.mark.parametrize("size", [0, -1])
def test_a_layer_size_limit_below_one_byte_is_refused(tmp_path: Path, size: int) -> None:
    with pytest.raises(ValueError, match="max_layer_size"):
        Assembler(tmp_path, offline=True, max_layer_size=size)
