"""The component packager: recipes of Debian packages and files in, OCI images out.

LinuxKit's ``linuxkit pkg build`` without Docker, BuildKit or root: a component folder holds a
``recipe.toml`` (see :mod:`._recipe` for the format) and the files it names; :func:`build`
fetches the ``.deb`` files (``apt-get download``, or a directory), reads them in Python and
writes a deterministic OCI image to a store / OCI layout, optionally pushing it.

Example::

    from moby_assemble.pkg import build, load_recipe

    recipe = load_recipe("components/dhcp")
    result = build(recipe, layout="out/oci", push="127.0.0.1:5000/moby-assemble/dhcp")
    print(result.reference, result.compressed_size, result.seconds)

.. versionadded:: 0.1
"""

from ._apt import DebRequest, DebSource, compare_versions, debian_architecture, default_cache_dir
from ._build import BuildResult, PackageRecord, build
from ._content import LayerContent
from ._deb import DebPackage, parse_control, read_ar
from ._modules import depmod, read_modinfo
from ._recipe import (
    FileSpec,
    ImageSettings,
    KernelLayout,
    PackageSpec,
    Recipe,
    load_recipe,
    parse_recipe,
)

__all__ = [
    "BuildResult",
    "DebPackage",
    "DebRequest",
    "DebSource",
    "FileSpec",
    "ImageSettings",
    "KernelLayout",
    "LayerContent",
    "PackageRecord",
    "PackageSpec",
    "Recipe",
    "build",
    "compare_versions",
    "debian_architecture",
    "default_cache_dir",
    "depmod",
    "load_recipe",
    "parse_control",
    "parse_recipe",
    "read_ar",
    "read_modinfo",
]
