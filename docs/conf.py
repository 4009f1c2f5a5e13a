"""Sphinx configuration: MyST Markdown pages, Furo theme, autodoc from docstrings."""

from __future__ import annotations

import moby_assemble

project = "moby_assemble"
author = "moby_assemble developers"
release = moby_assemble.__version__
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "moby_assemble"
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Options", "params_style")]
nitpicky = False
