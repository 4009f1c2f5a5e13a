"""Lock values: deterministic bytes, checksum, round trip, mismatches named, pinning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moby_assemble import (
    Container,
    File,
    InitImage,
    Kernel,
    LockError,
    LockMismatchError,
    Platform,
    System,
    Volume,
)
from moby_assemble._lock import Lock, LockedImage, pin_system, system_checksum

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def d(char: str) -> str:
    return "sha256:" + char * 64


def sample_system() -> System:
    return System(
        platform="linux/amd64",
        kernel=Kernel("registry.test/kernel:6.6", cmdline="console=ttyS0"),
        init=["registry.test/init:1", InitImage("registry.test/runc:1", role="runtime")],
        volumes=[Volume("data", image="registry.test/data:1"), Volume("blank")],
        onboot=[Container("dhcpcd", "registry.test/dhcpcd:1")],
        services=[Container("web", "registry.test/web:1")],
        files=[File("etc/motd", contents="hi\n", mode=0o644)],
    )


def sample_lock(system: System | None = None, platforms=(AMD64,)) -> Lock:
    system = system or sample_system()
    images = []
    for i, ref in enumerate(sorted(set(system.image_references()))):
        char = "0123456789abcdef"[i % 16]
        images.append(LockedImage(ref, d(char), INDEX, {str(p): d(char) for p in platforms}))
    return Lock(system_checksum(system), platforms, images)


def test_lock_json_is_sorted_indented_with_a_trailing_newline():
    lock = Lock(
        d("c"),
        [ARM64, AMD64],
        [
            LockedImage("r.test/b:1", d("b"), MANIFEST, {"linux/amd64": d("b")}),
            LockedImage(
                "r.test/a:1", d("a"), INDEX, {"linux/arm64": d("e"), "linux/amd64": d("f")}
            ),
        ],
    )
    assert lock.to_json() == (
        "{\n"
        f'  "checksum": "{d("c")}",\n'
        '  "images": {\n'
        '    "r.test/a:1": {\n'
        f'      "digest": "{d("a")}",\n'
        f'      "mediaType": "{INDEX}",\n'
        '      "platforms": {\n'
        f'        "linux/amd64": "{d("f")}",\n'
        f'        "linux/arm64": "{d("e")}"\n'
        "      }\n"
        "    },\n"
        '    "r.test/b:1": {\n'
        f'      "digest": "{d("b")}",\n'
        f'      "mediaType": "{MANIFEST}",\n'
        '      "platforms": {\n'
        f'        "linux/amd64": "{d("b")}"\n'
        "      }\n"
        "    }\n"
        "  },\n"
        '  "platforms": [\n'
        '    "linux/amd64",\n'
        '    "linux/arm64"\n'
        "  ],\n"
        '  "version": 1\n'
        "}\n"
    )


def test_the_same_pins_in_any_order_give_the_same_bytes():
    a = LockedImage("r.test/a:1", d("a"), INDEX, {"linux/arm64": d("e"), "linux/amd64": d("f")})
    b = LockedImage("r.test/b:1", d("b"), MANIFEST, [("linux/amd64", d("b"))])
    one = Lock(d("c"), [AMD64, ARM64], [a, b])
    two = Lock(d("c"), [ARM64, AMD64, ARM64], [b, a])
    assert one == two
    assert one.to_json() == two.to_json()


def test_round_trip_through_json_and_a_file(tmp_path: Path):
    lock = sample_lock()
    assert Lock.from_json(lock.to_json()) == lock
    path = lock.save(tmp_path / "system.lock.json")
    assert path.read_text() == lock.to_json()
    assert Lock.load(path) == lock
    assert not list(tmp_path.glob(".*tmp*"))  # the temp file was renamed into place


def test_checksum_ignores_how_the_system_was_written_and_sees_what_it_says():
    yaml_a = """\
services:
  - name: web
    image: registry.test/web:1   # a comment
    capabilities: [CAP_NET_ADMIN]
"""
    yaml_b = """\
services:
  - capabilities:
      - CAP_NET_ADMIN
    image: "registry.test/web:1"
    name: web
