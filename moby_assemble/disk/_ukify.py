"""Unified kernel images: systemd's EFI stub plus kernel, initrd and command line in one PE.

A UKI is the stub (``linuxx64.efi.stub`` from Debian's ``systemd-boot-efi``) with extra
PE sections appended: ``.osrel`` (os-release), ``.cmdline``, optionally ``.uname``, then
``.initrd`` and ``.linux``. The firmware starts the stub, and the stub boots the kernel from
``.linux`` with the initrd and command line of the other sections, so one file on an EFI
system partition (``EFI/BOOT/BOOTX64.EFI``) boots the system with no boot loader config.

Sections are placed as systemd's ``ukify`` places them: each starts at the next multiple
of the stub's section alignment after the previous one, its data at the end of the file
on the file alignment; ``.linux`` comes last because the kernel may use memory past its
file size. The headers (section count, image size, initialised-data size, checksum) are
updated; nothing else of the stub changes, so the same inputs give the same bytes.

Example::

    with open("uki.efi", "wb") as f:
        write_uki(f, stub=Path("/usr/lib/systemd/boot/efi/linuxx64.efi.stub"),
                  kernel=Path("vmlinuz"), initrd=Path("initrd.img"),
                  cmdline="console=ttyS0", osrel='ID=moby\\nNAME="my system"\\n')
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import BinaryIO

from .._errors import OutputError

__all__ = ["DEFAULT_STUB", "write_uki"]

#: Where Debian's systemd-boot-efi package installs the x86-64 stub.
DEFAULT_STUB = Path("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")
_SECTION_HEADER = 40
_DATA_READ = 0x40000040  # IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
_PE32_PLUS = 0x20B
_SECURITY_DIRECTORY = 4
_CHUNK = 1 << 20
_FORMAT = "uki"


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _source_size(source: bytes | Path, what: str) -> int:
    if isinstance(source, bytes):
        return len(source)
    try:
        return source.stat().st_size
    except OSError as e:
        raise OutputError(
            f"uki: cannot read {what} {source}: {e.strerror}", format=_FORMAT, path=str(source)
        ) from None


def _copy(source: bytes | Path, target: BinaryIO, size: int, what: str) -> None:
    if isinstance(source, bytes):
        target.write(source)
        return
    copied = 0
    try:
        with open(source, "rb") as f:
            while chunk := f.read(_CHUNK):
                copied += len(chunk)
                target.write(chunk)
    except OSError as e:
        raise OutputError(
            f"uki: cannot read {what} {source}: {e.strerror}", format=_FORMAT, path=str(source)
        ) from None
    if copied != size:
        raise OutputError(
            f"uki: {what} {source} changed size while it was copied",
            format=_FORMAT,
            path=str(source),
        )


def _pe_checksum(target: BinaryIO, checksum_offset: int, length: int) -> int:
    """The PE image checksum: 16-bit one's-complement sum of the file plus its length."""
    total = 0
    target.seek(0)
    position = 0
    while chunk := target.read(_CHUNK):
        if position <= checksum_offset < position + len(chunk):
            at = checksum_offset - position
            chunk = chunk[:at] + bytes(4) + chunk[at + 4 :]
        position += len(chunk)
        if len(chunk) % 2:
            chunk += b"\0"
        total += sum(memoryview(chunk).cast("H"))
        total = (total & 0xFFFFFFFF) + (total >> 32)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + length) & 0xFFFFFFFF


