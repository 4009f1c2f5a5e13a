"""Hostile layers, flattened directly and assembled end to end: rows of
:data:`tests.hostile.cases.LAYERS`.
"""

from __future__ import annotations

import io
import stat
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from moby_assemble import Container, MobyAssembleError, System
from moby_assemble.assemble import Assembler
from moby_assemble.layers import LayerSource, TarEntry, flatten_layers, read_tar
from moby_assemble.registry import RegistryConfig
from moby_assemble.store import Store
from moby_assemble.testing import LocalRegistry
from tests.faults._table import Case

from ._blobs import RawLayer
from .cases import LAYERS
from .conftest import image_documents, leftovers, push_documents, unique_repo


def _headers(entries: Any) -> dict[str, TarEntry]:
    """Entries by name, their data read (and dropped) on the way."""
    out = {}
    for entry in entries:
        while entry.read(1 << 20):
            pass
        out[entry.name] = entry
    return out


def _opener(blob: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(blob)


def _sources(raws: tuple[RawLayer, ...]) -> list[LayerSource]:
    return [
        LayerSource(_opener(raw.blob), raw.media_type, f"layer{i}", raw.diff_id)
        for i, raw in enumerate(raws)
    ]


def _check_error(case: Case, error: BaseException) -> None:
    message = str(error)
    member = case.param("member")
    if member is not None:
        assert repr(member) in message or member in message
    if case.param("message") is not None:
        assert case.param("message") in message
    assert isinstance(error, MobyAssembleError)


@pytest.mark.parametrize("case", LAYERS.params(where=lambda c: c.param("unit", True)))
def test_layers_flattened(case: Case) -> None:
    raws = case.param("layers")()
    started = time.monotonic()
    entries = flatten_layers(_sources(raws), max_size=case.param("max_size"))
    watch_memory = case.param("max_memory") is not None
    if watch_memory:  # tracing slows Python down: only where memory is the point
        tracemalloc.start()
    try:
        if case.error is None:
            case.param("check")(_headers(entries))
        else:
            with pytest.raises(case.error) as info:
                _headers(entries)
            _check_error(case, info.value)
            layer_names = [f"layer{i}" for i in range(len(raws))]
            assert any(name in str(info.value) for name in layer_names)
        peak = tracemalloc.get_traced_memory()[1] if watch_memory else 0
    finally:
        if watch_memory:
            tracemalloc.stop()
    if case.param("max_seconds") is not None:
        assert time.monotonic() - started < case.param("max_seconds")
    if case.param("max_memory") is not None:
        assert peak < case.param("max_memory")


@pytest.mark.parametrize("case", LAYERS.params(where=lambda c: c.param("e2e", True)))
def test_layers_assembled(case: Case, registry: LocalRegistry, tmp_path: Path) -> None:
    raws = case.param("layers")()
    ref = push_documents(registry.url, unique_repo(case.id), "1", image_documents(raws))
    system = System().with_service(Container("x", ref))
    cache = tmp_path / "cache"
    options: dict[str, Any] = {}
    if case.param("max_size") is not None:
        options["max_layer_size"] = case.param("max_size")
    registries = {registry.host: RegistryConfig(plain_http=True)}
    with Assembler(cache, platform="linux/amd64", registries=registries, **options) as asm:
        if case.error is None:
            bundle = asm.assemble(system)
            prefix = bundle.containers[0].rootfs + "/"
            with open(bundle.rootfs_tar, "rb") as f:
                entries = _headers(read_tar(f))
            case.param("check")(
                {n[len(prefix) :]: e for n, e in entries.items() if n.startswith(prefix)}
            )
            # Nothing was created on the host but regular files and directories.
            for path in cache.rglob("*"):
                mode = path.lstat().st_mode
                assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), path
        else:
            with pytest.raises(case.error) as info:
                asm.assemble(system)
            _check_error(case, info.value)
            assert leftovers(cache) == []
    assert Store(cache / "store").verify() == ()
