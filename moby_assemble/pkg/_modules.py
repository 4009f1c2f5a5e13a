"""Kernel modules: ``.modinfo`` from ELF files, and ``modules.dep`` / ``modules.alias`` in Python.

Debian's kernel packages ship no ``modules.dep`` (``depmod`` runs in their postinst), and a
system assembled without running anything needs one for ``modprobe``. Every module's ELF
``.modinfo`` section lists ``name=``, ``depends=`` (module names, comma separated) and
``alias=`` strings; compressed modules (``.ko.xz``, ``.ko.zst``, ``.ko.gz``) are decompressed
in memory first.

``modules.dep`` lists, for each module (path relative to ``lib/modules/<version>``), every
module it needs, directly or not, ordered so that a module always comes before the modules
it depends on (``modprobe`` loads the list from the end). Lines are sorted by path.
``modules.alias`` has one ``alias <pattern> <module name>`` line per alias. Both are what
``busybox depmod`` and kmod's ``depmod`` write, except for line order.

Example::

    info = read_modinfo(Path("virtio_net.ko").read_bytes())
    info["depends"]                      # 'net_failover,virtio,virtio_ring'
    dep, alias = depmod({"kernel/drivers/net/virtio_net.ko": data, ...})
"""

from __future__ import annotations

import gzip
import logging
import lzma
import posixpath
import struct
from collections.abc import Mapping

import zstandard

from .._errors import LayerError

__all__ = ["depmod", "is_module", "module_name", "read_modinfo"]

logger = logging.getLogger("moby_assemble.pkg")

_MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")
# A module is at most a few megabytes; this bounds memory for a hostile compressed one.
_MAX_MODULE = 256 * 1024 * 1024


def is_module(path: str) -> bool:
    """Whether ``path`` names a kernel module (``.ko``, possibly compressed)."""
    return path.endswith(_MODULE_SUFFIXES)


def module_name(path: str) -> str:
    """The module name for a file: base name without suffix, ``-`` as ``_``.

    Example::

        >>> module_name("kernel/drivers/hid/hid-generic.ko.xz")
        'hid_generic'
    """
    base = posixpath.basename(path)
    for suffix in _MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def _decompress(data: bytes, path: str) -> bytes:
    try:
        if path.endswith(".xz"):
            return lzma.decompress(data)
        if path.endswith(".zst"):
            return zstandard.ZstdDecompressor().decompress(data, max_output_size=_MAX_MODULE)
        if path.endswith(".gz"):
            return gzip.decompress(data)
    except (lzma.LZMAError, zstandard.ZstdError, OSError, EOFError) as e:
        raise LayerError(f"kernel module {path} cannot be decompressed: {e}", member=path) from None
    return data


