"""PlainProgress and RichProgress, fed by a real pull from the local registry."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import attrs
import pytest
from rich.console import Console

from moby_assemble import MobyAssembleError, Platform, System
from moby_assemble.assemble import Assembler
from moby_assemble.progress import PlainProgress, RichProgress, describe_event, format_bytes
from moby_assemble.registry import (
    BlobFinished,
    BlobProgress,
    BlobStarted,
    ImageReference,
    Puller,
    RegistryClient,
)
from moby_assemble.store import Store
from moby_assemble.testing import Image, Layer, LocalRegistry
from tests.cli.conftest import PushedImage, make_tiny_system, push_images

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def big_image(registry: LocalRegistry, tmp_path: Path) -> PushedImage:
    """An image with a 3 MiB layer, so byte progress has something to count."""
    payload = bytes(range(256)) * (3 * 4096)
    layer = Layer(compression=None).file("data/blob.bin", payload)
    small = Layer().file("etc/hostname", b"progress\n")
    image = Image((layer, small), platform="linux/amd64").build()
    return push_images(registry, tmp_path / "src", image, f"progress/t{id(image)}")


def _pull(image: PushedImage, store: Store, progress: object) -> None:
    with RegistryClient() as client, Puller(client, store, progress=progress) as puller:  # type: ignore[arg-type]
        puller.pull(ImageReference.parse(image.reference), Platform.parse("linux/amd64"))


def test_plain_progress_writes_a_start_and_an_end_line_per_blob(
    big_image: PushedImage, tmp_path: Path
) -> None:
    out = io.StringIO()
    _pull(big_image, Store(tmp_path / "store"), PlainProgress(out))
    lines = out.getvalue().splitlines()
    for digest in big_image.layer_digests:
        short = digest[:19]
        assert any(line.startswith(f"blob {short} started (") for line in lines)
        (done,) = [line for line in lines if line.startswith(f"blob {short} done")]
        assert "/s)" in done  # throughput
    assert any("3.0 MiB" in line for line in lines)
    # The default interval keeps byte progress out of a fast pull's log.
    assert not any(" of " in line for line in lines)


def test_plain_progress_says_cached_on_a_second_pull(
    big_image: PushedImage, tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    _pull(big_image, store, None)
    out = io.StringIO()
    _pull(big_image, store, PlainProgress(out))
    lines = out.getvalue().splitlines()
    expected = {
        f"blob {d[:19]} cached ({format_bytes(s)})" for d, s in _layer_sizes(big_image).items()
    }
    assert expected <= set(lines)
    assert all(" cached (" in line for line in lines)  # nothing downloaded again


def _layer_sizes(image: PushedImage) -> dict[str, int]:
    return {d: len(image.images.blobs[d]) for d in image.layer_digests}


def test_plain_progress_json_lines_parse_and_name_the_event(
    big_image: PushedImage, tmp_path: Path
) -> None:
    out = io.StringIO()
    _pull(big_image, Store(tmp_path / "store"), PlainProgress(out, json=True, interval=0))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    kinds = {r["event"] for r in records}
    assert {"blob_started", "blob_progress", "blob_finished"} <= kinds
    finished = [r for r in records if r["event"] == "blob_finished"]
    assert all(r["cached"] is False and r["seconds"] >= 0 for r in finished)
    sizes = _layer_sizes(big_image)
    assert {r["digest"]: r["size"] for r in finished if r["digest"] in sizes} == sizes


def test_plain_progress_throttles_byte_lines_per_blob() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = PlainProgress(out, interval=1.0, clock=lambda: now[0])
    progress(BlobStarted("r", DIGEST, 100, "application/vnd.oci.image.layer.v1.tar"))
    for step in range(1, 11):
        now[0] = step * 0.25
        progress(BlobProgress(DIGEST, step * 10, 100))
    progress(BlobFinished(DIGEST, 100))
    lines = out.getvalue().splitlines()
    assert [line for line in lines if " of " in line] == [
        "blob sha256:abababababab 40 B of 100 B (40%)",
        "blob sha256:abababababab 80 B of 100 B (80%)",
    ]
    assert lines[-1] == "blob sha256:abababababab done (100 B, 40 B/s)"


def test_plain_progress_defaults_to_the_current_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    PlainProgress()(BlobFinished(DIGEST, 2048, cached=True))
    assert capsys.readouterr().err == "blob sha256:abababababab cached (2.0 KiB)\n"


@attrs.frozen
class OutputWritten:
    """An event type the renderers have never heard of."""

    format: str
    path: str


def test_unknown_events_are_shown_with_their_fields() -> None:
    out = io.StringIO()
    PlainProgress(out)(OutputWritten("tar", "/out/system.tar"))
    assert out.getvalue() == "output written format=tar path=/out/system.tar\n"
    out = io.StringIO()
    PlainProgress(out, json=True)(OutputWritten("tar", "/out/system.tar"))
    assert json.loads(out.getvalue()) == {
        "event": "output_written",
        "format": "tar",
        "path": "/out/system.tar",
    }
    assert describe_event(object()) == "object"


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120, color_system=None), buffer


def test_rich_progress_renders_a_real_pull_with_bytes(
    big_image: PushedImage, tmp_path: Path
) -> None:
    console, buffer = _console()
    with RichProgress(console) as progress:
        _pull(big_image, Store(tmp_path / "store"), progress)
    text = buffer.getvalue()
    big = max(_layer_sizes(big_image).items(), key=lambda kv: kv[1])
    assert big[0][:19] in text
    assert "3.0/3.0 MiB" in text
    assert "layer" in text


def test_rich_progress_starts_on_the_first_event_and_shows_cached_blobs(
    big_image: PushedImage, tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    _pull(big_image, store, None)
    console, buffer = _console()
    progress = RichProgress(console)
    _pull(big_image, store, progress)
    progress.close()
    for digest in big_image.layer_digests:
        assert f"{digest[:19]} cached" in buffer.getvalue()


def test_rich_progress_prints_unknown_events_without_reading_them_as_markup() -> None:
    console, buffer = _console()
    with RichProgress(console) as progress:
        progress(OutputWritten("tar", "/out/[bold]x[/bold].tar"))
    assert "path=/out/[bold]x[/bold].tar" in buffer.getvalue()


def test_rich_progress_without_rich_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the import system can make an installed package look missing.
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    with pytest.raises(MobyAssembleError, match=r"pip install 'moby-assemble\[rich\]'"):
        RichProgress()


def test_format_bytes_uses_binary_units() -> None:
    assert [format_bytes(n) for n in (0, 1023, 1024, 10 * 1024**2, 3 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "10.0 MiB",
        "3.0 TiB",
    ]


def test_rich_progress_shows_the_steps_of_a_real_assembly(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    tiny = make_tiny_system(registry, tmp_path)
    console, buffer = _console()
    with RichProgress(console) as progress, Assembler(tmp_path / "cache", progress=progress) as asm:
        asm.assemble(System.from_yaml(tiny.config))
    text = buffer.getvalue()
    for step in ("pull", "kernel", "init", "onboot", "services", "files"):
        assert f"✓ {step} " in text
    assert "- sbom" in text  # skipped: no SBOM generator
    assert "assembled " in text  # AssemblyFinished, printed above the display


def test_plain_progress_describes_a_real_assembly(registry: LocalRegistry, tmp_path: Path) -> None:
    tiny = make_tiny_system(registry, tmp_path)
    out = io.StringIO()
    with Assembler(tmp_path / "cache", progress=PlainProgress(out)) as asm:
        asm.assemble(System.from_yaml(tiny.config))
    lines = out.getvalue().splitlines()
    assert "step 2/9 kernel: started" in lines
    assert "step sbom: skipped" in lines
    assert f"image {tiny.web} copied to services[0] (flattened)" in lines
    assert lines[-1].startswith("assembled ")
