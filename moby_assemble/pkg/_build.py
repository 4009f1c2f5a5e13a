"""``build()``: a recipe and its ``.deb`` files in, an OCI image out (LinuxKit's ``pkg build``
without Docker).

The build is a short sequence of named, timed steps over one context, per platform:
``fetch`` (find or download the packages), ``unpack`` (collect their entries and the recipe's
files), ``kernel`` (kernel recipes: the LinuxKit kernel layout), ``layer`` (one gzip layer),
``image`` (config and manifest); then ``index`` (several platforms), ``tag`` and ``push``.

Labels of the image config (LinuxKit's conventions, so LinuxKit can use these images)::

    org.mobyproject.config                  the recipe's [config], compact JSON
    org.mobyproject.moby-assemble.role      kernel, init, runtime, network, storage, service
    org.mobyproject.moby-assemble.stage     init, onboot, services, onshutdown (not for kernels)
    org.mobyproject.moby-assemble.packages  JSON list of the .deb files used: name, version,
                                            architecture, sha256 (and "via" for metapackages)
    org.opencontainers.image.title/version/description/created

The manifest carries the ``org.opencontainers.image.*`` and ``…packages`` values as
annotations too. Same recipe, same ``.deb`` files and same ``SOURCE_DATE_EPOCH`` give the
same digest.

Example::

    from moby_assemble.pkg import build

    result = build("components/runc", debs_dir="debs/", layout="out/oci")
    result.reference, result.digest, result.compressed_size
    build("components/runc", store=store, push="127.0.0.1:5000/moby-assemble/runc")
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import ConfigError
from .._model import Role
from .._oci import Descriptor
from .._platform import Platform
from ..store import Store
from ._apt import DebRequest, DebSource, debian_architecture, first_dependency
from ._content import LayerContent
from ._deb import DebPackage
from ._image import LayerInfo, rfc3339, write_image, write_index, write_layer
from ._kernel import kernel_layout
from ._recipe import Recipe, load_recipe

if TYPE_CHECKING:
    from ..registry._client import RegistryClient
    from ..trust import PrivateKey

__all__ = ["BuildResult", "PackageRecord", "build"]

logger = logging.getLogger("moby_assemble.pkg")

LABEL_CONFIG = "org.mobyproject.config"
LABEL_ROLE = "org.mobyproject.moby-assemble.role"
LABEL_STAGE = "org.mobyproject.moby-assemble.stage"
LABEL_PACKAGES = "org.mobyproject.moby-assemble.packages"
_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@attrs.frozen
class PackageRecord:
    """A ``.deb`` that went into an image (what the SBOM work reads back from the label).

    Attributes:
        name, version, architecture: from its control file.
        sha256: hex digest of the ``.deb`` file.
        via: the metapackage that pointed at it (``linux-image-cloud-amd64=6.1.192-2``).
    """

    name: str
    version: str
    architecture: str
    sha256: str
    via: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "sha256": self.sha256,
        }
        if self.via:
            out["via"] = self.via
        return out


@attrs.frozen
class BuildResult:
    """What :func:`build` made.

    Attributes:
        name, version, role: from the recipe.
        tag: the tag in the store (``runc:1.1.5-1``).
        descriptor: the manifest (one platform) or index (several) the tag points at.
        store: the store (OCI layout directory) holding it, or ``None`` if it was temporary.
        pushed: the reference it was pushed to (``host/repo:tag``), if any.
        packages: the ``.deb`` files used, per platform in order.
        compressed_size: bytes of the layer blobs (what a pull transfers).
        uncompressed_size: bytes of the uncompressed layers.
        seconds: wall time of the whole build.
        steps: ``(step, seconds)`` for each step, in order.
    """

    name: str
    version: str
    role: Role
    tag: str
    descriptor: Descriptor
    store: Path | None
    pushed: str | None
    packages: tuple[PackageRecord, ...]
    compressed_size: int
    uncompressed_size: int
    seconds: float
    steps: tuple[tuple[str, float], ...]

    @property
    def digest(self) -> str:
        """The digest of :attr:`descriptor`."""
        return self.descriptor.digest

    @property
    def reference(self) -> str:
        """Where the image is: the pushed ``host/repo:tag@digest``, else the layout's
        ``oci-layout:<dir>:<tag>`` (or just the tag if the store was temporary)."""
        if self.pushed:
            return f"{self.pushed.split('@')[0]}@{self.digest}"
        return f"oci-layout:{self.store}:{self.tag}" if self.store else self.tag


class _Steps:
    """Times and logs named steps (one INFO line each)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        took = time.perf_counter() - start
        self.done.append((what, took))
        logger.info("pkg %s: %s took %.2fs", self.name, what, took)


def _source_date_epoch(value: int | None) -> int:
    if value is not None:
        return value
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return 0
    try:
        epoch = int(text)
    except ValueError:
        raise ConfigError(f"SOURCE_DATE_EPOCH={text!r} is not an integer") from None
    if epoch < 0:
        raise ConfigError(f"SOURCE_DATE_EPOCH={text!r} is negative")
    return epoch


