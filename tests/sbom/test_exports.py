"""moby_assemble.sbom's ``__all__`` is sorted (ruff's order), complete and importable."""

from __future__ import annotations

import moby_assemble.sbom as sbom


def _ruff_order(name: str) -> tuple[int, str]:
    """RUF022: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_all_is_sorted_and_names_exactly_the_public_names():
    exported = list(sbom.__all__)
    assert exported == sorted(exported, key=_ruff_order)
    assert all(hasattr(sbom, n) for n in exported)
    public = {n for n in vars(sbom) if not n.startswith("_")} - {"annotations"}
    assert public == set(exported)
