"""Hostile YAML given to ``System.from_yaml``: rows of :data:`tests.hostile.cases.YAML`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from moby_assemble import ConfigError, System
from tests.faults._table import Case

from .cases import YAML


@pytest.mark.parametrize("case", YAML.params())
def test_hostile_yaml(case: Case, tmp_path: Path) -> None:
    text = case.param("text")
    if callable(text):
        text = text()
    marker = tmp_path / "executed"
    if case.param("marker"):
        text = text.format(marker=marker)
    path = tmp_path / "system.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)

    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        System.from_yaml(path)
    assert time.monotonic() - started < 1.0

    error = info.value
    assert error.file == str(path)
    assert str(path) in str(error)
    if case.param("path") is not None:
        assert error.path == case.param("path")
    if case.param("message") is not None:
        assert case.param("message") in error.reason
    assert not marker.exists()
