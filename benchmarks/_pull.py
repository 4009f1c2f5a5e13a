"""Benchmark 1: cold pull of image ``a`` (~200 MB, gzip) from the local registry.

Ours: a fresh :class:`~moby_assemble.store.Store` and ``Puller.pull`` (every blob hashed
as it streams, written atomically). The peer: ``skopeo copy docker://… oci:DIR:tag`` into
a fresh directory. The two alternate, best of ``scale.pull_repeat`` each; both leave an
OCI layout with the same blobs, which is checked.

Target: our pull time <= 1.0x skopeo's. The headline ratio compares our operation time
(in-process, as a library user pays it) with skopeo's process time; the ratio of whole
processes (our interpreter start-up and imports included) is reported next to it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._child import hwm_mib
from ._measure import Run, best, remove_tree
from ._report import Row, Section, Target

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["pull_step", "run"]

IMAGE = "a"
REPOSITORY = "bench/a"


def pull_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: pull ``args["ref"]`` into a new store at ``args["store"]``."""
    from moby_assemble import Platform
    from moby_assemble.registry import ImageReference, Puller, RegistryClient, RegistryConfig
    from moby_assemble.store import Store

    ref = ImageReference.parse(args["ref"])
    before = hwm_mib()
    start = time.perf_counter()
    with (
        RegistryClient(registries={ref.registry: RegistryConfig(plain_http=True)}) as client,
        Puller(client, Store(args["store"])) as puller,
    ):
        image = puller.pull(ref, Platform.parse("linux/amd64"))
    elapsed = time.perf_counter() - start
    return {
        "op_s": elapsed,
        "import_rss_mib": before,
        "layers": len(image.layers),
        "layer_bytes": sum(layer.size for layer in image.layers),
    }


def _blobs(layout: Path) -> set[str]:
    return {p.name for p in (layout / "blobs" / "sha256").iterdir() if not p.name.startswith(".")}


def run(ctx: Context) -> Section:
    """Measure both pulls; ``ctx.registry`` must hold ``bench/a:a``."""
    image = ctx.images[IMAGE]
    ref = f"{ctx.registry}/{REPOSITORY}:{IMAGE}"
    want = {layer.digest.split(":", 1)[1] for layer in image.layers}
    ours: list[Run] = []
    skopeo: list[Run] = []
    for i in range(ctx.scale.pull_repeat):
        # Alternate who goes first, so neither always meets a colder cache.
        for who in ("ours", "skopeo") if i % 2 == 0 else ("skopeo", "ours"):
            dest = ctx.scratch(f"pull-{who}")
            if who == "ours":
                run_ = ctx.launcher.step("pull", {"ref": ref, "store": str(dest)})
                ours.append(run_)
            else:
                run_ = ctx.launcher.run(
                    [
                        "skopeo",
                        "copy",
                        "--quiet",
                        "--src-tls-verify=false",
                        f"docker://{ref}",
                        f"oci:{dest}:{IMAGE}",
                    ],
                    label="skopeo",
                )
                skopeo.append(run_)
            missing = want - _blobs(dest)
            if missing:
                raise RuntimeError(f"{who} pull of {ref} lacks layers {sorted(missing)}")
            ctx.log(f"pull {who} #{i + 1}: {run_.op_s:.2f} s, {run_.peak_rss_mib:.0f} MiB")
            remove_tree(dest)
    if ctx.profile_dir is not None:
        dest = ctx.scratch("pull-profile")
        ctx.launcher.step(
            "pull", {"ref": ref, "store": str(dest), "profile": str(ctx.profile_dir / "pull.prof")}
        )
        remove_tree(dest)
    b_ours, b_skopeo = best(ours), best(skopeo)
    size = image.compressed_size
    op_ratio = b_ours.op_s / b_skopeo.wall_s
    process_ratio = best(ours, key=lambda r: r.wall_s).wall_s / b_skopeo.wall_s
    # Medians too: on a shared machine one lucky run can decide a best-of.
    median_ratio = statistics.median(r.op_s for r in ours) / statistics.median(
        r.wall_s for r in skopeo
    )
    return Section(
        "pull",
        f"cold pull of image {IMAGE} ({size / 1e6:.0f} MB gzip, {len(image.layers)} layers) "
        f"from the local registry, best of {ctx.scale.pull_repeat}",
        (
            Row("ours (Puller)", b_ours, tuple(ours), size / b_ours.op_s / 1e6, "MB/s"),
            Row("skopeo copy", b_skopeo, tuple(skopeo), size / b_skopeo.wall_s / 1e6, "MB/s"),
        ),
        ratios={
            "ours/skopeo (op)": op_ratio,
            "ours/skopeo (op, medians)": median_ratio,
            "ours/skopeo (process)": process_ratio,
        },
        targets=(Target("pull time ours/skopeo", op_ratio, 1.0, unit="x"),),
        details={"image": image.to_json(), "reference": ref},
    )
