"""Development sessions: ``nox -s tests lint typing docs bench``.

Each session installs the package with the dependency group it needs (PEP 735 groups, pip >= 25.1).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typing", "tests"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"


def _install(session: nox.Session, *groups: str, extras: str = "") -> None:
    session.install("--upgrade", "pip>=25.1")
    args = ["-e", f".{extras}"]
    for group in groups:
        args += ["--group", group]
    session.install(*args)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (pass ``-- --skip-slow`` to skip QEMU boots and large images)."""
    _install(session, "tests", extras="[cli,rich,oras]")
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict on the package and on the typed usage file."""
    _install(session, "typing", extras="[cli,rich]")
    session.run("mypy", "--strict", "moby_assemble")
    session.run("mypy", "--strict", "tests/typing")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the Sphinx documentation with warnings as errors."""
    _install(session, "docs")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against skopeo and umoci (needs docker-registry, skopeo, umoci on PATH)."""
    _install(session, "tests", extras="[oras]")
    session.run("python", "-m", "benchmarks", *session.posargs)
