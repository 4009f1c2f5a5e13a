"""Benchmark 5 (issue 4, section 6): assemble a kernel and six components from the registry.

The system: a kernel (``kernel`` plus a ``kernel.tar`` of modules) and six components,
about 150 MB compressed at full scale, gzip and zstd layers mixed as real images have them:

============ ========== ===================================================================
image        section    content
============ ========== ===================================================================
kernel       kernel     12 MiB binary-like kernel, ``kernel.tar`` of 6,000 modules (gzip)
init         init       a distribution's ``/usr``: 20,000 small files, ``/etc`` (gzip)
runc         init       one 14 MiB binary (gzip)
containerd   init       two binaries, 60 MiB (gzip)
dhcpcd       onboot     3,000 small files (zstd)
sshd         services   8,000 small files, then a layer with the daemon (zstd)
app          services   four 64 MiB binary-like files and 32 MiB of random data (zstd)
============ ========== ===================================================================

Measured, each in its own process (``python -m benchmarks._assemble STEP JSON``), with
:class:`moby_assemble.Assembler` and a cache directory that starts empty:

* **cold**: resolve and assemble (every blob pulled, every image flattened, the root tar
  written);
* **warm**: the same system again, with the lock the cold run saved (everything in the
  store; every image's section of the root tar reused from the cold run's bundle);
* **one change**: ``sshd`` moves to a new tag (same base layer, a new top layer): resolve
  the changed system and assemble it (one layer pulled, one image flattened);
* **write**: ``bundle.write(formats=["kernel+initrd"])`` of the changed system, timed alone;
* **raw floor**: for the same blobs, in one process: read them (``cat``), sha256 the
  compressed bytes and decompress them (ISA-L gzip, zstandard), nothing written;
* **raw floor, shell tools**: the same with the standard tools, as the issue words it
  (``cat`` + decompress + sha256): ``cat BLOB | tee FIFO | gzip -dc`` (``zstd -dc``) with
  ``sha256sum < FIFO`` alongside, blob after blob. GNU gzip inflates at a fraction of ISA-L's
  speed, so this floor is 2-3x the in-process one; the target is judged against the
  in-process floor, the stricter of the two;
* **write floor**: write as many bytes as the root tar has to the cache's file system and
  ``fsync`` them (the raw floor writes nothing; every assembly writes its root tar).
* **pull only**: the cold case's downloads alone (every image pulled into an empty store
  with :class:`moby_assemble.registry.Puller`);
* **byte floor**: what an assembly does to the bytes and cannot skip, without reading a
  single tar entry: the raw floor, plus the SHA-256 of each decompressed layer (its
  ``diff_id``, which must be checked) and the layer tars written to a file and
  ``fsync``-ed; in one process, and in as many processes as there are CPUs (the blobs
  shared between them whole, largest first: the largest blob alone may set the time).

Each case starts after ``sync``, so none pays for writing back what the previous one wrote.

Targets: cold <= 1.5x the raw floor; warm rebuild after one change < 20 % of cold;
peak RSS < 150 MB (10^6 bytes) in every assembly.

Example::

    python -m benchmarks --only assemble
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
import traceback
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ._child import hwm_mib
from ._measure import Run, best, remove_tree
from ._report import Row, Section, Target

if TYPE_CHECKING:
    from ._context import Context
    from ._images import Compression, ImageBuilder, LayerInfo

__all__ = ["SystemSizes", "floor_step", "run", "system_step"]

TARGET_COLD_RATIO = 1.5
TARGET_CHANGE_RATIO = 0.20
TARGET_RSS_MB = 150.0
_MIB = 1 << 20
#: Bump when the layers below change: it is part of every layer's catalog key.
_REVISION = "asm1"
_CHANGED = "sshd"


@attrs.frozen
class SystemSizes:
    """How big the system's images are (full scale; ``--quick`` divides by 100)."""

    kernel_size: int = 12 * _MIB
    modules: int = 6_000
    init_files: int = 20_000
    runc_size: int = 14 * _MIB
    containerd_sizes: tuple[int, ...] = (40 * _MIB, 20 * _MIB)
    dhcpcd_files: int = 3_000
    sshd_files: int = 8_000
    sshd_size: int = 6 * _MIB
    app_text: tuple[int, ...] = (64 * _MIB,) * 4
    app_random: int = 32 * _MIB

    def scaled(self, divisor: int) -> SystemSizes:
        def div(value: int) -> int:
            return max(value // divisor, 1)

        return SystemSizes(
            div(self.kernel_size),
            div(self.modules),
            div(self.init_files),
            div(self.runc_size),
            tuple(map(div, self.containerd_sizes)),
            div(self.dhcpcd_files),
            div(self.sshd_files),
            div(self.sshd_size),
            tuple(map(div, self.app_text)),
            div(self.app_random),
        )


#: image -> (section, layers bottom first, compression); "sshd2" is the changed sshd.
_IMAGES: Mapping[str, tuple[str, tuple[str, ...], Compression]] = {
    "kernel": ("kernel", ("kernel",), "gzip"),
    "init": ("init", ("init-usr", "init-etc"), "gzip"),
    "runc": ("init", ("runc",), "gzip"),
    "containerd": ("init", ("containerd",), "gzip"),
    "dhcpcd": ("onboot", ("dhcpcd",), "zstd"),
    "sshd": ("services", ("sshd-base", "sshd-top1"), "zstd"),
    "app": ("services", ("app",), "zstd"),
    "sshd2": ("services", ("sshd-base", "sshd-top2"), "zstd"),
}
_SYSTEM = ("kernel", "init", "runc", "containerd", "dhcpcd", "sshd", "app")


# -- images --------------------------------------------------------------------------------


def _kernel_items(sizes: SystemSizes, scratch: Path) -> Iterator[tuple[Any, Any]]:
    """The kernel layer: ``kernel`` and ``kernel.tar`` (the modules tar is written to a
    scratch file first: a tar member's size must be known before its data)."""
    from moby_assemble.layers import EntryType, TarEntry
    from moby_assemble.testing import Layer

    from ._content import TextStream, module_tree

    scratch.mkdir(parents=True, exist_ok=True)
    modules = scratch / "kernel-modules.tar"
    with open(modules, "wb") as out:
        Layer.generated(functools.partial(module_tree, 51, sizes.modules)).write_tar(out)
    try:
        yield (
            TarEntry("kernel", EntryType.FILE, 0o644, size=sizes.kernel_size),
            TextStream(50, sizes.kernel_size),
        )
        with open(modules, "rb") as data:
            size = os.fstat(data.fileno()).st_size
            yield TarEntry("kernel.tar", EntryType.FILE, 0o644, size=size), data
    finally:
        modules.unlink(missing_ok=True)


def _layers(sizes: SystemSizes, scratch: Path) -> dict[str, Any]:
    from moby_assemble.testing import Layer

    from ._content import RandomStream, TextStream, usr_tree

    def binaries(layer: Any, directory: str, seed: int, lengths: tuple[int, ...]) -> Any:
        layer = layer.dir("usr").dir("usr/bin") if directory == "usr/bin" else layer
        for i, size in enumerate(lengths):
            stream = functools.partial(TextStream, seed + i, size)
            layer = layer.file(f"{directory}/bin{i:02d}", stream, size=size, mode=0o755)
        return layer

    def tree(seed: int, files: int) -> Any:
        return Layer.generated(functools.partial(usr_tree, seed, files))

    etc = Layer().dir("etc").file("etc/issue", b"bench\n").file("etc/os-release", b"ID=b\n")
    app = binaries(Layer().dir("opt").dir("opt/app"), "opt/app", 70, sizes.app_text)
    app = app.file(
        "opt/app/assets.bin",
        functools.partial(RandomStream, 79, sizes.app_random),
        size=sizes.app_random,
    )
    sshd_top = Layer().dir("usr").dir("usr/sbin").dir("etc").dir("etc/ssh")
    return {
        "kernel": Layer.generated(functools.partial(_kernel_items, sizes, scratch)),
        "init-usr": tree(52, sizes.init_files),
        "init-etc": etc,
        "runc": binaries(Layer(), "usr/bin", 53, (sizes.runc_size,)),
        "containerd": binaries(Layer(), "usr/bin", 54, sizes.containerd_sizes),
        "dhcpcd": tree(55, sizes.dhcpcd_files),
        "sshd-base": tree(56, sizes.sshd_files),
        "sshd-top1": binaries(sshd_top, "usr/sbin", 57, (sizes.sshd_size,)).file(
            "etc/ssh/sshd_config", b"Port 22\n"
        ),
        "sshd-top2": binaries(sshd_top, "usr/sbin", 58, (sizes.sshd_size,)).file(
            "etc/ssh/sshd_config", b"Port 2222\n"
        ),
        "app": app,
    }


def _builder(ctx: Context, sizes: SystemSizes) -> ImageBuilder:
    """The harness's streamed builder on the shared layout, with this benchmark's layers
    (under their own catalog file and revisioned names)."""
    from ._images import ImageBuilder

    scratch = ctx.work / "scratch" / "assemble-images"
    layers = {f"{_REVISION}-{name}": layer for name, layer in _layers(sizes, scratch).items()}
    return ImageBuilder(
        ctx.layout, ctx.scale, ctx.log, catalog="bench-assemble-layers.json", layers=layers
    )


def _build_image(builder: ImageBuilder, name: str) -> tuple[str, tuple[LayerInfo, ...]]:
    """Write image ``name`` into the layout, tagged ``asm-<name>``; returns the tag and
    its layers."""
    section, layer_names, compression = _IMAGES[name]
    layers = tuple(builder.layer(f"{_REVISION}-{n}", compression) for n in layer_names)
    cmd = [f"/usr/bin/{name}"] if section in ("onboot", "services") else None
    built = builder.put_image(f"asm-{name}", layers, cmd=cmd)
    return built.tag, layers


def _system_yaml(refs: Mapping[str, str], *, changed: bool) -> str:
    sshd = refs["sshd2" if changed else "sshd"]
    return f"""\
kernel:
  image: {refs["kernel"]}
  cmdline: "console=ttyS0"
init:
  - {refs["init"]}
  - {refs["runc"]}
  - {refs["containerd"]}
onboot:
  - name: dhcpcd
    image: {refs["dhcpcd"]}
services:
  - name: sshd
    image: {sshd}
  - name: app
    image: {refs["app"]}
files:
  - path: etc/motd
    contents: "benchmark\\n"
"""


# -- child steps ---------------------------------------------------------------------------


def system_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: assemble ``args["system"]`` with the cache ``args["cache"]``.

    With ``"lock"`` (a lock file) no registry is asked what a tag means; without it the
    system is resolved first (timed: a user editing the YAML pays it). ``"lock_out"``
    saves the lock used. With ``"write"`` (a directory) the assembly is not timed and
    ``bundle.write(formats=["kernel+initrd"])`` is.
    """
    from moby_assemble import Lock, System
    from moby_assemble.assemble import Assembler, ImageCopied, ImageFlattened, StepFinished
    from moby_assemble.registry import BlobStarted, RegistryConfig

    counts = {"flattened": 0, "copied_cached": 0, "blobs_fetched": 0}
    steps: dict[str, float] = {}

    def progress(event: object) -> None:
        if isinstance(event, StepFinished):
            steps[event.step] = round(event.seconds, 3)
        elif isinstance(event, ImageFlattened):
            counts["flattened"] += 1
        elif isinstance(event, ImageCopied) and event.cached:
            counts["copied_cached"] += 1
        elif isinstance(event, BlobStarted):
            counts["blobs_fetched"] += 1

    system = System.from_yaml(Path(args["system"]), platform="linux/amd64")
    lock = Lock.from_json(Path(args["lock"]).read_text()) if args.get("lock") else None
    registries = {args["registry"]: RegistryConfig(plain_http=True)}
    before = hwm_mib()
    cpu = _cpu()
    start = time.perf_counter()
    with Assembler(
        args["cache"],
        platform="linux/amd64",
        registries=registries,
        progress=progress,
        section_workers=args.get("section_workers"),
    ) as asm:
        if lock is None:
            lock = asm.resolve(system)
        resolved = time.perf_counter()
        bundle = asm.assemble(system, lock=lock)
    elapsed = time.perf_counter() - start
    result: dict[str, Any] = {
        "op_s": elapsed,
        # The section workers are waited for when the assembler closes: counted.
        "op_cpu_s": _cpu() - cpu,
        "resolve_s": resolved - start,
        "import_rss_mib": before,
        # Not the tar's digest: computing it reads the whole tar, which the assembly
        # does not (the bundle's name is the digest of its parts list).
        "rootfs_bytes": bundle.rootfs_size,
        "bundle": bundle.directory.name,
        "steps": steps,
        **counts,
    }
    if args.get("lock_out"):
        Path(args["lock_out"]).write_text(lock.to_json())
    if args.get("write"):
        assembly_rss = hwm_mib()
        start = time.perf_counter()
        written = bundle.write(args["write"], formats=["kernel+initrd"])
        result = {
            "op_s": time.perf_counter() - start,
            "assemble_s": elapsed,
            "assembly_rss_mib": assembly_rss,
            "written_bytes": sum(p.stat().st_size for paths in written.values() for p in paths),
        }
    return result


def _inflater(media_type: str) -> Any:
    """A decompressor for a layer of ``media_type``: zstandard, or ISA-L's gzip (as the
    library reads layers), zlib's without it."""
    if media_type.endswith("zstd"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj()
    try:
        from isal import isal_zlib

        return isal_zlib.decompressobj(31)
    except ImportError:  # pragma: no cover - isal is installed with the package
        return zlib.decompressobj(31)


def floor_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: the raw floor: read each blob of ``args["blobs"]`` (path, media type),
    sha256 its bytes and decompress them, in this one process."""
    for media_type in ("gzip", "zstd"):
        _inflater(media_type)  # the modules imported before the clock starts
    before = hwm_mib()
    compressed = uncompressed = 0
    start = time.perf_counter()
    for path, media_type in args["blobs"]:
        digest = hashlib.sha256()
        inflate = _inflater(media_type)
        with open(path, "rb", buffering=0) as fh:
            while chunk := fh.read(_MIB):
                digest.update(chunk)
                compressed += len(chunk)
                uncompressed += len(inflate.decompress(chunk))
        if not Path(path).name == digest.hexdigest():
            raise RuntimeError(f"{path}: sha256 {digest.hexdigest()} does not match its name")
    return {
        "op_s": time.perf_counter() - start,
        "import_rss_mib": before,
        "compressed_bytes": compressed,
        "uncompressed_bytes": uncompressed,
    }


_TOOLS_FLOOR = """set -eo pipefail
fifo="$2.fifo"
mkfifo "$fifo"
sha256sum < "$fifo" > "$2" &
hasher=$!
cat "$1" | tee "$fifo" | $3 -dc > /dev/null
wait "$hasher"
rm "$fifo"
"""


def tools_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: the raw floor with the standard tools, as the issue words it (``cat`` +
    decompress + sha256): for each blob of ``args["blobs"]`` (path, media type), one after
    another, ``cat BLOB | tee FIFO | gzip -dc`` (``zstd -dc``) with ``sha256sum < FIFO``
    alongside, in bash; each sha256 is checked."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(dir=args["directory"]) as scratch:
        out = Path(scratch) / "sha256"
        start = time.perf_counter()
        for path, media_type in args["blobs"]:
            tool = "zstd" if media_type.endswith("zstd") else "gzip"
            subprocess.run(["bash", "-c", _TOOLS_FLOOR, "floor", path, str(out), tool], check=True)
            if out.read_text().split()[:1] != [Path(path).name]:
                raise RuntimeError(f"{path}: sha256sum printed {out.read_text()!r}")
        elapsed = time.perf_counter() - start
    return {"op_s": elapsed, "blobs": len(args["blobs"])}


def _cpu() -> float:
    """CPU seconds used so far by this process (all threads) and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def pull_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: the downloads alone: every image of the system (``args["refs"]``) pulled
    into a new store at ``args["store"]`` (every blob hashed, written and ``fsync``-ed), as
    the cold assembly pulls them (the same four downloads at once)."""
    from moby_assemble import Platform
    from moby_assemble.registry import ImageReference, Puller, RegistryClient, RegistryConfig
    from moby_assemble.store import Store

    refs = [ImageReference.parse(ref) for ref in args["refs"]]
    cpu = _cpu()
    start = time.perf_counter()
    with (
        RegistryClient(registries={args["registry"]: RegistryConfig(plain_http=True)}) as client,
        Puller(client, Store(args["store"])) as puller,
    ):
        images = puller.pull_many(refs, Platform.parse("linux/amd64"))
    elapsed = time.perf_counter() - start
    cpu = _cpu() - cpu
    remove_tree(Path(args["store"]))
    return {"op_s": elapsed, "op_cpu_s": cpu, "layers": sum(len(i.layers) for i in images)}


def _byte_work(blobs: list[tuple[str, str, str]], out: Path) -> int:
    """Check, decompress and write ``blobs`` (path, media type, diff_id) to ``out``, fsync-ed;
    returns the bytes written."""
    written = 0
    with open(out, "wb", buffering=0) as sink:
        for path, media_type, diff_id in blobs:
            digest, uncompressed = hashlib.sha256(), hashlib.sha256()
            inflate = _inflater(media_type)
            with open(path, "rb", buffering=0) as fh:
                while chunk := fh.read(_MIB):
                    digest.update(chunk)
                    data = inflate.decompress(chunk)
                    uncompressed.update(data)
                    written += sink.write(data)
            if Path(path).name != digest.hexdigest():
                raise RuntimeError(f"{path}: sha256 does not match its name")
            if f"sha256:{uncompressed.hexdigest()}" != diff_id:
                raise RuntimeError(f"{path}: the layer does not match its diff_id")
        os.fsync(sink.fileno())
    return written


def byte_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: the byte floor: the work on bytes no assembly can skip, without the tar
    entries: read each blob of ``args["blobs"]`` (path, media type, diff_id), check its
    sha256, decompress it, check the layer's diff_id, write the layer tar to a file in
    ``args["directory"]`` and ``fsync`` it. ``args["processes"]`` processes share the
    blobs (whole, largest first, each to the least loaded)."""
    for media_type in ("gzip", "zstd"):
        _inflater(media_type)  # the modules imported before the clock starts
    processes = int(args["processes"])
    directory = Path(args["directory"])
    shares: list[list[tuple[str, str, str]]] = [[] for _ in range(processes)]
    loads = [0] * processes
    for blob in sorted(args["blobs"], key=lambda b: -Path(b[0]).stat().st_size):
        least = loads.index(min(loads))
        path, media_type, diff_id = blob
        shares[least].append((path, media_type, diff_id))
        loads[least] += Path(blob[0]).stat().st_size
    cpu = _cpu()
    start = time.perf_counter()
    children = []
    for i, share in enumerate(shares[1:], 1):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the forked child
            status = 1
            try:
                _byte_work(share, directory / f"byte-floor-{i}")
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        children.append(pid)
    written = _byte_work(shares[0], directory / "byte-floor-0")
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if status:
            raise RuntimeError(f"a byte-floor process failed ({status})")
    elapsed = time.perf_counter() - start
    cpu = _cpu() - cpu
    for path in directory.glob("byte-floor-*"):
        path.unlink()
    return {"op_s": elapsed, "op_cpu_s": cpu, "first_process_bytes": written}


def write_step(args: dict[str, Any]) -> dict[str, Any]:
    """Child: the write floor: ``args["bytes"]`` bytes to ``args["path"]`` in 1 MiB
    writes (one buffer, so nothing is generated) and ``fsync``, as a root tar is written."""
    size, path = int(args["bytes"]), Path(args["path"])
    chunk = os.urandom(_MIB)
    start = time.perf_counter()
    with open(path, "wb") as f:
        left = size
        while left:
            left -= f.write(chunk[: min(left, _MIB)])
        f.flush()
        os.fsync(f.fileno())
    elapsed = time.perf_counter() - start
    path.unlink()
    return {"op_s": elapsed, "written_bytes": size}


_STEPS = {
    "system": system_step,
    "floor": floor_step,
    "bytes": byte_step,
    "pull": pull_step,
    "tools": tools_step,
    "write": write_step,
}


def main(argv: list[str]) -> int:
    """``python -m benchmarks._assemble STEP JSON``: one step (see ``_STEPS``), one JSON
    line out (as :mod:`benchmarks._child` does for the other benchmarks)."""
    if len(argv) != 2 or argv[0] not in _STEPS:
        steps = ",".join(_STEPS)
        print(f"usage: python -m benchmarks._assemble {{{steps}}} JSON", file=sys.stderr)
        return 2
    args = json.loads(argv[1])
    profile_path = args.pop("profile", None)
    if profile_path:
        import cProfile

        import moby_assemble.assemble  # noqa: F401 - imports outside the profile

        profiler = cProfile.Profile()
        result = profiler.runcall(_STEPS[argv[0]], args)
        profiler.dump_stats(profile_path)
    else:
        result = _STEPS[argv[0]](args)
    result["peak_rss_mib"] = hwm_mib()
    print(json.dumps(result, sort_keys=True))
    return 0


# -- the benchmark -------------------------------------------------------------------------


def _step(ctx: Context, name: str, args: Mapping[str, Any], label: str) -> Run:
    # Every case starts with nothing waiting to be written back: otherwise the page cache
    # the previous case dirtied throttles this one's writes (on the VMs used here, after
    # about 600 MB, from 3 GB/s to 400 MB/s) and the figures measure the order of the cases.
    os.sync()
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "benchmarks._assemble", name, json.dumps(dict(args))]
    return ctx.launcher.run(argv, label=label, env=env)


