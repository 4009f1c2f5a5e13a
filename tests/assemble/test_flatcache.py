"""The flat cache keeps whole images only: a caller that stops early leaves nothing."""

from __future__ import annotations

from pathlib import Path

from moby_assemble import Platform
from moby_assemble.assemble import FlatCache
from moby_assemble.registry import ImageReference, Puller, RegistryClient
from moby_assemble.store import Store

from .conftest import Components


def test_flattening_through_the_cache_commits_only_when_every_entry_was_taken(
    components: Components, tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    with RegistryClient() as client, Puller(client, store) as puller:
        image = puller.pull(ImageReference.parse(components.init), Platform.parse("linux/amd64"))
    flat = FlatCache(tmp_path / "flat")
    with flat.flatten_entries(image, store) as entries:
        next(entries).read()
    assert not flat.has(image.manifest.digest)
    assert list((tmp_path / "flat").iterdir()) == []  # no temporary file either
    sizes: list[int] = []
    with flat.flatten_entries(image, store, on_flatten=sizes.append) as entries:
        names = [entry.name for entry in entries if entry.read() is not None]
    assert flat.has(image.manifest.digest)
    assert sizes == [flat.path_for(image.manifest.digest).stat().st_size]
    with flat.entries(image.manifest.digest) as cached:
        assert [entry.name for entry in cached] == names
