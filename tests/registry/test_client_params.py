"""`RegistryClient.request(url=..., params=...)` keeps the query the registry put in a URL."""

from __future__ import annotations

import hashlib

from moby_assemble.registry import ImageReference, RegistryClient, push_scope
from moby_assemble.testing import LocalRegistry


def test_params_are_merged_into_an_upload_location_not_replacing_its_state(
    registry: LocalRegistry, client: RegistryClient
) -> None:
    ref = ImageReference.parse(f"{registry.host}/params/merge:1")
    data = b"a blob whose upload location carries _state"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = client.request("POST", ref, "blobs/uploads/", scopes=[push_scope(ref)], expect=(202,))
    location = start.headers["Location"]
    assert "_state=" in location  # distribution keeps upload state in the query
    done = client.request(
        "PUT",
        ref,
        "",
        url=location,
        params={"digest": digest},
        content=data,
        scopes=[push_scope(ref)],
        expect=(201,),
    )
    assert done.headers["Docker-Content-Digest"] == digest
    assert client.blob_exists(ref, digest)
