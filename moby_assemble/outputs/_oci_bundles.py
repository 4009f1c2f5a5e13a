"""``oci-bundles``: one OCI runtime bundle per container, all in one tar.

``<name>-bundles.tar`` holds, for every ``onboot``, ``onshutdown`` and ``services``
container, the directory it has under ``containers/`` in the system, with

- ``config.json``: the container's runtime config, byte for byte as in the system;
- ``rootfs/``: its root filesystem, as the container sees it (the image's files after
  LinuxKit's adjustments: no ``dev/console`` or ``etc/hostname``, fixed ``etc/hosts`` and
  ``etc/resolv.conf``).

So ``onboot/000-dhcpcd/`` extracted anywhere is a bundle ``runc run --bundle`` accepts.
A read-write container's files live in ``lower/`` inside the system and come out as
``rootfs/`` here; an image shared by several containers is written under each of them.

One pass over the root tar: entries of a root filesystem shared by several containers are
written once per container, their data held in a spooled temporary file meanwhile.

Example::

    get_format("oci-bundles").write(bundle, "out", "web")   # out/web-bundles.tar
"""

from __future__ import annotations

import shutil
import tempfile
from typing import BinaryIO, cast

from .._errors import OutputError
from ..layers import EntryType, TarEntry, TarWriter, read_tar
from ._format import BundleContainerView, BundleView, RootTar, open_root_tar, root_tar_name
from ._one_file import OneFileFormat

__all__ = ["OciBundlesFormat", "bundle_path"]

_SPOOL_IN_MEMORY = 1 << 20
_CHUNK = 1 << 20


def bundle_path(container: BundleContainerView) -> str:
    """Where a container's bundle goes in the tar: its directory below ``containers/``."""
    path = container.directory.strip("/")
    return path.removeprefix("containers/")


def _prefixes(name: str) -> list[str]:
    """``a/b/c`` → ``["a", "a/b", "a/b/c"]``."""
    parts = name.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class OciBundlesFormat(OneFileFormat):
    """``oci-bundles``: ``<name>-bundles.tar``, a runtime bundle per container."""

    name = "oci-bundles"
    description = "one OCI runtime bundle (config.json + rootfs/) per container, as a tar"
    files = ("{name}-bundles.tar",)
    streamable = False

    def check(self, bundle: BundleView) -> None:
        self._targets(bundle)

    def write_stream(self, bundle: BundleView, out: BinaryIO) -> None:
        targets = self._targets(bundle)
        with TarWriter(out) as writer:
            self._headers(bundle, writer, bundle.source_date_epoch)
            self._rootfs(bundle, targets, writer)

    def _targets(self, bundle: BundleView) -> dict[str, list[str]]:
        """Each rootfs location in the root tar -> the bundle directories that take it."""
        targets: dict[str, list[str]] = {}
        for container in bundle.containers:
            path = bundle_path(container)
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise OutputError(
                    f"{self.name}: container {container.name!r} has an unusable directory "
                    f"{container.directory!r}",
                    format=self.name,
                    path=container.directory,
                )
            targets.setdefault(container.rootfs.strip("/"), []).append(path)
        return targets

    @staticmethod
    def _headers(bundle: BundleView, writer: TarWriter, mtime: int) -> None:
        made: set[str] = set()
        for container in bundle.containers:
            path = bundle_path(container)
            for parent in _prefixes(path):
                if parent not in made:
                    made.add(parent)
                    writer.add(TarEntry(parent, EntryType.DIRECTORY, mtime=mtime))
            config = container.config_json
            writer.add(TarEntry(f"{path}/config.json", size=len(config), mtime=mtime), config)
            # The image's own root entry (if the tar has one) follows and sets its mode.
            writer.add(TarEntry(f"{path}/rootfs", EntryType.DIRECTORY, mtime=mtime))

    @staticmethod
    def _rootfs(root_tar: RootTar, targets: dict[str, list[str]], writer: TarWriter) -> None:
        with open_root_tar(root_tar) as f:
            for entry in read_tar(f, layer=root_tar_name(root_tar)):
                location = next((p for p in _prefixes(entry.name) if p in targets), None)
                if location is None:
                    continue
                inner = entry.name[len(location) + 1 :]
                destinations = targets[location]
                if entry.type is EntryType.HARDLINK and not entry.linkname.startswith(
                    location + "/"
                ):
                    raise OutputError(
                        f"oci-bundles: hard link {entry.name!r} points outside its root "
                        f"filesystem {location!r} (at {entry.linkname!r})",
                        format="oci-bundles",
                        path=entry.name,
                    )
                link = entry.linkname[len(location) + 1 :]
                spool = None
                if len(destinations) > 1 and entry.type is EntryType.FILE and entry.size:
                    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
                    shutil.copyfileobj(entry.open(), spool, _CHUNK)
                try:
                    for dest in destinations:
                        rootfs = f"{dest}/rootfs"
                        moved = entry.evolve(
                            name=f"{rootfs}/{inner}" if inner else rootfs,
                            linkname=f"{rootfs}/{link}"
                            if entry.type is EntryType.HARDLINK
                            else entry.linkname,
                        )
                        if spool is not None:
                            spool.seek(0)
                        writer.add(moved, cast("BinaryIO | None", spool))
                finally:
                    if spool is not None:
                        spool.close()
