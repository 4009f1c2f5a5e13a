"""Benchmark 4: peak RSS while flattening a ~1 GB (uncompressed) image.

Image ``huge``: every benchmark layer in zstd (about 100,000 small files, 800 MB of big
files, a whiteout and an opaque directory on top), flattened to ``/dev/null`` in a fresh
interpreter. The peak RSS is the whole process's (``ru_maxrss``: interpreter and imports
included, reported separately as ``import_rss_mib``).

Target: < 100 MB (10^6 bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._flatten import run_flatten
from ._measure import best
from ._report import Row, Section, Target

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["run"]

IMAGE = "huge"
TARGET_MB = 100.0


def run(ctx: Context) -> Section:
    image = ctx.images[IMAGE]
    runs = run_flatten(ctx, IMAGE, name="rss")
    # The worst peak counts for a memory bound; the fastest run for the rate.
    peak = max(runs, key=lambda r: r.peak_rss_kib)
    fastest = best(runs)
    peak_mb = peak.peak_rss_kib * 1024 / 1e6
    size = image.tar_size
    return Section(
        "rss",
        f"peak RSS flattening image {IMAGE} ({size / 1e6:.0f} MB uncompressed, "
        f"{image.compressed_size / 1e6:.0f} MB zstd, {len(image.layers)} layers) to /dev/null",
        (
            Row(
                "ours (flatten+write)",
                peak,
                tuple(runs),
                size / fastest.op_s / 1e6,
                "MB/s",
                note=f"after imports: {peak.result.get('import_rss_mib', 0):.0f} MiB",
            ),
        ),
        targets=(Target("peak RSS", peak_mb, TARGET_MB, unit="MB"),),
        details={
            "image": image.to_json(),
            "entries": peak.result.get("entries"),
            "import_rss_mib": peak.result.get("import_rss_mib"),
            "peak_rss_mib_all": [round(r.peak_rss_mib, 1) for r in runs],
        },
    )
