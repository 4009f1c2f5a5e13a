"""Notebook and IPython display of systems."""

from __future__ import annotations

from html.parser import HTMLParser

from moby_assemble._display import component_rows, system_html, system_pretty
from moby_assemble._model import Container, File, InitImage, Kernel, System, Volume

DIGEST = "sha256:" + "ab" * 32


def _system() -> System:
    return System(
        platform="linux/amd64",
        kernel=Kernel("linuxkit/kernel:6.6"),
        init=["linuxkit/init:v1", InitImage(f"linuxkit/runc@{DIGEST}", role="runtime")],
        onboot=[Container("dhcpcd", "linuxkit/dhcpcd:v1", role="network")],
        services=[Container("<web>", "nginx:1.27")],
        files=[File("etc/motd", contents="hi")],
        volumes=[Volume("data")],
    )


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._in_td = True
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_td = False

    def handle_data(self, data: str) -> None:
        if self._in_td:
            self.rows[-1][-1] += data


def test_html_is_a_table_of_components_by_stage_with_role_image_and_digest() -> None:
    html = _system()._repr_html_()
    parser = _Cells()
    parser.feed(html)
    header, *rows = parser.rows
    assert header == ["stage", "name", "role", "image", "digest"]
    assert [r[0] for r in rows] == [
        "kernel",
        "init",
        "init",
        "volumes",
        "onboot",
        "services",
        "files",
    ]
    assert rows[2][2] == "runtime"
    assert rows[2][4] == "sha256:" + "ab" * 6
    assert rows[4][1:4] == ["dhcpcd", "network", "docker.io/linuxkit/dhcpcd:v1"]
    assert rows[5][1] == "<web>"  # escaped in the HTML, intact once parsed
    assert "&lt;web&gt;" in html
    assert "linux/amd64" in html


def test_digests_from_a_lock_fill_the_digest_column() -> None:
    rows = component_rows(_system(), {"docker.io/library/nginx:1.27": DIGEST})
    assert rows[5][4] == DIGEST
    assert DIGEST in system_html(_system(), {"docker.io/library/nginx:1.27": DIGEST})


def test_pretty_text_starts_with_the_repr_and_lists_every_component() -> None:
    text = system_pretty(_system())
    lines = text.splitlines()
    assert lines[0] == repr(_system())
    assert len(lines) == 1 + 7
    assert "[network] docker.io/linuxkit/dhcpcd:v1" in text

    class Printer:
        def __init__(self) -> None:
            self.out = ""

        def text(self, s: str) -> None:
            self.out += s

    p = Printer()
    _system()._repr_pretty_(p, cycle=False)
    assert p.out == text


def test_container_and_kernel_show_their_set_fields_as_a_table() -> None:
    c = Container("web", "nginx:1.27", role="service", binds=["/a:/b"], readonly=True)
    html = c._repr_html_()
    parser = _Cells()
    parser.feed(html)
    assert parser.rows == [
        ["role", "service"],
        ["name", "web"],
        ["image", "docker.io/library/nginx:1.27"],
        ["binds", "['/a:/b']"],
        ["readonly", "True"],
    ]
    assert "console=ttyS0" in Kernel("k", cmdline="console=ttyS0")._repr_html_()
