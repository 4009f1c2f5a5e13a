"""The lock tests use the assembler tests' component images (pushed once per session)."""

from __future__ import annotations

from ..assemble.conftest import components, config_schema, system, system_file  # noqa: F401
