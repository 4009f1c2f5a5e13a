"""Fixtures for the catalog tests: the packager's .deb cache (see tests/pkg/conftest.py)."""

from __future__ import annotations

from tests.pkg.conftest import debs_dir, small_debs

__all__ = ["debs_dir", "small_debs"]