"""
    a = System.from_yaml(yaml_a, platform="linux/amd64")
    b = System.from_yaml(yaml_b, platform="linux/amd64")
    python = System(
        platform="linux/amd64",
        services=[Container("web", "registry.test/web:1", capabilities=["CAP_NET_ADMIN"])],
    )
    assert system_checksum(a) == system_checksum(b) == system_checksum(python)
    assert system_checksum(a).startswith("sha256:")
    assert system_checksum(a.replace("web", capabilities=["CAP_SYS_ADMIN"])) != system_checksum(a)
    assert system_checksum(a.with_platform("linux/arm64")) != system_checksum(a)


def test_made_from_tells_whether_the_lock_was_made_from_exactly_this_system():
    system = sample_system()
    lock = sample_lock(system)
    assert lock.made_from(system)
    changed = system.replace("web", command=["/bin/other"])
    assert not lock.made_from(changed)
    # same images: the lock still pins everything, so it is no mismatch
    lock.check(changed)


def test_a_changed_image_is_a_mismatch_naming_the_field_and_reference():
    system = sample_system()
    lock = sample_lock(system)
    changed = system.replace("web", image="registry.test/web:2")
    with pytest.raises(LockMismatchError) as info:
        lock.check(changed, file="system.lock.json")
    assert info.value.differences == ("services[0].image: registry.test/web:2 is not in the lock",)
    assert "system.lock.json" in str(info.value)
    assert "services[0].image" in str(info.value)
    assert info.value.file == "system.lock.json"


def test_a_platform_the_lock_does_not_pin_is_a_mismatch():
    system = sample_system().with_platform("linux/arm64")
    with pytest.raises(LockMismatchError, match="platform linux/arm64 is not in the lock"):
        sample_lock().check(system)


def test_an_image_without_a_pin_for_a_platform_is_a_mismatch():
    system = sample_system()
    lock = sample_lock(system, platforms=(AMD64, ARM64))
    images = [
        LockedImage(
            i.reference, i.digest, i.media_type, [m for m in i.manifests if "arm64" not in m[0]]
        )
        if i.reference.endswith("web:1")
        else i
        for i in lock.images
    ]
    partial = Lock(lock.checksum, lock.platforms, images)
    assert partial.differences(system, [ARM64]) == (
        "services[0].image: registry.test/web:1 has no pin for platform linux/arm64",
    )
    assert partial.differences(system, [AMD64]) == ()


def test_a_system_pinned_to_another_digest_than_the_lock_is_a_mismatch():
    system = sample_system()
    lock = sample_lock(system)
    web = lock.image("registry.test/web:1")
    assert web is not None
    other = "registry.test/web:1@" + d("9")
    images = [*lock.images, LockedImage(other, web.digest, INDEX, web.manifests)]
    lock = Lock(lock.checksum, lock.platforms, images)
    differences = lock.differences(system.replace("web", image=other))
    assert differences == (
        f"services[0].image: {other} is pinned to {d('9')} in the system but to "
        f"{web.digest} in the lock",
    )


def test_pins_of_images_the_system_no_longer_uses_are_harmless():
    system = sample_system()
    lock = sample_lock(system)
    smaller = system.without("web")
    assert lock.differences(smaller) == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "a lock is a JSON object"),
        ('{"version": 2}', "unsupported lock version 2"),
        ('{"version": 1, "checksum": "sha256:x", "images": {}, "platforms": []}', "checksum"),
        (
            '{"version": 1, "checksum": "' + d("a") + '", "images": {}, "platforms": [], "x": 1}',
            "unknown key 'x'",
        ),
        (
            '{"version": 1, "checksum": "' + d("a") + '", "images": {"r.test/a:1": '
            '{"digest": "' + d("a") + '", "mediaType": "m", "platforms": {"linux/amd64": 5}}}, '
            '"platforms": ["linux/amd64"]}',
            'images["r.test/a:1"].platforms',
        ),
        (
            '{"version": 1, "checksum": "' + d("a") + '", "images": {}, "platforms": ["/"]}',
            "platforms[0]",
        ),
    ],
)
def test_a_malformed_lock_is_a_lock_error_naming_the_file_and_field(text: str, message: str):
    with pytest.raises(LockError) as info:
        Lock.from_json(text, file="x.lock.json")
    assert message in str(info.value)
    assert str(info.value).startswith("x.lock.json")
    assert info.value.file == "x.lock.json"
    assert not isinstance(info.value, LockMismatchError)


def test_loading_a_missing_lock_file_names_it(tmp_path: Path):
    with pytest.raises(LockError, match=r"cannot read lock .*nope\.json"):
        Lock.load(tmp_path / "nope.json")


def test_pin_system_pins_every_image_and_keeps_the_tag_readable():
    system = sample_system()
    lock = sample_lock(system)
    pinned = pin_system(system, lock)
    assert pinned.kernel is not None
    assert (
        pinned.kernel.image
        == "registry.test/kernel:6.6@" + lock.digests()["registry.test/kernel:6.6"]
    )
    assert pinned.init[1].role.value == "runtime"
    assert all("@sha256:" in ref for ref in pinned.image_references())
    assert pinned.volumes[1].image is None
    assert pinned.services[0].name == "web"
    assert pinned.files == system.files
    # pinning a pinned system changes nothing, and the lock still matches it
    assert (
        pin_system(
            pinned,
            Lock(
                lock.checksum,
                lock.platforms,
                [LockedImage(i.pinned, i.digest, i.media_type, i.manifests) for i in lock.images],
            ),
        )
        == pinned
    )


def test_pin_system_refuses_a_lock_that_lacks_an_image():
    system = sample_system()
    lock = sample_lock(system.without("web"))
    with pytest.raises(LockMismatchError, match=r"services\[0\].image"):
        pin_system(system, lock)


def test_lock_shows_itself_in_notebooks_and_ipython():
    lock = sample_lock()
    html = lock._repr_html_()
    assert "<table>" in html
    assert "registry.test/web:1" in html
    assert "linux/amd64" in html

    class Printer:
        def __init__(self) -> None:
            self.out = ""

        def text(self, s: str) -> None:
            self.out += s

    p = Printer()
    lock._repr_pretty_(p, False)
    assert p.out.splitlines()[0] == repr(lock)
    assert any("registry.test/web:1  linux/amd64" in line for line in p.out.splitlines())
    assert json.loads(lock.to_json())["version"] == 1
