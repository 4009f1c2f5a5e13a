"""OCI layout tar archives (``oci-archive``): export tags from a store, import them back.

Export writes a deterministic tar (members sorted, mtime 0, uid/gid 0, no user names, PAX
format) of ``oci-layout``, an ``index.json`` holding the chosen tags, and every blob they
reach, re-verifying each blob as it is copied. Import streams a tar (plain or compressed)
and verifies every blob against the digest in its name before it is committed; it never
extracts by member name, and it rejects members whose names are absolute or contain ``..``.

Example::

    store.export_tar("app.tar", ["app:v1"])
    Store("/elsewhere").import_tar("app.tar")   # -> ("app:v1",)
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from .._errors import ImageReferenceError, IntegrityError, MobyAssembleError, StoreError
from .._oci import Descriptor, MediaType, validate_digest
from ._blob import VerifyingReader, fsync_dir, temp_name
from ._gc import BrokenHandler, MissingHandler, walk
from ._index import (
    CONTAINERD_NAME_ANNOTATION,
    dump_json,
    empty_index,
    entry_name,
    index_entries,
    layout_bytes,
    parse_index,
    parse_layout_file,
    validate_ref_name,
    with_entry,
)

if TYPE_CHECKING:
    from ._layout import Store

__all__ = ["export_tar", "import_tar"]

logger = logging.getLogger("moby_assemble.store")

_BLOB_NAME_RE = re.compile(r"^blobs/([a-z0-9]+)/([a-zA-Z0-9=_-]+)$")
#: ``oci-layout`` and ``index.json`` are read into memory; refuse absurd ones.
_MAX_METADATA = 4 * 1024 * 1024
_OPAQUE = "application/octet-stream"


def _tarinfo(name: str, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    tf.addfile(_tarinfo(name, size=len(data)), io.BytesIO(data))


def _must_follow(store: Store) -> tuple[MissingHandler, BrokenHandler]:
    def missing(parent: Descriptor | None, child: Descriptor) -> None:
        # An index in a cache often lists platforms that were never fetched: exporting the
        # ones that are here is still a valid layout. A manifest without its config or a
        # layer is not an image.
        if parent is not None and parent.media_type in MediaType.INDEXES:
            return
        what = "tagged" if parent is None else f"referenced by {parent.digest}"
        raise StoreError(
            f"blob {child.digest} ({child.media_type}) {what} is not in the store {store.path}",
            path=str(store.blob_path(child.digest)),
        )

    def broken(desc: Descriptor, error: MobyAssembleError) -> None:
        raise error

    return missing, broken


@contextmanager
def _output(dest: str | os.PathLike[str] | BinaryIO) -> Iterator[BinaryIO]:
    if not isinstance(dest, (str, os.PathLike)):
        yield dest
        return
    path = Path(dest)
    tmp = path.with_name("." + temp_name(path.name))
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {e.strerror or e}", path=str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def export_tar(
    store: Store, dest: str | os.PathLike[str] | BinaryIO, names: Sequence[str] | None = None
) -> None:
    """Write an OCI layout tar of the tags ``names`` (all entries when None) to ``dest``.

    ``dest`` is a path (written to a temp file beside it, then renamed) or a binary stream.

    Raises:
        OfflineError / StoreError: a tag is missing, or a blob an image needs is missing.
        IntegrityError: a blob in the store does not match its digest (a path ``dest`` is
            then not created).
    """
    with _lease_if_writable(store):
        _export(store, dest, names)


@contextmanager
def _lease_if_writable(store: Store) -> Iterator[None]:
    # A lease keeps a concurrent gc from deleting blobs mid-export; a read-only layout (a
    # source someone else owns) cannot be collected by us either, so it needs none.
    if os.access(store.path, os.W_OK):
        with store.lease():
            yield
    else:
        yield


def _export(
    store: Store, dest: str | os.PathLike[str] | BinaryIO, names: Sequence[str] | None
) -> None:
    doc = store.read_index()
    if names is None:
        manifests = list(doc["manifests"])
    else:
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            store.resolve(name)  # raises, naming the tag
        manifests = [raw for raw in doc["manifests"] if entry_name(raw) in wanted]
    out_index = {**empty_index(), **{k: v for k, v in doc.items() if k != "manifests"}}
    out_index["manifests"] = manifests
    roots = [e.descriptor for e in index_entries(out_index, str(store.path / "index.json"))]
    missing, broken = _must_follow(store)
    blobs = walk(store, roots, missing=missing, broken=broken)

    with (
        _output(dest) as out,
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf,
    ):
        members: list[tuple[str, Descriptor | None]] = [("blobs", None)]
        for alg in sorted({d.split(":", 1)[0] for d in blobs}):
            members.append((f"blobs/{alg}", None))
        for digest in sorted(blobs):
            alg, encoded = digest.split(":", 1)
            members.append((f"blobs/{alg}/{encoded}", blobs[digest]))
        for name, desc in sorted(members, key=lambda m: m[0]):
            if desc is None:
                tf.addfile(_tarinfo(name, directory=True))
                continue
            reader = VerifyingReader(store.blob_path(desc.digest), desc.digest, desc.size)
            with reader:
                tf.addfile(_tarinfo(name, size=desc.size), reader)
                reader.finish()
        _add_bytes(tf, "index.json", dump_json(out_index))
        _add_bytes(tf, "oci-layout", layout_bytes())
    logger.info("exported %d entries, %d blobs from %s", len(roots), len(blobs), store.path)


def _member_name(member: tarfile.TarInfo, source: str) -> str:
    """The normalised name of a tar member, or StoreError if it could escape a directory."""
    raw = member.name
    if not raw or "\x00" in raw or "\\" in raw or raw.startswith("/"):
        raise StoreError(f"{source}: unsafe member name {raw!r}", path=source)
    parts = [p for p in PurePosixPath(raw).parts if p != "."]
    if ".." in parts:
        raise StoreError(f"{source}: unsafe member name {raw!r} (contains '..')", path=source)
    return "/".join(parts)


def _read_member(tf: tarfile.TarFile, member: tarfile.TarInfo, name: str, source: str) -> bytes:
    if not member.isreg():
        raise StoreError(f"{source}: {name} is not a regular file", path=source)
    if member.size > _MAX_METADATA:
        raise StoreError(f"{source}: {name} is larger than {_MAX_METADATA} bytes", path=source)
    f = tf.extractfile(member)
    assert f is not None  # regular files always have content
    return f.read()


def _import_name(raw: dict[str, Any], source: str) -> str | None:
    annotations = raw.get("annotations") or {}
    # containerd exports carry the full image name there and only the tag in ref.name.
    name = annotations.get(CONTAINERD_NAME_ANNOTATION) or entry_name(raw)
    if name is None:
        return None
    try:
        return validate_ref_name(name)
    except ImageReferenceError as e:
        raise StoreError(
            f"{source}: index.json entry name {name!r}: {e.reason}", path=source
        ) from None


def import_tar(store: Store, src: str | os.PathLike[str] | BinaryIO) -> tuple[str, ...]:
    """Import an OCI layout tar (plain, gzip, bzip2 or xz) into ``store``.

    Each blob is verified against the digest its member name gives while it streams in;
    ``index.json`` entries are then tagged by their ``io.containerd.image.name`` annotation
    if present, else by ``org.opencontainers.image.ref.name`` (entries with neither are
    kept untagged). Files other than the layout's are ignored.

    Returns:
        The tags imported, sorted.

    Raises:
        StoreError: the tar is not an OCI layout, a member name is unsafe (``../evil``,
            absolute), a blob member is not a regular file, or an image is incomplete.
        IntegrityError: a blob does not match the digest in its name.
    """
    source = str(src) if isinstance(src, (str, os.PathLike)) else getattr(src, "name", "<stream>")
    source = str(source)
    layout: bytes | None = None
    index: bytes | None = None
    with store.lease():
        opened: BinaryIO | None = None
        try:
            if isinstance(src, (str, os.PathLike)):
                try:
                    opened = open(src, "rb")  # noqa: SIM115  (closed below)
                except OSError as e:
                    raise StoreError(f"cannot read {source}: {e.strerror}", path=source) from None
            stream = opened if opened is not None else src
            assert not isinstance(stream, (str, os.PathLike))
            with tarfile.open(fileobj=stream, mode="r|*") as tf:
                for member in tf:
                    name = _member_name(member, source)
                    if member.isdir() or not name:
                        continue
                    if name == "oci-layout":
                        layout = _read_member(tf, member, name, source)
                    elif name == "index.json":
                        index = _read_member(tf, member, name, source)
                    elif name.startswith("blobs/"):
                        _import_blob(store, tf, member, name, source)
        except tarfile.TarError as e:
            raise StoreError(f"{source}: not a readable tar archive ({e})", path=source) from None
        finally:
            if opened is not None:
                opened.close()

        if layout is None or index is None:
            missing = "oci-layout" if layout is None else "index.json"
            raise StoreError(f"{source}: not an OCI layout archive (no {missing})", path=source)
        parse_layout_file(layout, f"{source}:oci-layout")
        doc = parse_index(index, f"{source}:index.json")
        entries = index_entries(doc, f"{source}:index.json")
        missing_cb, broken = _must_follow(store)
        walk(store, [e.descriptor for e in entries], missing=missing_cb, broken=broken)

        imported: list[str] = []
        with store.locked():
            current = store.read_index()
            for raw, entry in zip(doc["manifests"], entries, strict=True):
                tag = _import_name(raw, source)
                current = with_entry(current, tag, entry.descriptor)
                if tag is not None:
                    imported.append(tag)
            store.write_index(current)
    logger.info("imported %d tags from %s into %s", len(imported), source, store.path)
    return tuple(sorted(set(imported)))


def _import_blob(
    store: Store, tf: tarfile.TarFile, member: tarfile.TarInfo, name: str, source: str
) -> None:
    m = _BLOB_NAME_RE.match(name)
    if m is None:
        raise StoreError(f"{source}: unexpected member {name!r} under blobs/", path=source)
    digest = f"{m.group(1)}:{m.group(2)}"
    try:
        validate_digest(digest)
    except ValueError as e:
        raise StoreError(f"{source}: member {name!r}: {e}", path=source) from None
    if not member.isreg():
        raise StoreError(f"{source}: member {name!r} is not a regular file", path=source)
    if store.has_blob(digest):
        return  # tarfile skips the unread content when it moves to the next member
    f = tf.extractfile(member)
    assert f is not None
    try:
        store.ingest_stream(Descriptor(_OPAQUE, digest, member.size), cast(BinaryIO, f))
    except IntegrityError as e:
        raise IntegrityError(
            f"{source}: member {name!r}: {e}", digest=digest, actual=e.actual, subject=name
        ) from None
