"""Measuring one step: a child process, its wall time and its peak RSS.

Every measured step (ours or a peer tool's) runs as its own process, started by
:mod:`benchmarks._launcher` so that ``ru_maxrss`` from ``wait4`` is the child's own peak
and not the harness's. Our steps are ``python -m benchmarks._child NAME ARGS`` and print
one JSON line: the operation's own time (``op_s``, without interpreter start-up and
imports) and what they counted; tools report only the process figures.

Example::

    with Launcher(scratch) as launcher:
        run = launcher.run(["skopeo", "--version"], label="skopeo")
        run.wall_s, run.peak_rss_mib
        step = launcher.step("flatten", {"store": "/tmp/layout", "tag": "bigz"}, cpus=[1])
        step.result["entries"]
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import attrs

__all__ = ["BenchError", "Launcher", "Run", "best", "remove_tree"]

_REPO = Path(__file__).resolve().parents[1]
_LAUNCHER = Path(__file__).with_name("_launcher.py")


class BenchError(RuntimeError):
    """A measured step failed (the message has the command and the end of its stderr)."""


@attrs.frozen
class Run:
    """One measured process.

    Attributes:
        label: what ran (``"ours"``, ``"skopeo"`` …).
        argv: the command.
        wall_s: process wall time, start-up included.
        peak_rss_kib: peak resident set size (``ru_maxrss``).
        user_s, sys_s: CPU time.
        result: the JSON a Python step printed (empty for tools).
    """

    label: str
    argv: tuple[str, ...]
    wall_s: float
    peak_rss_kib: int
    user_s: float
    sys_s: float
    result: Mapping[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def op_s(self) -> float:
        """The operation's own time (a Python step's ``op_s``; the wall time for tools)."""
        return float(self.result.get("op_s", self.wall_s))

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kib / 1024

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "wall_s": round(self.wall_s, 4),
            "op_s": round(self.op_s, 4),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "user_s": round(self.user_s, 3),
            "sys_s": round(self.sys_s, 3),
            "result": dict(self.result),
        }


def best(runs: Sequence[Run], key: Callable[[Run], float] | None = None) -> Run:
    """The fastest run (by ``op_s`` unless ``key`` says otherwise)."""
    return min(runs, key=key or (lambda r: r.op_s))


class Launcher:
    """The launcher process, and the scratch directory for its children's output.

    Start it first, while the harness is small (see :mod:`benchmarks._launcher`).
    """

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._proc: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_LAUNCHER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(10)

    def __enter__(self) -> Launcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def run(
        self,
        argv: Sequence[str],
        *,
        label: str,
        cpus: Sequence[int] | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = 900,
    ) -> Run:
        """Run ``argv`` to completion and measure it.

        Raises:
            BenchError: it failed, timed out or could not start.
        """
        if self._proc is None:
            raise BenchError("the launcher is closed")
        self._count += 1
        out = self._scratch / f"{self._count:03d}.out"
        err = self._scratch / f"{self._count:03d}.err"
        request = {
            "argv": list(argv),
            "stdout": str(out),
            "stderr": str(err),
            "cwd": str(cwd) if cwd else None,
            "env": dict(env) if env is not None else None,
            "cpus": list(cpus) if cpus else None,
            "timeout": timeout,
        }
        stdin: IO[str] | None = self._proc.stdin
        stdout: IO[str] | None = self._proc.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise BenchError("the launcher died")
        reply = json.loads(line)
        output = out.read_text(errors="replace")
        errors = err.read_text(errors="replace")
        out.unlink()
        err.unlink()
        if reply["returncode"] != 0:
            why = "timed out" if reply["timed_out"] else f"exit status {reply['returncode']}"
            raise BenchError(f"{label}: {' '.join(argv)} failed ({why}):\n{errors[-3000:]}")
        return Run(
            label,
            tuple(argv),
            reply["wall_s"],
            reply["maxrss_kib"],
            reply["user_s"],
            reply["sys_s"],
            _last_json(output),
        )

    def step(
        self,
        name: str,
        args: Mapping[str, Any],
        *,
        label: str = "ours",
        cpus: Sequence[int] | None = None,
    ) -> Run:
        """Run our step ``name`` (see :mod:`benchmarks._child`) in a fresh interpreter."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO), env.get("PYTHONPATH", "")) if p)
        argv = [sys.executable, "-m", "benchmarks._child", name, json.dumps(dict(args))]
        return self.run(argv, label=label, cpus=cpus, env=env)

    def floor(self) -> Run:
        """``/bin/true``: the smallest peak RSS a child can report here."""
        return self.run(["true"], label="floor")


def remove_tree(path: Path) -> None:
    """Delete a directory tree, even one ``umoci unpack --rootless`` left read-only."""

    def make_writable(func: Callable[..., object], name: str, _exc: object) -> None:
        parent = os.path.dirname(name)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, os.stat(name).st_mode | stat.S_IRWXU)
        func(name)

    if path.exists():
        # onerror, not onexc: Python 3.11 is supported.
        shutil.rmtree(path, onerror=make_writable)


def _last_json(output: str) -> dict[str, Any]:
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    return {}