def _mb(run: Run) -> float:
    return run.peak_rss_kib * 1024 / 1e6


def run(ctx: Context) -> Section:
    """Build and push the images to a registry of its own, then measure every case
    ``scale.repeat`` times (a fresh cache each time) and the raw floor as often."""
    from moby_assemble._cpus import usable_cpus
    from moby_assemble.testing import LocalRegistry

    from ._images import push_image

    sizes = SystemSizes() if ctx.scale.name == "full" else SystemSizes().scaled(100)
    builder = _builder(ctx, sizes)
    built = {name: _build_image(builder, name) for name in _IMAGES}
    layers = {layer.digest: layer for name in _SYSTEM for layer in built[name][1]}
    compressed = sum(layer.size for layer in layers.values())
    tar_size = sum(layer.tar_size for layer in layers.values())
    ctx.log(f"assemble: system of {len(_SYSTEM)} images, {compressed / 1e6:.0f} MB compressed")
    work = ctx.scratch("assemble")
    registry = LocalRegistry(work / "registry").start()
    kinds = ("cold", "cold1", "warm", "change", "write", "floor", "disk", "bytes1", "bytesN")
    runs: dict[str, list[Run]] = {k: [] for k in (*kinds, "pull", "tools")}
    try:
        refs = {}
        for name, (tag, _) in built.items():
            repository = f"bench/{name.rstrip('2')}"
            pushed = push_image(ctx.layout, tag, registry.host, repository)
            refs[name] = pushed
        system = work / "system.yml"
        changed = work / "changed.yml"
        system.write_text(_system_yaml(refs, changed=False))
        changed.write_text(_system_yaml(refs, changed=True))
        blobs = [
            (str(builder.store.blob_path(layer.digest)), layer.media_type)
            for layer in layers.values()
        ]
        checked = [
            (str(builder.store.blob_path(layer.digest)), layer.media_type, layer.diff_id)
            for layer in layers.values()
        ]
        cpus = usable_cpus()  # as the assembler counts them for its workers
        common = {"registry": registry.host}
        for i in range(ctx.scale.repeat):
            cache = work / f"cache{i}"
            lock = work / "system.lock.json"
            cases = (
                ("cold", {"system": str(system), "lock_out": str(lock)}),
                ("warm", {"system": str(system), "lock": str(lock)}),
                ("change", {"system": str(changed), "lock_out": str(work / "changed.lock")}),
                (
                    "write",
                    {
                        "system": str(changed),
                        "lock": str(work / "changed.lock"),
                        "write": str(work / "out"),
                    },
                ),
            )
            # The cold assembly in one process (no section workers) first, for comparison:
            # its files are removed before the cold case, which then writes into the same
            # (recycled) memory. Writing into memory the VM has not touched yet is about 3x
            # slower here, so which case comes after which matters.
            alone = work / f"alone{i}"
            one: dict[str, Any] = {"system": str(system), "section_workers": 0}
            run_ = _step(ctx, "system", {**common, **one, "cache": str(alone)}, "cold1")
            runs["cold1"].append(run_)
            ctx.log(f"assemble cold, one process #{i + 1}: {run_.op_s:.2f} s")
            remove_tree(alone)
            for case, args in cases:
                run_ = _step(ctx, "system", {**common, **args, "cache": str(cache)}, case)
                runs[case].append(run_)
                ctx.log(f"assemble {case} #{i + 1}: {run_.op_s:.2f} s, {run_.peak_rss_mib:.0f} MiB")
            cold_bundle = runs["cold"][-1].result.get("bundle")
            if runs["warm"][-1].result.get("bundle") != cold_bundle:
                raise RuntimeError("the warm assembly gave another bundle than the cold one")
            if runs["cold1"][-1].result.get("bundle") != cold_bundle:
                raise RuntimeError("one process gave another bundle than the workers")
            floor = _step(ctx, "floor", {"blobs": blobs}, "floor")
            runs["floor"].append(floor)
            ctx.log(f"assemble raw floor #{i + 1}: {floor.op_s:.2f} s")
            tools = _step(ctx, "tools", {"blobs": blobs, "directory": str(work)}, "tools floor")
            runs["tools"].append(tools)
            ctx.log(f"assemble raw floor, shell tools #{i + 1}: {tools.op_s:.2f} s")
            size = runs["cold"][-1].result.get("rootfs_bytes", 0)
            args = {"bytes": size, "path": str(cache / "write-floor")}
            written = _step(ctx, "write", args, "write floor")
            runs["disk"].append(written)
            ctx.log(f"assemble write floor #{i + 1}: {written.op_s:.2f} s")
            pulls = {"refs": [refs[n] for n in _SYSTEM], "store": str(work / "pulled")}
            run_ = _step(ctx, "pull", {**common, **pulls}, "pull only")
            runs["pull"].append(run_)
            ctx.log(f"assemble pull only #{i + 1}: {run_.op_s:.2f} s")
            for case, processes in (("bytes1", 1), ("bytesN", cpus)):
                split = {"blobs": checked, "directory": str(work), "processes": processes}
                run_ = _step(ctx, "bytes", split, f"byte floor, {processes} processes")
                runs[case].append(run_)
                ctx.log(f"assemble byte floor, {processes} processes #{i + 1}: {run_.op_s:.2f} s")
            if ctx.profile_dir is not None and i == 0:
                # cold, then the change on top of it (the time the targets are about)
                remove_tree(cache)
                for case, args in (cases[0], cases[2]):
                    profile = str(ctx.profile_dir / f"assemble-{case}.prof")
                    args = {**common, **args, "cache": str(cache), "profile": profile}
                    _step(ctx, "system", args, f"profile {case}")
            remove_tree(cache)
            remove_tree(work / "out")
    finally:
        registry.stop()
        remove_tree(work)
    b = {case: best(r) for case, r in runs.items()}
    cold_ratio = b["cold"].op_s / b["floor"].op_s
    change_ratio = b["change"].op_s / b["cold"].op_s
    assembly = [r for case in ("cold", "cold1", "warm", "change") for r in runs[case]]
    peak = max(_mb(r) for r in assembly)
    rootfs = b["cold"].result.get("rootfs_bytes", 0)
    # CPU time of the operations alone (not the interpreter's start): what the downloads
    # and the work on bytes cost before a single tar entry is read.
    needed = b["bytesN"].result["op_cpu_s"] + b["pull"].result["op_cpu_s"]

    def row(case: str, tool: str, size: int, note: str = "") -> Row:
        rate = size / b[case].op_s / 1e6
        return Row(tool, b[case], tuple(runs[case]), rate, "MB/s", note=note)

    changed_result = b["change"].result

    def cpu(case: str) -> str:
        return f"; operation: {b[case].result['op_cpu_s']:.2f} s of CPU"

    return Section(
        "assemble",
        f"assemble a kernel + {len(_SYSTEM) - 1} components ({compressed / 1e6:.0f} MB "
        f"compressed, {tar_size / 1e6:.0f} MB of layer tars, {len(layers)} layers) from the "
        f"local registry into the root tar ({rootfs / 1e6:.0f} MB), best of {ctx.scale.repeat}",
        (
            row(
                "cold",
                "ours cold (empty)",
                compressed,
                f"resolve + pull + flatten + tar{cpu('cold')}",
            ),
            row("cold1", "ours cold, 1 process", compressed, "the same, section_workers=0"),
            row("warm", "ours warm (lock)", rootfs, "root tar from earlier sections"),
            row(
                "change",
                "ours one change",
                rootfs,
                f"{changed_result.get('flattened', 0)} flattened, "
                f"{changed_result.get('blobs_fetched', 0)} blobs fetched",
            ),
            row("write", "write kernel+initrd", b["write"].result.get("written_bytes", 0)),
            row(
                "pull",
                "ours pull only",
                compressed,
                f"the cold case's downloads alone{cpu('pull')}",
            ),
            row("floor", "raw floor", compressed, "read + sha256 + decompress"),
            row(
                "tools",
                "raw floor, shell tools",
                compressed,
                "cat | tee | gzip/zstd -dc; sha256sum",
            ),
            row("disk", "write floor", rootfs, "write the root tar's size + fsync"),
            row("bytes1", "byte floor", compressed, "raw floor + diff_id + write + fsync"),
            row(
                "bytesN",
                f"byte floor, {cpus} processes",
                compressed,
                f"the same, blobs shared{cpu('bytesN')}",
            ),
        ),
        ratios={
            "cold/raw floor": cold_ratio,
            "cold/raw floor with shell tools": b["cold"].op_s / b["tools"].op_s,
            "cold/(raw + write floor)": b["cold"].op_s / (b["floor"].op_s + b["disk"].op_s),
            "warm/cold": b["warm"].op_s / b["cold"].op_s,
            "one change/cold": change_ratio,
            "one change/write floor": b["change"].op_s / b["disk"].op_s,
            "cold, 1 process/raw floor": b["cold1"].op_s / b["floor"].op_s,
            f"byte floor, {cpus} processes/raw floor": b["bytesN"].op_s / b["floor"].op_s,
            f"cold/byte floor, {cpus} processes": b["cold"].op_s / b["bytesN"].op_s,
            f"CPU time of (byte floor + pull only) on {cpus} CPUs/raw floor": needed
            / cpus
            / b["floor"].op_s,
            "one change/cold, 1 process": b["change"].op_s / b["cold1"].op_s,
        },
        targets=(
            Target("cold/raw floor", cold_ratio, TARGET_COLD_RATIO, unit="x"),
            Target("one change/cold", change_ratio, TARGET_CHANGE_RATIO, unit="x"),
            Target("assembly peak RSS", peak, TARGET_RSS_MB, unit="MB"),
        ),
        details={
            "images": {name: built[name][0] for name in _IMAGES},
            "compressed_bytes": compressed,
            "layer_tar_bytes": tar_size,
            "image_layers": sum(len(built[name][1]) for name in _SYSTEM),
            "layers": len(layers),
            "rootfs_bytes": rootfs,
            "resolve_s": {c: b[c].result.get("resolve_s") for c in ("cold", "warm", "change")},
            "peak_rss_mb": {c: max(_mb(r) for r in runs[c]) for c in runs},
            "op_cpu_s": {c: b[c].result.get("op_cpu_s") for c in runs},
            "write_assembly_rss_mib": b["write"].result.get("assembly_rss_mib"),
        },
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
