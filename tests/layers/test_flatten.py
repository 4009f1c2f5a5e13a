"""flatten_layers: OCI semantics, output order, and refusing unsafe layers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from moby_assemble import IntegrityError, LayerError
from moby_assemble.layers import EntryType, LayerSource, TarEntry, TarWriter, flatten_layers
from moby_assemble.testing import Layer

from .rootfs import snapshot_entries
from .test_flatten_umoci import _random_image


def flat(*layers: Layer, **kw: object) -> list[tuple[str, EntryType, str, bytes]]:
    out = []
    for e in flatten_layers([layer.source() for layer in layers], **kw):  # type: ignore[arg-type]
        out.append((e.name, e.type, e.linkname, e.read()))
    return out


def names(*layers: Layer, **kw: object) -> list[str]:
    return [name for name, *_ in flat(*layers, **kw)]


def test_lower_contents_of_an_opaque_directory_do_not_leak() -> None:
    # LinuxKit (go-containerregistry's mutate.Extract) emits opt/old and opt/sub/deep here.
    lower = Layer().dir("opt").file("opt/old", b"o").dir("opt/sub").file("opt/sub/deep", b"d")
    upper = Layer().dir("opt").opaque("opt").file("opt/new", b"n")
    assert names(lower, upper) == ["opt", "opt/new"]


def test_whiteout_markers_are_never_emitted() -> None:
    lower = Layer().file(".wh.meaningless-at-the-bottom").file("keep", b"k").dir("d")
    upper = Layer().whiteout("nothing-there").opaque("d").entry(TarEntry("d/.wh..wh.plnk"))
    assert names(lower, upper) == ["keep", "d"]


def test_whiteout_applies_only_to_lower_layers() -> None:
    lower = Layer().file("a", b"old")
    upper = Layer().file("a", b"new").whiteout("a")  # same layer: the file stays
    assert flat(lower, upper) == [("a", EntryType.FILE, "", b"new")]


def test_directory_takes_its_final_attributes_at_its_first_position() -> None:
    lower = Layer().dir("d", mode=0o755).file("d/x", b"x")
    upper = Layer().file("y", b"y").dir("d", mode=0o700, uid=9)
    entries = list(flatten_layers([lower.source(), upper.source()]))
    assert [e.name for e in entries] == ["d", "d/x", "y"]
    assert (entries[0].mode, entries[0].uid) == (0o700, 9)


def test_child_before_its_directory_in_an_upper_layer_gets_the_directory_first() -> None:
    lower = Layer().file("base", b"b")
    upper = Layer().file("new/x", b"x").dir("new", mode=0o750)
    entries = list(flatten_layers([lower.source(), upper.source()]))
    assert [(e.name, e.mode) for e in entries] == [
        ("base", 0o644),
        ("new", 0o750),
        ("new/x", 0o644),
    ]


def test_missing_parents_are_synthesised_once() -> None:
    entries = list(flatten_layers([Layer().file("a/b/c", b"c").file("a/b/d", b"d").source()]))
    assert [(e.name, e.type, e.mode, e.uid) for e in entries[:2]] == [
        ("a", EntryType.DIRECTORY, 0o755, 0),
        ("a/b", EntryType.DIRECTORY, 0o755, 0),
    ]
    assert [e.name for e in entries[2:]] == ["a/b/c", "a/b/d"]


def test_directory_entry_after_its_contents_in_the_bottom_layer() -> None:
    # Same attributes as the stand-in that was already written: nothing to take back.
    assert names(Layer().file("a/x", b"x").dir("a")) == ["a", "a/x"]
    with pytest.raises(LayerError, match="comes after entries inside it") as err:
        names(Layer().file("a/x", b"x").dir("a", mode=0o700))
    assert err.value.member == "a"


@pytest.mark.parametrize("seed", range(20))
def test_output_order_is_extraction_safe_for_random_images(seed: int) -> None:
    layers = _random_image(seed + 100)
    # snapshot_entries asserts: each parent directory before its children, every hard
    # link after its target, no duplicate names.
    first = snapshot_entries(flatten_layers([layer.source() for layer in layers]))
    again = snapshot_entries(flatten_layers([layer.source() for layer in layers]))
    assert first == again


def test_root_entry_is_emitted_first_with_final_attributes_or_dropped() -> None:
    lower = Layer().dir(".", mode=0o755).file("a", b"a")
    upper = Layer().dir("./", mode=0o700).file("b", b"b")
    entries = list(flatten_layers([lower.source(), upper.source()]))
    assert [(e.name, e.mode) for e in entries] == [(".", 0o700), ("a", 0o644), ("b", 0o644)]
    assert names(lower, upper, include_root=False) == ["a", "b"]


def test_hard_link_to_a_replaced_target_is_materialised_with_the_old_content() -> None:
    lower = Layer().file("bin/tool", b"v1", mode=0o755).hardlink("bin/alias", "bin/tool")
    upper = Layer().file("bin/tool", b"v2")
    assert flat(lower, upper) == [
        ("bin", EntryType.DIRECTORY, "", b""),
        ("bin/alias", EntryType.FILE, "", b"v1"),
        ("bin/tool", EntryType.FILE, "", b"v2"),
    ]


def test_hard_links_are_re_pointed_at_the_surviving_name() -> None:
    lower = Layer().file("a", b"data").hardlink("b", "a").hardlink("c", "b")
    upper = Layer().whiteout("a")
    assert flat(lower, upper) == [
        ("b", EntryType.FILE, "", b"data"),
        ("c", EntryType.HARDLINK, "b", b""),
    ]


def test_data_need_not_be_read_and_everything_is_verified() -> None:
    layers = [Layer().file("big", b"x" * 300_000).source(), Layer().file("small", b"s").source()]
    assert [e.name for e in flatten_layers(layers)] == ["big", "small"]


def test_layers_from_files_flatten_the_same(tmp_path: Path) -> None:
    layer = Layer(compression="zstd").dir("etc").file("etc/hosts", b"127.0.0.1 localhost\n")
    info = layer.write_to((tmp_path / "blob").open("wb"))
    src = LayerSource.from_path(tmp_path / "blob", info.media_type, diff_id=info.diff_id)
    assert [(e.name, e.read()) for e in flatten_layers([src])] == [
        ("etc", b""),
        ("etc/hosts", b"127.0.0.1 localhost\n"),
    ]


# -- integrity and bounds ---------------------------------------------------------------


def test_diff_id_mismatch_is_an_integrity_error_naming_the_layer() -> None:
    good = Layer().file("a", b"a")
    bad = Layer().file("b", b"b").source(diff_id="sha256:" + "0" * 64)
    seen = []

    def consume() -> None:
        for e in flatten_layers([good.source(), bad]):
            seen.append(e.name)

    with pytest.raises(IntegrityError) as err:
        consume()
    assert seen == ["a", "b"]  # the check comes when the layer's stream ends
    assert bad.digest in str(err.value)
    assert err.value.digest == "sha256:" + "0" * 64


def test_max_size_bounds_every_layer() -> None:
    layer = Layer(compression="zstd").file("zeros", bytes(5_000_000))
    with pytest.raises(LayerError, match="more than 1000000 bytes"):
        flat(layer, max_size=1_000_000)


# -- unsafe layers -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/etc/passwd"])
def test_hostile_names_are_rejected_naming_layer_and_member(name: str) -> None:
    layer = Layer().file("ok", b"ok").entry(TarEntry(name, size=1), b"x")
    src = layer.source()
    with pytest.raises(LayerError) as err:
        list(flatten_layers([src]))
    assert (err.value.layer, err.value.member) == (src.digest, name)


def test_hard_link_out_of_the_root_is_rejected() -> None:
    layer = Layer().entry(TarEntry("passwd", EntryType.HARDLINK, linkname="../../etc/passwd"))
    with pytest.raises(LayerError, match="hard link target"):
        names(layer)


@pytest.mark.parametrize(
    "layers",
    [
        # a lower layer's symlink is the parent of an upper layer's file
        (Layer().symlink("lib", "/usr/lib"), Layer().file("lib/evil.so", b"x")),
        (Layer().symlink("up", "../../.."), Layer().file("up/x", b"x")),
        # the same inside one layer
        (Layer().symlink("etc", "/host/etc").file("etc/shadow", b"x"),),
        (Layer().dir("a").symlink("a/b", "/").dir("a/b/c"),),
    ],
    ids=["lower-absolute", "lower-relative", "same-layer", "nested-dir"],
)
def test_writing_through_a_symlinked_parent_is_rejected(layers: tuple[Layer, ...]) -> None:
    with pytest.raises(LayerError, match="through the symlink") as err:
        names(*layers)
    assert err.value.member is not None


def test_a_directory_over_a_lower_symlink_replaces_it() -> None:
    assert names(Layer().symlink("up", "../.."), Layer().dir("up").file("up/x", b"x")) == [
        "up",
        "up/x",
    ]


def test_entry_inside_a_regular_file_is_rejected() -> None:
    with pytest.raises(LayerError, match="not a directory"):
        names(Layer().file("f", b"f"), Layer().file("f/inside", b"x"))


@pytest.mark.parametrize("bottom", [True, False])
def test_duplicate_entries_in_one_layer_are_rejected(bottom: bool) -> None:
    dup = Layer().file("a", b"1").file("a", b"2")
    layers = (dup,) if bottom else (Layer().file("x", b"x"), dup)
    with pytest.raises(LayerError, match="appears twice") as err:
        names(*layers)
    assert err.value.member == "a"


@pytest.mark.parametrize(
    ("layers", "problem"),
    [
        ((Layer().hardlink("l", "missing"),), "does not exist"),
        ((Layer().dir("d").hardlink("l", "d"),), "is a directory"),
        ((Layer().file("t", b"t"), Layer().whiteout("t").hardlink("l", "t")), "was removed"),
        (
            (Layer().dir("d").file("d/t", b"t"), Layer().opaque("d").hardlink("l", "d/t")),
            "was removed",
        ),
    ],
)
def test_broken_hard_links_are_rejected(layers: tuple[Layer, ...], problem: str) -> None:
    with pytest.raises(LayerError, match=problem):
        names(*layers)


def test_hard_link_made_before_a_whiteout_in_the_same_layer_keeps_the_content() -> None:
    # A sequential extraction (umoci, containerd) makes the link first, then deletes.
    lower = Layer().file("t", b"content")
    upper = Layer().hardlink("l", "t").whiteout("t")
    assert flat(lower, upper) == [("l", EntryType.FILE, "", b"content")]


def test_flattened_entries_write_back_with_tar_writer() -> None:
    lower = (
        Layer().dir("etc").file("etc/a", b"a", xattrs={"user.k": b"v"}).hardlink("etc/b", "etc/a")
    )
    out = io.BytesIO()
    with TarWriter(out) as writer:
        for entry in flatten_layers([lower.source()]):
            writer.add(entry.relocated("containers/x/rootfs"))
    from moby_assemble.layers import read_tar

    got = [(e.name, e.linkname, e.xattrs) for e in read_tar(io.BytesIO(out.getvalue()))]
    assert got == [
        ("containers/x/rootfs/etc", "", {}),
        ("containers/x/rootfs/etc/a", "", {"user.k": b"v"}),
        ("containers/x/rootfs/etc/b", "containers/x/rootfs/etc/a", {}),
    ]


def test_entries_inside_a_whiteout_named_directory_are_rejected() -> None:
    layer = Layer().file("a/.wh.b/c", b"x")
    with pytest.raises(LayerError, match="inside a whiteout marker") as err:
        names(layer)
    assert err.value.member == "a/.wh.b/c"
