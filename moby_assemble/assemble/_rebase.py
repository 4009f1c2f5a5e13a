"""A new tag of an image whose top layer changed: its section made from the old section.

A service is usually rebuilt by changing its top layer: the new binary, a new
configuration file, on the same base. Its section (see :mod:`._segments`) then differs from
the old one in two ways only: every entry's ``LINUXKIT.source`` record names the new
reference, and the files of the top layer have new content. When the top layers of both
images have the same structure, this module makes the new section from the old one instead
of flattening the image again:

* the lower layers are the same layers (by digest), at the same place (prefix, location,
  kind, ``SOURCE_DATE_EPOCH``);
* both top layers have the same entries, by name and type, in the same order, with the same
  directory attributes, and neither has whiteouts or hard links.

Then the flattener's decisions are the same for both images (which lower entries a top
layer removes or re-attributes depends only on those names, types and directory attributes),
so the new section is the old one entry by entry, with the source record replaced, and with
the top layer's non-directory entries (which replace any lower entry of the same name, so
each name appears once) taken from the new top layer. Anything else (or a missing old layer)
is not rebased: the image is flattened as usual. The result is byte-identical to flattening
the image, which the tests check against a cold assembly.

Example::

    segment = rebase(ctx, image, reference, location, prefix=prefix, kind="container", key=key)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._crc import crc32
from .._errors import MobyAssembleError
from .._version import __version__
from ..layers import EntryType, TarEntry, read_tar
from ..layers._compression import open_layer
from ..layers._paths import is_whiteout
from ..layers._tar_reader import _number
from ..layers._tar_writer import _pax_header, _pax_text_record
from ._rootfs import SOURCE, admitted
from ._segments import FORMAT

if TYPE_CHECKING:
    from ..registry import PulledImage
    from ..store import Store
    from ._context import BuildContext
    from ._segments import Segment

__all__ = ["may_rebase", "origin_of", "rebase"]

logger = logging.getLogger("moby_assemble.assemble")

_BLOCK = 512
_DIR = EntryType.DIRECTORY


class _CannotRebaseError(Exception):
    """The old section cannot be used (the caller flattens the image)."""


def _base(image: PulledImage, *, prefix: str, location: str, kind: str, epoch: int) -> str:
    lower = [layer.digest for layer in image.layers[:-1]]
    inputs = [FORMAT, __version__, "base", lower, prefix, location, kind, epoch]
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


def origin_of(
    image: PulledImage, *, source: str, prefix: str, location: str, kind: str, epoch: int
) -> Mapping[str, str] | None:
    """What a section of ``image`` records for a later :func:`rebase` (``None``: an image
    of one layer, or an init image, is never rebased)."""
    if len(image.layers) < 2 or kind == "init":
        return None
    base = _base(image, prefix=prefix, location=location, kind=kind, epoch=epoch)
    top = image.layers[-1]
    return {"source": source, "top": top.digest, "top_media_type": top.media_type, "base": base}


def may_rebase(
    ctx: BuildContext, image: PulledImage, reference: str, location: str, *, prefix: str, kind: str
) -> bool:
    """Whether :func:`rebase` has an old section to try (a quick look, no layer read)."""
    origin = ctx.section_origin(image, reference, location, prefix=prefix, kind=kind)
    return origin is not None and ctx.segments.latest_with_base(origin["base"]) is not None


def rebase(
    ctx: BuildContext,
    image: PulledImage,
    reference: str,
    location: str,
    *,
    prefix: str,
    kind: str,
    key: str,
) -> Segment | None:
    """The section ``key`` of ``image`` made from the stored section of an image that
    differs only in its top layer (see the module documentation), or ``None``."""
    sections = ctx.segments
    origin = ctx.section_origin(image, reference, location, prefix=prefix, kind=kind)
    if origin is None:
        return None
    old_key = sections.latest_with_base(origin["base"])
    if old_key is None or old_key == key:
        return None
    old = sections.lookup(old_key)
    if old is None or old.origin is None or old.origin.get("base") != origin["base"]:
        return None
    top = image.layers[-1]
    old_top = old.origin["top"]
    store = ctx.store
    try:
        if not store.has_blob(old_top):
            return None
        diff_ids = image.config.get("rootfs", {}).get("diff_ids")
        if not isinstance(diff_ids, list) or len(diff_ids) != len(image.layers):
            return None  # flattening reports it
        new_layer = (top.digest, top.media_type, str(diff_ids[-1]))
        old_layer = (old_top, old.origin.get("top_media_type", ""), None)
        nondir = _same_structure(store, old_layer, new_layer, ctx.flat.max_layer_size)
        if nondir is None:
            return None
        return _write(
            ctx,
            old,
            old.origin["source"],
            reference,
            location,
            prefix,
            key,
            nondir,
            new_layer,
            origin,
        )
    except (_CannotRebaseError, OSError, ValueError) as e:  # flattening meets real errors
        logger.info("section of %s not rebased: %s", reference, e)
        return None


def _open(store: Store, layer: tuple[str, str, str | None], max_size: int | None) -> Any:
    digest, media_type, diff_id = layer
    return open_layer(
        store.open_blob(digest), media_type, diff_id=diff_id, max_size=max_size, name=digest
    )


def _structure(
    store: Store, layer: tuple[str, str, str | None], max_size: int | None
) -> tuple[list[tuple[str, EntryType]], dict[str, tuple[Any, ...]]] | None:
    """A top layer's (name, type) sequence and its directories' attributes; ``None`` if
    it has whiteouts or hard links."""
    names: list[tuple[str, EntryType]] = []
    dirs: dict[str, tuple[Any, ...]] = {}
    with contextlib.closing(_open(store, layer, max_size)) as stream:
        for entry in read_tar(stream, layer=layer[0]):
            if ".wh." in entry.name and is_whiteout(entry.name, layer=layer[0]):
                return None
            if entry.type is EntryType.HARDLINK:
                return None
            names.append((entry.name, entry.type))
            if entry.type is _DIR:
                dirs[entry.name] = (
                    entry.mode, entry.uid, entry.gid, entry.mtime, entry.uname, entry.gname,
                    entry.pax,
                )  # fmt: skip
        while stream.read(1 << 20):  # to the end: the blob's digest (and diff_id) checked
            pass
    return names, dirs


def _same_structure(
    store: Store,
    old: tuple[str, str, str | None],
    new: tuple[str, str, str | None],
    max_size: int | None,
) -> set[str] | None:
    """The non-directory names of the top layers if they have the same structure."""
    try:
        a = _structure(store, old, max_size)
    except (MobyAssembleError, OSError) as e:  # the old layer only costs the rebase
        logger.info("old top layer %s unusable: %s", old[0], e)
        return None
    b = _structure(store, new, max_size)
    if a is None or b is None or a != b:
        return None
    return {name for name, kind in a[0] if kind is not _DIR}


def _records(old_source: str, new_source: str) -> tuple[bytes, bytes]:
    return _pax_text_record(SOURCE, old_source), _pax_text_record(SOURCE, new_source)


def _swap(records: bytes, old: bytes, new: bytes) -> tuple[bytes, int | None]:
    """PAX records with the source record replaced, and the ``size`` record if any."""
    out: list[bytes] = []
    size = None
    pos = 0
    replaced = False
    while pos < len(records):
        space = records.index(b" ", pos)
        length = int(records[pos:space])
        record = records[pos : pos + length]
        if record == old:
            record, replaced = new, True
        elif record.startswith(b"size=", space - pos + 1):
            size = int(record[space - pos + 6 : -1])
        out.append(record)
        pos += length
    if not replaced:
        raise _CannotRebaseError("an entry of the old section has no source record")
    return b"".join(out), size


def _write(
    ctx: BuildContext,
    old: Segment,
    old_source: str,
    reference: str,
    location: str,
    prefix: str,
    key: str,
    nondir: set[str],
    new_layer: tuple[str, str, str | None],
    origin: Mapping[str, str],
) -> Segment:
    old_record, new_record = _records(old_source, reference)
    strip = len(prefix) + 1 if prefix else 0
    section = ctx.detached(key)
    writer = section.writer
    epoch = ctx.source_date_epoch
    done = False
    try:
        with (
            open(old.path, "rb") as f,
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data,
            contextlib.closing(_open(ctx.store, new_layer, ctx.flat.max_layer_size)) as stream,
        ):
            if crc32(data) != old.crc32:
                ctx.segments.drop(old.key)
                raise _CannotRebaseError(f"{old.path} does not match its CRC-32 (dropped)")
            replacements = _replacements(read_tar(stream, layer=new_layer[0]), nondir, epoch)
            pos = 0
            for index, (name, kind) in enumerate(old.journal):
                header = data[pos : pos + _BLOCK]
                if len(header) < _BLOCK or header[156:157] != b"x":
                    raise _CannotRebaseError(f"entry {index} of the old section has no PAX header")
                length = _number(header[124:136])
                records = data[pos + _BLOCK : pos + _BLOCK + length]
                pos += _BLOCK + -(-length // _BLOCK) * _BLOCK
                ustar = pos
                new_records, size = _swap(records, old_record, new_record)
                if size is None:
                    size = _number(data[pos + 124 : pos + 136])
                pos += _BLOCK + -(-size // _BLOCK) * _BLOCK
                if pos > len(data):
                    raise _CannotRebaseError("the old section ends inside an entry")
                rel = name[strip:] if strip else name
                if index < old.count and kind != "d" and rel in nondir:
                    entry = next(replacements, None)
                    if entry is None or entry.name != rel:
                        raise _CannotRebaseError(f"{rel} is not next in the new top layer")
                    writer.add(entry, source=reference, location=location, prefix=prefix)
                    continue
                block = _pax_header(len(new_records)) + new_records
                writer.splice(block + bytes(-len(new_records) % _BLOCK))
                writer.splice(data[ustar:pos])
                writer.account(name, kind)
            if pos != len(data) or next(replacements, None) is not None:
                raise _CannotRebaseError("the old section and the new top layer do not line up")
            while stream.read(1 << 20):  # the rest counts for the diff_id
                pass
        segment = section.finish(old.count, origin=origin)
        done = True
    finally:
        if not done:
            section.abort()
    logger.info("section of %s made from the one of %s", reference, old_source)
    return segment


def _replacements(entries: Iterator[TarEntry], nondir: set[str], epoch: int) -> Iterator[TarEntry]:
    """The new top layer's entries that replace old ones, as the image filter admits them."""
    for entry in entries:
        if entry.name in nondir:
            kept = admitted(entry, epoch)
            if kept is not None:
                yield kept
