"""An uncompressed EROFS image written directly from a tar, in Python.

Debian 12's erofs-utils (1.5) cannot read tar files, and extracting the root tar to the
host would lose ownership and device nodes without root. The uncompressed EROFS format is
small enough to write directly:

- block 0 holds the superblock at byte 1024; the metadata area starts right after it
  (``meta_blkaddr`` 0), so the root inode is nid 36, as mkfs.erofs makes it;
- every inode is *extended* (64 bytes: 32-bit ids, 64-bit size, its own mtime), followed
  by its inline extended attributes and, when it fits in the same block, the tail of its
  data (``FLAT_INLINE``); everything else of the data is in whole blocks after the
  metadata (``FLAT_PLAIN``);
- directories are blocks of sorted ``(nid, nameoff, type)`` records followed by names,
  ``.`` and ``..`` included; hard links share one inode.

Two passes over the tar file: the first reads headers only and plans the whole image
(memory grows with the number of entries, never with file sizes); the second copies file
data to its place. A name that appears twice takes its last entry, like the initrd writer.
The output depends only on the tar, the ``epoch`` (superblock build time, implied
directories) and the seed of the UUID.

Example::

    with open("system.erofs", "wb") as f:
        write_erofs_image("system.tar", f, uuid_bytes=bytes(16), epoch=0)
"""

from __future__ import annotations

import stat
import struct
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import attrs

from .._errors import LayerError, OutputError
from ..layers import EntryType, TarEntry, read_tar

__all__ = ["write_erofs_image"]

BLOCK = 4096
_BLOCK_BITS = 12
_MAGIC = 0xE0F5E1E2
_SUPERBLOCK_OFFSET = 1024
_META_START = 1152  # after the 128-byte superblock: nid 36
_INODE_SIZE = 64
_SLOT = 32
_FLAT_PLAIN = 0
_FLAT_INLINE = 2
_DIRENT = 12
_CHUNK = 1 << 20
_FILE_TYPES = {
    EntryType.FILE: 1,
    EntryType.DIRECTORY: 2,
    EntryType.CHAR_DEVICE: 3,
    EntryType.BLOCK_DEVICE: 4,
    EntryType.FIFO: 5,
    EntryType.SYMLINK: 7,
}
_MODE_BITS = {
    EntryType.FILE: stat.S_IFREG,
    EntryType.DIRECTORY: stat.S_IFDIR,
    EntryType.CHAR_DEVICE: stat.S_IFCHR,
    EntryType.BLOCK_DEVICE: stat.S_IFBLK,
    EntryType.FIFO: stat.S_IFIFO,
    EntryType.SYMLINK: stat.S_IFLNK,
}
# Extended attribute name prefixes EROFS stores as an index (the rest of the name follows).
_XATTR_PREFIXES = (
    ("system.posix_acl_access", 2),
    ("system.posix_acl_default", 3),
    ("user.", 1),
    ("trusted.", 4),
    ("security.", 6),
)


@attrs.define(eq=False)
class _Inode:
    """One inode while the image is planned (private and mutable on purpose)."""

    type: EntryType
    mode: int
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    mtime_nsec: int = 0
    size: int = 0
    rdev: int = 0
    target: bytes = b""
    xattrs: bytes = b""
    data_index: int = -1
    children: dict[bytes, _Inode] = attrs.Factory(dict)
    parent: _Inode | None = None
    nlink: int = 1
    nid: int = 0
    ino: int = 0
    blkaddr: int = 0
    layout: int = _FLAT_PLAIN


def _xattr_prefix(name: str) -> tuple[int, bytes] | None:
    for prefix, index in _XATTR_PREFIXES:
        if name.startswith(prefix):
            return index, name[len(prefix) :].encode()
    return None


def _xattr_body(xattrs: dict[str, bytes], member: str) -> bytes:
    if not xattrs:
        return b""
    entries = []
    for name, value in xattrs.items():
        known = _xattr_prefix(name)
        if known is None:
            raise OutputError(
                f"erofs: {member}: extended attribute {name!r} has no EROFS name prefix "
                "(user., trusted., security., system.posix_acl_*)",
                path=member,
            )
        index, suffix = known
        if len(suffix) > 255 or len(value) > 0xFFFF:
            raise OutputError(f"erofs: {member}: extended attribute {name!r} is too long")
        entries.append((index, suffix, value))
    body = bytearray(struct.pack("<IB7x", 0, 0))  # no name filter, no shared xattrs
    for index, suffix, value in sorted(entries):
        entry = struct.pack("<BBH", len(suffix), index, len(value)) + suffix + value
        body += entry + bytes(-len(entry) % 4)
    return bytes(body)


