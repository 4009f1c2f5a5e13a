"""The base of the formats whose output is one file: ``tar``, ``docker``, ``oci-bundles``.

Such a format names its file in ``files[0]`` and says how to write its bytes to an open
stream; :class:`OneFileFormat` does the rest (the temporary name, the atomic rename, the
paths returned), so no format repeats it.

Example::

    class CmdlineFormat(OneFileFormat):
        name = "cmdline"
        description = "the kernel command line"
        files = ("{name}.cmdline",)

        def write_stream(self, bundle, out):
            out.write((bundle.cmdline or "").encode())
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from ._atomic import AtomicOutput
from ._format import BundleView

__all__ = ["OneFileFormat"]


class OneFileFormat:
    """An output format writing the one file ``files[0]`` (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]
    files: ClassVar[tuple[str]]
    streamable: ClassVar[bool] = True
    options: frozenset[str] = frozenset()

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        **_other_formats_options: Any,
    ) -> tuple[Path, ...]:
        self.check(bundle)
        with (
            AtomicOutput(directory, format=self.name) as out,
            out.open(self.files[0].format(name=name)) as f,
        ):
            self.write_stream(bundle, f)
        return out.paths

    def check(self, bundle: BundleView) -> None:
        """Raise OutputError, before anything is written, if ``bundle`` cannot be written."""

    def write_stream(self, bundle: BundleView, out: BinaryIO) -> None:
        """Write the output to an open stream (a file, a pipe, stdout)."""
        raise NotImplementedError
