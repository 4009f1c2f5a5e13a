"""LinuxKit's kernel image layout from a Debian kernel package.

LinuxKit's kernel filter reads two files at the root of a kernel image: ``kernel`` (the
bootable image, a bzImage on x86) and ``kernel.tar`` (unpacked into the root filesystem:
``lib/modules/<version>/…``). Everything else in a Debian ``linux-image-*`` package
(``/boot/config-*``, ``System.map``, docs) is left out. ``kernel.tar`` is an uncompressed,
deterministic tar (sorted, ``SOURCE_DATE_EPOCH`` mtimes, root-owned) and gets a generated
``modules.dep`` and ``modules.alias`` for every kernel version found (see :mod:`._modules`).

Example::

    image = kernel_layout(content, KernelLayout(), recipe_file="components/kernel/recipe.toml")
    image.names()          # ['kernel', 'kernel.tar']
"""

from __future__ import annotations

import logging
import tempfile

from .._errors import ConfigError
from ..layers import EntryType
from ._content import LayerContent, compile_globs
from ._modules import depmod, is_module
from ._recipe import KernelLayout

__all__ = ["kernel_layout"]

logger = logging.getLogger("moby_assemble.pkg")


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + "/")


def kernel_layout(
    content: LayerContent, layout: KernelLayout, *, recipe_file: str | None = None
) -> LayerContent:
    """The image content (``kernel`` and ``kernel.tar``) made from a kernel package's content.

    Args:
        content: the unpacked package content (consumed: generated files are added to it).
        layout: where the kernel image and the modules are inside the packages.
        recipe_file: for error messages.

    Raises:
        ConfigError: no file, or more than one, matches ``layout.binary``; no modules.
        LayerError: a module is not valid ELF, or depends on a module that is missing.
    """
    binary_rx = compile_globs([layout.binary])
    assert binary_rx is not None
    binaries = [
        p
        for p in content.names()
        if binary_rx.fullmatch(p)
        and (e := content.entry(p)) is not None
        and e.type is EntryType.FILE
    ]
    if len(binaries) != 1:
        raise ConfigError(
            f"expected one kernel image matching {layout.binary!r} in the packages, found "
            f"{len(binaries)}: {', '.join(binaries) or 'none'}",
            path="kernel.binary",
            file=recipe_file,
        )
    modules_dir = layout.modules.strip("/")
    versions: dict[str, dict[str, str]] = {}
    for path in content.names():
        if not _under(path, modules_dir) or not is_module(path):
            continue
        version, _, rel = path[len(modules_dir) + 1 :].partition("/")
        versions.setdefault(version, {})[rel] = path
    if not versions:
        raise ConfigError(
            f"no kernel modules under {modules_dir!r} in the packages",
            path="kernel.modules",
            file=recipe_file,
        )
    for version, modules in sorted(versions.items()):
        dep, alias = depmod({rel: content.read(p) for rel, p in modules.items()}, version=version)
        base = f"{modules_dir}/{version}"
        content.add_bytes(f"{base}/modules.dep", dep, placed=True)
        content.add_bytes(f"{base}/modules.alias", alias, placed=True)
        logger.info("kernel %s: %d modules, modules.dep generated", version, len(modules))
    image = LayerContent(mtime=content.mtime, recipe_file=recipe_file)
    image.add_bytes("kernel", content.read(binaries[0]), mode=0o644, placed=True)
    modules_tree = content.select(lambda p: _under(p, modules_dir))
    with tempfile.TemporaryFile(prefix="moby-assemble-kernel-tar-") as tar:
        modules_tree.write_tar(tar)
        tar.seek(0)
        image.add_stream("kernel.tar", tar, mode=0o644)
    return image
