"""The life cycle the test servers share: ``start()``, ``stop()``, and a ``with`` block.

Example::

    with LocalRegistry(tmp_path) as reg:   # start() on entry, stop() on exit
        ...
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Service"]


class Service:
    """A server started by :meth:`start` and stopped by :meth:`stop` (also by ``with``)."""

    def start(self) -> Self:
        """Start serving; return ``self``."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving (nothing if not running)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
