"""A minimal stand-in for the assembler, for testing moby-init before the assembler exists:
unpack built images into a root directory and lay out LinuxKit-style container bundles
(containers/<stage>/<NNN-name>/{config.json, runtime.json, lower, tmp, rootfs})."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from moby_assemble._label import label_of
from moby_assemble._model import Container
from moby_assemble._runtime_spec import oci_config
from moby_assemble.store import Store


def _image(store: Store, tag: str) -> tuple[dict[str, Any], list[Path]]:
    manifest = json.loads(store.read_blob(store.resolve(tag).digest))
    config = json.loads(store.read_blob(manifest["config"]["digest"]))
    layers = [store.blob_path(layer["digest"]) for layer in manifest["layers"]]
    return config, layers


def unpack(store: Store, tag: str, dest: Path) -> dict[str, Any]:
    """Unpack the layers of ``tag`` into ``dest`` with GNU tar (ownership kept as root);
    returns the image config."""
    config, layers = _image(store, tag)
    dest.mkdir(parents=True, exist_ok=True)
    for blob in layers:
        subprocess.run(
            ["tar", "-xzf", str(blob), "-C", str(dest), "--same-owner", "--numeric-owner"],
            check=True,
            timeout=300,
        )
    return config  # type: ignore[no-any-return]


def add_bundle(
    root: Path, store: Store, tag: str, container: Container, stage: str, index: int
) -> Path:
    """Lay out one container bundle under ``root`` (read-write containers only)."""
    name = f"{index:03d}-{container.name}" if stage != "services" else container.name
    rel = f"containers/{stage}/{name}"
    bundle = root / rel
    config = unpack(store, tag, bundle / "lower")
    (bundle / "rootfs").mkdir()
    (bundle / "tmp").mkdir()
    label = label_of(config["config"], image=container.image)
    generated = oci_config(
        container, label=label, image_config=config["config"], id_map={}
    ).with_rootfs_mounts(rel, lower=f"{rel}/lower")
    assert not generated.readonly
    (bundle / "config.json").write_bytes(generated.config_json())
    (bundle / "runtime.json").write_bytes(generated.runtime_json())
    return bundle
