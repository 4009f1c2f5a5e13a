"""Fixtures for the runtime-spec tests: the OCI config.json schema and a bundle builder."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from moby_assemble._model import Container, ImageConfig
from moby_assemble._runtime_spec import RuntimeBundleConfig, oci_config

SCHEMA_DIR = pathlib.Path(__file__).resolve().parents[3] / "shared/fixtures/runtime-spec-schema"


@pytest.fixture(scope="session")
def config_schema() -> Draft4Validator:
    """A validator for config.json: the runtime-spec schema with its $ref'd files registered."""
    if not (SCHEMA_DIR / "config-schema.json").is_file():
        pytest.fail(f"runtime-spec schema not found at {SCHEMA_DIR}")
    registry: Registry[Any] = Registry().with_resources(
        (p.as_uri(), Resource.from_contents(json.loads(p.read_text()), DRAFT4))
        for p in SCHEMA_DIR.glob("*.json")
    )
    entry = SCHEMA_DIR / "config-schema.json"
    root = dict(json.loads(entry.read_text()), id=entry.as_uri())
    return Draft4Validator(root, registry=registry)


BuildBundle = Callable[..., RuntimeBundleConfig]


@pytest.fixture
def build(config_schema: Draft4Validator) -> BuildBundle:
    """``build(label=..., image=..., id_map=..., **container_fields)``: a bundle whose
    config.json is checked against the runtime-spec schema before it is returned."""

    def _build(
        *,
        label: Mapping[str, Any] | ImageConfig | None = None,
        image: Mapping[str, Any] | None = None,
        id_map: Mapping[str, int] | None = None,
        name: str = "svc",
        volumes: Mapping[str, bool] | None = None,
        **fields: Any,
    ) -> RuntimeBundleConfig:
        if isinstance(label, Mapping):
            label = ImageConfig(**label)
        bundle = oci_config(
            Container(name, "example.org/svc:1", **fields),
            label=label,
            image_config={"Cmd": ["/bin/true"]} if image is None else image,
            id_map=id_map or {},
            volumes=volumes,
        )
        # Whatever else a test checks, every config.json we produce must be valid, and the
        # JSON we write must be exactly the spec we hold.
        config_schema.validate(bundle.spec)
        assert json.loads(bundle.config_json()) == bundle.spec
        return bundle

    return _build


def mounts_by_destination(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in spec["mounts"]}
