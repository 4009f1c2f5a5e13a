"""How an assembled :class:`~moby_assemble.assemble.Bundle` and its written outputs show
themselves in notebooks and IPython.

A bundle is shown as its components in build order (stage, name, role, image, the image
manifest digest the lock pinned for the bundle's platform, and the bytes the component put in
the root filesystem) followed by the bundle's own files (root tar, kernel, microcode) with
sizes and digests. Sizes come from the root tar's ``LINUXKIT.location`` PAX records, read
once per bundle (headers only) and remembered; digests of files other than the root tar are
computed on first display and remembered by path, size and mtime.

:class:`WrittenOutputs` is what :meth:`Bundle.write <moby_assemble.assemble.Bundle.write>`
returns: the usual ``{format: (paths, ...)}`` dict that also renders as a table of files
with sizes and digests.

Example::

    bundle = asm.assemble(system, lock=lock)
    bundle                                  # in a notebook: the component table
    bundle.write("out", formats=["kernel+initrd", "tar"])   # the files written
"""

from __future__ import annotations

import functools
import hashlib
import html
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._model_components import Role, Stage
from ..layers import read_tar

if TYPE_CHECKING:
    from ._bundle import Bundle
    from ._parts import RootfsParts

__all__ = [
    "WrittenOutputs",
    "bundle_html",
    "bundle_pretty",
    "bundle_rows",
    "file_digest",
    "format_size",
    "location_sizes",
]

_LOCATION = "LINUXKIT.location"

#: (stage, name, role, image, digest, size in bytes or None, bundle directory or "")
Row = tuple[str, str, str, str, str, int | None, str]


def format_size(size: int | None) -> str:
    """``"1.5 MiB"``; bytes below 1 KiB are exact; ``""`` for ``None``.

    Example::

        >>> format_size(512), format_size(1536), format_size(3 * 1024**3)
        ('512 B', '1.5 KiB', '3.0 GiB')
    """
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _short(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}" if encoded else digest


@functools.lru_cache(maxsize=16)
def _sizes(parts: RootfsParts) -> dict[str, int]:
    # A bundle's parts are content-addressed (its directory is named after them): they
    # are the cache key.
    sizes: dict[str, int] = {}
    with parts.open() as f:
        for entry in read_tar(f, layer=str(parts.directory)):
            location = dict(entry.pax).get(_LOCATION)
            if location is not None:
                sizes[location] = sizes.get(location, 0) + entry.size
    return sizes


def location_sizes(bundle: Bundle) -> dict[str, int]:
    """Bytes of file data in the root tar per ``LINUXKIT.location`` (``init[0]``,
    ``services[1]``, ``files[2]`` …); empty if the bundle is gone from the cache."""
    if not bundle.rootfs_parts.complete():
        return {}
    return dict(_sizes(bundle.rootfs_parts))


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def file_digest(path: Path) -> str:
    """The ``sha256:`` digest of a file, remembered while its size and mtime stay the same."""
    st = path.stat()
    return _file_digest(str(path), st.st_size, st.st_mtime_ns)


def bundle_rows(bundle: Bundle) -> list[Row]:
    """One row per component in build order (kernel, init, volumes, containers, files)."""
    system, lock, platform = bundle.system, bundle.lock, bundle.platform
    sizes = location_sizes(bundle)

    def digest(image: str | None) -> str:
        pinned = lock.image(image) if image else None
        return (pinned.manifest_for(platform) or pinned.digest) if pinned else ""

    rows: list[Row] = []
    if system.kernel is not None:
        image = system.kernel.image or ""
        rows.append(
            ("kernel", "kernel", Role.KERNEL.value, image, digest(image), sizes.get("kernel"), "")
        )
    for i, init in enumerate(system.init):
        size = sizes.get(f"init[{i}]")
        rows.append(("init", init.name, init.role.value, init.image, digest(init.image), size, ""))
    for i, volume in enumerate(system.volumes):
        image = volume.image or ""
        size = sizes.get(f"volume[{i}]")
        rows.append(("volumes", volume.name, "volume", image, digest(image), size, ""))
    for c in bundle.containers:
        model = system.containers(c.stage)[c.index]
        role = model.role.value if model.role is not None else ""
        size = sizes.get(f"{Stage(c.stage).value}[{c.index}]")
        rows.append((c.stage.value, c.name, role, c.image, c.manifest_digest, size, c.directory))
    if system.files:
        total = sum(sizes.get(f"files[{i}]", 0) for i in range(len(system.files)))
        rows.append(("files", f"{len(system.files)} entries", "", "", "", total, ""))
    return rows


