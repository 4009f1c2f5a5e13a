"""The benchmark harness works end to end: a --quick run on tiny images reports every
figure with sane values, and the launcher measures a child's own peak RSS.

Not a timed test: nothing here asserts a speed target (the benchmark reports those).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks._measure import BenchError, Launcher
from benchmarks._report import Target
from moby_assemble._cpus import usable_cpus

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("docker-registry", "skopeo", "umoci")

# zstd: the assembly benchmark's raw floor with the standard tools.
needs_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in (*TOOLS, "zstd")),
    reason=f"needs {', '.join(TOOLS)}, zstd",
)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One --quick run of every benchmark, its JSON report parsed (text output attached)."""
    base = tmp_path_factory.mktemp("bench")
    out = base / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(base)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    report["_stdout"] = proc.stdout
    report["_tmp"] = base
    return report


@needs_tools
def test_quick_run_reports_every_benchmark_with_targets_and_the_table(
    quick_report: dict[str, Any],
) -> None:
    assert quick_report["scale"] == "quick"
    assert set(quick_report["benchmarks"]) == {"pull", "flatten", "entries", "rss", "assemble"}
    targets = {t["name"]: t for s in quick_report["benchmarks"].values() for t in s["targets"]}
    assert set(targets) == {
        "pull time ours/skopeo", "flatten throughput", "entries/s", "peak RSS",
        "cold/raw floor", "one change/cold", "assembly peak RSS",
    }  # fmt: skip
    assert all(isinstance(t["met"], bool) and t["value"] > 0 for t in targets.values())
    for name in ("pull", "flatten", "entries", "rss", "assemble"):
        assert f"== {name}:" in quick_report["_stdout"]
    assert "ratio ours/skopeo (op)" in quick_report["_stdout"]
    assert len(quick_report["machine"]["loadavg_start"]) == 3
    assert all(quick_report["tools"][t] for t in TOOLS)


@needs_tools
def test_every_row_has_positive_times_rates_and_a_peak_rss_above_the_floor(
    quick_report: dict[str, Any],
) -> None:
    floor = quick_report["floor_rss_mib"]
    assert 0 < floor < 40
    tools = []
    for section in quick_report["benchmarks"].values():
        for row in section["rows"]:
            best = row["best"]
            tools.append(row["tool"])
            assert best["wall_s"] > 0
            assert 0 < best["op_s"] <= best["wall_s"] + 1e-6
            assert best["peak_rss_mib"] >= floor
            assert row["rate"] > 0
    assert any(t.startswith("skopeo") for t in tools)
    assert any(t.startswith("umoci") for t in tools)
    assert any(t == "python tarfile" for t in tools)


@needs_tools
def test_our_steps_account_for_every_byte_and_entry_of_the_images(
    quick_report: dict[str, Any],
) -> None:
    images = quick_report["images"]
    bench = quick_report["benchmarks"]
    pull = bench["pull"]["rows"][0]["best"]["result"]
    assert pull["layer_bytes"] == images["a"]["compressed_bytes"]
    assert pull["layers"] == images["a"]["layers"]
    flatten = bench["flatten"]["rows"][0]["best"]["result"]
    # Two big-file layers: everything but headers and padding is file content.
    assert 0.9 * images["bigz"]["uncompressed_bytes"] < flatten["file_bytes"]
    entries = {row["tool"]: row["best"]["result"] for row in bench["entries"]["rows"]}
    read_only = entries["ours (read only)"]["entries"]
    assert read_only == entries["python tarfile"]["entries"]
    # Flattening merges the directories both layers have (usr, usr/lib), nothing else.
    assert (
        read_only - 2
        == entries["ours (flatten+write)"]["entries"]
        == bench["entries"]["details"]["entries"]
    )


