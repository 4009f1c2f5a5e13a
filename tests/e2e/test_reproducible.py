"""The example assembled from system.yml and from system.py gives byte-identical outputs.

The YAML is read as a user would assemble it on another day: offline, from the main job's
cache, pinned by the lock the main job saved next to its outputs (``moby-assemble build
--offline --lock out/system.lock.json examples/system.yml``). The image names stay
``localhost:5000/...`` in both (the main job pulled them through a mirror), and those names
are recorded in the root tar, so the tar compares byte for byte too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

import pytest

import moby_assemble as ma

from .conftest import EXAMPLES, MainJob

pytestmark = pytest.mark.slow

FILES = ("system-kernel", "system-initrd.img", "system-cmdline", "system.tar")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def test_system_yml_and_system_py_give_byte_identical_outputs(
    main_job: MainJob, example_system: ModuleType, tmp_path: Path
) -> None:
    assert main_job.returncode == 0, main_job.tail()
    lock = ma.Lock.load(main_job.out / "system.lock.json")
    from_yaml = ma.System.from_yaml(EXAMPLES / "system.yml")
    with ma.Assembler(main_job.cache, platform="linux/amd64", offline=True) as asm:
        yaml_bundle = asm.assemble(from_yaml, lock=lock)
        python_bundle = asm.assemble(example_system.build_system(), lock=lock)
    assert yaml_bundle.rootfs_sha256 == python_bundle.rootfs_sha256
    yaml_bundle.write(tmp_path, ["kernel+initrd", "tar"])
    # The main job wrote the Python system's outputs (the files that booted).
    assert {name: sha256(tmp_path / name) for name in FILES} == {
        name: sha256(main_job.out / name) for name in FILES
    }
