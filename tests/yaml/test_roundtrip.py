"""Generated systems survive YAML, TOML and dict round trips, and what we write passes LinuxKit's
own JSON schema."""

from __future__ import annotations

import json

import jsonschema  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings

from moby_assemble._model import System

from ..model.strategies import systems
from .conftest import CORPUS

_SCHEMA_PATH = CORPUS / "linuxkit-schema.json"
SCHEMA = (
    jsonschema.Draft4Validator(json.loads(_SCHEMA_PATH.read_text()))
    if _SCHEMA_PATH.exists()
    else None
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(systems())
def test_yaml_round_trip_gives_an_equal_system(system: System) -> None:
    text = system.to_yaml()
    again = System.from_yaml(text)
    assert again == system
    assert hash(again) == hash(system)
    assert again.to_yaml() == text  # writing is deterministic


@FAST
@given(systems())
def test_toml_round_trip_gives_an_equal_system(system: System) -> None:
    assert System.from_toml(system.to_toml()) == system


@FAST
@given(systems())
def test_dict_round_trip_and_schema_validity(system: System) -> None:
    data = system.to_dict()
    assert System.from_dict(json.loads(json.dumps(data))) == system
    if SCHEMA is not None:
        assert [e.message for e in SCHEMA.iter_errors(data)] == []
