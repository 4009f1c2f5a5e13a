"""The commands of the ``moby-assemble`` CLI (needs the ``[cli]`` extra: click).

The entry point is :func:`moby_assemble.cli.main`; this package holds the command modules so
that none grows past one job. Nothing here is public API.
"""
