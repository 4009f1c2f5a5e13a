"""Benchmark 3: tar entries per second on layers of many small files.

Image ``small``: a distribution's ``/usr`` and a kernel's modules, about 100,000 entries
(gzip). Four ways through the same layers, each on one core:

* ours: ``flatten_layers`` -> ``TarWriter`` on ``/dev/null`` (the real path);
* ours, read only: ``open_layer`` + ``read_tar``, data skipped (where the time goes:
  decompression and header parsing, without flatten logic and writing);
* Python's ``tarfile``: ``r|gz`` -> ``addfile`` into a ``w|`` PAX stream (the ~22,000
  entries/s baseline of the issue; a plain rewrite, no whiteouts or path checks);
* ``umoci unpack --rootless`` (files on disk, plus its mtree manifest).

Target: ours >= 50,000 entries/s.
"""

from __future__ import annotations

import json
import os
import tarfile
import time
from typing import IO, TYPE_CHECKING, Any

from ._child import hwm_mib
from ._flatten import run_flatten, run_umoci
from ._measure import Run, best
from ._report import Row, Section, Target

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["read_step", "run", "tarfile_step"]

IMAGE = "small"
TARGET_ENTRIES_S = 50_000.0


def _layers(args: dict[str, Any]) -> tuple[Any, list[tuple[dict[str, Any], str]]]:
    from moby_assemble.store import Store

    store = Store(args["store"], offline=True)
    manifest = json.loads(store.read_blob(store.resolve(args["tag"]).digest))
    config = json.loads(store.read_blob(manifest["config"]["digest"]))
    return store, list(zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True))


def read_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: decompress and parse every layer of ``args["tag"]``, data skipped."""
    from moby_assemble.layers import open_layer, read_tar

    store, layers = _layers(args)
    before = hwm_mib()
    entries = 0
    start = time.perf_counter()
    for layer, diff_id in layers:
        with open_layer(
            store.open_blob(layer["digest"], verify=False), layer["mediaType"], diff_id=diff_id
        ) as stream:
            for _entry in read_tar(stream, layer=layer["digest"]):
                entries += 1
            while stream.read(1 << 20):  # the end padding counts for the diff_id
                pass
    return {"op_s": time.perf_counter() - start, "import_rss_mib": before, "entries": entries}


def _tar_source(raw: IO[bytes], media_type: str) -> tarfile.TarFile:
    if media_type.endswith("+zstd"):
        import zstandard

        return tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(raw), mode="r|")
    return tarfile.open(fileobj=raw, mode="r|gz" if media_type.endswith("gzip") else "r|")


def tarfile_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: rewrite every layer of ``args["tag"]`` with :mod:`tarfile` into one PAX
    stream on ``/dev/null`` (no flattening: a plain concatenation)."""
    store, layers = _layers(args)
    before = hwm_mib()
    entries = 0
    start = time.perf_counter()
    with (
        open(os.devnull, "wb") as sink,
        tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as out,
    ):
        for layer, _diff_id in layers:
            with (
                store.open_blob(layer["digest"], verify=False) as raw,
                _tar_source(raw, layer["mediaType"]) as src,
            ):
                for member in src:
                    data = src.extractfile(member) if member.isfile() else None
                    out.addfile(member, data)
                    entries += 1
    return {"op_s": time.perf_counter() - start, "import_rss_mib": before, "entries": entries}


def _repeat(ctx: Context, step: str, label: str) -> list[Run]:
    runs = []
    for i in range(ctx.scale.repeat):
        run_ = ctx.launcher.step(
            step, {"store": str(ctx.layout), "tag": IMAGE}, label=label, cpus=[ctx.cpu]
        )
        ctx.log(f"entries {label} #{i + 1}: {run_.op_s:.2f} s")
        runs.append(run_)
    if ctx.profile_dir is not None:
        path = ctx.profile_dir / f"entries-{step}.prof"
        ctx.launcher.step(
            step,
            {"store": str(ctx.layout), "tag": IMAGE, "profile": str(path)},
            label=label,
            cpus=[ctx.cpu],
        )
    return runs


def run(ctx: Context) -> Section:
    image = ctx.images[IMAGE]
    ours = run_flatten(ctx, IMAGE, name="entries")
    read = _repeat(ctx, "read", "read only")
    baseline = _repeat(ctx, "tarfile", "tarfile")
    # Once: umoci writes 100,000 files (with xattrs) to disk, 30-75 s a run here.
    umoci = run_umoci(ctx, IMAGE, name="entries", repeat=1)
    b_ours, b_read, b_tar, b_umoci = best(ours), best(read), best(baseline), best(umoci)
    # The same count for everyone: the flattened tree (the top layers here only add).
    entries = int(b_ours.result["entries"])
    rate = entries / b_ours.op_s
    return Section(
        "entries",
        f"entries/s on image {IMAGE} ({entries:,} entries in {len(image.layers)} gzip layers, "
        f"{image.tar_size / 1e6:.0f} MB uncompressed), one core",
        (
            Row("ours (flatten+write)", b_ours, tuple(ours), rate, "entries/s"),
            Row(
                "ours (read only)",
                b_read,
                tuple(read),
                int(b_read.result["entries"]) / b_read.op_s,
                "entries/s",
                note="gunzip + read_tar, data skipped",
            ),
            Row(
                "python tarfile",
                b_tar,
                tuple(baseline),
                int(b_tar.result["entries"]) / b_tar.op_s,
                "entries/s",
                note="r|gz -> w| rewrite",
            ),
            Row(
                "umoci unpack",
                b_umoci,
                tuple(umoci),
                entries / b_umoci.wall_s,
                "entries/s",
                note="writes files + mtree",
            ),
        ),
        ratios={
            "ours/tarfile speed": b_tar.op_s / b_ours.op_s,
            "ours/umoci speed": b_umoci.wall_s / b_ours.op_s,
        },
        targets=(
            Target("entries/s", rate, TARGET_ENTRIES_S, higher_is_better=True, unit="entries/s"),
        ),
        details={"image": image.to_json(), "entries": entries, "cpu": ctx.cpu},
    )
