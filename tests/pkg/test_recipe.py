"""Recipe files: the format, strict path-qualified errors, and the catalog's recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moby_assemble import ConfigError, Platform
from moby_assemble._model import Role, Stage
from moby_assemble.pkg import load_recipe, parse_recipe

from .conftest import COMPONENTS

HEAD = 'name = "demo"\nversion = "1.0"\nrole = "service"\nstage = "services"\n'


def test_a_full_recipe_reads_into_values(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "recipe.toml").write_text(
        HEAD
        + """
description = "a demo"
platforms = ["linux/arm64/v8", "linux/amd64"]
usrmerge = true
exclude = ["usr/share/man"]

[[packages]]
name = "busybox-static"
version = "1:1.35.0-4"
include = ["bin/busybox"]
exclude = ["/usr/share/doc/"]

[[files]]
path = "/usr/bin/run"
source = "run.sh"
mode = "0755"

[[files]]
path = "etc/motd"
contents = "hi\\n"
uid = 100
gid = 101

[[files]]
path = "data"
directory = true
mode = 0o700

[[symlinks]]
target = "/bin/busybox"
paths = ["bin/sh", "bin/ls"]

[image]
entrypoint = ["/usr/bin/run"]
cmd = ["--verbose"]
env = ["A=1"]
workdir = "/tmp"
labels = { "com.example.owner" = "tests" }