def write_uki(
    target: BinaryIO,
    *,
    kernel: bytes | str | os.PathLike[str],
    cmdline: str,
    initrd: bytes | str | os.PathLike[str] | None = None,
    osrel: str = "ID=moby\n",
    uname: str | None = None,
    stub: str | os.PathLike[str] = DEFAULT_STUB,
) -> None:
    """Write a unified kernel image to ``target``.

    Args:
        target: an empty binary file opened for reading and writing (``"w+b"``): the
            checksum is computed from what was written.
        kernel: the kernel (a bzImage with an EFI stub), bytes or a host file.
        cmdline: the kernel command line.
        initrd: the initrd (one file; concatenate several cpio archives first).
        osrel: the os-release text shown by boot menus.
        uname: the kernel release (``uname -r``), for boot loaders that show it.
        stub: the systemd EFI stub (default: Debian's ``systemd-boot-efi`` path).

    Raises:
        OutputError: the stub is missing (naming ``systemd-boot-efi``) or not a PE32+
            image with room for the section headers, or an input cannot be read.
    """
    stub_path = Path(stub)
    try:
        image = bytearray(stub_path.read_bytes())
    except OSError as e:
        raise OutputError(
            f"uki: cannot read the EFI stub {stub_path}: {e.strerror} "
            "(Debian package systemd-boot-efi)",
            format=_FORMAT,
            path=str(stub_path),
        ) from None
    if image[:2] != b"MZ" or len(image) < 0x40:
        raise OutputError(f"uki: {stub_path} is not a PE image", format=_FORMAT, path=str(stub))
    pe = struct.unpack_from("<I", image, 0x3C)[0]
    if image[pe : pe + 4] != b"PE\0\0":
        raise OutputError(f"uki: {stub_path} has no PE header", format=_FORMAT, path=str(stub))
    coff = pe + 4
    sections, optional_size = struct.unpack_from("<H12xH", image, coff + 2)
    optional = coff + 20
    if struct.unpack_from("<H", image, optional)[0] != _PE32_PLUS:
        raise OutputError(f"uki: {stub_path} is not PE32+", format=_FORMAT, path=str(stub))
    section_alignment, file_alignment = struct.unpack_from("<II", image, optional + 32)
    size_of_headers = struct.unpack_from("<I", image, optional + 60)[0]
    table = optional + optional_size

    existing = []
    for index in range(sections):
        at = table + index * _SECTION_HEADER
        vsize, vaddr, raw_size, raw_pointer = struct.unpack_from("<IIII", image, at + 8)
        existing.append((vsize, vaddr, raw_size, raw_pointer))
    first_raw = min((p for _, _, s, p in existing if s), default=size_of_headers)

    contents: list[tuple[bytes, bytes | Path, str]] = [
        (b".osrel", osrel.encode(), "os-release"),
        (b".cmdline", cmdline.encode(), "command line"),
    ]
    if uname is not None:
        contents.append((b".uname", uname.encode(), "kernel release"))
    if initrd is not None:
        contents.append((b".initrd", _as_source(initrd), "initrd"))
    contents.append((b".linux", _as_source(kernel), "kernel"))

    room = min(first_raw, size_of_headers) - (table + sections * _SECTION_HEADER)
    if room < _SECTION_HEADER * len(contents):
        raise OutputError(
            f"uki: the stub {stub_path} has room for {room // _SECTION_HEADER} more section "
            f"headers, {len(contents)} are needed",
            format=_FORMAT,
            path=str(stub),
        )
    # A signature of the stub would not cover the new sections: drop it (sign the UKI).
    directories = optional + 112
    struct.pack_into("<II", image, directories + 8 * _SECURITY_DIRECTORY, 0, 0)

    virtual_end = max(v + max(s, r) for s, v, r, _ in existing)
    file_end = _align(max([len(image)] + [p + r for _, _, r, p in existing]), file_alignment)
    stub_end = file_end
    placed: list[tuple[int, int, bytes | Path, str]] = []
    initialized = struct.unpack_from("<I", image, optional + 8)[0]
    for index, (name, source, what) in enumerate(contents):
        size = _source_size(source, what)
        vaddr = _align(virtual_end, section_alignment)
        raw = _align(size, file_alignment)
        struct.pack_into(
            "<8sIIIIIIHHI",
            image,
            table + (sections + index) * _SECTION_HEADER,
            name,
            size,
            vaddr,
            raw,
            file_end,
            0,
            0,
            0,
            0,
            _DATA_READ,
        )
        placed.append((file_end, size, source, what))
        virtual_end = vaddr + size
        file_end += raw
        initialized += raw
    struct.pack_into("<H", image, coff + 2, sections + len(contents))
    struct.pack_into("<I", image, optional + 8, initialized & 0xFFFFFFFF)
    struct.pack_into("<I", image, optional + 56, _align(virtual_end, section_alignment))

    target.seek(0)
    target.write(image)
    target.write(bytes(stub_end - len(image)))
    for offset, size, source, what in placed:
        target.seek(offset)
        _copy(source, target, size, what)
        target.write(bytes(_align(size, file_alignment) - size))
    target.truncate(file_end)
    checksum_offset = optional + 64
    try:
        checksum = _pe_checksum(target, checksum_offset, file_end)
    except (OSError, io.UnsupportedOperation):
        raise OutputError(
            "uki: the target must be open for reading too ('w+b') to compute the checksum",
            format=_FORMAT,
        ) from None
    target.seek(checksum_offset)
    target.write(struct.pack("<I", checksum))
    target.seek(file_end)


def _as_source(value: bytes | str | os.PathLike[str]) -> bytes | Path:
    return bytes(value) if isinstance(value, bytes | bytearray) else Path(value)
