"""Renderers for the library's progress events: plain lines for logs, live bars for people.

The library never draws anything; it hands typed events (``BlobStarted``, ``BlobProgress``,
``BlobFinished`` from a pull, ``StepStarted``/``StepFinished`` … from an assembly) to a
callback. Both classes here are such callbacks:

- :class:`PlainProgress` writes one line per event to a text stream (``sys.stderr`` by
  default), or one JSON object per line, for CI logs. Byte progress of a blob is
  throttled so a big layer does not flood the log.
- :class:`RichProgress` (extra ``[rich]``) shows a bar per blob with bytes and throughput and
  a list of build steps, live, in a terminal or a Jupyter notebook.

Events may arrive on download threads; both renderers are thread-safe.

Example::

    from moby_assemble.progress import PlainProgress, RichProgress

    with RichProgress() as progress:
        Puller(client, store, progress=progress).pull(ref, platform)

    Puller(client, store, progress=PlainProgress(sys.stderr)).pull(ref, platform)

Event types this module does not know (say, from a newer library part or a plugin) are still
rendered: as their class name and fields.

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from ._errors import MobyAssembleError
from .registry._events import BlobFinished, BlobProgress, BlobStarted

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.progress import Progress, TaskID

__all__ = ["PlainProgress", "RichProgress", "event_fields", "event_name", "format_bytes"]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_RICH_MISSING = "RichProgress needs the 'rich' package: pip install 'moby-assemble[rich]'"


def format_bytes(size: float) -> str:
    """A byte count in binary units, one decimal above bytes.

    Example::

        >>> format_bytes(512), format_bytes(1536), format_bytes(5 * 1024**3)
        ('512 B', '1.5 KiB', '5.0 GiB')
    """
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def event_name(event: object) -> str:
    """The snake_case name of an event's class (``BlobStarted`` → ``"blob_started"``)."""
    return _CAMEL.sub("_", type(event).__name__).lower()


def event_fields(event: object) -> dict[str, Any]:
    """An event's fields as a dict of JSON-compatible values (attrs classes; else ``{}``).

    Example::

        >>> event_fields(BlobProgress("sha256:" + 64 * "a", 1, 2))["done"]
        1
    """
    if not attrs.has(type(event)):
        return {}
    return {k: _jsonable(v) for k, v in attrs.asdict(event, recurse=False).items()}  # type: ignore[arg-type]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _short(digest: str) -> str:
    # "sha256:" plus 12 hex digits, as docker shows image ids: unique enough to read.
    alg, _, encoded = digest.partition(":")
    return f"{alg}:{encoded[:12]}" if encoded else digest


def _rate(size: int, seconds: float) -> str:
    if seconds <= 0:
        return ""
    return f", {format_bytes(size / seconds)}/s"


