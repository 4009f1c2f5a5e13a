"""When and how long to wait before repeating a failed registry request.

Only idempotent requests are repeated (GET, HEAD, PUT, DELETE with a replayable body), and
only for failures that another try can fix: connection errors and timeouts, ``429 Too Many
Requests`` (honouring ``Retry-After``) and the server errors ``500 502 503 504``.

Example::

    >>> policy = RetryPolicy(attempts=3, backoff=0.1)
    >>> policy.should_retry_status(503), policy.should_retry_status(404)
    (True, False)
    >>> policy.delay(1, retry_after=2.0)
    2.0
"""

from __future__ import annotations

import datetime
import email.utils
import random

import attrs

__all__ = ["RetryPolicy", "parse_retry_after"]


def _positive_attempts(_instance: object, _attribute: object, value: int) -> None:
    if value < 1:
        raise ValueError(f"retry attempts must be at least 1, got {value}")


@attrs.frozen
class RetryPolicy:
    """Retry budget and backoff for idempotent requests.

    Example::

        RegistryClient(retry=RetryPolicy(attempts=6, backoff=1.0, max_backoff=30.0))
        RegistryClient(retry=RetryPolicy.none())   # fail on the first error

    Attributes:
        attempts: tries in total, the first one included (1 = never retry).
        backoff: delay before the second try, in seconds; doubled for each further try.
        max_backoff: upper bound of the computed (exponential) delay.
        max_retry_after: longest ``Retry-After`` we are willing to sleep; a registry that
            asks for more gets a :class:`~moby_assemble.RateLimitError` at once.
        statuses: HTTP statuses that are retried.
        jitter: spread delays randomly over ``[delay/2, delay]`` so that parallel
            downloads do not retry in lock-step.
    """

    attempts: int = attrs.field(default=4, validator=_positive_attempts)
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 60.0
    statuses: frozenset[int] = attrs.field(
        default=frozenset({429, 500, 502, 503, 504}), converter=frozenset
    )
    jitter: bool = True

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)

    def should_retry_status(self, status_code: int) -> bool:
        return status_code in self.statuses

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based).

        A ``Retry-After`` from the registry wins over the computed backoff.
        """
        if retry_after is not None:
            return max(0.0, retry_after)
        base = min(self.max_backoff, self.backoff * 2.0 ** max(0, attempt - 1))
        if self.jitter:
            # Not security relevant: only spreads retries of parallel downloads apart.
            return random.uniform(base / 2, base)  # noqa: S311
        return base


def parse_retry_after(value: str | None, *, now: datetime.datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else ``None``.

    Example::

        >>> parse_retry_after("3")
        3.0
        >>> parse_retry_after("soon") is None
        True
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    now = now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (when - now).total_seconds())
