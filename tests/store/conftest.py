"""Fixtures for the store tests: a fresh store, and the OCI image-spec JSON schemas."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from moby_assemble.store import Store

# The image-spec schemas carry draft-04 "id"s under several bases (…/schema/,
# …/schema/image/, …/descriptor/); relative $refs resolve against whichever applies.
_BASES = (
    "https://opencontainers.org/schema/",
    "https://opencontainers.org/schema/image/",
    "https://opencontainers.org/schema/descriptor/",
    "https://opencontainers.org/schema/image/descriptor/",
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture(scope="session")
def image_schema(fixtures_dir: Path) -> Callable[[str, Any], None]:
    """``validate(schema_file_name, instance)`` against the OCI image-spec schemas."""
    schema_dir = fixtures_dir / "image-spec-schema"
    registry: Registry = Registry()
    schemas: dict[str, Any] = {}
    for f in schema_dir.glob("*.json"):
        contents = json.loads(f.read_text())
        schemas[f.name] = contents
        resource = Resource.from_contents(contents, default_specification=DRAFT4)
        registry = registry.with_resources((base + f.name, resource) for base in _BASES)

    def validate(name: str, instance: Any) -> None:
        cls = jsonschema.validators.validator_for(schemas[name], default=jsonschema.Draft4Validator)
        cls(schemas[name], registry=registry).validate(instance)

    return validate


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path
