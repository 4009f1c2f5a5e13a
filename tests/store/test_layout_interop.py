"""skopeo and umoci read the layouts the store writes, and the store reads theirs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from moby_assemble._oci import MediaType
from moby_assemble.store import Store, parse_layout_reference

from .conftest import require_tool
from .images import build_image, build_index


def _run(*args: str) -> str:
    done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=120)
    return done.stdout


def test_skopeo_inspects_an_image_the_store_wrote(tmp_path: Path) -> None:
    skopeo = require_tool("skopeo")
    store = Store(tmp_path / "layout")
    image = build_image(store, {"hello.txt": b"hi\n"}, tag="v1", platform="linux/arm64")
    info = json.loads(_run(skopeo, "inspect", f"oci:{store.path}:v1"))
    assert info["Digest"] == image.manifest.digest
    assert info["Architecture"] == "arm64"
    assert info["Os"] == "linux"
    assert info["Layers"] == [image.layers[0].digest]
    raw = _run(skopeo, "inspect", "--raw", f"oci:{store.path}:v1").encode()
    assert raw == store.read_blob(image.manifest.digest)


def test_umoci_unpacks_an_image_the_store_wrote(tmp_path: Path) -> None:
    umoci = require_tool("umoci")
    store = Store(tmp_path / "layout")
    build_image(store, {"etc/motd": b"welcome\n", "hello.txt": b"hi\n"}, tag="v1")
    bundle = tmp_path / "bundle"
    _run(umoci, "unpack", "--rootless", "--image", f"{store.path}:v1", str(bundle))
    assert (bundle / "rootfs" / "hello.txt").read_bytes() == b"hi\n"
    assert (bundle / "rootfs" / "etc" / "motd").read_bytes() == b"welcome\n"
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["/bin/sh"]
    # umoci did not find anything to object to in our extra files (ingest/, locks).
    assert store.verify() == ()


def test_skopeo_copies_an_index_between_layouts_and_the_store_reads_the_copy(
    tmp_path: Path,
) -> None:
    skopeo = require_tool("skopeo")
    src = Store(tmp_path / "src")
    amd = build_image(src, {"a": b"amd64"}, platform="linux/amd64")
    arm = build_image(src, {"a": b"arm64"}, platform="linux/arm64")
    index = build_index(src, [amd.manifest, arm.manifest], tag="multi")
    dest = tmp_path / "copied"
    _run(skopeo, "copy", "--all", "--preserve-digests", f"oci:{src.path}:multi", f"oci:{dest}:m")

    copied = Store(dest, offline=True)
    desc = copied.resolve("m")
    assert (desc.media_type, desc.digest) == (MediaType.OCI_INDEX, index.digest)
    assert copied.verify(complete=True) == ()
    layer = arm.layers[0]
    with copied.open_blob(layer.digest) as f:
        assert f.read() == src.read_blob(layer.digest)
    # And through an oci-layout: reference, as a user would name it.
    ref = parse_layout_reference(f"oci-layout:{dest}:m")
    assert ref.resolve().digest == index.digest
    # Our own writes into the layout skopeo made keep it readable by skopeo.
    copied_rw = Store(dest)
    copied_rw.tag("again", desc)
    assert copied_rw.gc().removed == ()
    out = _run(skopeo, "inspect", "--raw", f"oci:{dest}:again")
    assert json.loads(out)["mediaType"] == MediaType.OCI_INDEX
