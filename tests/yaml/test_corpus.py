"""Conformance with LinuxKit's own parser over its examples and test cases (verdicts.tsv)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest

from moby_assemble import ConfigError
from moby_assemble._model import System

from .conftest import CORPUS, verdicts

VERDICTS = verdicts()
ACCEPTED = sorted(f for f, (v, _) in VERDICTS.items() if v == "OK")
REJECTED = sorted(f for f, (v, _) in VERDICTS.items() if v == "FAIL")


def _schema() -> jsonschema.Draft4Validator:
    schema = json.loads((CORPUS / "linuxkit-schema.json").read_text())
    return jsonschema.Draft4Validator(schema)


def test_corpus_is_complete(corpus: Path) -> None:
    on_disk = {str(p.relative_to(corpus)) for p in corpus.rglob("*.yml")}
    assert on_disk == set(VERDICTS)
    assert len(ACCEPTED) > 150
    assert len(REJECTED) > 20


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_file_linuxkit_accepts_is_accepted_and_round_trips(corpus: Path, name: str) -> None:
    system = System.from_yaml(corpus / name)
    assert System.from_yaml(system.to_yaml()) == system
    assert System.from_dict(system.to_dict()) == system
    assert System.from_toml(system.to_toml()) == system
    # what we write is valid for LinuxKit's own schema
    errors = [e.message for e in _schema().iter_errors(system.to_dict())]
    assert errors == []


@pytest.mark.parametrize("name", REJECTED)
def test_every_file_linuxkit_rejects_is_rejected_with_file_and_line(
    corpus: Path, name: str
) -> None:
    with pytest.raises(ConfigError) as info:
        System.from_yaml(corpus / name)
    error = info.value
    assert error.file == str(corpus / name)
    assert error.line is not None
    linuxkit_says = VERDICTS[name][1]
    if "Additional property" in linuxkit_says:
        # LinuxKit: "- (root): Additional property network is not allowed" (first of several)
        assert "unknown key" in error.reason
        assert error.path in linuxkit_says or error.path in (corpus / name).read_text()


def test_syntax_error_in_static_ip_example_reports_the_offending_line(corpus: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML") as info:
        System.from_yaml(corpus / "examples/static-ip.yml")
    assert info.value.line == 28  # the unindented "nameserver" after a comment at column 0


def test_partial_common_file_merges_with_each_namespace_test(corpus: Path) -> None:
    base = corpus / "test/cases/020_kernel/200_namespace"
    common = System.from_yaml(base / "common.yml")
    assert common.kernel is not None
    assert common.onboot == ()
    tests = sorted(base.rglob("test.yml"))
    assert len(tests) > 50
    for test in tests[:10]:
        merged = System.from_yaml(base / "common.yml", test)
        alone = System.from_yaml(test)
        assert merged.kernel == common.kernel
        assert merged.init == common.init + alone.init
        assert merged.onboot == alone.onboot
        assert merged == common.merge(alone)


def test_corpus_features_are_read_into_the_model(corpus: Path) -> None:
    wg = System.from_yaml(corpus / "examples/wireguard.yml")
    runtimes = [c.runtime for c in wg.onboot + wg.services if c.runtime is not None]
    assert any(r.interfaces for r in runtimes)
    assert any(r.bind_ns is not None and r.bind_ns.net for r in runtimes)
    volumes = System.from_yaml(corpus / "examples/volumes.yml")
    assert volumes.volumes
    volumes.check()
    assert CORPUS.exists()
