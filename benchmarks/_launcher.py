"""A tiny process launcher that reports each child's wall time and peak RSS.

Run as a script (``python -I -S _launcher.py``), standard library only, and started by the
harness *before* it builds anything: Linux records the pre-``exec`` memory of a
``fork``/``vfork`` parent as part of the child's ``ru_maxrss``, so a child spawned by a
big process would report at least that process's size. Spawned from this small one, the
floor is this launcher's own few megabytes (the harness measures it with ``/bin/true``).

Protocol: one JSON request per line on stdin::

    {"argv": [...], "stdout": PATH, "stderr": PATH, "cwd": PATH|null, "env": {...}|null,
     "cpus": [0]|null, "timeout": SECONDS|null}

and one JSON reply per line on stdout::

    {"returncode": 0, "wall_s": 1.23, "maxrss_kib": 45678, "user_s": 1.1, "sys_s": 0.1,
     "timed_out": false}

``returncode`` is negative for a signal, 127 if the program could not be started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from typing import Any


def _spawn(request: dict[str, Any]) -> tuple[int, float]:
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    argv = request["argv"]
    env = request.get("env") or dict(os.environ)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: set up, then become the program
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            if request.get("cpus"):
                os.sched_setaffinity(0, request["cpus"])
            if request.get("cwd"):
                os.chdir(request["cwd"])
            os.execvpe(argv[0], argv, env)  # noqa: S606 - argv lists, no shell
        except BaseException as e:
            os.write(2, f"launcher: cannot run {argv[0]}: {e}\n".encode())
        os._exit(127)
    os.close(out)
    os.close(err)
    return pid, start


def main() -> None:
    timed_out: list[bool] = []
    current = [0]

    def on_alarm(_signum: int, _frame: object) -> None:
        timed_out.append(True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(current[0], signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_alarm)
    for line in sys.stdin:
        request = json.loads(line)
        timed_out.clear()
        pid, start = _spawn(request)
        current[0] = pid
        if request.get("timeout"):
            signal.setitimer(signal.ITIMER_REAL, float(request["timeout"]))
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
        signal.setitimer(signal.ITIMER_REAL, 0)
        reply = {
            "returncode": os.waitstatus_to_exitcode(status),
            "wall_s": wall,
            "maxrss_kib": usage.ru_maxrss,
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "timed_out": bool(timed_out),
        }
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
