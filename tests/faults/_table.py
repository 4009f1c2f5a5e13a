"""Case tables: one row per fault or hostile input, read by the tests *and* by the docs page.

A :class:`Table` is a titled tuple of :class:`Case` rows. The test that runs a table is
parametrised over :meth:`Table.params`, so every row is a test with the row's ``id``, and
``docs/_gen/faults.py`` renders the very same rows into ``docs/faults.md``: the page cannot
list a case that is not tested, or describe an outcome other than the one asserted.

A row whose ``bug`` is set documents a known defect: its test is a strict ``xfail`` (it
must keep failing until the library is fixed, then the marker has to go), and the page
says so.

This module imports nothing from pytest at import time, so the docs build needs no test
dependencies.

Example::

    >>> t = Table("Demo", "demo", "tests/x.py", "Intro.", (Case("a", "input", "it works"),))
    >>> t["a"].expected
    'succeeds'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

__all__ = ["Case", "Table"]


def _freeze(value: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple((value or {}).items())


@attrs.frozen
class Case:
    """One fault or hostile input, and what the user must see.

    Attributes:
        id: short, stable, kebab-case name (the pytest id and the docs anchor).
        given: the input or fault, in words.
        outcome: what the library does, as the user sees it.
        error: the exception class expected (``None``: the operation succeeds).
        detail: a summary generated from the case's parameters (e.g. the proxy rule),
            shown on the docs page next to ``given``.
        params: what the test needs to build the case (fault rules, layers, documents).
        bug: set when the library is known to get this wrong: why, briefly.
    """

    id: str
    given: str
    outcome: str
    error: type[BaseException] | None = None
    detail: str = ""
    params: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=_freeze, repr=False)
    bug: str | None = None

    @property
    def expected(self) -> str:
        """``"succeeds"`` or the name of the expected exception class."""
        return "succeeds" if self.error is None else self.error.__name__

    def param(self, name: str, default: Any = None) -> Any:
        """One of :attr:`params`."""
        return dict(self.params).get(name, default)


@attrs.frozen
class Table:
    """A titled set of cases run by one parametrised test.

    Attributes:
        title: the section title on the docs page.
        anchor: a short name for the section (``registry``, ``layers`` …).
        test: the test module that runs the rows (shown on the page).
        intro: what the rows have in common: how they are run and what is always checked.
        cases: the rows, in page order.
    """

    title: str
    anchor: str
    test: str
    intro: str
    cases: tuple[Case, ...]

    def __attrs_post_init__(self) -> None:
        ids = [c.id for c in self.cases]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"table {self.anchor}: duplicate case ids {duplicates}")

    def __getitem__(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(f"table {self.anchor} has no case {case_id!r}")

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def params(self, where: Callable[[Case], bool] | None = None) -> list[Any]:
        """``pytest.param`` per row (those ``where`` accepts), id = case id; rows with a
        ``bug`` are strict xfails."""
        import pytest

        out = []
        for case in self.cases:
            if where is not None and not where(case):
                continue
            marks = []
            if case.bug is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=f"BUG: {case.bug}"))
            out.append(pytest.param(case, id=case.id, marks=marks))
        return out
