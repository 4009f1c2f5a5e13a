"""Fixtures of the assembler tests: component images built in-test and pushed to the real
registry, and a LinuxKit YAML system that uses all of them.

Images are made with :mod:`moby_assemble.testing` and pushed with the project's own
``push_from_store`` (the registry tests cover the pusher; here it is just a way in).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from moby_assemble import System
from moby_assemble.registry import ImageReference, RegistryClient
from moby_assemble.registry._push import push_from_store
from moby_assemble.store import Store
from moby_assemble.testing import Image, ImageIndex, ImageSet, Layer, LocalRegistry

LABEL = "org.mobyproject.config"


def tar_of(files: Mapping[str, bytes]) -> bytes:
    """A plain tar (like a kernel image's ``kernel.tar``) of regular files and their dirs."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name, data in files.items():
            parts = name.split("/")[:-1]
            for i in range(len(parts)):
                d = "/".join(parts[: i + 1])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = 1_600_000_000
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def push_image(
    registry: LocalRegistry, client: RegistryClient, built: ImageSet, name: str, work: Path
) -> str:
    """Push ``built`` to ``registry`` as ``name`` (``repo:tag``); returns the reference."""
    layout = work / ("layout-" + name.replace("/", "_").replace(":", "_"))
    built.write_oci_layout(layout, "image")
    store = Store(layout)
    ref = ImageReference.parse(f"{registry.host}/{name}")
    push_from_store(client, store, store.resolve("image"), ref)
    return str(ref)


@attrs.frozen
class Components:
    """References of the pushed test images."""

    kernel: str
    init: str
    runc: str
    tool: str
    shutdown: str
    web: str
    web2: str
    sshd: str
    data: str
    multi: str
    multi_set: ImageSet


def kernel_image() -> Image:
    modules = tar_of(
        {
            "lib/modules/6.6.0/modules.dep": b"kernel/fs/overlay.ko:\n",
            "lib/modules/6.6.0/kernel/fs/overlay.ko": b"\x7fELF overlay",
        }
    )
    layer = (
        Layer()
        .file("kernel", b"MZ fake bzImage", mode=0o644, mtime=1_650_000_000)
        .file("kernel.tar", modules, mtime=1_650_000_000)
        .file("ucode.cpio", b"070701 fake microcode", mtime=1_650_000_000)
        .file("kernel-headers.tar", b"not used", mtime=1_650_000_000)
    )
    return Image([layer])


def init_image() -> Image:
    base = (
        Layer()
        .dir("etc")
        .file("etc/issue", b"init one\n")
        .file("etc/os-release", b"ID=test\n")
        .file("etc/obsolete", b"removed by the upper layer\n")
        .file("etc/hosts", b"10.0.0.1 wrong\n")
        .file("etc/resolv.conf", b"nameserver 10.0.0.53\n")
        .file("etc/hostname", b"builder\n")
        .file(".dockerenv", b"")
        .dir("bin")
        .file("bin/busybox", b"\x7fELF busybox", mode=0o755)
        .symlink("bin/sh", "busybox")
        .dir("lib/apk/db")
        .file("lib/apk/db/installed", b"P:busybox\nV:1.36\n")
    )
    upper = Layer().whiteout("etc/obsolete").file("etc/inittab", b"::sysinit:/bin/rc.init\n")
    return Image([base, upper])


def runc_image() -> Image:
    layer = (
        Layer()
        .dir("etc")
        .file("etc/issue", b"runc wins\n")
        .dir("usr/bin")
        .file("usr/bin/runc", b"\x7fELF runc", mode=0o755)
        .dir("lib/apk/db")
        .file("lib/apk/db/installed", b"P:runc\nV:1.1\n")
    )
    return Image([layer])


def container_image(binary: str, label: Mapping[str, Any] | None, **config: Any) -> Image:
    layer = Layer().dir("bin").file(f"bin/{binary}", f"#!{binary}\n".encode(), mode=0o755)
    labels = {LABEL: json.dumps(label)} if label is not None else {}
    return Image([layer], config={"Cmd": [f"/bin/{binary}"], **config}, labels=labels)


@pytest.fixture(scope="session")
def components(
    registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Components]:
    """Every component image, pushed once per test session."""
    work = tmp_path_factory.mktemp("assemble-images")
    multi = ImageIndex(
        (
            container_image("multi", None, Env=["ARCH=amd64"]),
            attrs.evolve(
                container_image("multi", None, Env=["ARCH=arm64"]), platform="linux/arm64"
            ),
        ),
        attestation=True,
    ).build()
    with RegistryClient() as client:

        def push(image: Image | ImageSet, name: str) -> str:
            built = image.build() if isinstance(image, Image) else image
            return push_image(registry, client, built, f"asm/{name}", work)

        yield Components(
            kernel=push(kernel_image(), "kernel:6.6"),
            init=push(init_image(), "init:1"),
            runc=push(runc_image(), "runc:1"),
            tool=push(
                container_image(
                    "tool", {"capabilities": ["CAP_SYS_ADMIN"], "binds": ["/dev:/dev"]}
                ),
                "tool:1",
            ),
            shutdown=push(container_image("bye", None), "shutdown:1"),
            web=push(container_image("web", {"capabilities": ["CAP_NET_BIND_SERVICE"]}), "web:1"),
            web2=push(container_image("web2", {"capabilities": ["CAP_NET_BIND_SERVICE"]}), "web:2"),
            sshd=push(container_image("sshd", {"readonly": True, "pid": "host"}), "sshd:1"),
            data=push(Image([Layer().dir("seed").file("seed/rows.csv", b"a,b\n")]), "data:1"),
            multi=push(multi, "multi:1"),
            multi_set=multi,
        )


def system_yaml(c: Components, *, web: str | None = None) -> str:
    """A LinuxKit YAML using every component (``web`` swaps the web service's image)."""
    return f"""\
kernel:
  image: {c.kernel}
  cmdline: "console=ttyS0 quiet"
  ucode: ucode.cpio
init:
  - {c.init}
  - {c.runc}
volumes:
  - name: data
    image: {c.data}
onboot:
  - name: format
    image: {c.tool}
    readonly: true
  - name: mount
    image: {c.tool}
onshutdown:
  - name: bye
    image: {c.shutdown}
services:
  - name: web
    image: {web or c.web}
    binds:
      - data:/srv/data
  - name: sshd
    image: {c.sshd}
files:
  - path: etc/motd
    contents: "welcome\\n"
    mode: "0644"
  - path: etc/web.conf
    contents: "listen 80\\n"
    mode: "0640"
    uid: web
    gid: web
  - path: usr/local/bin/sh
    symlink: /bin/busybox
  - path: var/lib/web/cache
    directory: true
    mode: "0750"
    uid: web
  - path: etc/banner
    source: assets/banner.txt
  - path: etc/absent
    source: assets/missing.txt
    optional: true
  - path: etc/linuxkit.yml
    metadata: yaml
"""


@pytest.fixture
def system_file(tmp_path: Path, components: Components) -> Path:
    """The system YAML in its own directory, with ``assets/banner.txt`` next to it."""
    directory = tmp_path / "config"
    (directory / "assets").mkdir(parents=True)
    (directory / "assets" / "banner.txt").write_bytes(b"from the source file\n")
    path = directory / "linuxkit.yml"
    path.write_text(system_yaml(components))
    return path


@pytest.fixture
def system(system_file: Path) -> System:
    return System.from_yaml(system_file, platform="linux/amd64")


SCHEMA_DIR = Path(__file__).resolve().parents[3] / "shared/fixtures/runtime-spec-schema"


@pytest.fixture(scope="session")
def config_schema() -> Draft4Validator:
    """A validator for config.json (the runtime-spec schema with its $ref'd files)."""
    if not (SCHEMA_DIR / "config-schema.json").is_file():
        pytest.fail(f"runtime-spec schema not found at {SCHEMA_DIR}")
    registry: Registry[Any] = Registry().with_resources(
        (p.as_uri(), Resource.from_contents(json.loads(p.read_text()), DRAFT4))
        for p in SCHEMA_DIR.glob("*.json")
    )
    entry = SCHEMA_DIR / "config-schema.json"
    return Draft4Validator(
        dict(json.loads(entry.read_text()), id=entry.as_uri()), registry=registry
    )


@attrs.frozen
class Member:
    """One tar member as a test sees it."""

    name: str
    type: str  # "file", "dir", "symlink", "hardlink", other
    mode: int
    uid: int
    gid: int
    mtime: float
    linkname: str
    data: bytes
    source: str | None
    location: str | None


def read_members(path: Path) -> list[Member]:
    """Every member of a tar, in order, with data and LinuxKit PAX records (stdlib tarfile,
    so the output is also checked by an independent reader)."""
    out = []
    with tarfile.open(path) as tar:
        for m in tar:
            kind = (
                "file" if m.isreg() else "dir" if m.isdir() else "symlink" if m.issym()
                else "hardlink" if m.islnk() else m.type.decode()
            )  # fmt: skip
            f = tar.extractfile(m) if m.isreg() else None
            out.append(
                Member(
                    m.name,
                    kind,
                    m.mode,
                    m.uid,
                    m.gid,
                    m.mtime,
                    m.linkname,
                    f.read() if f is not None else b"",
                    m.pax_headers.get("LINUXKIT.source"),
                    m.pax_headers.get("LINUXKIT.location"),
                )
            )
    return out


def last(members: list[Member], name: str) -> Member:
    """The member called ``name`` that wins on extraction (the last one)."""
    found = [m for m in members if m.name == name]
    assert found, f"{name} is not in the tar"
    return found[-1]