[config]
net = "host"
"binds.add" = ["/var:/var"]
capabilities = ["CAP_NET_ADMIN"]
"""
    )
    recipe = load_recipe(tmp_path)
    assert (recipe.name, recipe.version, recipe.role, recipe.stage) == (
        "demo",
        "1.0",
        Role.SERVICE,
        Stage.SERVICES,
    )
    assert recipe.platforms == (Platform.parse("linux/amd64"), Platform.parse("linux/arm64"))
    assert recipe.usrmerge is True
    assert recipe.exclude == ("usr/share/man",)
    pkg = recipe.packages[0]
    assert (pkg.name, pkg.version, pkg.include, pkg.exclude) == (
        "busybox-static",
        "1:1.35.0-4",
        ("bin/busybox",),
        ("usr/share/doc",),
    )
    run, motd, data, sh, ls = recipe.files
    assert (run.path, run.source, run.mode) == ("usr/bin/run", tmp_path / "run.sh", 0o755)
    assert (motd.contents, motd.uid, motd.gid, motd.mode) == ("hi\n", 100, 101, None)
    assert (data.kind, data.mode) == ("directory", 0o700)
    assert (sh.path, sh.symlink, ls.path) == ("bin/sh", "/bin/busybox", "bin/ls")
    assert recipe.image.entrypoint == ("/usr/bin/run",)
    assert recipe.image.labels == (("com.example.owner", "tests"),)
    assert recipe.config is not None
    assert recipe.config.binds_add == ("/var:/var",)
    # The label keeps LinuxKit's key names and field order, compact like Go's json.Marshal.
    assert recipe.label == (
        '{"capabilities":["CAP_NET_ADMIN"],"binds.add":["/var:/var"],"net":"host"}'
    )


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('version = "1"\nrole = "service"\nstage = "services"\n', "name", "missing required"),
        (HEAD + 'colour = "red"\n', "colour", "unknown key 'colour'"),
        (HEAD.replace('"demo"', '"Demo!"'), "name", "not a valid component name"),
        (HEAD.replace('"1.0"', '"1 0"'), "version", "cannot be an image tag"),
        (HEAD.replace('"service"', '"database"'), "role", "unknown role 'database'"),
        (HEAD.replace('"services"', '"init"'), "stage", "runs as a container"),
        ('name="k"\nversion="1"\nrole="kernel"\nstage="onboot"\n', "stage", "no stage"),
        ('name="k"\nversion="1"\nrole="kernel"\n', "packages", "needs the kernel package"),
        ('name="r"\nversion="1"\nrole="runtime"\nstage="onboot"\n', "stage", "unpacked at"),
        (HEAD + "[[packages]]\nversion = '1'\n", "packages[0].name", "missing required"),
        (HEAD + "[[packages]]\nname = 'Bad_Name'\n", "packages[0].name", "not a Debian"),
        (HEAD + "[[packages]]\nname = 'a1'\nversion = 'x y'\n", "packages[0].version", "not a"),
        (HEAD + "[[packages]]\nname = 'a1'\ninclude = 'bin'\n", "packages[0].include", "list"),
        (HEAD + "[[packages]]\nname = 'a1'\ninclude = [1]\n", "packages[0].include[0]", "string"),
        (
            HEAD + "[[packages]]\nname = 'a1'\nexclude = ['../x']\n",
            "packages[0].exclude[0]",
            "glob",
        ),
        (HEAD + "[[packages]]\nname = 'a1'\nfrom = 'x'\n", "packages[0].from", "unknown key"),
        (HEAD + "[[files]]\npath = '../etc'\n", "files[0].path", "not a clean path"),
        (
            HEAD + "[[files]]\npath = 'a'\ncontents = 'x'\nsymlink = 'y'\n",
            "files[0].symlink",
            "exclusive",
        ),
        (HEAD + "[[files]]\npath = 'a'\nmode = '999'\n", "files[0].mode", "octal mode"),
        (
            HEAD + "[[files]]\npath = 'a'\nsymlink = 'b'\nmode = '0644'\n",
            "files[0].mode",
            "no mode",
        ),
        (HEAD + "[[files]]\npath = 'a'\nsource = 'x.sh'\n", "files[0].source", "read from text"),
        (HEAD + "[[files]]\npath = 'a'\n[[files]]\npath = '/a'\n", "files[1].path", "twice"),
        (HEAD + "[[symlinks]]\ntarget = 'x'\npaths = []\n", "symlinks[0].paths", "at least one"),
        (HEAD + "[image]\nenv = ['NOEQUALS']\n", "image.env[0]", "NAME=value"),
        (HEAD + "[image]\nlabels = { a = 1 }\n", "image.labels.a", "expected a string"),
        (
            HEAD + "[image.labels]\n'org.mobyproject.config' = '{}'\n",
            "image.labels.org.mobyproject.config",
            "written by the build",
        ),
        (HEAD + "[config]\nnet = 1\n", "config.net", "expected a string"),
        (HEAD + "[config]\nname = 'x'\n", "config.name", "unknown key"),
        (HEAD + "[kernel]\nbinary = 'x'\n", "kernel", "only a kernel recipe"),
        (HEAD + "platforms = ['linux/amd64', 'amd64']\n", "platforms[1]", "listed twice"),
        (HEAD + "platforms = ['linux//x']\n", "platforms[0]", "invalid platform"),
        (HEAD + "usrmerge = 'yes'\n", "usrmerge", "true or false"),
    ],
)
def test_invalid_recipes_name_the_field(text: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_recipe(text, file="components/x/recipe.toml")
    assert info.value.path == path
    assert info.value.file == "components/x/recipe.toml"
    assert str(info.value).startswith("components/x/recipe.toml, " + path)


def test_source_files_must_exist_inside_the_recipe_folder(tmp_path: Path) -> None:
    (tmp_path / "recipe.toml").write_text(HEAD + "[[files]]\npath = 'a'\nsource = '../x'\n")
    with pytest.raises(ConfigError, match="inside the recipe folder"):
        load_recipe(tmp_path)
    (tmp_path / "recipe.toml").write_text(HEAD + "[[files]]\npath = 'a'\nsource = 'gone.sh'\n")
    with pytest.raises(ConfigError, match=r"'gone\.sh' is not a file") as info:
        load_recipe(tmp_path / "recipe.toml")
    assert info.value.file == str(tmp_path / "recipe.toml")


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_recipe("name = ", file="r.toml")
    with pytest.raises(ConfigError, match="cannot read the recipe") as info:
        load_recipe(tmp_path / "nowhere")
    assert info.value.file is not None
    assert info.value.file.endswith("nowhere")


def test_kernel_recipe_defaults_to_linuxkit_layout() -> None:
    recipe = parse_recipe(
        'name="k"\nversion="1"\nrole="kernel"\n[[packages]]\nname="linux-image-x"\n'
    )
    assert recipe.kernel is not None
    assert (recipe.kernel.binary, recipe.kernel.modules) == ("boot/vmlinuz-*", "lib/modules")
    assert recipe.stage is None
    assert recipe.label is None


@pytest.mark.parametrize("folder", sorted(p.name for p in COMPONENTS.iterdir() if p.is_dir()))
def test_catalog_recipes_are_valid(folder: str) -> None:
    recipe = load_recipe(COMPONENTS / folder)
    assert recipe.name == folder
    assert recipe.packages
    for spec in recipe.files:
        if spec.source is not None:
            assert spec.source.is_file()
    if recipe.label is not None:
        assert isinstance(json.loads(recipe.label), dict)


@pytest.mark.parametrize(
    "folder",
    sorted(p.name for p in COMPONENTS.iterdir() if p.is_dir() and load_recipe(p).label),
)
def test_catalog_labels_pass_linuxkit_schema_and_our_label_reader(
    folder: str, fixtures_dir: Path
) -> None:
    import jsonschema

    from moby_assemble._label import parse_label

    recipe = load_recipe(COMPONENTS / folder)
    assert recipe.label is not None
    # What LinuxKit's moby.NewImage does: the label must be a valid services entry.
    schema = json.loads((fixtures_dir / "linuxkit-yaml" / "linuxkit-schema.json").read_text())
    entry = {"name": folder, "image": f"example.org/{folder}:1", **json.loads(recipe.label)}
    jsonschema.Draft4Validator(schema).validate({"services": [entry]})
    assert parse_label(recipe.label, image=folder) == recipe.config


def test_a_deeply_nested_recipe_is_a_config_error_naming_the_file() -> None:
    text = "name = " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ConfigError, match=r"recipe.toml: not valid TOML: nested too deeply"):
        parse_recipe(text, file="recipe.toml")
