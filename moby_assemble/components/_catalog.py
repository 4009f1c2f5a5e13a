"""The standard catalog: which components exist, their versions, and where their images are.

Each entry mirrors the ``recipe.toml`` of a folder under the repository's top-level
``components/`` (a test keeps them in step). Image references default to
:data:`DEFAULT_REGISTRY` (``localhost:5000/moby-assemble``), the registry the examples
push the catalog to; every factory takes ``registry=`` (another registry and namespace),
``tag=`` (another tag) or ``image=`` (a complete reference, e.g. pinned by digest).

Example::

    >>> image_reference("dhcp")
    'localhost:5000/moby-assemble/dhcp:1.35.0-1'
    >>> image_reference("dhcp", registry="127.0.0.1:5001/ci/", tag="edge")
    '127.0.0.1:5001/ci/dhcp:edge'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import ConfigError
from .._model import Role, Stage

if TYPE_CHECKING:
    from ..pkg import BuildResult

__all__ = [
    "CATALOG",
    "DEFAULT_REGISTRY",
    "CatalogEntry",
    "build_catalog",
    "image_reference",
    "recipe_dir",
]

#: Where catalog images are expected unless a factory is told otherwise.
DEFAULT_REGISTRY = "localhost:5000/moby-assemble"


@attrs.frozen
class CatalogEntry:
    """A component of the standard catalog.

    Attributes:
        name: the component (and repository) name.
        version: the component version, the default tag.
        role: what it does.
        stage: when it runs (``None`` for the kernel).
        description: one line.
    """

    name: str
    version: str
    role: Role
    stage: Stage | None
    description: str


CATALOG: Mapping[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            "kernel",
            "6.1-cloud-1",
            Role.KERNEL,
            None,
            "Debian 12 cloud kernel (virtio, serial console, cgroup2) with its modules",
        ),
        CatalogEntry(
            "init",
            "0.1.0",
            Role.INIT,
            Stage.INIT,
            "moby-init: busybox init with scripts that run LinuxKit-style container bundles "
            "with runc",
        ),
        CatalogEntry(
            "runc",
            "1.1.5-1",
            Role.RUNTIME,
            Stage.INIT,
            "runc with its shared libraries (libseccomp, glibc)",
        ),
        CatalogEntry(
            "dhcp",
            "1.35.0-1",
            Role.NETWORK,
            Stage.ONBOOT,
            "DHCP client (busybox udhcpc) for the first network interface",
        ),
        CatalogEntry(
            "format",
            "1.47.0-1",
            Role.STORAGE,
            Stage.ONBOOT,
            "mke2fs a block device unless blkid finds a filesystem on it",
        ),
        CatalogEntry(
            "mount",
            "1.35.0-1",
            Role.STORAGE,
            Stage.ONBOOT,
            "mount a block device at a host path (shared propagation)",
        ),
        CatalogEntry(
            "getty",
            "1.35.0-1",
            Role.SERVICE,
            Stage.SERVICES,
            "root shell on the consoles of the kernel command line (insecure, for demos)",
        ),
        CatalogEntry(
            "demo",
            "0.1.0",
            Role.SERVICE,
            Stage.SERVICES,
            "demo service that reports whether storage and network work",
        ),
        CatalogEntry(
            "bootloader-syslinux",
            "6.04-3",
            Role.BOOTLOADER,
            Stage.INIT,
            "isolinux and syslinux BIOS boot loader files (Debian's isolinux, syslinux-common)",
        ),
        CatalogEntry(
            "bootloader-efi",
            "252.39-1",
            Role.BOOTLOADER,
            Stage.INIT,
            "systemd-boot and systemd's EFI stub for unified kernel images "
            "(Debian's systemd-boot-efi)",
        ),
    )
}


def image_reference(
    name: str,
    *,
    registry: str | None = None,
    tag: str | None = None,
    image: str | None = None,
) -> str:
    """The image reference of catalog component ``name``.

    Args:
        name: the component.
        registry: registry host plus optional namespace (default :data:`DEFAULT_REGISTRY`).
        tag: the tag (default: the component's version).
        image: a complete reference; returned as-is (``registry`` and ``tag`` must not be
            given with it).

    Raises:
        ConfigError: an unknown component, or ``image`` combined with ``registry``/``tag``.
    """
    if name not in CATALOG:
        raise ConfigError(f"no component {name!r} in the catalog (have {', '.join(CATALOG)})")
    if image is not None:
        if registry is not None or tag is not None:
            raise ConfigError(f"{name}: give image=, or registry=/tag=, not both", path="image")
        return image
    base = (registry if registry is not None else DEFAULT_REGISTRY).strip().rstrip("/")
    if not base:
        raise ConfigError(f"{name}: registry must not be empty", path="registry")
    return f"{base}/{name}:{tag or CATALOG[name].version}"


def recipe_dir(name: str, *, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the recipe of catalog component ``name``.

    Args:
        name: the component.
        root: the ``components/`` folder (default: ``$MOBY_ASSEMBLE_COMPONENTS``, else
            ``recipes/`` inside this package if a wheel ships them there, else the
            ``components/`` folder of the source checkout).

    Raises:
        ConfigError: no such component, or its folder cannot be found.
    """
    if name not in CATALOG:
        raise ConfigError(f"no component {name!r} in the catalog (have {', '.join(CATALOG)})")
    if root is not None:
        candidates = [Path(root)]
    elif os.environ.get("MOBY_ASSEMBLE_COMPONENTS"):
        candidates = [Path(os.environ["MOBY_ASSEMBLE_COMPONENTS"])]
    else:
        here = Path(__file__).resolve().parent
        # A wheel may ship the recipes inside the package; a source checkout has them at
        # the top of the repository.
        candidates = [here / "recipes", here.parents[1] / "components"]
    for base in candidates:
        folder = base / name
        if (folder / "recipe.toml").is_file():
            return folder
    raise ConfigError(
        f"the recipe of {name!r} is not in {', '.join(str(c) for c in candidates)} (set "
        "MOBY_ASSEMBLE_COMPONENTS to the components/ folder of a source checkout)"
    )


def build_catalog(
    names: Iterable[str] | None = None,
    *,
    registry: str | None = None,
    push: bool = False,
    root: str | os.PathLike[str] | None = None,
    **build_options: Any,
) -> dict[str, BuildResult]:
    """Build catalog components with :func:`moby_assemble.pkg.build`.

    Args:
        names: the components (default: all but the kernel, which is large).
        registry: with ``push``, where to push (default :data:`DEFAULT_REGISTRY`), as
            ``<registry>/<name>:<version>`` — the references the factories use.
        push: push each image.
        root: the ``components/`` folder (see :func:`recipe_dir`).
        build_options: passed on (``debs_dir``, ``apt``, ``store``, ``layout``, ``client``,
            ``source_date_epoch``).

    Example::

        results = build_catalog(layout="out/oci", push=True, registry="127.0.0.1:5000/ma")
        results["runc"].digest
    """
    from ..pkg import build

    chosen = list(names) if names is not None else [n for n in CATALOG if n != "kernel"]
    results = {}
    for name in chosen:
        target = None
        if push:
            target = image_reference(name, registry=registry)
        results[name] = build(recipe_dir(name, root=root), push=target, **build_options)
    return results
