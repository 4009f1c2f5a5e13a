"""The org.mobyproject.config label: same schema as YAML, no name or image."""

from __future__ import annotations

import pytest

from moby_assemble import ConfigError
from moby_assemble._model import ImageConfig
from moby_assemble._yaml import image_config_from_label


def test_json_label_becomes_an_image_config() -> None:
    label = (
        '{"binds":["/etc/resolv.conf:/etc/resolv.conf"],"capabilities":["CAP_NET_ADMIN"],'
        '"net":"host","runtime":{"mkdir":["/var/lib/dhcpcd"]},"devices":[{"path":"all",'
        '"type":"b","major":0,"minor":0}],"sysctl":{"a.b":"1"}}'
    )
    cfg = image_config_from_label(label)
    assert cfg.binds == ("/etc/resolv.conf:/etc/resolv.conf",)
    assert cfg.runtime is not None
    assert cfg.runtime.mkdir == ("/var/lib/dhcpcd",)
    assert cfg.devices is not None
    assert cfg.devices[0].path == "all"
    assert type(cfg) is ImageConfig


def test_yaml_label_works_too() -> None:
    assert image_config_from_label("pid: host\nreadonly: true\n") == ImageConfig(
        pid="host", readonly=True
    )


@pytest.mark.parametrize("key", ["name", "image"])
def test_name_or_image_in_a_label_is_an_error(key: str) -> None:
    with pytest.raises(ConfigError, match=f"{key} cannot be set in the label") as info:
        image_config_from_label(f'{{"{key}": "x"}}', reference="docker.io/linuxkit/x:1")
    assert info.value.file == "label org.mobyproject.config of docker.io/linuxkit/x:1"


def test_label_errors_name_the_image_and_the_path() -> None:
    with pytest.raises(ConfigError) as info:
        image_config_from_label('{"binds": [1]}', reference="r:1")
    assert info.value.path == "binds[0]"
    assert "label org.mobyproject.config of r:1" in str(info.value)
    with pytest.raises(ConfigError, match="must be an object"):
        image_config_from_label("[1, 2]")
