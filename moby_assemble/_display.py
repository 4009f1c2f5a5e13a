"""How a :class:`~moby_assemble.System` shows itself in notebooks and IPython.

``_repr_html_`` is a table of components by stage with role, image and digest (filled when the
reference is pinned, or from a ``digests`` map a lock provides); ``_repr_pretty_`` is the same as
indented text. No I/O, no styling that needs a stylesheet.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._model_codec import encode
from ._model_components import File, InitImage, Kernel, Volume
from ._model_container import Container

if TYPE_CHECKING:
    from ._model import System

__all__ = ["component_rows", "fields_html", "system_html", "system_pretty"]

#: (stage, name, role, image, digest) per component.
Row = tuple[str, str, str, str, str]


def _digest(image: str, digests: Mapping[str, str] | None) -> str:
    if digests and image in digests:
        return digests[image]
    return image.partition("@")[2]


def component_rows(system: System, digests: Mapping[str, str] | None = None) -> list[Row]:
    """One row per component, in build order.

    Args:
        digests: image reference → pinned digest (e.g. from a lock), for the digest column.
    """
    rows: list[Row] = []
    for stage, c in system.components():
        if isinstance(c, Kernel):
            image = c.image or ""
            rows.append(("kernel", "kernel", "kernel", image, _digest(image, digests)))
        elif isinstance(c, InitImage):
            rows.append(("init", c.name, c.role.value, c.image, _digest(c.image, digests)))
        elif isinstance(c, Container):
            role = c.role.value if c.role is not None else ""
            assert stage is not None
            rows.append((stage.value, c.name, role, c.image, _digest(c.image, digests)))
        elif isinstance(c, Volume):
            image = c.image or ""
            rows.append(("volumes", c.name, "volume", image, _digest(image, digests)))
        elif isinstance(c, File):
            rows.append(("files", c.path, c.kind, "", ""))
    return rows


def _short_digest(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest


def system_html(system: System, digests: Mapping[str, str] | None = None) -> str:
    """An HTML table (stage, name, role, image, digest) with a one-line caption."""
    e = html.escape
    platforms = ", ".join(str(p) for p in system.platforms) or "any platform"
    head = "".join(f"<th>{h}</th>" for h in ("stage", "name", "role", "image", "digest"))
    body = []
    for stage, name, role, image, digest in component_rows(system, digests):
        cells = [e(stage), f"<code>{e(name)}</code>", e(role), f"<code>{e(image)}</code>"]
        cells.append(
            f'<code title="{e(digest)}">{e(_short_digest(digest))}</code>' if digest else ""
        )
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f"<table><caption>System for {e(platforms)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def system_pretty(system: System, digests: Mapping[str, str] | None = None) -> str:
    """Plain text for IPython: the short repr, then one indented line per component."""
    lines = [repr(system)]
    for stage, name, role, image, digest in component_rows(system, digests):
        extra = " ".join(
            x for x in (f"[{role}]" if role else "", image, _short_digest(digest)) if x
        )
        lines.append(f"  {stage:<10} {name} {extra}".rstrip())
    return "\n".join(lines)


def fields_html(value: Container | Kernel) -> str:
    """A two-column table (LinuxKit key, value) of the fields that are set."""
    e = html.escape
    rows = []
    role = getattr(value, "role", None)
    if role is not None:
        rows.append(("role", role.value))
    rows += [(k, v if isinstance(v, str) else repr(v)) for k, v in encode(value).items()]
    body = "".join(f"<tr><th>{e(k)}</th><td><code>{e(str(v))}</code></td></tr>" for k, v in rows)
    return f"<table><caption>{e(type(value).__name__)}</caption><tbody>{body}</tbody></table>"
