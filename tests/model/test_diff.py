"""System.diff: what changed between two systems, as text and as an HTML table."""

from __future__ import annotations

import doctest
from html.parser import HTMLParser

import pytest

import moby_assemble._diff
from moby_assemble._diff import ChangeKind, SystemDiff
from moby_assemble._model import Container, File, InitImage, Kernel, System, Volume


def _base() -> System:
    return System(
        platform="linux/amd64",
        kernel=Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0"),
        init=["linuxkit/init:v1", InitImage("linuxkit/runc:v1", role="runtime")],
        onboot=[
            Container("dhcp", "linuxkit/dhcpcd:v1", role="network"),
            Container("format", "linuxkit/format:v1", role="storage"),
            Container("mount", "linuxkit/mount:v1", role="storage"),
        ],
        services=[Container("web", "nginx:1.26", binds=["/var/data:/data"])],
        files=[File("etc/motd", contents="hello\n", mode=0o644)],
        volumes=[Volume("data")],
    )


def test_identical_systems_have_no_differences() -> None:
    diff = _base().diff(_base())
    assert not diff
    assert len(diff) == 0
    assert str(diff) == "no differences"
    assert repr(diff) == "SystemDiff(no differences)"


def test_a_new_tag_is_one_changed_field_not_a_removal_and_an_addition() -> None:
    old = _base()
    new = old.replace("web", image="nginx:1.27")
    diff = old.diff(new)
    assert [(c.kind, c.label) for c in diff] == [(ChangeKind.CHANGED, "services/web")]
    (field,) = diff["services/web"].fields
    assert (field.key, field.old, field.new) == (
        "image",
        "docker.io/library/nginx:1.26",
        "docker.io/library/nginx:1.27",
    )
    assert str(diff) == (
        "~ services/web  image: docker.io/library/nginx:1.26 -> docker.io/library/nginx:1.27"
    )


def test_init_images_are_matched_by_repository_so_a_tag_bump_is_a_change() -> None:
    old = _base()
    new = old.replace("docker.io/linuxkit/init:v1", InitImage("linuxkit/init:v2"))
    diff = old.diff(new)
    change = diff["init/docker.io/linuxkit/init"]
    assert change.kind is ChangeKind.CHANGED
    assert [(f.key, f.old, f.new) for f in change.fields] == [
        ("image", "docker.io/linuxkit/init:v1", "docker.io/linuxkit/init:v2")
    ]


def test_added_and_removed_components_show_their_image_or_file_kind() -> None:
    old = _base()
    new = (
        old.without("etc/motd")
        .with_service(Container("db", "redis:7"))
        .with_file(File("etc/app", directory=True))
        .with_platform("linux/arm64")
    )
    diff = old.diff(new)
    assert [(c.kind.value, c.label, c.summary) for c in diff] == [
        ("added", "platforms/linux/arm64", ""),
        ("added", "services/db", "docker.io/library/redis:7"),
        ("removed", "files/etc/motd", "file"),
        ("added", "files/etc/app", "directory"),
    ]
    assert [c.label for c in diff.added] == [
        "platforms/linux/arm64",
        "services/db",
        "files/etc/app",
    ]
    assert [c.label for c in diff.removed] == ["files/etc/motd"]
    assert str(diff).splitlines() == [
        "+ platforms/linux/arm64",
        "+ services/db  docker.io/library/redis:7",
        "- files/etc/motd  file",
        "+ files/etc/app  directory",
    ]
    assert repr(diff) == "SystemDiff(3 added, 1 removed)"


def test_changed_fields_use_linuxkit_keys_and_unset_values_show_as_not_set() -> None:
    old = _base()
    new = old.replace("web", binds=None, capabilities_add=["CAP_NET_ADMIN"])
    fields = {f.key: (f.old, f.new) for f in old.diff(new)["services/web"].fields}
    assert fields == {
        "binds": (["/var/data:/data"], None),
        "capabilities.add": (None, ["CAP_NET_ADMIN"]),
    }
    lines = str(old.diff(new)).splitlines()
    assert '~ services/web  binds: ["/var/data:/data"] -> (not set)' in lines
    assert '~ services/web  capabilities.add: (not set) -> ["CAP_NET_ADMIN"]' in lines


