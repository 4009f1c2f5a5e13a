"""Typed usage of the public API, checked by ``mypy --strict`` (tests/typing/test_typing.py).

Nothing here runs: each function is what a user would write, and the annotations on the
results pin the types the library promises. A change that breaks user code under a type
checker (a renamed keyword, a return type widened to ``Any`` or narrowed incompatibly) fails
the check. Keep every line plausible user code; ``assert_type`` marks the promises.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, assert_type

import moby_assemble as ma
from moby_assemble.assemble import (
    MAX_LAYER_SIZE,
    AssemblyEvent,
    BundleContainer,
    ProgressSink,
    PruneResult,
    default_cache_dir,
    prune_cache,
    source_date_epoch,
)
from moby_assemble.components import init, kernel, network, runtime, services, storage
from moby_assemble.layers import LayerSource, TarEntry, TarWriter, flatten_layers, read_tar
from moby_assemble.outputs import BundleView, OutputFormat, get_format, write_formats
from moby_assemble.pkg import BuildResult, Recipe, load_recipe
from moby_assemble.progress import PlainProgress
from moby_assemble.registry import (
    DockerConfig,
    ImageReference,
    PulledImage,
    Puller,
    RegistryClient,
    RegistryConfig,
    push_from_store,
)
from moby_assemble.runtime_spec import RuntimeBundleConfig, config_json_bytes, oci_config
from moby_assemble.store import Store
from moby_assemble.testing import Image, ImageSet, Layer, LocalRegistry
from moby_assemble.trust import (
    PrivateKey,
    PublicKey,
    TrustPolicy,
    VerificationResult,
    sign_image,
    verify_image,
)


def describe_system() -> ma.System:
    """The builder: every ``with_*`` returns a new System."""
    system = (
        ma.System(platform="linux/amd64")
        .with_kernel(ma.Kernel("registry.example/kernel:6.6", cmdline="console=ttyS0"))
        .with_init(
            "registry.example/init:1", ma.InitImage("registry.example/runc:1", role="runtime")
        )
        .with_onboot(ma.Container("dhcp", "registry.example/dhcp:1", role=ma.Role.NETWORK))
        .with_service(
            ma.Container(
                "web",
                "registry.example/nginx:1.27",
                binds=["/var/data:/data"],
                capabilities_add=["CAP_NET_BIND_SERVICE"],
                sysctl={"net.ipv4.ip_forward": "1"},
            )
        )
        .with_file(ma.File("etc/motd", contents="hello\n", mode=0o644))
        .with_volume(ma.Volume("data"))
    )
    assert_type(system.platform, ma.Platform | None)
    assert_type(system.services, tuple[ma.Container, ...])
    web: ma.Container = system["web"]
    assert_type(web.binds, tuple[str, ...] | None)
    changed = system.replace("web", image="registry.example/nginx:1.28").without("dhcp")
    diff = system.diff(changed)
    lines: list[str] = [str(change.label) for change in diff.changed]
    assert_type(bool(diff), bool)
    del lines
    yaml_text: str = changed.to_yaml()
    return ma.System.from_yaml(yaml_text, platform=ma.Platform.parse("linux/amd64"))


def catalog_system() -> ma.System:
    """The standard catalog's typed factories."""
    return (
        ma.System(platform="linux/amd64")
        .with_kernel(kernel.debian_cloud(cmdline="console=ttyS0"))
        .with_init(init.base(), runtime.runc())
        .with_onboot(
            network.dhcp(), storage.format("/dev/vda"), storage.mount("/dev/vda", "/var/data")
        )
        .with_service(services.getty(), services.demo(data="/var/data"))
    )


def assemble_and_write(system: ma.System, cache: Path) -> dict[str, tuple[Path, ...]]:
    """Resolve, save the lock, assemble, write outputs."""
    events: list[AssemblyEvent] = []
    sink: ProgressSink = events.append
    with ma.Assembler(cache, platform="linux/amd64", progress=sink) as asm:
        lock: ma.Lock = asm.resolve(system)
        lock.save(cache / "system.lock.json")
        bundle = asm.assemble(system, lock=ma.Lock.load(cache / "system.lock.json"))
    assert_type(bundle, ma.Bundle)
    assert_type(bundle.rootfs_sha256, str)
    assert_type(bundle.rootfs_size, int)
    assert_type(bundle.rootfs_tar, Path)
    with bundle.open_rootfs() as tar:
        assert_type(tar.read(512), bytes)
    assert_type(bundle.kernel, Path | None)
    web: BundleContainer = bundle.container("web", stage="services")
    config: dict[str, Any] = web.config
    del config
    finished = [e for e in events if isinstance(e, ma.StepFinished)]
    seconds: float = sum(e.seconds for e in finished)
    del seconds
    formats: tuple[str, ...] = ma.available_formats()
    del formats
    written = bundle.write(cache / "out", formats=["kernel+initrd", "tar"], name="web")
    paths: tuple[Path, ...] = written["tar"]
    del paths
    return write_formats(bundle, cache / "more", "tar-kernel-initrd", compression="zstd")


