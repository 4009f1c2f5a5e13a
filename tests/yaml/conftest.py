"""Where the LinuxKit YAML corpus lives, and its verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "linuxkit-yaml"


def verdicts() -> dict[str, tuple[str, str]]:
    """file (relative to the corpus) → (OK|FAIL, LinuxKit's last error line)."""
    out: dict[str, tuple[str, str]] = {}
    path = CORPUS / "verdicts.tsv"
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        out.setdefault(parts[0], (parts[1], parts[2] if len(parts) > 2 else ""))
    return out


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "verdicts.tsv").exists():
        pytest.skip(f"LinuxKit corpus not found at {CORPUS}")
    return CORPUS
