"""The catalog table agrees with the recipes, and catalog images land where the factories
point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from moby_assemble import ConfigError
from moby_assemble.components import CATALOG, build_catalog, network, recipe_dir
from moby_assemble.pkg import load_recipe
from moby_assemble.testing import LocalRegistry

COMPONENTS = Path(__file__).resolve().parents[2] / "components"


def test_every_recipe_folder_is_in_the_catalog_with_the_same_facts() -> None:
    folders = sorted(p.name for p in COMPONENTS.iterdir() if (p / "recipe.toml").is_file())
    assert folders == sorted(CATALOG)
    for name, entry in CATALOG.items():
        recipe = load_recipe(recipe_dir(name))
        assert (recipe.name, recipe.version, recipe.role, recipe.stage) == (
            entry.name,
            entry.version,
            entry.role,
            entry.stage,
        )
        assert recipe.description == entry.description


def test_recipe_dir_can_be_pointed_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert recipe_dir("runc") == COMPONENTS / "runc"
    monkeypatch.setenv("MOBY_ASSEMBLE_COMPONENTS", str(tmp_path))
    with pytest.raises(ConfigError, match="MOBY_ASSEMBLE_COMPONENTS"):
        recipe_dir("runc")
    assert recipe_dir("runc", root=COMPONENTS) == COMPONENTS / "runc"


def test_built_catalog_images_are_where_the_factories_point(
    registry: LocalRegistry, tmp_path: Path, debs_dir: Path
) -> None:
    prefix = f"{registry.host}/catalog"
    results = build_catalog(
        ["dhcp", "demo"], registry=prefix, push=True, layout=tmp_path / "oci", debs_dir=debs_dir
    )
    container = network.dhcp(registry=prefix)
    info = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", f"docker://{container.image}"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    assert info["Digest"] == results["dhcp"].digest
    label = json.loads(info["Labels"]["org.mobyproject.config"])
    assert label["net"] == "host"
    assert "CAP_NET_ADMIN" in label["capabilities"]
    assert info["Labels"]["org.mobyproject.moby-assemble.role"] == "network"
    assert results["demo"].store == tmp_path / "oci"
