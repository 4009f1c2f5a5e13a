"""``python -m benchmarks [--quick] [--only NAME] [--json out.json]``: see the package doc."""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Only light imports up to here: the launcher must start while this process is small
# (see _launcher.py); moby_assemble and the benchmark modules come after.
from ._measure import BenchError, Launcher, remove_tree

BENCHMARKS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (module, images it needs)
    "pull": ("benchmarks._pull", ("a",)),
    "flatten": ("benchmarks._flatten", ("bigz", "bigg")),
    "entries": ("benchmarks._entries", ("small",)),
    "rss": ("benchmarks._rss", ("huge",)),
    "assemble": ("benchmarks._assemble", ()),  # builds and pushes its own images
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Speed and memory of pull and flatten, side by side with skopeo and umoci.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny images and one run each (a smoke test)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report here")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="work directory (default: a new one under $TMPDIR); built images found there "
        "are reused",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory and its images"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also run our steps under cProfile into DIR (main thread only)",
    )
    return parser.parse_args(argv)


def _tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError as e:
        return f"unavailable ({e.strerror})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def _logger() -> Callable[[str], None]:
    start = time.monotonic()

    def log(line: str) -> None:
        print(f"[{time.monotonic() - start:6.1f}s] {line}", file=sys.stderr, flush=True)

    return log


def _profile_summary(directory: Path) -> str:
    import pstats

    out = io.StringIO()
    for path in sorted(directory.glob("*.prof")):
        out.write(f"\n== profile {path.name} (top 15 by own time)\n")
        pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def _run(
    args: argparse.Namespace, launcher: Launcher, work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    import importlib

    from moby_assemble.testing import LocalRegistry

    from ._context import Context
    from ._images import FULL, QUICK, ImageBuilder, push_image
    from ._report import Section, format_table

    scale = QUICK if args.quick else FULL
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    floor = launcher.floor()
    tags = sorted({tag for n in names for tag in BENCHMARKS[n][1]})
    log(f"building images {', '.join(tags)} ({scale.name} scale) in {work}")
    layout = work / "layout"
    images = ImageBuilder(layout, scale, log).build(tags)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    ctx = Context(launcher, scale, work, layout, images, log, profile_dir=args.profile)
    sections: list[Section] = []
    registry = None
    try:
        if "pull" in names:
            registry = LocalRegistry(work / "registry").start()
            log(f"pushing image a to {registry.host}")
            push_image(layout, "a", registry.host, "bench/a")
            ctx = Context(
                launcher, scale, work, layout, images, log, registry=registry.host,
                profile_dir=args.profile,
            )  # fmt: skip
        for name in names:
            log(f"running {name}")
            module = importlib.import_module(BENCHMARKS[name][0])
            sections.append(module.run(ctx))
    finally:
        if registry is not None:
            registry.stop()
            remove_tree(work / "registry")
        remove_tree(work / "scratch")
    report = {
        "scale": scale.name,
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)),
            "single_core_cpu": ctx.cpu,
            "python": platform.python_version(),
            "kernel": platform.release(),
        },
        "tools": {
            "skopeo": _tool_version(["skopeo", "--version"]),
            "umoci": _tool_version(["umoci", "--version"]),
            "docker-registry": _tool_version(["docker-registry", "--version"]),
        },
        "floor_rss_mib": round(floor.peak_rss_mib, 1),
        "images": {tag: image.to_json() for tag, image in images.items()},
        "benchmarks": {s.name: s.to_json() for s in sections},
        "table": format_table(sections),
    }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    log = _logger()
    load_start = os.getloadavg()
    keep = args.keep or args.workdir is not None
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="moby-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(work / "launcher")
    try:
        report = _run(args, launcher, work, log)
    except BenchError as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 1
    finally:
        launcher.close()
        if not keep:
            remove_tree(work)
    load_end = os.getloadavg()
    report["machine"]["loadavg_start"] = [round(x, 2) for x in load_start]
    report["machine"]["loadavg_end"] = [round(x, 2) for x in load_end]
    machine = report["machine"]
    print(
        f"moby_assemble benchmark ({report['scale']} scale), {machine['cpus']} CPUs, "
        f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; "
        f"child RSS floor {report['floor_rss_mib']:.0f} MiB"
    )
    print(report["table"])
    if args.profile:
        print(_profile_summary(args.profile))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
