"""Properties under random input (hypothesis): rows of :data:`tests.hostile.cases.PROPERTIES`.

Each test names its row; whatever hypothesis generates, the only exceptions allowed are the
library's own, of the documented type.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moby_assemble import ConfigError, ImageReferenceError, IntegrityError, LayerError, System
from moby_assemble.layers import open_layer, read_tar
from moby_assemble.registry import ImageReference
from moby_assemble.testing import Layer

from .cases import PROPERTIES

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hostile-props-") as d:
        yield Path(d)


# -- reference-edits -------------------------------------------------------------------------

_VALID = (
    "nginx",
    "nginx:1.27",
    "docker.io/library/nginx:1.27",
    "127.0.0.1:5000/a/b-c_d.e:v1.2",
    "localhost/x@sha256:" + "a" * 64,
    "[::1]:5000/tools/busybox:1.36@sha256:" + "0" * 64,
    "registry.example.com/team/app__x/y:latest",
)
_ALPHABET = "abcAZ09:/@.-_[]%+ \n\t\x00é"


@st.composite
def edited(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_VALID))
    at = draw(st.integers(0, len(text)))
    char = draw(st.sampled_from(_ALPHABET))
    kind = draw(st.sampled_from(["insert", "delete", "replace"]))
    if kind == "insert":
        return text[:at] + char + text[at:]
    if kind == "delete":
        return text[:at] + text[at + 1 :]
    return text[:at] + char + text[at + 1 :]


@SETTINGS
@given(edited())
def test_reference_edits(text: str) -> None:
    assert PROPERTIES["reference-edits"].error is ImageReferenceError
    try:
        ref: ImageReference | ImageReferenceError = ImageReference.parse(text)
    except ImageReferenceError as e:
        ref = e
    if isinstance(ref, ImageReferenceError):
        assert ref.reference == text
    else:
        assert ImageReference.parse(str(ref)) == ref


# -- yaml ---------------------------------------------------------------------------------------


def _load(path: Path, text: str) -> System | ConfigError:
    path.write_text(text, encoding="utf-8")
    try:
        result: System | ConfigError = System.from_yaml(path)
    except ConfigError as e:
        result = e
    if isinstance(result, ConfigError):
        assert result.file == str(path)
    return result


_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


@SETTINGS
@given(st.text(max_size=300))
def test_yaml_any_text(scratch: Path, text: str) -> None:
    assert PROPERTIES["yaml-any-text"].error is ConfigError
    # Surrogates cannot be written as UTF-8; characters YAML forbids are another row.
    text = _NON_PRINTABLE.sub("", text.encode("utf-8", "replace").decode("utf-8"))
    _load(scratch / "any.yml", text)


_SECTIONS = ["kernel", "init", "onboot", "onshutdown", "services", "files", "volumes", "trust"]
_FIELDS = [
    "name", "image", "command", "binds", "capabilities", "env", "net", "pid", "readonly",
    "path", "contents", "mode", "uid", "gid", "cmdline", "directory", "symlink", "sysctl",
    "runtime", "mounts", "devices", "tmpfs", "rlimits", "format", "bogus",
]  # fmt: skip
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["nginx:1.27", "/var:/var", "0644", "CAP_NET_ADMIN", "host", "web", "", "~"]),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(_FIELDS), inner, max_size=4),
    ),
    max_leaves=20,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(_SECTIONS), _values, max_size=4))
def test_yaml_any_structure(scratch: Path, document: dict[str, Any]) -> None:
    assert PROPERTIES["yaml-any-structure"].error is ConfigError
    text = yaml.safe_dump(document, allow_unicode=True)
    result = _load(scratch / "structure.yml", text)
    if isinstance(result, ConfigError):
        assert result.path or result.line is not None or "document" in result.reason
        return
    again = _load(scratch / "again.yml", result.to_yaml())
    assert again == result


# -- tar ----------------------------------------------------------------------------------------


def _read_all(data: bytes) -> list[str]:
    names = []
    for entry in read_tar(io.BytesIO(data), layer="fuzz"):
        while entry.read(65536):
            pass
        names.append(entry.name)
    return names


@SETTINGS
@given(st.binary(max_size=4096))
def test_tar_any_bytes(data: bytes) -> None:
    assert PROPERTIES["tar-any-bytes"].error is LayerError
    with contextlib.suppress(LayerError):
        _read_all(data)


_VALID_TAR = (
    Layer(compression=None)
    .dir("etc")
    .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n" * 10)
    .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
    .hardlink("etc/passwd-", "etc/passwd")
    .file("usr/share/" + "long-name-" * 20, b"long", xattrs={"user.k": b"v"})
    .device("dev/null", "c", 1, 3)
    .tar()
)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(_VALID_TAR) - 1), st.integers(0, 255)), max_size=8))
def test_tar_mutated(edits: list[tuple[int, int]]) -> None:
    assert PROPERTIES["tar-mutated"].error is LayerError
    data = bytearray(_VALID_TAR)
    for at, value in edits:
        data[at] = value
    try:
        names = _read_all(bytes(data))
    except LayerError:
        return
    for name in names:
        parts = name.split("/")
        assert not name.startswith("/")
        assert ".." not in parts
        assert name == "." or ("" not in parts and "." not in parts)


_MEDIA_TYPES = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
]


@SETTINGS
@given(
    st.sampled_from([b"", b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd"]),
    st.binary(max_size=2048),
    st.sampled_from(_MEDIA_TYPES),
    st.booleans(),
)
def test_layer_any_compressed(magic: bytes, data: bytes, media_type: str, diff_id: bool) -> None:
    assert PROPERTIES["layer-any-compressed"].error is LayerError
    check = "sha256:" + "0" * 64 if diff_id else None
    error: Exception | None = None
    try:
        stream = open_layer(io.BytesIO(magic + data), media_type, diff_id=check, name="fuzz")
        while stream.read(65536):
            pass
    except (LayerError, IntegrityError) as e:
        error = e
    if error is not None:
        assert "fuzz" in str(error)
