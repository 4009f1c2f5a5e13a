"""Run by tests/plugins/test_plugins.py in a fresh interpreter whose path may hold the
installed sample plug-in: uses its component (entry point group ``moby_assemble.components``)
and output format (group ``moby_assemble.outputs``), and registers a format in-process.

Usage: python use_plugin.py IMAGE WORKDIR; prints a JSON report on stdout.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from moby_assemble import Assembler, OutputError, System, available_formats, register_format


def main(image: str, workdir: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"formats": list(available_formats())}
    from moby_assemble.components import available_components, get_component

    report["components"] = list(available_components())
    declared = {ep.name for ep in entry_points(group="moby_assemble.components")}
    if "hello" not in declared:
        return report
    hello = get_component("hello")
    # In-process registration: the plug-in's format class under another name.
    manifest_format = type(
        "InlineFormat", (type(_format("manifest-json")),), {"name": "manifest-inline"}
    )
    register_format(manifest_format())
    system = System(platform="linux/amd64", services=[hello(image=image, greeting="hi")])
    with Assembler(workdir / "cache") as asm:
        bundle = asm.assemble(system)
    written = bundle.write(workdir / "out", formats=["manifest-json"], name="sys", indent=2)
    # Both formats write <name>.json: the in-process one goes to its own directory.
    written.update(bundle.write(workdir / "inline", formats="manifest-inline", indent=2))
    report["written"] = {k: [str(p) for p in v] for k, v in written.items()}
    report["args"] = bundle.container("hello").config["process"]["args"]
    report["role"] = system["hello"].role
    return report


def _format(name: str) -> Any:
    from moby_assemble.outputs import get_format

    return get_format(name)


if __name__ == "__main__":
    try:
        print(json.dumps(main(sys.argv[1], Path(sys.argv[2]))))
    except OutputError as e:
        print(json.dumps({"error": str(e)}))
