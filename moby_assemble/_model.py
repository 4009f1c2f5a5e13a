"""The system model: what a LinuxKit-style system is made of, as immutable values (no I/O).

The component classes live in :mod:`._model_components` and the small value types in
:mod:`._model_values`; they are re-exported here so the rest of the library imports the model
from one place.
"""

from __future__ import annotations

from ._model_components import (
    IMAGE_CONFIG_FIELDS,
    Container,
    File,
    ImageConfig,
    InitImage,
    Kernel,
    Role,
    Stage,
    Volume,
    yaml_key,
)
from ._model_values import (
    BindNS,
    Device,
    FrozenDict,
    IDMapping,
    Interface,
    JSONObject,
    JSONValue,
    Mount,
    Runtime,
)

__all__ = [
    "IMAGE_CONFIG_FIELDS",
    "BindNS",
    "Container",
    "Device",
    "File",
    "FrozenDict",
    "IDMapping",
    "ImageConfig",
    "InitImage",
    "Interface",
    "JSONObject",
    "JSONValue",
    "Kernel",
    "Mount",
    "Role",
    "Runtime",
    "Stage",
    "Volume",
    "yaml_key",
]
