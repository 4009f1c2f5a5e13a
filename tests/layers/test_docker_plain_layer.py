"""Docker's uncompressed layer media type is read like an OCI plain tar layer."""

from __future__ import annotations

import io

from moby_assemble._oci import MediaType
from moby_assemble.layers import TarEntry, TarWriter, open_layer, read_tar


def test_docker_uncompressed_layer_media_type_is_a_plain_tar() -> None:
    buf = io.BytesIO()
    writer = TarWriter(buf)
    writer.add(TarEntry("etc/motd", size=3), b"hi\n")
    writer.close()
    stream = open_layer(io.BytesIO(buf.getvalue()), MediaType.DOCKER_LAYER)
    assert [(e.name, e.read()) for e in read_tar(stream)] == [("etc/motd", b"hi\n")]