@needs_tools
def test_assembly_cases_rebuild_only_the_changed_service_and_the_floor_reads_every_blob(
    quick_report: dict[str, Any],
) -> None:
    section = quick_report["benchmarks"]["assemble"]
    rows = {row["tool"]: row["best"]["result"] for row in section["rows"]}
    cold, warm = rows["ours cold (empty)"], rows["ours warm (lock)"]
    change, floor = rows["ours one change"], rows["raw floor"]
    # Cold flattens the kernel and six components; warm flattens nothing and gives the
    # same root tar; one change flattens only the changed service.
    assert cold["flattened"] == 7
    assert cold["blobs_fetched"] > 0
    assert (warm["flattened"], warm["blobs_fetched"], warm["copied_cached"]) == (0, 0, 7)
    assert warm["bundle"] == cold["bundle"]
    # The changed service's new top layer has the old one's structure: its section is
    # made from the old section (see _rebase), nothing is flattened.
    assert change["flattened"] == 0
    assert change["copied_cached"] == 7
    assert change["bundle"] != cold["bundle"]
    alone = rows["ours cold, 1 process"]
    assert (alone["bundle"], alone["flattened"]) == (cold["bundle"], 7)
    assert rows["write kernel+initrd"]["written_bytes"] > 0
    details = section["details"]
    assert floor["compressed_bytes"] == details["compressed_bytes"]
    assert floor["uncompressed_bytes"] == details["layer_tar_bytes"]
    cpus = usable_cpus()
    assert set(section["ratios"]) == {
        "cold/raw floor", "cold/raw floor with shell tools", "cold/(raw + write floor)",
        "warm/cold", "one change/cold",
        "one change/write floor", "cold, 1 process/raw floor", "one change/cold, 1 process",
        f"byte floor, {cpus} processes/raw floor", f"cold/byte floor, {cpus} processes",
        f"CPU time of (byte floor + pull only) on {cpus} CPUs/raw floor",
    }  # fmt: skip
    assert rows["write floor"]["written_bytes"] == cold["rootfs_bytes"]
    # The byte floor decompressed and wrote every layer (one process: all of them; split:
    # the first process a share), the pull fetched every image's layers.
    assert rows["byte floor"]["first_process_bytes"] == details["layer_tar_bytes"]
    split = rows[f"byte floor, {cpus} processes"]["first_process_bytes"]
    assert 0 < split <= details["layer_tar_bytes"]
    assert rows["ours pull only"]["layers"] == details["image_layers"]
    assert rows["ours pull only"]["op_cpu_s"] > 0
    assert rows["raw floor, shell tools"]["blobs"] == details["layers"]
    assert all(v > 0 for v in section["ratios"].values())


@needs_tools
def test_quick_run_removes_its_work_directory(quick_report: dict[str, Any]) -> None:
    assert not list(quick_report["_tmp"].glob("moby-bench-*"))


def test_launcher_reports_the_childs_own_peak_rss_not_the_parents(tmp_path: Path) -> None:
    with Launcher(tmp_path / "launcher") as launcher:
        ballast = bytearray(300 << 20)  # the harness grows after the launcher started
        ballast[::4096] = b"\1" * len(ballast[::4096])
        floor = launcher.floor()
        big = launcher.run(
            [sys.executable, "-c", "b = bytearray(200 << 20); b[::4096] = b'1' * len(b[::4096])"],
            label="alloc",
        )
        del ballast
    assert floor.peak_rss_mib < 100
    assert 200 <= big.peak_rss_mib < 300
    assert big.wall_s > 0
    assert big.result == {}


def test_launcher_passes_a_steps_json_result_and_pins_cpus(tmp_path: Path) -> None:
    code = (
        "import json, os; "
        "print('noise'); print(json.dumps({'op_s': 0.5, 'cpus': sorted(os.sched_getaffinity(0))}))"
    )
    with Launcher(tmp_path / "launcher") as launcher:
        run = launcher.run([sys.executable, "-c", code], label="json", cpus=[0])
    assert run.result == {"op_s": 0.5, "cpus": [0]}
    assert run.op_s == 0.5


def test_a_failing_step_raises_with_its_stderr(tmp_path: Path) -> None:
    with (
        Launcher(tmp_path / "launcher") as launcher,
        pytest.raises(BenchError, match=r"exit status 3[\s\S]*went wrong"),
    ):
        launcher.run(
            [sys.executable, "-c", "import sys; sys.stderr.write('went wrong'); sys.exit(3)"],
            label="bad",
        )


def test_a_step_past_its_timeout_is_killed_and_reported(tmp_path: Path) -> None:
    with Launcher(tmp_path / "launcher") as launcher:
        with pytest.raises(BenchError, match="timed out"):
            launcher.run(["sleep", "10"], label="slow", timeout=0.2)
        # The launcher keeps serving after a timeout.
        assert launcher.run(["true"], label="after").wall_s < 5


def test_targets_compare_in_the_right_direction() -> None:
    assert Target("rate", 250, 200, higher_is_better=True).met
    assert not Target("rate", 150, 200, higher_is_better=True).met
    assert Target("ratio", 0.9, 1.0).met
    assert not Target("ratio", 1.1, 1.0).met
    assert "MISSED" in Target("ratio", 1.1, 1.0, unit="x").describe()
