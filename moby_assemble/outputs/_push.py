"""``push``: the bootable system published to a registry as an OCI artifact, and pulled back.

The artifact is what ``oras push`` would make of the ``kernel+initrd`` files: an OCI image
manifest with ``artifactType`` :data:`SYSTEM_ARTIFACT_TYPE`, the empty config, and one layer
per boot file, each annotated with its file name (``org.opencontainers.image.title``):

- ``<name>-kernel``: the kernel binary, media type
  ``application/vnd.mobyproject.system.kernel.v1``;
- ``<name>-initrd.img``: the initrd as booted (microcode, then the compressed cpio),
  ``application/vnd.mobyproject.system.initrd.v1+gzip`` (``+zstd``; no suffix when
  uncompressed);
- ``<name>-cmdline``: the kernel command line,
  ``application/vnd.mobyproject.system.cmdline.v1``.

So ``oras pull <ref>`` yields exactly the files of the ``kernel+initrd`` output, and
:func:`pull_system` gets them back for booting, choosing each by media type. Blobs stream
from disk (memory does not grow with the initrd), and the tag is set last, so the tag never
points at an incomplete system. The manifest is dated ``source_date_epoch``: pushing the
same system twice gives the same digest.

Example::

    with RegistryClient() as client:
        desc = push_system(client, "127.0.0.1:5000/systems/web:1", boot_files)
        files = pull_system(client, "127.0.0.1:5000/systems/web:1", "boot/")
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from .._errors import OutputError, UnsupportedError
from .._oci import EMPTY_DESCRIPTOR, Descriptor, MediaType
from ..registry import ImageReference, RegistryClient
from ..registry._push import ORAS_TITLE, push_blob, push_bytes, push_manifest
from ..trust import PrivateKey, sign_image
from ._atomic import AtomicOutput, check_output_name
from ._boot import KernelInitrdFormat
from ._format import BundleView
from ._oci_image import rfc3339

__all__ = [
    "CMDLINE_MEDIA_TYPE",
    "INITRD_MEDIA_TYPES",
    "KERNEL_MEDIA_TYPE",
    "SYSTEM_ARTIFACT_TYPE",
    "BootFiles",
    "PushFormat",
    "pull_system",
    "push_system",
]

#: ``artifactType`` of a pushed system.
SYSTEM_ARTIFACT_TYPE = "application/vnd.mobyproject.system.v1"
KERNEL_MEDIA_TYPE = "application/vnd.mobyproject.system.kernel.v1"
CMDLINE_MEDIA_TYPE = "application/vnd.mobyproject.system.cmdline.v1"
#: initrd media type by compression.
INITRD_MEDIA_TYPES: Mapping[str, str] = {
    "gzip": "application/vnd.mobyproject.system.initrd.v1+gzip",
    "zstd": "application/vnd.mobyproject.system.initrd.v1+zstd",
    "none": "application/vnd.mobyproject.system.initrd.v1",
}
_CREATED = "org.opencontainers.image.created"
_CHUNK = 1 << 20


@attrs.frozen
class BootFiles:
    """The files that boot a system: kernel, initrd and command line.

    Attributes:
        kernel, initrd, cmdline: their paths.
        initrd_compression: ``"gzip"``, ``"zstd"`` or ``"none"``.
    """

    kernel: Path
    initrd: Path
    cmdline: Path
    initrd_compression: str = "gzip"


def _reference(reference: ImageReference | str, format: str) -> ImageReference:
    if isinstance(reference, ImageReference):
        return reference
    if not isinstance(reference, str) or not reference:
        raise OutputError(f"{format}: a target reference is needed (reference=...)", format=format)
    return ImageReference.parse(reference)


def _file_descriptor(path: Path, media_type: str) -> Descriptor:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    desc = Descriptor(media_type, f"sha256:{digest.hexdigest()}", size)
    return desc.with_annotations(**{ORAS_TITLE: path.name})


def _opener(path: Path) -> Callable[[], BinaryIO]:
    def open_file() -> BinaryIO:
        return open(path, "rb")  # push_blob closes what it opens

    return open_file


def push_system(
    client: RegistryClient,
    reference: ImageReference | str,
    files: BootFiles,
    *,
    created: int = 0,
    annotations: Mapping[str, str] | None = None,
) -> Descriptor:
    """Push boot files as a system artifact; return the manifest's descriptor.

    Layer titles are the files' names. Blobs go first (streamed from disk, skipped if the
    repository has them), then the manifest by digest, then the tag of ``reference``.

    Args:
        client: the registry client.
        reference: where to push (``host/repo:tag``).
        files: the kernel, initrd and cmdline files.
        created: the ``org.opencontainers.image.created`` time (seconds since the epoch).
        annotations: more manifest annotations.

    Raises:
        RegistryError: the registry refused.
        OutputError: an unknown initrd compression, or an invalid reference.
    """
    ref = _reference(reference, "push")
    initrd_type = INITRD_MEDIA_TYPES.get(files.initrd_compression)
    if initrd_type is None:
        raise OutputError(
            f"push: unknown initrd compression {files.initrd_compression!r}", format="push"
        )
    target = attrs.evolve(ref, digest=None)
    push_bytes(client, target, EMPTY_DESCRIPTOR, b"{}")
    layers = []
    for path, media_type in (
        (files.kernel, KERNEL_MEDIA_TYPE),
        (files.initrd, initrd_type),
        (files.cmdline, CMDLINE_MEDIA_TYPE),
    ):
        desc = _file_descriptor(Path(path), media_type)
        push_blob(client, target, desc, _opener(Path(path)))
        layers.append(desc.to_json())
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "artifactType": SYSTEM_ARTIFACT_TYPE,
        "config": attrs.evolve(EMPTY_DESCRIPTOR, data=None).to_json(),
        "layers": layers,
        "annotations": {_CREATED: rfc3339(created), **dict(annotations or {})},
    }
    data = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return push_manifest(client, target, data, MediaType.OCI_MANIFEST)


class _FileSink:
    """A BlobSink writing one file (what ``RegistryClient.fetch_blob`` streams into)."""

    def __init__(self, f: Any) -> None:
        self._f = f

    @property
    def offset(self) -> int:
        return int(self._f.tell())

    def write(self, data: bytes) -> None:
        self._f.write(data)

    def reset(self) -> None:
        self._f.seek(0)
        self._f.truncate()


def pull_system(
    client: RegistryClient,
    reference: ImageReference | str,
    directory: str | os.PathLike[str],
) -> BootFiles:
    """Pull a system artifact's boot files into ``directory``, verified, under their titles.

    Raises:
        UnsupportedError: the manifest is not a system artifact, lacks one of the files, or
            a title is not a plain file name.
        RegistryError: the registry refused; IntegrityError: a blob does not match.
    """
    ref = _reference(reference, "push")
    manifest = client.get_manifest(ref, accept=(MediaType.OCI_MANIFEST,))
    if manifest.json.get("artifactType") != SYSTEM_ARTIFACT_TYPE:
        raise UnsupportedError(
            f"{ref} is not a system artifact (artifactType "
            f"{manifest.json.get('artifactType')!r}, expected {SYSTEM_ARTIFACT_TYPE!r})",
            registry=ref.registry,
            reference=str(ref),
        )
    roles = {KERNEL_MEDIA_TYPE: "kernel", CMDLINE_MEDIA_TYPE: "cmdline"}
    roles.update({t: "initrd" for t in INITRD_MEDIA_TYPES.values()})
    chosen: dict[str, Descriptor] = {}
    for layer in manifest.layers:
        role = roles.get(layer.media_type)
        if role is not None and role not in chosen:
            chosen[role] = layer
    missing = sorted({"kernel", "initrd", "cmdline"} - set(chosen))
    if missing:
        raise UnsupportedError(
            f"{ref}: system artifact {manifest.digest} has no {', '.join(missing)}",
            registry=ref.registry,
            reference=str(ref),
        )
    paths: dict[str, Path] = {}
    with AtomicOutput(directory, format="push") as out:
        for role in ("kernel", "initrd", "cmdline"):
            desc = chosen[role]
            title = desc.annotation_dict.get(ORAS_TITLE) or f"{role}"
            try:
                check_output_name(title, format="push")
            except OutputError:
                raise UnsupportedError(
                    f"{ref}: layer {desc.digest} has an unsafe title {title!r}",
                    registry=ref.registry,
                    reference=str(ref),
                ) from None
            with out.open(title) as f:
                client.fetch_blob(ref, desc, _FileSink(f))
            paths[role] = out.directory / title
    compression = next(c for c, t in INITRD_MEDIA_TYPES.items() if t == chosen["initrd"].media_type)
    return BootFiles(paths["kernel"], paths["initrd"], paths["cmdline"], compression)


def _signing_key(
    key: PrivateKey | str | os.PathLike[str] | None, password: str | bytes | None
) -> PrivateKey | None:
    """The ``sign_key`` option as a key (read from its file if it is a path).

    Raises:
        ConfigError: the file cannot be read, is not a private key, or the password is wrong
            (the message names the file, never the password).
        OutputError: ``sign_key`` is neither a key nor a path.
    """
    if key is None or isinstance(key, PrivateKey):
        return key
    if not isinstance(key, (str, os.PathLike)):
        raise OutputError(
            f"push: sign_key must be a PrivateKey or a key file path, not {type(key).__name__}",
            format="push",
        )
    raw = password.encode() if isinstance(password, str) else password
    return PrivateKey.load(Path(key), password=raw)


class PushFormat:
    """``push``: build the ``kernel+initrd`` files and push them as a system artifact.

    Nothing stays on disk but ``<name>.pushed``, one line: the pushed reference pinned to
    the manifest digest (``host/repo:tag@sha256:…``), for scripts.

    Options:
        reference: where to push (required), ``host/repo:tag``.
        client: the :class:`~moby_assemble.registry.RegistryClient` to use (default: a new
            one with Docker's credential configuration).
        compression, compression_level: of the initrd, as for ``kernel+initrd``.
        annotations: extra manifest annotations.
        sign_key: sign the pushed artifact, in both of cosign's layouts (what
            ``cosign verify --key`` accepts), with this
            :class:`~moby_assemble.trust.PrivateKey` or the path of a key file
            (``cosign.key`` or PEM).
        sign_key_password: the password of the ``sign_key`` file (``str`` or ``bytes``;
            none means the empty password, as for ``cosign generate-key-pair``).

    Signing example::

        bundle.write("out/", formats=["push"], reference="127.0.0.1:5000/systems/web:1",
                     sign_key="cosign.key", sign_key_password=os.environ["COSIGN_PASSWORD"])
    """

    name = "push"
    description = "push kernel, initrd and cmdline to a registry as an OCI (ORAS) artifact"
    files = ("{name}.pushed",)
    streamable = False
    options = frozenset(
        {
            "reference",
            "client",
            "compression",
            "compression_level",
            "annotations",
            "sign_key",
            "sign_key_password",
        }
    )

    def write(
        self,
        bundle: BundleView,
        directory: str | os.PathLike[str],
        name: str,
        *,
        reference: ImageReference | str | None = None,
        client: RegistryClient | None = None,
        compression: str = "gzip",
        compression_level: int | None = None,
        annotations: Mapping[str, str] | None = None,
        sign_key: PrivateKey | str | os.PathLike[str] | None = None,
        sign_key_password: str | bytes | None = None,
        **_other_formats_options: Any,
    ) -> tuple[Path, ...]:
        ref = _reference(reference or "", self.name)
        # Read the key before anything is built or pushed: a wrong password fails early.
        key = _signing_key(sign_key, sign_key_password)
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory, prefix=f".{name}.push-") as scratch:
            paths = KernelInitrdFormat().write(
                bundle,
                scratch,
                name,
                compression=compression,
                compression_level=compression_level,
            )
            kernel, initrd, cmdline = paths
            files = BootFiles(kernel, initrd, cmdline, initrd_compression=compression)
            own_client = client is None
            if client is None:
                from ..registry import DockerConfig

                client = RegistryClient(credentials=DockerConfig())
            try:
                desc = push_system(
                    client,
                    ref,
                    files,
                    created=bundle.source_date_epoch,
                    annotations=annotations,
                )
                if key is not None:
                    sign_image(client, ref, key, digest=desc.digest)
            finally:
                if own_client:
                    client.close()
        with AtomicOutput(directory, format=self.name) as out:
            out.path(f"{name}.pushed").write_text(f"{ref.with_digest(desc.digest)}\n")
        return out.paths