def test_a_role_change_is_a_field_change() -> None:
    old = _base()
    new = old.replace("web", role="service")
    (field,) = old.diff(new)["services/web"].fields
    assert (field.key, field.old, field.new) == ("role", None, "service")


def test_kernel_changes_are_field_by_field_and_removal_is_reported() -> None:
    old = _base()
    new = old.with_kernel(Kernel("linuxkit/kernel:6.6", cmdline="console=ttyS0 quiet"))
    (change,) = old.diff(new)
    assert change.label == "kernel"
    assert [(f.key, f.new) for f in change.fields] == [("cmdline", "console=ttyS0 quiet")]
    no_kernel = System(platform="linux/amd64", init=old.init, onboot=old.onboot)
    removed = [c.label for c in old.diff(no_kernel).removed]
    assert removed == ["kernel", "volumes/data", "services/web", "files/etc/motd"]


def test_moving_one_onboot_container_reports_only_that_one() -> None:
    old = _base()
    dhcp, fmt, mount = old.onboot
    new = System(
        platform="linux/amd64",
        kernel=old.kernel,
        init=old.init,
        onboot=[mount, dhcp, fmt],
        services=old.services,
        files=old.files,
        volumes=old.volumes,
    )
    diff = old.diff(new)
    assert [(c.kind, c.label) for c in diff] == [(ChangeKind.MOVED, "onboot/mount")]
    (position,) = diff["onboot/mount"].fields
    assert (position.key, position.old, position.new) == ("position", 2, 0)
    assert str(diff) == "> onboot/mount  position: 2 -> 0"


def test_service_order_is_not_a_move() -> None:
    a = System(services=[Container("a", "x:1"), Container("b", "y:1")])
    b = System(services=[Container("b", "y:1"), Container("a", "x:1")])
    assert not a.diff(b)


def test_repeated_onboot_names_are_matched_by_occurrence() -> None:
    old = System(onboot=[Container("step", "a:1"), Container("step", "b:1")])
    new = System(onboot=[Container("step", "a:1"), Container("step", "b:2")])
    (change,) = old.diff(new)
    assert change.kind is ChangeKind.CHANGED
    assert change.old == Container("step", "b:1")
    assert change.new == Container("step", "b:2")


def test_diff_is_directional() -> None:
    old = _base()
    new = old.with_service(Container("db", "redis:7"))
    assert [c.kind for c in old.diff(new)] == [ChangeKind.ADDED]
    assert [c.kind for c in new.diff(old)] == [ChangeKind.REMOVED]


def test_unknown_label_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        _base().diff(_base())["services/nope"]


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: str | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


def test_html_is_a_table_of_changes_with_escaped_values() -> None:
    old = _base()
    new = old.replace("web", image="nginx:1.27", command=["<script>"]).with_service(
        Container("db", "redis:7")
    )
    page = old.diff(new)._repr_html_()
    assert "<script>" not in page
    parser = _Rows()
    parser.feed(page)
    header, *rows = parser.rows
    assert header == ["change", "component", "field", "before", "after"]
    assert rows == [
        [
            "changed",
            "services/web",
            "image",
            "docker.io/library/nginx:1.26",
            "docker.io/library/nginx:1.27",
        ],
        ["", "", "command", "(not set)", '["<script>"]'],
        ["added", "services/db", "", "", "docker.io/library/redis:7"],
    ]
    assert "SystemDiff(1 added, 1 changed)" in page


def test_pretty_shows_the_summary_then_the_lines() -> None:
    class Printer:
        out = ""

        def text(self, s: str) -> None:
            self.out += s

    old = _base()
    p = Printer()
    old.diff(old.with_service(Container("db", "redis:7")))._repr_pretty_(p, False)
    assert p.out.splitlines() == ["SystemDiff(1 added)", "+ services/db  docker.io/library/redis:7"]


def test_an_empty_diff_value_equals_another() -> None:
    assert SystemDiff() == _base().diff(_base())


def test_module_examples_run() -> None:
    failures, tried = doctest.testmod(moby_assemble._diff)
    assert tried > 0
    assert failures == 0
