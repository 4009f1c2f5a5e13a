"""flatten_layers produces the same root filesystem as ``umoci unpack`` of the same image.

Each test builds a tricky image with moby_assemble.testing, writes it as an OCI layout,
unpacks it with umoci, and compares names, types, modes, ownership, contents, link
targets, xattrs, mtimes and hard-link groups (see tests/layers/rootfs.py).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from moby_assemble.layers import flatten_layers
from moby_assemble.testing import Image, Layer

from .rootfs import comparable, snapshot_dir, snapshot_entries, start_time, umoci_unpack

pytestmark = pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci not installed")


def assert_same_as_umoci(
    tmp_path: Path, layers: tuple[Layer, ...], *, twin: tuple[Layer, ...] | None = None
) -> None:
    """Flatten ``layers``; unpack ``twin`` (default: the same layers) with umoci; compare."""
    since = start_time()
    ours = Image(layers).build()
    theirs = Image(twin or layers).build()
    theirs.write_oci_layout(tmp_path / "layout", "t")
    rootfs = umoci_unpack(tmp_path / "layout", "t", tmp_path / "bundle")
    want, want_links = snapshot_dir(rootfs, since=since)
    got, got_links = snapshot_entries(flatten_layers(ours.layers()))
    assert sorted(got) == sorted(want)
    assert comparable(got, other=want) == comparable(want, other=got)
    assert got_links == want_links


def test_explicit_whiteouts_remove_files_and_whole_directories(tmp_path: Path) -> None:
    base = (
        Layer()
        .dir("etc")
        .file("etc/a.conf", b"a")
        .file("etc/b.conf", b"b")
        .dir("var")
        .dir("var/cache")
        .file("var/cache/x", b"x")
        .dir("var/cache/sub")
        .file("var/cache/sub/y", b"y")
    )
    upper = Layer().whiteout("etc/a.conf").whiteout("var/cache")
    assert_same_as_umoci(tmp_path, (base, upper))


def test_opaque_directory_hides_all_lower_contents(tmp_path: Path) -> None:
    # LinuxKit's flattener lets opt/old and opt/deep/* leak through here.
    base = Layer().dir("opt").file("opt/old", b"old").dir("opt/deep").file("opt/deep/z", b"z")
    upper = Layer().dir("opt", mode=0o750).opaque("opt").file("opt/new", b"new")
    top = Layer().file("opt/newer", b"newer")
    assert_same_as_umoci(tmp_path, (base, upper, top))


def test_whited_out_directory_recreated_keeps_only_new_contents(tmp_path: Path) -> None:
    base = Layer().dir("srv").file("srv/1", b"1").dir("srv/d").file("srv/d/2", b"2")
    upper = Layer().whiteout("srv").dir("srv", mode=0o700, uid=5).file("srv/3", b"3")
    assert_same_as_umoci(tmp_path, (base, upper))


def test_file_replaced_by_directory_and_directory_by_file(tmp_path: Path) -> None:
    base = (
        Layer()
        .file("thing", b"was a file")
        .dir("tree")
        .dir("tree/branch")
        .file("tree/branch/leaf", b"leaf")
        .symlink("link", "tree")
    )
    upper = (
        Layer()
        .dir("thing")
        .file("thing/inside", b"now a dir")
        .file("tree", b"now a file")
        .dir("link")
        .file("link/real", b"symlink replaced by a directory")
    )
    assert_same_as_umoci(tmp_path, (base, upper))


def test_directory_over_directory_keeps_contents_and_takes_new_attributes(tmp_path: Path) -> None:
    base = Layer().dir("data", mode=0o755, mtime=100).file("data/keep", b"k")
    upper = Layer().dir("data", mode=0o1777, uid=7, gid=8, mtime=200)
    assert_same_as_umoci(tmp_path, (base, upper))


def test_hard_links_survive_replacement_and_deletion_of_their_target(tmp_path: Path) -> None:
    base = (
        Layer()
        .dir("bin")
        .file("bin/tool", b"version 1", mode=0o4755, uid=3, mtime=50)
        .hardlink("bin/alias", "bin/tool")
        .hardlink("bin/alias2", "bin/alias")
        .file("bin/gone", b"gone soon")
        .hardlink("bin/kept", "bin/gone")
        .file("bin/plain", b"plain")
    )
    upper = (
        Layer()
        .file("bin/tool", b"version 2")
        .whiteout("bin/gone")
        .hardlink("bin/plain-link", "bin/plain")
    )
    assert_same_as_umoci(tmp_path, (base, upper))


def test_hard_link_in_an_upper_layer_to_a_target_replaced_later(tmp_path: Path) -> None:
    base = Layer().dir("lib").file("lib/a.so", b"A1")
    middle = Layer().hardlink("lib/b.so", "lib/a.so")
    top = Layer().file("lib/a.so", b"A2").hardlink("lib/c.so", "lib/b.so")
    assert_same_as_umoci(tmp_path, (base, middle, top))


def test_symlinks_setuid_ownership_xattrs_devices_and_fifos(tmp_path: Path) -> None:
    layer = (
        Layer()
        .dir("usr")
        .dir("usr/bin")
        .file("usr/bin/su", b"#!su", mode=0o4755)
        .file("usr/bin/wall", b"#!wall", mode=0o2755, gid=5)
        .dir("tmp", mode=0o1777)
        .file("home-file", b"owned", uid=1000, gid=1000, mtime=1_700_000_000)
        .file("big-ids", b"ids", uid=3_000_000, gid=4_000_000)
        .file("attrs", b"x", xattrs={"user.comment": b"hello", "user.bin": b"\xff\x00\x01"})
        .symlink("abs", "/usr/bin/su")
        .symlink("rel", "usr/bin")
        .symlink("dangling", "nowhere")
        .dir("dev")
        .device("dev/null", "c", 1, 3, mode=0o666)
        .device("dev/sda", "b", 8, 0)
        .fifo("dev/initctl", mode=0o600)
    )
    assert_same_as_umoci(tmp_path, (layer,))


def test_implicit_parent_directories_are_created(tmp_path: Path) -> None:
    base = Layer().file("a/b/c/file", b"deep").file("x/y", b"y")
    upper = Layer().file("a/b/other", b"other").file("new/dir/z", b"z")
    assert_same_as_umoci(tmp_path, (base, upper))


def test_long_and_unicode_names(tmp_path: Path) -> None:
    deep = "/".join(["segment-" + "x" * 40] * 6)
    parts = deep.split("/")
    layer = Layer()
    for i in range(1, len(parts) + 1):
        layer = layer.dir("/".join(parts[:i]))
    layer = (
        layer.file(deep + "/" + "f" * 200, b"long")
        .file("ünïcødé-名前", b"u")
        .symlink("longlink", "/" + "t" * 150)
    )
    assert_same_as_umoci(tmp_path, (layer, Layer().whiteout(deep + "/" + "f" * 200)))


def test_zstd_image_matches_umoci_on_its_gzip_twin(tmp_path: Path) -> None:
    # umoci 0.4.7 cannot read zstd layers: compare against the gzip twin, whose layers have
    # the same diff_ids.
    base = Layer(compression="zstd").dir("etc").file("etc/a", b"a" * 5000).file("etc/b", b"b")
    upper = Layer(compression="zstd").whiteout("etc/a").dir("etc").opaque("etc").file("etc/c", b"c")
    zstd_layers = (base, upper)
    gzip_layers = tuple(layer.with_compression("gzip") for layer in zstd_layers)
    for z, g in zip(zstd_layers, gzip_layers, strict=True):
        assert z.blob_info().diff_id == g.blob_info().diff_id
    assert_same_as_umoci(tmp_path, zstd_layers, twin=gzip_layers)


def _random_image(seed: int, layers: int = 8) -> tuple[Layer, ...]:
    """Random but valid layers over a small namespace: files, dirs, symlinks, hard links,
    whiteouts and opaque markers, tracking the tree so every operation is legal."""
    rng = random.Random(seed)
    tree: dict[str, str] = {}  # path -> "dir" | "file" | "symlink"
    out = []
    for n in range(layers):
        layer = Layer(compression=rng.choice(["gzip", None]))
        touched: set[str] = set()

        for _ in range(rng.randint(5, 20)):
            dirs = [""] + [p for p, k in tree.items() if k == "dir"]
            parent = rng.choice(dirs)
            name = f"{parent}/{rng.choice('abcdefg')}".lstrip("/")
            op = rng.random()
            if not _free(touched, name) or any(
                tree.get(name.rsplit("/", i)[0]) != "dir" for i in range(1, name.count("/") + 1)
            ):
                continue
            if op < 0.3:
                mode = rng.choice([0o644, 0o600, 0o4755])
                layer = layer.file(name, f"{seed}-{n}-{name}".encode(), mode=mode)
                _drop(tree, name)
                tree[name] = "file"
            elif op < 0.5:
                layer = layer.dir(
                    name, mode=rng.choice([0o755, 0o700]), uid=rng.choice([0, 1])
                ).file(name + "/in", b"in")
                if tree.get(name) != "dir":
                    _drop(tree, name)
                _drop(tree, name + "/in")
                tree[name] = "dir"
                tree[name + "/in"] = "file"
                touched.add(name + "/in")
            elif op < 0.6:
                layer = layer.symlink(name, rng.choice(["/etc", "a", "../b"]))
                _drop(tree, name)
                tree[name] = "symlink"
            elif op < 0.75 and name in tree and n:
                layer = layer.whiteout(name)
                _drop(tree, name)
            elif op < 0.85 and tree.get(name) == "dir" and n:
                layer = layer.dir(name).opaque(name)
                for p in [p for p in tree if p.startswith(name + "/")]:
                    del tree[p]
            else:
                files = [p for p, k in tree.items() if k == "file" and p not in touched]
                if not files or name in tree:
                    continue
                layer = layer.hardlink(name, rng.choice(files))
                tree[name] = "file"
            touched.add(name)
        out.append(layer)
    return tuple(out)


def _free(touched: set[str], path: str) -> bool:
    """Not written in this layer yet, nor anything under it."""
    return path not in touched and not any(t.startswith(path + "/") for t in touched)


def _drop(tree: dict[str, str], path: str) -> None:
    for p in [p for p in tree if p == path or p.startswith(path + "/")]:
        del tree[p]


@pytest.mark.parametrize("seed", range(12))
def test_random_many_layer_images_match_umoci(tmp_path: Path, seed: int) -> None:
    assert_same_as_umoci(tmp_path, _random_image(seed))
