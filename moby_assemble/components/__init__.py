"""The standard catalog as typed factory functions, by role.

Each factory returns a model value (:class:`~moby_assemble.Kernel`, ``InitImage`` or
``Container``) whose image defaults to ``localhost:5000/moby-assemble/<name>:<version>``
(:data:`DEFAULT_REGISTRY`) and can be pointed elsewhere with ``registry=``, ``tag=`` or a full
``image=`` reference. The images are built from the recipes in the repository's top-level
``components/`` folder with :func:`moby_assemble.pkg.build` (or :func:`build_catalog`).

Example::

    from moby_assemble.components import init, kernel, network, runtime, services, storage

    k = kernel.debian_cloud(cmdline="console=ttyS0")
    boot = [init.base(), runtime.runc()]
    onboot = [network.dhcp(), storage.format("/dev/vda"), storage.mount("/dev/vda", "/var/data")]
    svcs = [services.getty(), services.demo(data="/var/data")]

========  =================================================  ==============
role      factory                                            stage
========  =================================================  ==============
kernel    ``kernel.debian_cloud(cmdline=...)``               (kernel)
init      ``init.base()``                                    init
runtime   ``runtime.runc()``                                 init
network   ``network.dhcp(interface=None)``                   onboot
storage   ``storage.format(device)``                         onboot
storage   ``storage.mount(device, path)``                    onboot
service   ``services.getty()``                               services
service   ``services.demo(data="/var/data")``                services
bootldr   ``bootloader.syslinux()``, ``bootloader.efi()``    init (files for the disk/ISO formats)
========  =================================================  ==============

Components are also looked up by name (:func:`get_component`), which includes third-party
factories registered in-process (:func:`register_component`) or declared in the entry point
group ``moby_assemble.components``.

.. versionadded:: 0.1
"""

from . import bootloader, init, kernel, network, runtime, services, storage
from ._catalog import (
    CATALOG,
    DEFAULT_REGISTRY,
    CatalogEntry,
    build_catalog,
    image_reference,
    recipe_dir,
)
from ._registry import (
    COMPONENT_ENTRY_POINT_GROUP,
    ComponentFactory,
    available_components,
    get_component,
    register_component,
    unregister_component,
)

__all__ = [
    "CATALOG",
    "COMPONENT_ENTRY_POINT_GROUP",
    "DEFAULT_REGISTRY",
    "CatalogEntry",
    "ComponentFactory",
    "available_components",
    "bootloader",
    "build_catalog",
    "get_component",
    "image_reference",
    "init",
    "kernel",
    "network",
    "recipe_dir",
    "register_component",
    "runtime",
    "services",
    "storage",
    "unregister_component",
]
