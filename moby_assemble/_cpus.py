"""How many CPUs this process may use: what sizes its worker threads.

Example:
    >>> usable_cpus() >= 1
    True
"""

from __future__ import annotations

import os

__all__ = ["usable_cpus"]


def usable_cpus() -> int:
    """CPUs this process may run on now (``taskset`` and cgroups' cpusets included)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1
