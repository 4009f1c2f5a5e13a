"""The push output on a real registry: oras-py pulls the boot files, and so do we."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moby_assemble import ImageReference, OutputError, UnsupportedError
from moby_assemble.outputs import SYSTEM_ARTIFACT_TYPE, pull_system, write_formats
from moby_assemble.registry import RegistryClient
from moby_assemble.registry._push import push_artifact
from moby_assemble.testing import LocalRegistry

from .conftest import FakeBundle

MakeBundle = Callable[..., FakeBundle]
oras_provider = pytest.importorskip("oras.provider")


@pytest.fixture(autouse=True)
def _no_user_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """oras-py and DockerConfig read ~/.docker/config.json: keep the user's out of the tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    with RegistryClient() as c:
        yield c


def test_pushed_system_is_pulled_by_oras_and_by_us(
    make_bundle: MakeBundle, registry: LocalRegistry, client: RegistryClient, tmp_path: Path
) -> None:
    bundle = make_bundle(kernel=b"K" * 70_000, cmdline="console=ttyS0 quiet")
    target = f"{registry.host}/systems/demo:1"
    written = write_formats(
        bundle, tmp_path / "out", ["kernel+initrd", "push"], name="demo",
        reference=target, client=client,
    )  # fmt: skip
    (pushed,) = written["push"]
    assert pushed.name == "demo.pushed"
    pinned = ImageReference.parse(pushed.read_text().strip())
    assert pinned.tag == "1"
    assert pinned.digest is not None
    # Only the reference file stays; the pushed boot files were scratch.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "demo-cmdline", "demo-initrd.img", "demo-kernel", "demo.pushed",
    ]  # fmt: skip

    manifest = client.get_manifest(ImageReference.parse(target))
    assert manifest.digest == pinned.digest
    assert manifest.json["artifactType"] == SYSTEM_ARTIFACT_TYPE
    titles = [layer.annotation_dict["org.opencontainers.image.title"] for layer in manifest.layers]
    assert titles == ["demo-kernel", "demo-initrd.img", "demo-cmdline"]

    oras_dir = tmp_path / "oras"
    oras = oras_provider.Registry(registry.host, insecure=True)
    paths = oras.pull(target=target, outdir=str(oras_dir))
    assert sorted(Path(p).name for p in paths) == sorted(titles)
    for title in titles:
        assert (oras_dir / title).read_bytes() == (tmp_path / "out" / title).read_bytes()

    files = pull_system(client, target, tmp_path / "back")
    assert files.kernel.read_bytes() == b"K" * 70_000
    assert files.cmdline.read_text() == "console=ttyS0 quiet"
    assert files.initrd.read_bytes() == (tmp_path / "out/demo-initrd.img").read_bytes()
    assert files.initrd_compression == "gzip"


def test_pushing_the_same_system_twice_gives_the_same_digest(
    make_bundle: MakeBundle, registry: LocalRegistry, client: RegistryClient, tmp_path: Path
) -> None:
    bundle = make_bundle(source_date_epoch=5)
    digests = set()
    for n in range(2):
        written = write_formats(
            bundle, tmp_path / str(n), "push", name="s",
            reference=f"{registry.host}/systems/twice:v{n}", client=client, compression="zstd",
        )  # fmt: skip
        digests.add(written["push"][0].read_text().split("@")[1])
    assert len(digests) == 1
    files = pull_system(client, f"{registry.host}/systems/twice:v1", tmp_path / "back")
    assert files.initrd_compression == "zstd"
    assert files.initrd.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"


def test_push_needs_a_reference_and_a_kernel(
    make_bundle: MakeBundle, registry: LocalRegistry, client: RegistryClient, tmp_path: Path
) -> None:
    with pytest.raises(OutputError, match="reference"):
        write_formats(make_bundle(), tmp_path, "push", client=client)
    with pytest.raises(OutputError, match="no kernel"):
        write_formats(
            make_bundle(kernel=None), tmp_path, "push",
            reference=f"{registry.host}/systems/none:1", client=client,
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rootfs-0.tar", "rootfs-1.tar"]


def test_pulling_an_artifact_that_is_not_a_system_is_refused(
    registry: LocalRegistry, client: RegistryClient, tmp_path: Path
) -> None:
    ref = ImageReference.parse(f"{registry.host}/systems/notes:1")
    push_artifact(client, ref, {"readme.txt": b"hi"}, "application/vnd.example.notes")
    with pytest.raises(UnsupportedError, match="not a system artifact"):
        pull_system(client, ref, tmp_path / "x")
    assert not (tmp_path / "x").exists() or list((tmp_path / "x").iterdir()) == []