def read_modinfo(data: bytes, *, path: str = "module") -> list[tuple[str, str]]:
    """The ``key=value`` strings of an ELF module's ``.modinfo`` section, in order.

    Args:
        data: the module file's bytes (compressed if ``path`` has a compression suffix).
        path: the module's path, for messages and to pick the decompressor.

    Raises:
        LayerError: not an ELF file, or the section table is out of bounds.

    Example::

        pairs = read_modinfo(Path("overlay.ko").read_bytes())
        dict(pairs)["name"]   # 'overlay'
    """
    data = _decompress(data, path)
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise LayerError(f"kernel module {path} is not an ELF file", member=path)
    elf_class, encoding = data[4], data[5]
    if elf_class not in (1, 2) or encoding not in (1, 2):
        raise LayerError(f"kernel module {path} has an unknown ELF class/encoding", member=path)
    e = "<" if encoding == 1 else ">"
    try:
        if elf_class == 2:
            shoff, = struct.unpack_from(e + "Q", data, 0x28)  # fmt: skip
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
            section = struct.Struct(e + "IIQQQQIIQQ")
        else:
            shoff, = struct.unpack_from(e + "I", data, 0x20)  # fmt: skip
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
            section = struct.Struct(e + "IIIIIIIIII")
        if shentsize < section.size or shoff + shnum * shentsize > len(data):
            raise ValueError("section headers out of bounds")
        headers = [section.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
        _, _, _, _, str_off, str_size, *_ = headers[shstrndx]
        names = data[str_off : str_off + str_size]
        for name_off, _type, _flags, _addr, offset, size, *_ in headers:
            end = names.find(b"\0", name_off)
            if names[name_off:end] != b".modinfo":
                continue
            if offset + size > len(data):
                raise ValueError(".modinfo out of bounds")
            pairs = []
            for raw in data[offset : offset + size].split(b"\0"):
                if b"=" in raw:
                    key, _, value = raw.decode("utf-8", "replace").partition("=")
                    pairs.append((key, value))
            return pairs
    except (struct.error, ValueError, IndexError) as err:
        raise LayerError(f"kernel module {path}: malformed ELF: {err}", member=path) from None
    return []


def _closure(name: str, direct: Mapping[str, list[str]], path: str) -> list[str]:
    """Every module ``name`` needs, each placed after all modules that need it."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(mod: str) -> None:
        if mod in visiting:
            logger.warning("module dependency cycle through %s (from %s)", mod, path)
            return
        visiting.add(mod)
        for dep in direct.get(mod, ()):
            order.append(dep)
            visit(dep)
        visiting.discard(mod)

    visit(name)
    # Keep each module's last occurrence: it is after every module that depends on it.
    seen: set[str] = set()
    out: list[str] = []
    for mod in reversed(order):
        if mod not in seen and mod != name:
            seen.add(mod)
            out.append(mod)
    out.reverse()
    return out


def depmod(modules: Mapping[str, bytes], *, version: str = "") -> tuple[bytes, bytes]:
    """``modules.dep`` and ``modules.alias`` for a set of modules.

    Args:
        modules: module path relative to ``lib/modules/<version>`` → file bytes.
        version: the kernel version, for messages.

    Returns:
        The two files' contents.

    Raises:
        LayerError: a module is not a valid ELF file, or depends on a module that is not in
            ``modules`` (the message names both).

    Example::

        dep, alias = depmod({"kernel/fs/overlayfs/overlay.ko": data})
        dep                                  # b'kernel/fs/overlayfs/overlay.ko:\\n'
    """
    by_name: dict[str, str] = {}
    direct: dict[str, list[str]] = {}
    aliases: list[tuple[str, str, str]] = []
    for path in sorted(modules):
        info = read_modinfo(modules[path], path=path)
        fields: dict[str, str] = {}
        for key, value in info:
            fields.setdefault(key, value)
            if key == "alias":
                aliases.append((path, value, ""))
        name = fields.get("name", "").replace("-", "_") or module_name(path)
        if name in by_name:
            logger.warning(
                "module %s is both %s and %s; using the first", name, by_name[name], path
            )
            continue
        by_name[name] = path
        depends = fields.get("depends", "")
        direct[name] = [d.replace("-", "_") for d in depends.split(",") if d]
    for name, deps in direct.items():
        for dep in deps:
            if dep not in by_name:
                raise LayerError(
                    f"kernel {version}: module {by_name[name]} depends on {dep!r}, which is "
                    "not among the modules kept",
                    member=by_name[name],
                )
    path_to_name = {p: n for n, p in by_name.items()}
    dep_lines = []
    for path in sorted(path_to_name):
        name = path_to_name[path]
        needed = _closure(name, direct, path)
        dep_lines.append(f"{path}:" + "".join(f" {by_name[d]}" for d in needed))
    alias_lines = [
        f"alias {alias} {path_to_name[path]}" for path, alias, _ in aliases if path in path_to_name
    ]
    dep_file = "".join(line + "\n" for line in dep_lines).encode()
    alias_file = "".join(line + "\n" for line in alias_lines).encode()
    return dep_file, alias_file