def _bundle_files(bundle: Bundle) -> Iterator[tuple[str, int, str]]:
    """(name, size, digest) of the root tar, kernel and microcode that exist on disk (the
    root tar's digest only if it was computed already)."""
    if bundle.rootfs_parts.complete():
        yield "rootfs.tar", bundle.rootfs_size, bundle.rootfs_parts.known_sha256() or ""
    for path in (bundle.kernel, bundle.ucode):
        if path is not None and path.is_file():
            yield path.name, path.stat().st_size, file_digest(path)


def _code(text: str, title: str | None = None) -> str:
    e = html.escape
    if not text:
        return ""
    attr = f' title="{e(title)}"' if title else ""
    return f"<code{attr}>{e(text)}</code>"


def bundle_html(bundle: Bundle, summary: str) -> str:
    """The components table, then the bundle's files table."""
    e = html.escape
    head = "".join(
        f"<th>{h}</th>" for h in ("stage", "name", "role", "image", "digest", "size", "root")
    )
    body = []
    containers = {c.directory: c for c in bundle.containers}
    for stage, name, role, image, digest, size, directory in bundle_rows(bundle):
        root = ""
        if directory:
            c = containers[directory]
            root = ("read-only" if c.readonly else "overlay") + (" (shared)" if c.shared else "")
            name = f"{name} ({directory})"
        cells = [
            e(stage),
            _code(name),
            e(role),
            _code(image),
            _code(_short(digest), digest),
            e(format_size(size)),
            e(root),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    files = "".join(
        f"<tr><td><code>{e(name)}</code></td><td>{e(format_size(size))}</td>"
        f"<td>{_code(_short(digest), digest)}</td></tr>"
        for name, size, digest in _bundle_files(bundle)
    )
    cmdline = (
        f"<p>cmdline: <code>{e(bundle.cmdline)}</code></p>" if bundle.cmdline is not None else ""
    )
    return (
        f"<table><caption>{e(summary)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
        f"<table><caption>files in {e(str(bundle.directory))}</caption>"
        "<thead><tr><th>file</th><th>size</th><th>digest</th></tr></thead>"
        f"<tbody>{files}</tbody></table>{cmdline}"
    )


def bundle_pretty(bundle: Bundle, summary: str) -> str:
    """Plain text for IPython: the summary, one line per component, one per file."""
    lines = [summary]
    containers = {c.directory: c for c in bundle.containers}
    for stage, name, role, image, digest, size, directory in bundle_rows(bundle):
        if directory:
            ro = "  (ro)" if containers[directory].readonly else ""
            head = f"  {directory}  {image}{ro}"
        else:
            head = f"  {stage:<10} {name}  {image}".rstrip()
        extra = "  ".join(x for x in (f"[{role}]" if role else "", _short(digest)) if x)
        size_text = format_size(size)
        lines.append("  ".join(x for x in (head, extra, size_text) if x))
    for name, size, digest in _bundle_files(bundle):
        lines.append(f"  = {name}  {format_size(size)}  {_short(digest)}")
    return "\n".join(lines)


class WrittenOutputs(dict[str, tuple[Path, ...]]):
    """What :meth:`Bundle.write <moby_assemble.assemble.Bundle.write>` returns: format name →
    the paths it wrote, a plain ``dict`` that notebooks show as a table of files with sizes
    and ``sha256`` digests (directories, like ``oci-layout``'s, with their total size).

    Example::

        written = bundle.write("out", formats=["kernel+initrd"])
        written["kernel+initrd"][1].name      # 'system-initrd.img'
    """

    def _rows(self) -> Iterator[tuple[str, Path, int, str]]:
        for fmt, paths in self.items():
            for path in paths:
                if path.is_dir():
                    size = sum(
                        (Path(root) / f).stat().st_size
                        for root, _dirs, files in os.walk(path)
                        for f in files
                    )
                    yield fmt, path, size, ""
                elif path.is_file():
                    yield fmt, path, path.stat().st_size, file_digest(path)
                else:  # pushed, or removed since
                    yield fmt, path, -1, ""

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f'<tr><td>{e(fmt)}</td><td><code title="{e(str(path))}">{e(path.name)}</code></td>'
            f"<td>{e(format_size(size) if size >= 0 else '')}</td>"
            f"<td>{_code(_short(digest), digest)}</td></tr>"
            for fmt, path, size, digest in self._rows()
        )
        return (
            "<table><thead><tr><th>format</th><th>file</th><th>size</th><th>digest</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        if cycle:
            p.text("WrittenOutputs(...)")
            return
        lines = [
            f"{fmt:<18} {path}  {format_size(size) if size >= 0 else ''}  {_short(digest)}".rstrip()
            for fmt, path, size, digest in self._rows()
        ]
        p.text("\n".join(lines) or "WrittenOutputs({})")
