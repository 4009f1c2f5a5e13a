"""The ``onboot``, ``onshutdown`` and ``services`` steps: one OCI bundle per container.

Layout, as LinuxKit writes it (``NNN-`` is the container's 3-digit index in its stage; services
have no prefix)::

    containers/onboot/000-dhcpcd/lower/…        the image (read-write containers)
    containers/onboot/000-dhcpcd/config.json    OCI runtime spec, root.path "rootfs"
    containers/onboot/000-dhcpcd/tmp/           tmpfs for the overlay's upper and work dirs
    containers/onboot/000-dhcpcd/rootfs/        the overlay's mount point
    containers/onboot/000-dhcpcd/runtime.json   LinuxKit runtime settings + rootfs mounts
    containers/services/getty/rootfs/…          the image (read-only containers)
    containers/services/getty/config.json
    containers/services/getty/runtime.json      a bind of rootfs onto itself

An image used by several containers is written once, under the first container that uses it;
the others mount that copy (an overlay ``lowerdir`` or a read-only bind), as LinuxKit does.
LinuxKit keys this on the reference string; here it is the image manifest digest, so two tags
of the same image are also written once.

``config.json`` comes from :func:`~moby_assemble._runtime_spec.oci_config` (container
fields, then the ``org.mobyproject.config`` label, then the image config), ``runtime.json``
from the same call with the bundle's root filesystem mounts prepended.

Example::

    containers_step(Stage.SERVICES)(ctx)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .._label import label_of
from .._model import Container, Stage
from .._runtime_spec import RuntimeBundleConfig, oci_config
from ._bundle import BundleContainer
from ._events import ImageReused

if TYPE_CHECKING:
    from ..registry import PulledImage
    from ._context import BuildContext

__all__ = ["bundle_directory", "containers_step", "image_root"]


def bundle_directory(stage: Stage, index: int, name: str) -> str:
    """``containers/onboot/000-name`` (onboot, onshutdown) or ``containers/services/name``.

    Example::

        >>> bundle_directory(Stage.ONBOOT, 3, "format")
        'containers/onboot/003-format'
    """
    prefix = "" if stage is Stage.SERVICES else f"{index:03d}-"
    return f"containers/{stage.value}/{prefix}{name}"


def containers_step(stage: Stage) -> Callable[[BuildContext], bool]:
    """The step writing every container of ``stage``."""

    def step(ctx: BuildContext) -> bool:
        containers = ctx.system.containers(stage)
        for index, container in enumerate(containers):
            _write_bundle(ctx, stage, index, container)
        return bool(containers)

    step.__name__ = f"{stage.value}_step"
    return step


def _runtime_bundle(
    ctx: BuildContext, container: Container, image: PulledImage
) -> RuntimeBundleConfig:
    inner = image.config.get("config") or {}
    return oci_config(
        container,
        label=label_of(inner, image=container.image),
        image_config=inner,
        id_map=ctx.id_map,
        volumes={v.name: v.readonly for v in ctx.system.volumes},
    )


def image_root(
    ctx: BuildContext, stage: Stage, index: int, container: Container, image: PulledImage
) -> str:
    """Where the container's image goes if it is the first to use it: its bundle
    directory's ``rootfs`` (read-only) or ``lower`` (an overlay's lower directory)."""
    readonly = _runtime_bundle(ctx, container, image).readonly
    return f"{bundle_directory(stage, index, container.name)}/{'rootfs' if readonly else 'lower'}"


def _write_bundle(ctx: BuildContext, stage: Stage, index: int, container: Container) -> None:
    location = f"{stage.value}[{index}]"
    reference = container.image
    image = ctx.record_use(location, reference)
    bundle = _runtime_bundle(ctx, container, image)
    directory = bundle_directory(stage, index, container.name)
    own_root = f"{directory}/{'rootfs' if bundle.readonly else 'lower'}"
    w = ctx.writer
    shared = ctx.written.get(image.manifest.digest)
    if shared is None:
        w.mkdirs(own_root, source=reference, location=location)
        ctx.copy_image(reference, location, prefix=own_root, kind="container")
        ctx.written[image.manifest.digest] = own_root
        root = own_root
    else:
        w.mkdirs(directory, source=reference, location=location)
        ctx.emit(ImageReused(location, reference, shared))
        root = shared
    config_json = bundle.config_json()
    w.file(f"{directory}/config.json", config_json, source=reference, location=location)
    if not bundle.readonly:
        w.directory(f"{directory}/tmp", source=reference, location=location)  # noqa: S108
        w.directory(f"{directory}/rootfs", source=reference, location=location)
    elif shared is not None:
        w.directory(f"{directory}/rootfs", source=reference, location=location)
    runtime_json = bundle.with_rootfs_mounts(directory, lower=root).runtime_json()
    w.file(f"{directory}/runtime.json", runtime_json, source=reference, location=location)
    ctx.containers.append(
        BundleContainer(
            stage=stage,
            index=index,
            name=container.name,
            directory=directory,
            image=reference,
            manifest_digest=image.manifest.digest,
            readonly=bundle.readonly,
            config_json=config_json,
            runtime_json=runtime_json,
            rootfs=root,
        )
    )
