"""Benchmark 2: flatten throughput on big files from zstd layers, on one core.

Ours: ``flatten_layers`` over image ``bigz`` (binary-like and random files, zstd) read
from the store, every entry written by a ``TarWriter`` to ``/dev/null``, pinned to one
CPU. The rate is uncompressed layer bytes (the tar streams read, 10^6 B/s). The peer:
``umoci unpack --rootless`` of the gzip twin ``bigg`` (umoci 0.4.7 cannot read zstd),
pinned to the same CPU; it writes files to disk and an mtree manifest of them, so it
does more work than a tar-to-tar flatten: it is a reference point, not a race.

Target: >= 200 MB/s.

:func:`flatten_step` is also the child step of the entries and RSS benchmarks.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import TYPE_CHECKING, Any

from ._child import hwm_mib
from ._measure import Run, best, remove_tree
from ._report import Row, Section, Target

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["flatten_step", "run", "run_flatten", "run_umoci"]

IMAGE = "bigz"
TWIN = "bigg"
TARGET_MB_S = 200.0


def flatten_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: flatten the image tagged ``args["tag"]`` in the store ``args["store"]``
    into a TarWriter on ``/dev/null``; count entries and file bytes."""
    from moby_assemble.layers import EntryType, LayerSource, TarWriter, flatten_layers
    from moby_assemble.store import Store

    store = Store(args["store"], offline=True)
    manifest = json.loads(store.read_blob(store.resolve(args["tag"]).digest))
    config = json.loads(store.read_blob(manifest["config"]["digest"]))
    sources = [
        # verify=False: the store checked the blob when it came in; the diff_id check
        # in open_layer still pins the uncompressed bytes (as the assembler does).
        LayerSource(
            functools.partial(store.open_blob, layer["digest"], verify=False),
            layer["mediaType"],
            layer["digest"],
            diff_id,
        )
        for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True)
    ]
    before = hwm_mib()
    entries = file_bytes = 0
    file_type = EntryType.FILE
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        writer = TarWriter(sink)
        with writer:
            for entry in flatten_layers(sources):
                writer.add(entry)
                entries += 1
                if entry.type is file_type:
                    file_bytes += entry.size
    elapsed = time.perf_counter() - start
    return {
        "op_s": elapsed,
        "import_rss_mib": before,
        "entries": entries,
        "file_bytes": file_bytes,
        "tar_bytes_out": writer.bytes_written,
    }


def run_flatten(ctx: Context, tag: str, *, name: str) -> list[Run]:
    """Flatten ``tag`` ``scale.repeat`` times on one core (plus a profiled run if asked)."""
    runs = []
    for i in range(ctx.scale.repeat):
        run_ = ctx.launcher.step("flatten", {"store": str(ctx.layout), "tag": tag}, cpus=[ctx.cpu])
        ctx.log(f"{name} ours #{i + 1}: {run_.op_s:.2f} s, {run_.peak_rss_mib:.0f} MiB")
        runs.append(run_)
    if ctx.profile_dir is not None:
        ctx.launcher.step(
            "flatten",
            {
                "store": str(ctx.layout),
                "tag": tag,
                "profile": str(ctx.profile_dir / f"{name}.prof"),
            },
            cpus=[ctx.cpu],
        )
    return runs


def run_umoci(ctx: Context, tag: str, *, name: str, repeat: int | None = None) -> list[Run]:
    """``umoci unpack --rootless`` of ``tag`` on one core, ``repeat`` (default
    ``scale.repeat``) times."""
    runs = []
    for i in range(repeat or ctx.scale.repeat):
        bundle = ctx.scratch(f"{name}-umoci")
        run_ = ctx.launcher.run(
            ["umoci", "unpack", "--rootless", "--image", f"{ctx.layout}:{tag}", str(bundle)],
            label="umoci",
            cpus=[ctx.cpu],
        )
        ctx.log(f"{name} umoci #{i + 1}: {run_.wall_s:.2f} s, {run_.peak_rss_mib:.0f} MiB")
        remove_tree(bundle)
        runs.append(run_)
    return runs


def run(ctx: Context) -> Section:
    image = ctx.images[IMAGE]
    twin = ctx.images[TWIN]
    ours = run_flatten(ctx, IMAGE, name="flatten")
    umoci = run_umoci(ctx, TWIN, name="flatten")
    b_ours, b_umoci = best(ours), best(umoci)
    size = image.tar_size
    rate = size / b_ours.op_s / 1e6
    return Section(
        "flatten",
        f"flatten image {IMAGE} ({size / 1e6:.0f} MB uncompressed in {len(image.layers)} zstd "
        f"layers, {image.compressed_size / 1e6:.0f} MB compressed) to /dev/null on one core; "
        f"umoci unpacks the gzip twin {TWIN} to disk",
        (
            Row("ours (flatten+write)", b_ours, tuple(ours), rate, "MB/s"),
            Row(
                "umoci unpack (gzip)",
                b_umoci,
                tuple(umoci),
                twin.tar_size / b_umoci.wall_s / 1e6,
                "MB/s",
                note="writes files + mtree",
            ),
        ),
        ratios={"ours/umoci time": b_ours.op_s / b_umoci.wall_s},
        targets=(
            Target("flatten throughput", rate, TARGET_MB_S, higher_is_better=True, unit="MB/s"),
        ),
        details={
            "image": image.to_json(),
            "twin": twin.to_json(),
            "entries": b_ours.result.get("entries"),
            "cpu": ctx.cpu,
        },
    )
