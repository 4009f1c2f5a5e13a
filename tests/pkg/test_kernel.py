"""The catalog kernel: Debian's cloud kernel in LinuxKit's layout, with a modules.dep that
agrees with `busybox depmod` (downloads ~27 MB and moves ~100 MB: slow)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from moby_assemble.pkg import build
from moby_assemble.store import Store

from .conftest import COMPONENTS

pytestmark = pytest.mark.slow


def parse_dep(text: str) -> dict[str, set[str]]:
    return {line.split(":", 1)[0]: set(line.split(":", 1)[1].split()) for line in text.splitlines()}


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
def test_kernel_image_layout_and_modules_dep(debs_dir: Path, tmp_path: Path) -> None:
    result = build(COMPONENTS / "kernel", debs_dir=debs_dir, layout=tmp_path / "oci")
    (package,) = result.packages
    assert package.name.startswith("linux-image-6.1.0-")
    assert package.name.endswith("-cloud-amd64")
    assert package.via is not None
    assert package.via.startswith("linux-image-cloud-amd64=")
    store = Store(tmp_path / "oci")
    manifest = json.loads(store.read_blob(result.digest))
    (layer,) = manifest["layers"]
    with tarfile.open(store.blob_path(layer["digest"]), "r:gz") as tf:
        assert tf.getnames() == ["kernel", "kernel.tar"]
        kernel = tf.extractfile("kernel").read()  # type: ignore[union-attr]
        modules_tar = tf.extractfile("kernel.tar").read()  # type: ignore[union-attr]
    assert kernel[0x202:0x206] == b"HdrS"  # an x86 bzImage
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(fileobj=io.BytesIO(modules_tar)) as tf:
        names = tf.getnames()
        assert names[:2] == ["lib", "lib/modules"]
        assert names == sorted(names)
        assert all(m.mtime == 0 and m.uid == 0 for m in tf.getmembers())
        tf.extractall(root, filter="tar")
    (version_dir,) = (root / "lib/modules").iterdir()
    ours_dep = (version_dir / "modules.dep").read_text()
    ours_alias = set((version_dir / "modules.alias").read_text().splitlines())
    subprocess.run(
        ["busybox", "depmod", "-b", str(root), version_dir.name], check=True, timeout=120
    )
    theirs = parse_dep((version_dir / "modules.dep").read_text())
    assert parse_dep(ours_dep) == theirs
    assert len(theirs) > 500
    assert {"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"} <= theirs[
        "kernel/drivers/net/virtio_net.ko"
    ]
    assert ours_alias == set((version_dir / "modules.alias").read_text().splitlines())
    # Same packages, same image.
    again = build(COMPONENTS / "kernel", debs_dir=debs_dir, layout=tmp_path / "oci2", apt=False)
    assert again.digest == result.digest