def offline_assembly(system: ma.System, cache: Path) -> ma.Bundle:
    """No network: everything must be in the store already."""
    with ma.Assembler(cache, offline=True, source_date_epoch=source_date_epoch(0)) as asm:
        return asm.assemble(system, platform="linux/amd64")


def bounded_assembly(system: ma.System, cache: Path) -> list[Path]:
    """A tighter decompression-bomb bound; litter of killed builds removed explicitly; what
    was not used for a week pruned."""
    with ma.Assembler(cache, max_layer_size=MAX_LAYER_SIZE // 64) as asm:
        removed: list[Path] = asm.remove_stale()
        asm.assemble(system)
    pruned: PruneResult = prune_cache(cache, older_than=7 * 86400, dry_run=True)
    return [*removed, *pruned.removed]


class CmdlineFormat:
    """A third-party output format, written against the OutputFormat protocol."""

    name = "cmdline"
    description = "the kernel command line as a text file"
    files = ("{name}.cmdline",)
    streamable = False
    options: frozenset[str] = frozenset()

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        *args: Any,
        **options: Any,
    ) -> tuple[Path, ...]:
        path = Path(directory) / f"{name}.cmdline"
        path.write_text(bundle.cmdline or "")
        return (path,)


def register_a_format() -> OutputFormat:
    fmt: OutputFormat = ma.register_format(CmdlineFormat(), replace=True)
    assert_type(get_format("cmdline").files, tuple[str, ...])
    return fmt


def pull_an_image(store_dir: Path) -> PulledImage:
    """The registry client and the store, directly."""
    ref = ImageReference.parse("127.0.0.1:5000/components/runc:1.1")
    registries = {"127.0.0.1:5000": RegistryConfig(plain_http=True)}
    with (
        RegistryClient(credentials=DockerConfig(), registries=registries) as client,
        Puller(client, Store(store_dir), progress=PlainProgress(sys.stderr)) as puller,
    ):
        image = puller.pull(ref, ma.Platform.parse("linux/amd64"))
    digests: list[str] = [layer.digest for layer in image.layers]
    del digests
    return image


def push_a_test_image(registry: LocalRegistry, layout: Path) -> ma.Descriptor:
    """Images made in Python (moby_assemble.testing), pushed from an OCI layout."""
    built: ImageSet = Image([Layer().dir("etc").file("etc/motd", b"hi\n")]).build()
    built.write_oci_layout(layout, "latest")
    store = Store(layout)
    with RegistryClient() as client:
        return push_from_store(
            client, store, store.resolve("latest"), ImageReference.parse(f"{registry.host}/x:1")
        )


def flatten(blobs: list[tuple[Path, str]], out: Path) -> int:
    """Layers to one tar, without extracting anything."""
    count = 0
    with open(out, "wb") as f, TarWriter(f) as writer:
        sources = [LayerSource.from_path(path, media_type) for path, media_type in blobs]
        for entry in flatten_layers(sources):
            assert_type(entry, TarEntry)
            writer.add(entry)
            count += 1
    entries: Iterator[TarEntry] = read_tar(io.BytesIO(bytes(1024)))
    del entries
    with open(out, "ab") as f, TarWriter(f) as writer:
        note = TarEntry("note", size=2).with_data(io.BytesIO(b"hi"), layer="typed")
        writer.add(note.with_pax((("comment", "typed"),)))
        writer.splice(bytes(512))
    return count


def runtime_config() -> bytes:
    """LinuxKit's ConfigToOCI as a function."""
    bundle: RuntimeBundleConfig = oci_config(
        ma.Container("web", "registry.example/nginx:1.27"),
        label=ma.ImageConfig(capabilities=["CAP_NET_BIND_SERVICE"]),
        image_config={"Cmd": ["nginx"]},
        id_map={},
    )
    return config_json_bytes(bundle.spec)


def sign_and_verify(client: RegistryClient, key_file: Path) -> VerificationResult:
    """cosign-compatible signatures and a policy."""
    key = PrivateKey.load(key_file)
    ref = ImageReference.parse("127.0.0.1:5000/moby-assemble/init:1.0")
    sign_image(client, ref, key)
    trusted: list[PublicKey] = [key.public_key]
    verify_image(client, ref, trusted)
    policy = TrustPolicy().with_rule("127.0.0.1:*/moby-assemble/*", trusted)
    return policy.verify(client, ref)


def package_a_component(folder: Path) -> BuildResult:
    """The packager: a recipe folder to an OCI layout."""
    from moby_assemble.pkg import build

    recipe: Recipe = load_recipe(folder)
    return build(recipe, layout=folder / "out", source_date_epoch=0)


def errors(path: Path) -> str | None:
    """Every error is a MobyAssembleError with context attributes."""
    try:
        ma.System.from_yaml(path)
    except ma.ConfigError as e:
        return e.path
    except ma.MobyAssembleError:
        return None
    return None


def cache_directory() -> Path:
    return default_cache_dir()
