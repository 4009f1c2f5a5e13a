"""What a benchmark produced, and how it is shown: a text table and a JSON document.

A :class:`Section` is one benchmark: its rows (one per tool, with the best run), the
ratios between tools, and the issue's targets with their verdicts.

Example::

    section = Section("pull", "cold pull of image a", rows, targets=(Target(...),))
    print(format_table([section]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._measure import Run

__all__ = ["Row", "Section", "Target", "format_table"]


@attrs.frozen
class Target:
    """A goal from the issue: ``value`` against ``limit``.

    Attributes:
        name: what is compared (``"pull time ours/skopeo"``).
        value: the measured figure.
        limit: the target.
        higher_is_better: ``>=`` target (throughput) rather than ``<=`` (time, memory).
        unit: printed after the numbers.
    """

    name: str
    value: float
    limit: float
    higher_is_better: bool = False
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def describe(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        verdict = "met" if self.met else "MISSED"
        unit = f" {self.unit}" if self.unit else ""
        target = f"target {op} {_num(self.limit)}{unit}"
        return f"{self.name}: {_num(self.value)}{unit} ({target}) {verdict}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 4),
            "limit": self.limit,
            "comparison": ">=" if self.higher_is_better else "<=",
            "unit": self.unit,
            "met": self.met,
        }


@attrs.frozen
class Row:
    """One tool's best run in a benchmark, with its rate (MB/s, entries/s …)."""

    tool: str
    run: Run
    runs: tuple[Run, ...]
    rate: float | None = None
    rate_unit: str = ""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "best": self.run.to_json(),
            "all_op_s": [round(r.op_s, 4) for r in self.runs],
            "all_wall_s": [round(r.wall_s, 4) for r in self.runs],
            "rate": None if self.rate is None else round(self.rate, 2),
            "rate_unit": self.rate_unit,
            "note": self.note,
        }


@attrs.frozen
class Section:
    """One benchmark's outcome."""

    name: str
    title: str
    rows: tuple[Row, ...]
    ratios: Mapping[str, float] = attrs.field(factory=dict)
    targets: tuple[Target, ...] = ()
    details: Mapping[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [row.to_json() for row in self.rows],
            "ratios": {k: round(v, 4) for k, v in self.ratios.items()},
            "targets": [t.to_json() for t in self.targets],
            "details": dict(self.details),
        }


def _num(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(sections: Sequence[Section]) -> str:
    """The sections as a fixed-width text table, ratios and target verdicts under each."""
    head = ("tool", "op time", "process", "peak RSS", "CPU", "rate")
    widths = (22, 10, 10, 10, 9, 22)
    lines = []
    for section in sections:
        lines.append("")
        lines.append(f"== {section.name}: {section.title}")
        lines.append("  " + " ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        for row in section.rows:
            run = row.run
            rate = "" if row.rate is None else f"{_num(row.rate)} {row.rate_unit}"
            cells = (
                row.tool,
                f"{run.op_s:.2f} s",
                f"{run.wall_s:.2f} s",
                f"{run.peak_rss_mib:.0f} MiB",
                f"{run.cpu_s:.1f} s",
                rate,
            )
            line = "  " + " ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
            lines.append(line.rstrip() + (f"   {row.note}" if row.note else ""))
        for name, value in section.ratios.items():
            lines.append(f"  ratio {name}: {value:.2f}")
        for target in section.targets:
            lines.append(f"  {target.describe()}")
    return "\n".join(lines)
