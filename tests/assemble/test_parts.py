"""A bundle's root tar as parts: the sink that writes them, the reader that joins and checks
them, and the single file and digest made from them on demand."""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from pathlib import Path

import pytest

from moby_assemble import IntegrityError, StoreError
from moby_assemble.assemble._parts import (
    GLUE_NAME,
    PARTS_NAME,
    PartsSink,
    RootfsParts,
    encode_parts,
)
from moby_assemble.assemble._segments import SectionInfo, SectionStore, Segment


def _bundle(tmp_path: Path, pieces: list[bytes | tuple[str, bytes]]) -> tuple[RootfsParts, bytes]:
    """A bundle whose tar is ``pieces`` (bytes: the bundle's own; (key, bytes): a section)."""
    cache = tmp_path / "cache"
    directory = cache / "bundles" / "b"
    directory.mkdir(parents=True)
    store = SectionStore(cache / "sections")
    with open(directory / GLUE_NAME, "wb") as glue:
        sink = PartsSink(glue, store)
        for piece in pieces:
            if isinstance(piece, tuple):
                key, data = piece
                found = store.lookup(key)
                if found is None:
                    sink.start_section()
                    sink.write(data)
                    sink.end_section(key, SectionInfo(1, 1, [("x", "")]))
                    store.wait()
                else:
                    sink.add_section(found)
            else:
                sink.write(piece)
        doc = sink.finish()
    store.close()
    (directory / PARTS_NAME).write_bytes(encode_parts(doc))
    whole = b"".join(p[1] if isinstance(p, tuple) else p for p in pieces)
    return RootfsParts.load(directory), whole


def test_the_parts_read_as_one_stream_with_seeks_and_the_sections_are_shared(
    tmp_path: Path,
) -> None:
    a, b = bytes(range(256)) * 40, b"\x01" * 3000
    pieces: list[bytes | tuple[str, bytes]] = [
        b"head" * 100,
        ("k1", a),
        b"mid",
        ("k2", b),
        ("k1", a),
        b"end",
    ]
    parts, whole = _bundle(tmp_path, pieces)
    assert parts.size == len(whole)
    assert [p.section for p in parts.parts] == ["", "k1", "", "k2", "k1", ""]
    # One file per section, however often the bundle uses it; the bundle keeps its own.
    names = sorted(p.name for p in (tmp_path / "cache" / "sections").iterdir())
    assert names == ["v2-k1.json", "v2-k1.tar", "v2-k2.json", "v2-k2.tar"]
    assert (parts.directory / GLUE_NAME).stat().st_size == 406
    with parts.open() as f:
        assert f.read() == whole
        for pos, n in ((0, 1), (399, 7), (410, 5000), (len(whole) - 2, 10), (len(whole) + 5, 3)):
            f.seek(pos)
            assert f.read(n) == whole[pos : pos + n]
        f.seek(-3, io.SEEK_END)
        assert f.read() == b"end"
    assert parts.complete()
    assert parts.known_sha256() is None
    assert parts.sha256() == "sha256:" + hashlib.sha256(whole).hexdigest()
    assert parts.known_sha256() == parts.sha256()
    assert parts.tar().read_bytes() == whole


def test_a_damaged_section_is_an_integrity_error_and_is_dropped(tmp_path: Path) -> None:
    parts, _ = _bundle(tmp_path, [b"head", ("k1", b"x" * 5000), b"end"])
    section = tmp_path / "cache" / "sections" / "v2-k1.tar"
    section.write_bytes(b"y" + b"x" * 4999)
    with parts.open() as f:
        f.seek(100)
        assert f.read(10) == b"x" * 10  # a read from the middle is not checked
    with pytest.raises(IntegrityError) as info, parts.open() as f:
        f.read()
    assert str(section) in str(info.value)
    assert not section.exists()
    assert not section.with_suffix(".json").exists()
    assert not parts.complete()
    with pytest.raises(IntegrityError, match="is gone"), parts.open() as f:
        f.read()
    with pytest.raises(IntegrityError):
        parts.tar()
    # Nothing half-written in the bundle.
    assert sorted(p.name for p in parts.directory.iterdir()) == [GLUE_NAME, PARTS_NAME]


def test_damaged_own_bytes_and_short_files_are_integrity_errors(tmp_path: Path) -> None:
    parts, _ = _bundle(tmp_path, [b"head" * 200, ("k1", b"x" * 5000)])
    glue = parts.directory / GLUE_NAME
    glue.write_bytes(b"HEAD" + glue.read_bytes()[4:])
    with pytest.raises(IntegrityError, match="CRC-32") as info, parts.open() as f:
        f.read()
    assert str(glue) in str(info.value)
    assert glue.exists()  # the bundle's own bytes: the next assembly replaces the bundle
    section = tmp_path / "cache" / "sections" / "v2-k1.tar"
    section.write_bytes(b"x" * 100)
    assert not parts.complete()
    with parts.open() as f:
        f.seek(800)
        with pytest.raises(IntegrityError, match="shorter"):
            f.read()


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        json.dumps({"format": 2, "sections": "v2", "size": 0, "parts": []}),
        json.dumps({"format": 1, "sections": "v2", "size": 5, "parts": [["", 0, 4, 0]]}),
        json.dumps({"format": 1, "sections": "v2", "size": 4, "parts": [["", 0]]}),
    ],
)
def test_a_damaged_parts_list_is_a_store_error_naming_it(tmp_path: Path, text: str) -> None:
    (tmp_path / PARTS_NAME).write_text(text)
    with pytest.raises(StoreError) as info:
        RootfsParts.load(tmp_path)
    assert PARTS_NAME in str(info.value)


def test_a_section_description_without_its_whole_bytes_is_dropped(tmp_path: Path) -> None:
    store = SectionStore(tmp_path)
    file, tmp = store.create()
    file.write(b"abc")
    store.commit("k", file, tmp, length=3, crc=zlib.crc32(b"abc"), info=SectionInfo(0, 0, []))
    store.wait()
    found = store.lookup("k")
    assert isinstance(found, Segment)
    assert (found.length, found.crc32, list(found.journal)) == (3, zlib.crc32(b"abc"), [])
    store.tar_path("k").write_bytes(b"ab")  # shorter than described
    assert store.lookup("k") is None
    assert list(tmp_path.iterdir()) == []
    store.close()
