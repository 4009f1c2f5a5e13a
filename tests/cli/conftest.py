"""Fixtures of the CLI tests: a runner, and images pushed to the real local registry.

Images are made with moby_assemble.testing's writer, written to an OCI layout, and pushed
with the library's own ``push_from_store`` (the CLI's ``push`` is tested separately).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result

from moby_assemble._cli._app import cli
from moby_assemble.registry import ImageReference, RegistryClient, push_from_store
from moby_assemble.store import Store
from moby_assemble.testing import Image, ImageIndex, ImageSet, Layer, LocalRegistry

_counter = itertools.count()

LABEL = '{"capabilities": ["CAP_NET_ADMIN"], "net": "host"}'


@attrs.frozen
class PushedImage:
    """An image in the registry: its reference (tag), digest and the built blobs."""

    reference: str
    digest: str
    images: ImageSet
    layer_digests: tuple[str, ...]


def _layer_digests(images: ImageSet) -> tuple[str, ...]:
    """The layer digests of every image (attestations left out), in order."""
    found: list[str] = []
    top = images.json()
    manifests = top.get("manifests") or [None]
    for entry in manifests:
        manifest = top if entry is None else images.json(entry["digest"])
        if manifest.get("config", {}).get("mediaType", "").endswith("config.v1+json"):
            found.extend(layer["digest"] for layer in manifest["layers"])
    return tuple(dict.fromkeys(found))


def push_images(registry: LocalRegistry, tmp: Path, images: ImageSet, repo: str) -> PushedImage:
    """Push ``images`` to ``repo:1`` on the registry via an OCI layout."""
    images.write_oci_layout(tmp / "layout", "src")
    ref = ImageReference.parse(f"{registry.host}/{repo}:1")
    store = Store(tmp / "layout")
    with RegistryClient() as client:
        push_from_store(client, store, store.resolve("src"), ref)
    return PushedImage(str(ref), images.descriptor.digest, images, _layer_digests(images))


def app_image(platform: str = "linux/amd64", text: str = "hello") -> Image:
    base = Layer().dir("etc").file("etc/os-release", b"ID=test\n")
    app = Layer(compression="zstd").file(
        "bin/app", f"#!/bin/sh\necho {text}\n".encode(), mode=0o755
    )
    return Image(
        (base, app),
        platform=platform,
        config={"Entrypoint": ["/bin/app"], "Env": ["PATH=/bin"]},
        labels={"org.mobyproject.config": LABEL},
    )


def _repository() -> str:
    # The registry is shared by the whole session: every image gets its own repository.
    return f"cli/t{next(_counter)}"


@pytest.fixture
def unique() -> str:
    """A repository name no other test uses."""
    return _repository()


@pytest.fixture
def single_image(registry: LocalRegistry, tmp_path: Path) -> PushedImage:
    """A single-platform image (linux/amd64) at ``<registry>/cli/tN:1``, its OCI layout in
    ``tmp_path/single/layout`` (tag ``src``)."""
    return push_images(registry, tmp_path / "single", app_image().build(), _repository())


@pytest.fixture
def index_image(registry: LocalRegistry, tmp_path: Path) -> PushedImage:
    """A two-platform index (amd64, arm64) with attestations at ``<registry>/cli/tN:1``."""
    index = ImageIndex(
        (app_image("linux/amd64", "amd64"), app_image("linux/arm64", "arm64")), attestation=True
    )
    return push_images(registry, tmp_path / "index", index.build(), _repository())


Invoke = Callable[..., Result]


@pytest.fixture
def invoke() -> Invoke:
    """``invoke(*args, code=0, input=None)``: run the CLI in-process and check its exit code."""
    runner = CliRunner()

    def run(*args: str | Path, code: int = 0, input: str | bytes | None = None) -> Result:
        argv: Sequence[str] = [str(a) for a in args]
        result = runner.invoke(cli, argv, input=input, catch_exceptions=False)
        assert result.exit_code == code, (
            f"exit {result.exit_code} != {code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    return run


def _tar(files: dict[str, bytes]) -> bytes:
    """A plain tar of regular files (a kernel image's ``kernel.tar``)."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@attrs.frozen
class TinySystem:
    """A LinuxKit YAML file whose images are in the registry.

    Attributes:
        config: the YAML file.
        kernel, init, tool, web: the image references it uses.
    """

    config: Path
    kernel: str
    init: str
    tool: str
    web: str


def tiny_yaml(kernel: str, init: str, tool: str, web: str) -> str:
    return f"""\
kernel:
  image: {kernel}
  cmdline: "console=ttyS0"
init:
  - {init}
onboot:
  - name: setup
    image: {tool}
    command: ["/bin/tool", "setup"]
services:
  - name: web
    image: {web}
files:
  - path: etc/motd
    contents: "hello from the cli test\\n"
    mode: "0644"
"""


@pytest.fixture(scope="session")
def tiny_images(registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> TinySystem:
    """The tiny system's images, pushed once per session (tests must not move their tags:
    those that do call :func:`make_tiny_system` for images of their own)."""
    return make_tiny_system(registry, tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def tiny_system(tiny_images: TinySystem, tmp_path: Path) -> TinySystem:
    """Kernel, init, one onboot and one service image in the registry, and ``system.yml``
    (in this test's ``tmp_path``) using them."""
    config = tmp_path / "system.yml"
    config.write_text(tiny_images.config.read_text())
    return attrs.evolve(tiny_images, config=config)


def make_tiny_system(registry: LocalRegistry, tmp_path: Path) -> TinySystem:
    """Push the tiny system's images to ``registry`` and write its YAML in ``tmp_path``."""
    repo = _repository()
    kernel = Image(
        (
            Layer()
            .file("kernel", b"MZ fake bzImage")
            .file("kernel.tar", _tar({"lib/modules/6.6.0/modules.dep": b""})),
        )
    )
    init = Image(
        (Layer().dir("etc").file("etc/issue", b"tiny\n").file("bin/init", b"#!", mode=0o755),)
    )
    tool = Image(
        (Layer().file("bin/tool", b"#!/bin/sh\n", mode=0o755),),
        labels={"org.mobyproject.config": LABEL},
    )
    web = app_image()
    refs = {}
    for role, image in (("kernel", kernel), ("init", init), ("tool", tool), ("web", web)):
        pushed = push_images(registry, tmp_path / f"img-{role}", image.build(), f"{repo}/{role}")
        refs[role] = pushed.reference
    config = tmp_path / "system.yml"
    config.write_text(tiny_yaml(**refs))
    return TinySystem(config, **refs)
