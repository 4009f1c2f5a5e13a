"""The ``org.mobyproject.config`` image label: a component's default settings.

``linuxkit pkg build`` writes the ``config:`` section of a package's ``build.yml`` into this
label as JSON; hand-made images may use YAML. Either is read like LinuxKit's ``moby.NewImage``:
the same strict per-image schema as a container in the system YAML (unknown keys, wrong types
and ``null`` values are errors), and ``name`` or ``image`` in a label is an error. The parsing
itself is the model's (:func:`moby_assemble._yaml.image_config_from_label`), so a label and a
container entry in a YAML file can never be read differently; this module adds what the
assembler needs around it.

Example:
    >>> parse_label('{"capabilities": ["CAP_SYS_ADMIN"], "readonly": true}', image="x/y:1")
    ImageConfig(capabilities=('CAP_SYS_ADMIN',), readonly=True)
    >>> label_of({"Cmd": ["sh"], "Labels": {"other": "1"}}, image="x/y:1") is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError
from ._yaml import image_config_from_label

if TYPE_CHECKING:
    from ._model import ImageConfig

__all__ = ["LABEL", "label_of", "parse_label"]

#: The image label that carries a component's default settings.
LABEL = "org.mobyproject.config"


def parse_label(text: str, *, image: str) -> ImageConfig:
    """Parse the text of an ``org.mobyproject.config`` label (JSON or YAML).

    Args:
        text: the label's value.
        image: the image it came from; every error names it.

    Returns:
        The label's settings; fields the label does not mention are ``None``.

    Raises:
        ConfigError: the text is not a YAML/JSON object, has an unknown key, a value of the
            wrong type, or sets ``name``/``image``. The message names the image and the field
            (``path``), and the line for multi-line labels.

    Example:
        >>> parse_label("binds:\\n  - /var:/var\\n", image="linuxkit/mount:v1").binds
        ('/var:/var',)
    """
    if not text.strip():
        raise ConfigError(f"the {LABEL} label of {image} is empty", file=f"image {image}")
    return image_config_from_label(text, reference=image)


def label_of(image_config: Mapping[str, Any], *, image: str) -> ImageConfig | None:
    """The parsed label from an OCI image config's ``config`` object, or ``None``.

    As in LinuxKit's ``ConfigToOCI``, a missing or empty label means "no defaults".

    Args:
        image_config: the ``config`` object of the image's OCI config (with ``Labels``).
        image: the image, for errors.

    Raises:
        ConfigError: ``Labels`` is not an object of strings, or the label is invalid
            (see :func:`parse_label`).
    """
    labels = image_config.get("Labels")
    if labels is None:
        return None
    if not isinstance(labels, Mapping):
        raise ConfigError(f"the image config of {image} has Labels that are not an object")
    text = labels.get(LABEL)
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise ConfigError(f"the {LABEL} label of {image} is not a string")
    return parse_label(text, image=image)
