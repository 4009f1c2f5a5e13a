"""A sample moby_assemble plug-in: an output format and a component factory.

- ``manifest-json`` (entry point group ``moby_assemble.outputs``) writes ``<name>.json``:
  the platform, the kernel command line and every container bundle, as sorted JSON.
- ``hello`` (entry point group ``moby_assemble.components``) is a component factory: a
  service container that prints a greeting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from moby_assemble import Container, Role
from moby_assemble.outputs import AtomicOutput, BundleView

__all__ = ["ManifestJsonFormat", "hello"]


class ManifestJsonFormat:
    """``manifest-json``: ``<name>.json`` describing the assembled system."""

    name = "manifest-json"
    description = "the platform, cmdline and container bundles as JSON"
    files = ("{name}.json",)
    streamable = False
    options: frozenset[str] = frozenset({"indent"})

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        *args: Any,
        indent: int | None = None,
        **options: Any,
    ) -> tuple[Path, ...]:
        document = {
            "platform": str(bundle.platform),
            "cmdline": bundle.cmdline,
            "containers": [
                {"stage": str(c.stage), "name": c.name, "directory": c.directory,
                 "readonly": c.readonly}
                for c in bundle.containers
            ],
        }  # fmt: skip
        with AtomicOutput(directory, format=self.name) as out:
            text = json.dumps(document, sort_keys=True, indent=indent) + "\n"
            out.path(f"{name}.json").write_text(text, encoding="utf-8")
        return out.paths


def hello(*, image: str, greeting: str = "hello", name: str = "hello") -> Container:
    """A service that prints ``greeting`` (its image needs ``/bin/sh``)."""
    return Container(name, image, role=Role.SERVICE, command=["/bin/sh", "-c", f"echo {greeting}"])