def _rdev(major: int, minor: int) -> int:
    # The kernel's new_encode_dev, which EROFS stores.
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def _split_mtime(value: int | float) -> tuple[int, int]:
    if isinstance(value, int):
        return value, 0
    seconds = int(value // 1)
    return seconds, min(999_999_999, round((value - seconds) * 1e9))


class _Tree:
    """The file tree of the tar, last entry of a name winning."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.root = _Inode(EntryType.DIRECTORY, 0o755, mtime=epoch)
        self.root.parent = self.root

    def _directory(self, parts: list[bytes], member: str) -> _Inode:
        node = self.root
        for part in parts:
            child = node.children.get(part)
            if child is None:
                child = _Inode(EntryType.DIRECTORY, 0o755, mtime=self.epoch, parent=node)
                node.children[part] = child
            elif child.type is not EntryType.DIRECTORY:
                raise OutputError(f"erofs: {member}: {part.decode()!r} is not a directory")
            node = child
        return node

    def lookup(self, name: str) -> _Inode | None:
        node = self.root
        for part in name.encode().split(b"/"):
            child = node.children.get(part)
            if child is None:
                return None
            node = child
        return node

    def add(self, index: int, entry: TarEntry) -> None:
        name = entry.name
        seconds, nsec = _split_mtime(entry.mtime)
        if name in (".", ""):
            self.root.mode, self.root.uid, self.root.gid = entry.mode, entry.uid, entry.gid
            self.root.mtime, self.root.mtime_nsec = seconds, nsec
            self.root.xattrs = _xattr_body(entry.xattrs, name)
            return
        *parents, leaf = name.encode().split(b"/")
        parent = self._directory(parents, name)
        old = parent.children.get(leaf)
        if entry.type is EntryType.HARDLINK:
            target = self.lookup(entry.linkname)
            if target is None or target.type is EntryType.DIRECTORY:
                raise OutputError(
                    f"erofs: hard link {name} points at {entry.linkname}, "
                    "which is missing or a directory",
                    path=name,
                )
            if old is target:
                return
            if old is not None:
                old.nlink -= 1
            target.nlink += 1
            parent.children[leaf] = target
            return
        if entry.type is EntryType.DIRECTORY and old is not None and old.type is entry.type:
            # A later directory entry changes attributes only: keep the children.
            node = old
        else:
            if old is not None:
                old.nlink -= 1
            node = _Inode(entry.type, 0, parent=parent)
            parent.children[leaf] = node
        node.mode, node.uid, node.gid = entry.mode, entry.uid, entry.gid
        node.mtime, node.mtime_nsec = seconds, nsec
        node.xattrs = _xattr_body(entry.xattrs, name)
        if entry.type is EntryType.FILE:
            node.size, node.data_index = entry.size, index
        elif entry.type is EntryType.SYMLINK:
            node.target = entry.linkname.encode()
            node.size = len(node.target)
        elif entry.type in (EntryType.CHAR_DEVICE, EntryType.BLOCK_DEVICE):
            node.rdev = _rdev(entry.devmajor, entry.devminor)

    def inodes(self) -> Iterator[_Inode]:
        """Every inode once, breadth first, children in name order (root first)."""
        seen: set[int] = set()
        queue = deque([self.root])
        while queue:
            node = queue.popleft()
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            for key in sorted(node.children):
                queue.append(node.children[key])


def _dirent_blocks(node: _Inode) -> list[list[tuple[bytes, _Inode]]]:
    assert node.parent is not None
    entries = sorted([(b".", node), (b"..", node.parent), *node.children.items()])
    blocks: list[list[tuple[bytes, _Inode]]] = [[]]
    used = 0
    for name, child in entries:
        cost = _DIRENT + len(name)
        if used + cost > BLOCK:
            blocks.append([])
            used = 0
        blocks[-1].append((name, child))
        used += cost
    return blocks


def _directory_data(node: _Inode) -> bytes:
    out = bytearray()
    blocks = _dirent_blocks(node)
    for number, block in enumerate(blocks):
        names = b"".join(name for name, _ in block)
        offset = len(block) * _DIRENT
        records = bytearray()
        for name, child in block:
            records += struct.pack("<QHBx", child.nid, offset, _FILE_TYPES[child.type])
            offset += len(name)
        data = bytes(records) + names
        if number < len(blocks) - 1:
            data += bytes(BLOCK - len(data))
        out += data
    return bytes(out)


def _directory_size(node: _Inode) -> int:
    blocks = _dirent_blocks(node)
    last = sum(_DIRENT + len(name) for name, _ in blocks[-1])
    return (len(blocks) - 1) * BLOCK + last


def _inode_bytes(node: _Inode) -> bytes:
    xattr_count = 0 if not node.xattrs else (len(node.xattrs) - 12) // 4 + 1
    if node.type in (EntryType.CHAR_DEVICE, EntryType.BLOCK_DEVICE):
        union = node.rdev
    elif node.type is EntryType.FIFO:
        union = 0
    else:
        union = node.blkaddr
    return struct.pack(
        "<HHHHQIIIIQII16x",
        (node.layout << 1) | 1,  # extended inode
        xattr_count,
        _MODE_BITS[node.type] | (node.mode & 0o7777),
        0,
        node.size,
        union,
        node.ino,
        node.uid,
        node.gid,
        node.mtime,
        node.mtime_nsec,
        node.nlink,
    )


def write_erofs_image(
    tar: str | Path,
    target: BinaryIO,
    *,
    uuid_bytes: bytes,
    epoch: int = 0,
    label: str = "",
) -> None:
    """Write the tar file ``tar`` to ``target`` as an uncompressed EROFS image.

    Raises:
        OutputError: the tar cannot be read, or holds what EROFS cannot store (an
            extended attribute with an unknown prefix, a hard link to a directory).
    """
    tree = _Tree(epoch)
    try:
        with open(tar, "rb") as stream:
            for index, entry in enumerate(read_tar(stream, layer=str(tar))):
                tree.add(index, entry)
    except OSError as e:
        raise OutputError(f"erofs: cannot read tar {tar}: {e.strerror}", path=str(tar)) from None
    except LayerError as e:
        raise OutputError(f"erofs: tar {tar}: {e}", path=str(tar)) from None

    inodes = list(tree.inodes())
    directories = [n for n in inodes if n.type is EntryType.DIRECTORY]
    for node in directories:
        node.nlink = 2 + sum(c.type is EntryType.DIRECTORY for c in node.children.values())
        node.size = _directory_size(node)

    # Metadata: each inode, its xattrs and its inline tail, never across a block boundary.
    cursor = _META_START
    tails: dict[int, int] = {}
    for number, node in enumerate(inodes, start=1):
        node.ino = number
        head = _INODE_SIZE + len(node.xattrs)
        tail = node.size % BLOCK
        if tail and head + tail <= BLOCK:
            node.layout = _FLAT_INLINE
            tails[id(node)] = tail
        else:
            node.layout, tail = _FLAT_PLAIN, 0
        total = head + tail
        if total > BLOCK:
            raise OutputError(f"erofs: an inode's extended attributes need {head} bytes")
        if cursor % BLOCK + total > BLOCK:
            cursor += -cursor % BLOCK
        node.nid = cursor // _SLOT
        cursor += total + (-total % _SLOT)
    block = (cursor + BLOCK - 1) // BLOCK
    for node in inodes:
        full = node.size // BLOCK if node.layout == _FLAT_INLINE else -(-node.size // BLOCK)
        node.blkaddr = block if full else 0
        block += full
    if block >= 1 << 32:
        raise OutputError("erofs: the image would exceed 16 TiB")

    target.seek(0)
    target.truncate(block * BLOCK)

    def put_data(node: _Inode, data: bytes) -> None:
        tail = tails.get(id(node), 0)
        if len(data) > tail:
            target.seek(node.blkaddr * BLOCK)
            target.write(data[: len(data) - tail])
        if tail:
            target.seek(node.nid * _SLOT + _INODE_SIZE + len(node.xattrs))
            target.write(data[len(data) - tail :])

    files: dict[int, _Inode] = {}
    for node in inodes:
        target.seek(node.nid * _SLOT)
        target.write(_inode_bytes(node) + node.xattrs)
        if node.type is EntryType.DIRECTORY:
            put_data(node, _directory_data(node))
        elif node.type is EntryType.SYMLINK:
            put_data(node, node.target)
        elif node.type is EntryType.FILE and node.size:
            files[node.data_index] = node
    _copy_file_data(tar, target, files, tails)

    superblock = struct.pack(
        "<IIIBBHQQIIII16s16sIHHH",
        _MAGIC,
        0,  # no checksum (feature not set)
        0,
        _BLOCK_BITS,
        0,
        _META_START // _SLOT,
        len(inodes),
        epoch,
        0,
        block,
        0,  # meta_blkaddr: block 0
        0,
        uuid_bytes,
        label.encode()[:16],
        0,
        0,
        0,
        0,
    )
    target.seek(_SUPERBLOCK_OFFSET)
    target.write(superblock + bytes(128 - len(superblock)))


def _copy_file_data(
    tar: str | Path, target: BinaryIO, files: dict[int, _Inode], tails: dict[int, int]
) -> None:
    with open(tar, "rb") as stream:
        for index, entry in enumerate(read_tar(stream, layer=str(tar))):
            node = files.get(index)
            if node is None:
                continue
            tail = tails.get(id(node), 0)
            body = node.size - tail
            target.seek(node.blkaddr * BLOCK)
            copied = 0
            while copied < body:
                chunk = entry.read(min(_CHUNK, body - copied))
                if not chunk:
                    break
                target.write(chunk)
                copied += len(chunk)
            if tail:
                target.seek(node.nid * _SLOT + _INODE_SIZE + len(node.xattrs))
                target.write(entry.read(tail))