class PlainProgress:
    """Write one line per event to a text stream (or one JSON object per line).

    Args:
        stream: where lines go; ``None`` means ``sys.stderr`` at the time of each event (so
            a redirected ``sys.stderr`` is honoured).
        json: write ``{"event": "blob_started", "digest": …}`` objects instead of text.
        interval: the least number of seconds between two byte-progress lines of one blob
            (its start and end are always written).
        clock: a monotonic clock (a test seam).

    Example::

        >>> import io
        >>> out = io.StringIO()
        >>> PlainProgress(out)(BlobFinished("sha256:" + 64 * "a", 2048, cached=True))
        >>> out.getvalue()
        'blob sha256:aaaaaaaaaaaa cached (2.0 KiB)\\n'
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        json: bool = False,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._json = json
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._last_line: dict[str, float] = {}

    def __call__(self, event: object) -> None:
        """Render one event (thread-safe)."""
        with self._lock:
            line = self._line(event)
            if line is None:
                return
            stream = self._stream if self._stream is not None else sys.stderr
            stream.write(line + "\n")
            stream.flush()

    def _line(self, event: object) -> str | None:
        now = self._clock()
        if isinstance(event, BlobStarted):
            self._started[event.digest] = now
            self._last_line[event.digest] = now
        elif isinstance(event, BlobProgress):
            last = self._last_line.get(event.digest)
            if last is not None and now - last < self._interval:
                return None
            self._last_line[event.digest] = now
        elif isinstance(event, BlobFinished):
            self._last_line.pop(event.digest, None)
            started = self._started.pop(event.digest, None)
            if self._json:
                fields = event_fields(event)
                if started is not None and not event.cached:
                    fields["seconds"] = round(now - started, 3)
                return self._json_line(event, fields)
            return self._blob_finished(event, None if started is None else now - started)
        if self._json:
            return self._json_line(event, event_fields(event))
        return self._text(event)

    @staticmethod
    def _json_line(event: object, fields: dict[str, Any]) -> str:
        return json.dumps({"event": event_name(event), **fields}, sort_keys=True)

    @staticmethod
    def _blob_finished(event: BlobFinished, seconds: float | None) -> str:
        if event.cached:
            return f"blob {_short(event.digest)} cached ({format_bytes(event.size)})"
        rate = _rate(event.size, seconds) if seconds is not None else ""
        return f"blob {_short(event.digest)} done ({format_bytes(event.size)}{rate})"

    @staticmethod
    def _text(event: object) -> str:
        if isinstance(event, BlobStarted):
            return (
                f"blob {_short(event.digest)} started ({format_bytes(event.size)}, "
                f"{event.media_type}) for {event.reference}"
            )
        if isinstance(event, BlobProgress):
            percent = f" ({100 * event.done // event.size}%)" if event.size else ""
            return (
                f"blob {_short(event.digest)} {format_bytes(event.done)} of "
                f"{format_bytes(event.size)}{percent}"
            )
        return describe_event(event)


def describe_event(event: object) -> str:
    """One line of text for an assembly event (known kinds get a tailored line, others
    ``name key=value …``).

    Example::

        >>> from moby_assemble.assemble import StepStarted
        >>> describe_event(StepStarted("kernel", 0, 9))
        'step 1/9 kernel: started'
    """
    # Imported here: the assembler (and with it httpx) loads only when its events arrive,
    # so rendering a pull or importing this module stays light.
    from .assemble._events import (
        AssemblyFinished,
        ImageCopied,
        ImageFlattened,
        ImageReused,
        StepFailed,
        StepFinished,
        StepStarted,
    )

    if isinstance(event, StepStarted):
        return f"step {event.index + 1}/{event.total} {event.step}: started"
    if isinstance(event, StepFinished):
        if event.skipped:
            return f"step {event.step}: skipped"
        return (
            f"step {event.step}: done in {event.seconds:.2f}s "
            f"({event.entries} entries, {format_bytes(event.bytes)})"
        )
    if isinstance(event, StepFailed):
        return f"step {event.step}: failed: {event.error}"
    if isinstance(event, ImageFlattened):
        return (
            f"image {event.reference} flattened ({event.layers} layers, {format_bytes(event.size)})"
        )
    if isinstance(event, ImageCopied):
        source = "from the flat cache" if event.cached else "flattened"
        return f"image {event.reference} copied to {event.location} ({source})"
    if isinstance(event, ImageReused):
        return f"image {event.reference} reused for {event.location} (shares {event.directory})"
    if isinstance(event, AssemblyFinished):
        return (
            f"assembled {format_bytes(event.size)} root filesystem in "
            f"{event.seconds:.2f}s (bundle {event.bundle[:12]})"
        )
    detail = " ".join(f"{k}={v}" for k, v in event_fields(event).items())
    return f"{event_name(event).replace('_', ' ')} {detail}".rstrip()


# -- rich -----------------------------------------------------------------------------------


@attrs.define
class _Step:
    name: str
    state: str = "running"  # running | done | skipped | failed
    detail: str = ""


class RichProgress:
    """Live progress in a terminal or notebook: a bar per blob (bytes, throughput) and a list
    of build steps. Needs the ``rich`` package (extra ``[rich]``).

    Use it as a context manager (the display starts on entry and is finished on exit), or
    call it directly: the display then starts with the first event and :meth:`close` ends it.

    Args:
        console: the ``rich`` console to draw on (default: a new one on ``sys.stderr``).
        transient: remove the display when done instead of leaving the final state.
        refresh_per_second: redraws per second.

    Raises:
        MobyAssembleError: ``rich`` is not installed (the message names the extra).

    Example::

        with RichProgress() as progress, Assembler(cache, progress=progress) as asm:
            asm.assemble(system)
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        transient: bool = False,
        refresh_per_second: float = 8,
    ) -> None:
        try:
            from rich.console import Console as _Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
        except ImportError as e:
            raise MobyAssembleError(_RICH_MISSING) from e
        self._console = console if console is not None else _Console(stderr=True)
        self._transient = transient
        self._refresh = refresh_per_second
        self._progress: Progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._console,
        )
        self._lock = threading.RLock()
        self._tasks: dict[str, TaskID] = {}
        self._steps: list[_Step] = []
        self._live: Live | None = None
        self._closed = False

    @property
    def console(self) -> Console:
        """The console drawn on."""
        return self._console

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the live display (a no-op if it runs already)."""
        from rich.live import Live

        with self._lock:
            if self._live is not None:
                return
            self._closed = False
            self._live = Live(
                _Display(self),
                console=self._console,
                transient=self._transient,
                refresh_per_second=self._refresh,
            )
            self._live.start()

    def close(self) -> None:
        """Draw the final state and stop the live display."""
        with self._lock:
            live, self._live = self._live, None
            self._closed = True
        if live is not None:
            live.refresh()
            live.stop()

    def __enter__(self) -> RichProgress:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- events ----------------------------------------------------------------------------

    def __call__(self, event: object) -> None:
        """Show one event (thread-safe)."""
        with self._lock:
            if self._live is None and not self._closed:
                self.start()
            message: str | None = None
            if isinstance(event, BlobStarted):
                self._blob_started(event)
            elif isinstance(event, BlobProgress):
                task = self._tasks.get(event.digest)
                if task is not None:
                    self._progress.update(task, completed=event.done, total=event.size)
            elif isinstance(event, BlobFinished):
                message = self._blob_finished(event)
            else:
                message = self._other(event)
        # Printed outside the lock: the live display's refresh thread holds the console's
        # lock while it asks for our renderable, so printing under our lock could deadlock.
        if message is not None:
            self._console.print(message, highlight=False)

    def _blob_started(self, event: BlobStarted) -> None:
        if event.digest in self._tasks:
            return
        self._tasks[event.digest] = self._progress.add_task(
            f"{_short(event.digest)} {_kind(event.media_type)}", total=event.size
        )

    def _blob_finished(self, event: BlobFinished) -> str | None:
        task = self._tasks.get(event.digest)
        if task is None:
            # Already in the store: no bar was shown, so say so in one line.
            if event.cached:
                return f"[dim]{_short(event.digest)} cached ({format_bytes(event.size)})"
            return None
        self._progress.update(task, completed=event.size, total=event.size)
        self._progress.stop_task(task)
        return None

    def _other(self, event: object) -> str | None:
        from .assemble._events import StepFailed, StepFinished, StepStarted

        if isinstance(event, StepStarted):
            self._steps.append(_Step(event.step))
            return None
        if isinstance(event, StepFailed):
            step = self._step(event.step)
            step.state, step.detail = "failed", event.error
            return None
        if isinstance(event, StepFinished):
            step = self._step(event.step)
            if event.skipped:
                step.state = "skipped"
            else:
                step.state = "done"
                step.detail = (
                    f"{event.seconds:.2f}s, {event.entries} entries, {format_bytes(event.bytes)}"
                )
            return None
        return _escape(describe_event(event))

    def _step(self, name: str) -> _Step:
        for step in reversed(self._steps):
            if step.name == name:
                return step
        step = _Step(name)
        self._steps.append(step)
        return step

    def renderable(self) -> RenderableType:
        """What the live display shows now: the step list above the blob bars."""
        from rich.console import Group
        from rich.table import Table

        with self._lock:
            parts: list[RenderableType] = []
            if self._steps:
                table = Table.grid(padding=(0, 1))
                for step in self._steps:
                    mark = _STEP_MARKS[step.state]
                    table.add_row(mark, _escape(step.name), f"[dim]{_escape(step.detail)}")
                parts.append(table)
            if self._tasks:
                parts.append(self._progress.get_renderable())
            return Group(*parts)


_STEP_MARKS = {
    "running": "[yellow]…",
    "done": "[green]✓",
    "skipped": "[dim]-",
    "failed": "[red]✗",
}


def _escape(text: str) -> str:
    # Image references and error messages may hold "[...]", which rich would read as markup.
    from rich.markup import escape

    return escape(text)


def _kind(media_type: str) -> str:
    if "manifest" in media_type or "index" in media_type:
        return "manifest"
    if "config" in media_type:
        return "config"
    if "layer" in media_type or "rootfs" in media_type:
        return "layer"
    return "blob"


class _Display:
    """Re-rendered on every refresh of the live display."""

    def __init__(self, owner: RichProgress) -> None:
        self._owner = owner

    def __rich__(self) -> RenderableType:
        return self._owner.renderable()
