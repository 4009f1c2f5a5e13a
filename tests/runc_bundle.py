"""Running an OCI runtime bundle under the real runc, for the tests that need one.

Example::

    pytestmark = pytest.mark.skipif(runc_unavailable() is not None, reason=runc_unavailable() or "")
    result = run_bundle(tmp_path / "bundle", tmp_path / "state")
    assert result.returncode == 0, result.stderr
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

#: The static busybox the bundles' root filesystems are made of.
BUSYBOX = Path("/bin/busybox")


def runc_unavailable(*tools: str) -> str | None:
    """Why runc (and ``tools``, e.g. ``tar``) cannot run a bundle here, or None if it can."""
    for tool in ("runc", *tools):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {tool})"
    if not BUSYBOX.is_file():
        return f"{BUSYBOX} is missing (apt-get install busybox-static)"
    if os.geteuid() != 0:
        return "runc needs root to create namespaces and cgroups here; running as a normal user"
    return None


def run_bundle(bundle: Path, state: Path) -> subprocess.CompletedProcess[str]:
    """``runc run`` the bundle in ``bundle`` (a fresh container name, state under ``state``),
    then delete the container whatever happened; returns the finished run."""
    name = f"moby-assemble-test-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run(
            ["runc", "--root", str(state), "run", "--bundle", str(bundle), name],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    finally:
        subprocess.run(
            ["runc", "--root", str(state), "delete", "--force", name],
            capture_output=True,
            check=False,
        )
