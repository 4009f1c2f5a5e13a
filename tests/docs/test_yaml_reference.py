"""docs/yaml-reference.md is generated from the model's field metadata and must match it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from moby_assemble import Container, File, Kernel, System, Volume
from moby_assemble._model_codec import field_reference

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "docs" / "_gen" / "yaml_reference.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_gen_yaml_reference", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_page_is_up_to_date() -> None:
    page = ROOT / "docs" / "yaml-reference.md"
    assert page.read_text(encoding="utf-8") == _generator().render(), (
        "docs/yaml-reference.md is stale: run `python docs/_gen/yaml_reference.py` and commit it"
    )


@pytest.mark.parametrize("cls", [Kernel, Container, File, Volume])
def test_every_key_the_parser_accepts_is_a_row(cls: type) -> None:
    text = _generator().render()
    section = text.split(f"## {cls.__name__}\n", 1)[1].split("\n## ", 1)[0]
    for key, attr, _what in field_reference(cls):
        assert f"| `{key}` | `{attr}` |" in section


def test_every_container_key_in_the_page_is_accepted_by_the_parser() -> None:
    # One container using every key the page lists, with a value of the type the "Value"
    # column names: the parser must take all of them and set each attribute.
    samples = {
        "a string": "x",
        "an image reference string": "alpine:3.20",
        "a boolean": True,
        "an integer": 0,
        "an integer or a name": 0,
        "an object": {},
        "an object of strings": {},
        "an object (Runtime)": {},
    }
    valid = {"name": "web", "cwd": "/", "uts": "new", "rootfsPropagation": "shared"}
    text = _generator().render()
    section = text.split("## Container\n", 1)[1].split("\n## ", 1)[0]
    item: dict[str, object] = {}
    attrs: dict[str, str] = {}
    for row in section.splitlines():
        if row.startswith("| `"):
            key, attr, what = (c.strip().strip("`") for c in row.strip("|").split("|")[:3])
            item[key] = valid.get(key, [] if what.startswith("a list") else samples.get(what))
            attrs[key] = attr
    container = System.from_dict({"services": [item]}).services[0]
    assert set(attrs) == {key for key, _a, _w in field_reference(Container)}
    for key, attr in attrs.items():
        assert getattr(container, attr) is not None, key


def test_a_field_without_a_description_fails_the_generator() -> None:
    generator = _generator()
    broken = {k: dict(v) for k, v in generator.DESCRIPTIONS.items()}
    del broken["Volume"]["readonly"]
    with pytest.raises(ValueError, match="Volume: no description for readonly"):
        generator.render(broken)
    broken = {k: dict(v) for k, v in generator.DESCRIPTIONS.items()}
    broken["File"]["owner"] = "not a field"
    with pytest.raises(ValueError, match="File: description of unknown key"):
        generator.render(broken)


def test_check_mode_passes_on_the_committed_page_and_fails_on_a_stale_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    generator = _generator()
    stale = tmp_path / "yaml-reference.md"
    stale.write_text("# YAML reference\n", encoding="utf-8")
    monkeypatch.setattr(generator, "PAGE", stale)
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0