def _fetch(
    recipe: Recipe, source: DebSource, arch: str, file: str | None
) -> list[tuple[DebPackage, PackageRecord, int]]:
    requests = [
        DebRequest(spec.name, spec.version, arch, f"packages[{i}]")
        for i, spec in enumerate(recipe.packages)
    ]
    debs = source.fetch_all(requests, recipe_file=file)
    # Metapackages point at what is really unpacked: the first package of their Depends.
    via: dict[int, str] = {}
    targets: list[tuple[int, DebRequest]] = []
    for index, (spec, deb) in enumerate(zip(recipe.packages, debs, strict=True)):
        if not spec.metapackage:
            continue
        target = first_dependency(deb.control.get("Depends", ""))
        if target is None:
            raise ConfigError(
                f"metapackage {deb.name} {deb.version} has no usable Depends field",
                path=f"packages[{index}]",
                file=file,
            )
        via[index] = f"{deb.name}={deb.version}"
        targets.append((index, DebRequest(target[0], target[1], arch, f"packages[{index}]")))
    resolved = source.fetch_all([r for _, r in targets], recipe_file=file)
    for (index, _request), deb in zip(targets, resolved, strict=True):
        debs[index] = deb
    return [
        (deb, PackageRecord(deb.name, deb.version, deb.architecture, deb.sha256, via.get(i)), i)
        for i, deb in enumerate(debs)
    ]


def _image_config(recipe: Recipe, labels: dict[str, str]) -> dict[str, Any]:
    settings = recipe.image
    config: dict[str, Any] = {}
    if recipe.role is not Role.KERNEL:
        env = list(settings.env)
        if not any(item.startswith("PATH=") for item in env):
            env.insert(0, _DEFAULT_PATH)
        config["Env"] = env
    if settings.entrypoint is not None:
        config["Entrypoint"] = list(settings.entrypoint)
    if settings.cmd is not None:
        config["Cmd"] = list(settings.cmd)
    if settings.workdir:
        config["WorkingDir"] = settings.workdir
    config["Labels"] = {**dict(settings.labels), **labels}
    return config


def _labels(recipe: Recipe, packages: list[PackageRecord], created: int) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": recipe.name,
        "org.opencontainers.image.version": recipe.version,
        "org.opencontainers.image.created": rfc3339(created),
        LABEL_ROLE: recipe.role.value,
        LABEL_PACKAGES: json.dumps(
            [p.to_json() for p in packages], separators=(",", ":"), sort_keys=True
        ),
    }
    if recipe.description:
        labels["org.opencontainers.image.description"] = recipe.description
    if recipe.stage is not None:
        labels[LABEL_STAGE] = recipe.stage.value
    label = recipe.label
    if label is not None:
        labels[LABEL_CONFIG] = label
    return labels


def _annotations(labels: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in labels.items()
        if k.startswith("org.opencontainers.image.") or k == LABEL_PACKAGES
    }


def _build_platform(
    recipe: Recipe,
    platform: Platform,
    source: DebSource,
    store: Store,
    epoch: int,
    steps: _Steps,
) -> tuple[Descriptor, list[PackageRecord], LayerInfo]:
    file = str(recipe.directory / "recipe.toml") if recipe.directory else None
    arch = debian_architecture(platform)
    with steps.step(f"fetch {platform}"):
        debs = _fetch(recipe, source, arch, file)
    for deb, record, index in debs:
        if record.architecture not in (arch, "all"):
            raise ConfigError(
                f"{deb.path.name} is for {record.architecture}, not {arch} ({platform})",
                path=f"packages[{index}]",
                file=file,
            )
    with LayerContent(mtime=epoch, usrmerge=recipe.usrmerge, recipe_file=file) as content:
        with steps.step(f"unpack {platform}"):
            for deb, _record, index in debs:
                spec = recipe.packages[index]
                content.add_package(deb, spec, exclude=recipe.exclude, where=f"packages[{index}]")
            for index, spec_file in enumerate(recipe.files):
                content.add_file(spec_file, where=f"files[{index}]")
        image_content = content
        if recipe.kernel is not None:
            with steps.step(f"kernel layout {platform}"):
                image_content = kernel_layout(content, recipe.kernel, recipe_file=file)
        try:
            with steps.step(f"layer {platform}"):
                layer = write_layer(store, image_content.write_tar)
        finally:
            if image_content is not content:
                image_content.close()
    records = [record for _deb, record, _i in debs]
    labels = _labels(recipe, records, epoch)
    with steps.step(f"image {platform}"):
        manifest = write_image(
            store,
            platform=platform,
            layers=(layer,),
            config=_image_config(recipe, labels),
            created=epoch,
            history=f"moby-assemble pkg build {recipe.name} {recipe.version}",
            annotations=_annotations(labels),
        )
    return manifest, records, layer


