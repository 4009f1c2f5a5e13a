"""LinuxKit's ``ConfigToOCI`` as a library: container fields + image label + image config -> OCI
runtime ``config.json`` and LinuxKit's ``runtime.json``.

Users who only need the conversion (LinuxKit issue #2859 asked for exactly this) import it from
here; the assembler uses the same functions.

Example::

    >>> from moby_assemble import Container
    >>> from moby_assemble.runtime_spec import oci_config, config_json_bytes
    >>> bundle = oci_config(
    ...     Container("web", "registry.example/nginx:1.27", binds=["/var/data:/data"]),
    ...     label=None,
    ...     image_config={"Entrypoint": ["nginx"], "Cmd": ["-g", "daemon off;"]},
    ...     id_map={},
    ... )
    >>> bundle.spec["process"]["args"]
    ['nginx', '-g', 'daemon off;']
    >>> config_json_bytes(bundle.spec).endswith(b"}\\n")
    True

.. versionadded:: 0.1
"""

from ._label import LABEL, label_of, parse_label
from ._runtime_spec import (
    OCI_VERSION,
    RuntimeBundleConfig,
    allocate_ids,
    config_json_bytes,
    oci_config,
    rootfs_mounts,
)

__all__ = [
    "LABEL",
    "OCI_VERSION",
    "RuntimeBundleConfig",
    "allocate_ids",
    "config_json_bytes",
    "label_of",
    "oci_config",
    "parse_label",
    "rootfs_mounts",
]
