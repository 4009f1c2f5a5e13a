"""The child side of a measured step: ``python -m benchmarks._child NAME JSON-ARGS``.

Imports the step's module, runs it, and prints its result as one JSON line. A step
times only its operation (``op_s``) and records the peak RSS it had before starting
(``import_rss_mib``: the interpreter plus imports), so the process figures the launcher
reports can be split into start-up and work. With ``"profile": PATH`` in the arguments
the step runs under cProfile (main thread only: the pull's downloads run in worker
threads, profile those with ``py-spy --threads``) and the statistics go to ``PATH``.

Example (what the harness does)::

    python -m benchmarks._child flatten '{"store": "/tmp/b/layout", "tag": "bigz"}'
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["STEPS", "hwm_mib", "main"]

#: Step name -> "module:function"; each function takes the JSON arguments and returns
#: a JSON-able dict with at least ``op_s``.
STEPS: Mapping[str, str] = {
    "pull": "benchmarks._pull:pull_step",
    "flatten": "benchmarks._flatten:flatten_step",
    "read": "benchmarks._entries:read_step",
    "tarfile": "benchmarks._entries:tarfile_step",
}


def hwm_mib() -> float:
    """This process's peak RSS so far (``VmHWM``), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0  # pragma: no cover - every Linux has VmHWM


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in STEPS:
        print(f"usage: python -m benchmarks._child {{{','.join(STEPS)}}} JSON", file=sys.stderr)
        return 2
    module_name, function_name = STEPS[argv[0]].split(":")
    step: Callable[[dict[str, Any]], dict[str, Any]] = getattr(
        importlib.import_module(module_name), function_name
    )
    args = json.loads(argv[1])
    profile_path = args.pop("profile", None)
    if profile_path:
        import cProfile

        # Import outside the profile: attrs compiles classes at import time, which would
        # otherwise top the list.
        importlib.import_module("moby_assemble")

        profiler = cProfile.Profile()
        result = profiler.runcall(step, args)
        profiler.dump_stats(profile_path)
    else:
        result = step(args)
    result["peak_rss_mib"] = hwm_mib()
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