def build(
    recipe: str | os.PathLike[str] | Recipe,
    *,
    debs_dir: str | os.PathLike[str] | None = None,
    apt: bool = True,
    store: Store | str | os.PathLike[str] | None = None,
    layout: str | os.PathLike[str] | None = None,
    push: str | None = None,
    client: RegistryClient | None = None,
    tag: str | None = None,
    source_date_epoch: int | None = None,
    sign_key: PrivateKey | None = None,
) -> BuildResult:
    """Build a component image from its recipe.

    Args:
        recipe: a component folder, its ``recipe.toml``, or a parsed :class:`Recipe`.
        debs_dir: where ``.deb`` files are looked up and downloaded to (default
            ``~/.cache/moby-assemble/debs``).
        apt: allow ``apt-get download`` (else only ``debs_dir`` is used).
        store: the store to write to (a :class:`~moby_assemble.store.Store` or its path).
        layout: an OCI image layout directory to write to (the same thing as ``store``,
            named for readability; give one of them).
        push: also push to this reference (``host/repository[:tag]``; the tag defaults to
            ``tag``, else the recipe's version). Without ``store``/``layout`` a temporary store
            is used.
        client: the registry client for ``push`` (a default one is made and closed if not
            given; loopback registries may use plain HTTP).
        tag: the tag (default: the recipe's version); the store entry is ``<name>:<tag>``.
        source_date_epoch: timestamps of every entry and document (default: the
            ``SOURCE_DATE_EPOCH`` environment variable, else 0).
        sign_key: sign the pushed image (the index for several platforms) with this key, in
            both of cosign's layouts, so that ``cosign verify --key`` accepts it; needs
            ``push``. A ``sign`` step.

    Returns:
        A :class:`BuildResult` (digest, sizes, the packages used, step timings).

    Raises:
        ConfigError: none of ``store``, ``layout`` or ``push`` (or both ``store`` and
            ``layout``), the recipe is invalid, a package cannot be found, paths conflict.
        LayerError: a package is corrupt or unsafe.
        IntegrityError: a download does not match apt's hash.
        RegistryError: the push failed.
    """
    if store is not None and layout is not None:
        raise ConfigError("give store or layout, not both", path="layout")
    if store is None and layout is None and push is None:
        raise ConfigError("nothing to write to: give store, layout or push", path="store")
    if sign_key is not None and push is None:
        raise ConfigError("sign_key signs what is pushed: give push too", path="sign_key")
    started = time.perf_counter()
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    epoch = _source_date_epoch(source_date_epoch)
    tag = tag or recipe.version
    steps = _Steps(recipe.name)
    source = DebSource(debs_dir, apt=apt)
    with contextlib.ExitStack() as stack:
        target = store if store is not None else layout
        if target is None:
            target_store = Store(stack.enter_context(tempfile.TemporaryDirectory()))
        elif isinstance(target, Store):
            target_store = target
        else:
            target_store = Store(target)
        manifests: list[Descriptor] = []
        packages: list[PackageRecord] = []
        layers: list[LayerInfo] = []
        for platform in recipe.platforms:
            manifest, records, layer = _build_platform(
                recipe, platform, source, target_store, epoch, steps
            )
            manifests.append(manifest)
            packages.extend(records)
            layers.append(layer)
        if len(manifests) == 1:
            descriptor = manifests[0]
        else:
            with steps.step("index"):
                descriptor = write_index(
                    target_store,
                    manifests,
                    annotations=_annotations(_labels(recipe, packages, epoch)),
                )
        store_tag = f"{recipe.name}:{tag}"
        with steps.step("tag"):
            target_store.tag(store_tag, descriptor)
        pushed = None
        if push is not None:
            pushed = _push(target_store, descriptor, push, tag, client, steps, sign_key)
        kept = target_store.path if target is not None else None
    took = time.perf_counter() - started
    result = BuildResult(
        name=recipe.name,
        version=recipe.version,
        role=recipe.role,
        tag=store_tag,
        descriptor=descriptor,
        store=kept,
        pushed=pushed,
        packages=tuple(packages),
        compressed_size=sum(layer.descriptor.size for layer in layers),
        uncompressed_size=sum(layer.uncompressed_size for layer in layers),
        seconds=took,
        steps=tuple(steps.done),
    )
    logger.info(
        "pkg %s: built %s (%d bytes compressed, %d uncompressed) in %.2fs",
        recipe.name,
        result.digest,
        result.compressed_size,
        result.uncompressed_size,
        took,
    )
    return result


def _push(
    store: Store,
    descriptor: Descriptor,
    push: str,
    tag: str,
    client: RegistryClient | None,
    steps: _Steps,
    sign_key: PrivateKey | None,
) -> str:
    from ..registry._client import RegistryClient
    from ..registry._push import push_from_store
    from ..registry._reference import ImageReference

    ref = ImageReference.parse(push, default_tag=None)
    if ref.digest is not None:
        raise ConfigError(f"cannot push to {push!r}: a push target takes a tag, not a digest")
    push_tag = ref.tag or tag
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(RegistryClient())
        with steps.step("push"):
            push_from_store(client, store, descriptor, ref, tag=push_tag)
        if sign_key is not None:
            from ..trust import sign_image

            with steps.step("sign"):
                sign_image(client, ref.with_tag(push_tag), sign_key, digest=descriptor.digest)
    return f"{ref.registry}/{ref.repository}:{push_tag}"
