"""Comparable snapshots of a root filesystem: from a directory umoci unpacked, or from tar
entries (what flatten_layers produces), so the two can be compared with ``==``.

A snapshot maps each path to a tuple (type, mode, uid, gid, content, xattrs, mtime).
``content`` is the data's sha256 for files, the target for symlinks, ``major:minor`` for
devices. Hard links are compared separately as groups of names sharing an inode.

When the tests run as root, umoci unpacks with real ownership and device nodes. Otherwise
it runs ``--rootless``: ownership comes from the ``user.rootlesscontainers`` xattr (a
protobuf of uid=1, gid=2), and device nodes, which become empty files, are compared only
by name and mode.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from moby_assemble.layers import EntryType, TarEntry, TarWriter, read_tar

ROOTLESS = os.geteuid() != 0
_ROOTLESS_XATTR = "user.rootlesscontainers"

Snapshot = dict[str, tuple[object, ...]]


def umoci_unpack(layout: Path, tag: str, bundle: Path) -> Path:
    """``umoci unpack`` the image; returns the rootfs directory."""
    cmd = ["umoci", "unpack"]
    if ROOTLESS:
        cmd.append("--rootless")
    subprocess.run(
        [*cmd, "--image", f"{layout}:{tag}", str(bundle)], check=True, capture_output=True
    )
    return bundle / "rootfs"


def _varints(data: bytes) -> dict[int, int]:
    """Decode a protobuf message of varint fields (rootlesscontainers.Resource)."""
    out: dict[int, int] = {}
    pos = 0
    while pos < len(data):
        key = 0
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        value = 0
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out[key >> 3] = value
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def snapshot_dir(root: Path, *, since: float) -> tuple[Snapshot, set[frozenset[str]]]:
    """Snapshot a directory tree (``since``: directories newer than this were made up by
    the unpacker, their mtime is not compared)."""
    snap: Snapshot = {}
    inodes: dict[tuple[int, int], set[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = str(full.relative_to(root))
            st = os.lstat(full)
            xattrs = {}
            for key in os.listxattr(full, follow_symlinks=False):
                xattrs[key] = os.getxattr(full, key, follow_symlinks=False)
            uid, gid = st.st_uid, st.st_gid
            if ROOTLESS:
                owner = _varints(xattrs.pop(_ROOTLESS_XATTR, b""))
                uid, gid = owner.get(1, 0), owner.get(2, 0)
            mode = stat.S_IMODE(st.st_mode)
            mtime: object = int(st.st_mtime)
            if stat.S_ISDIR(st.st_mode):
                kind, content = "dir", None
                if st.st_mtime >= since:
                    mtime = None
            elif stat.S_ISLNK(st.st_mode):
                kind, content = "symlink", os.readlink(full)
                mode = None  # symlink modes mean nothing on Linux
            elif stat.S_ISREG(st.st_mode):
                kind, content = "file", _sha(full.read_bytes())
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), set()).add(rel)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                kind = "char" if stat.S_ISCHR(st.st_mode) else "block"
                content = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            elif stat.S_ISFIFO(st.st_mode):
                kind, content = "fifo", None
            else:  # pragma: no cover
                raise AssertionError(f"unexpected file type at {rel}")
            snap[rel] = (kind, mode, uid, gid, content, tuple(sorted(xattrs.items())), mtime)
    return snap, {frozenset(v) for v in inodes.values()}


def snapshot_entries(entries: Iterable[TarEntry]) -> tuple[Snapshot, set[frozenset[str]]]:
    """Snapshot flattened entries: write them with TarWriter and read the archive back, so
    the comparison also covers what the writer puts on the wire."""
    buf = io.BytesIO()
    with TarWriter(buf) as writer:
        for entry in entries:
            writer.add(entry)
    snap: Snapshot = {}
    groups: dict[str, set[str]] = {}
    for e in read_tar(io.BytesIO(buf.getvalue())):
        if e.name == ".":
            continue
        assert e.name not in snap, f"duplicate {e.name}"
        xattrs = tuple(sorted(e.xattrs.items()))
        mode: int | None = e.mode
        mtime: object = int(e.mtime)
        if e.type is EntryType.HARDLINK:
            assert e.linkname in snap, f"hard link {e.name} before its target {e.linkname}"
            target = e.linkname
            groups.setdefault(target, {target}).add(e.name)
            snap[e.name] = snap[target]
            continue
        if e.type is EntryType.DIRECTORY:
            kind, content = "dir", None
        elif e.type is EntryType.SYMLINK:
            kind, content, mode = "symlink", e.linkname, None
        elif e.type is EntryType.FILE:
            kind, content = "file", _sha(e.read())
        elif e.type in (EntryType.CHAR_DEVICE, EntryType.BLOCK_DEVICE):
            kind = "char" if e.type is EntryType.CHAR_DEVICE else "block"
            content = f"{e.devmajor}:{e.devminor}"
        else:
            kind, content = "fifo", None
        parent = e.name.rpartition("/")[0]
        assert not parent or snap.get(parent, ("?",))[0] == "dir", f"{e.name} before {parent}"
        snap[e.name] = (kind, mode, e.uid, e.gid, content, xattrs, mtime)
    return snap, {frozenset(v) for v in groups.values()}


def comparable(snap: Snapshot, *, other: Snapshot) -> Snapshot:
    """Drop what the other side could not record: unknown directory mtimes, and (rootless)
    device nodes that became empty files."""
    out = {}
    for name, value in snap.items():
        theirs = other.get(name)
        if theirs is not None and value[0] == "dir" and None in (value[6], theirs[6]):
            value = (*value[:6], None)
        devices = ("char", "block")
        if ROOTLESS and (value[0] in devices or (theirs is not None and theirs[0] in devices)):
            value = ("device", value[1])
        out[name] = value
    return out


def start_time() -> float:
    return time.time() - 5
