"""The streamable outputs: ``tar`` (the root filesystem as built) and ``docker``.

``tar`` is ``<name>.tar``, the root-filesystem tar byte for byte: ``boot/`` entries, PAX
``LINUXKIT.*`` records and all (what ``linuxkit build -format tar`` writes).

``docker`` is ``<name>.docker``: the same entries followed by a ``Dockerfile``, as LinuxKit's
docker output has it, so ``docker build - < web.docker`` (or ``docker import``) makes an image
that runs the system with ``/bin/rc.init``::

    FROM scratch

    COPY . ./

    ENTRYPOINT ["/bin/rc.init"]

The Dockerfile entry is mode 0644 and dated ``source_date_epoch``.

Example::

    get_format("docker").write(bundle, "out", "web")    # out/web.docker
"""

from __future__ import annotations

import shutil
from typing import BinaryIO

from ..layers import TarEntry, TarWriter, read_tar
from ._format import BundleView, RootTar, open_root_tar, root_tar_name
from ._one_file import OneFileFormat

__all__ = ["DOCKERFILE", "DockerFormat", "TarFormat", "copy_tar_entries"]

#: LinuxKit's Dockerfile, byte for byte.
DOCKERFILE = b'\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT ["/bin/rc.init"]\n'
_CHUNK = 1 << 20


def copy_tar_entries(root_tar: RootTar, writer: TarWriter) -> None:
    """Copy every entry of ``root_tar`` (headers, PAX records, data) into ``writer``."""
    with open_root_tar(root_tar) as f:
        for entry in read_tar(f, layer=root_tar_name(root_tar)):
            writer.add(entry)


class TarFormat(OneFileFormat):
    """``tar``: ``<name>.tar``, the root filesystem tar exactly as assembled."""

    name = "tar"
    description = "the root filesystem as one PAX tar (boot/ included)"
    files = ("{name}.tar",)

    def write_stream(self, bundle: BundleView, out: BinaryIO) -> None:
        with bundle.open_rootfs() as src:
            shutil.copyfileobj(src, out, _CHUNK)


class DockerFormat(OneFileFormat):
    """``docker``: ``<name>.docker``, the root tar plus LinuxKit's ``Dockerfile``."""

    name = "docker"
    description = "the root filesystem tar plus a Dockerfile, for `docker build -`"
    files = ("{name}.docker",)

    def write_stream(self, bundle: BundleView, out: BinaryIO) -> None:
        """Write the docker output to an open stream (a pipe, stdout)."""
        with TarWriter(out) as writer:
            copy_tar_entries(bundle, writer)
            dockerfile = TarEntry(
                "Dockerfile", size=len(DOCKERFILE), mode=0o644, mtime=bundle.source_date_epoch
            )
            writer.add(dockerfile, DOCKERFILE)
