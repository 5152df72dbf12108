"""Retry decisions: whether to try a request again, and how long to wait first.

Everything here is pure: the clock (``now``) and the random source (``rng``) are
arguments, so every decision is tested with a table.

Contract:

- ``attempt`` is always the 1-based number of the attempt that just failed.
- :func:`should_retry` says yes only for transient failures — network errors,
  fetch timeouts, rate limiting and the statuses in :data:`RETRY_STATUSES` — and
  only while ``attempt < policy.max_attempts``. Other 4xx, blocked pages, broken
  contracts and parse errors are never retried: trying again would get the same
  answer, or make a ban worse.
- :func:`backoff` uses *full jitter*: uniform over ``[0, min(max_delay,
  base_delay * 2 ** (attempt - 1))]``, so many workers failing at once do not
  retry in lockstep.
- :func:`retry_delay` waits at least as long as the server asked (Retry-After).
- A server asking for a pause longer than ``policy.max_delay`` is not retried
  in-process (the item fails as ``rate_limited``, which a later run retries);
  the client still pauses the whole host for as long as the server asked.
- A 429 is not a failed attempt: the client waits it out (:func:`should_wait_out`,
  :func:`rate_limited_delay`) without using up ``max_attempts``, at most
  ``policy.rate_limited_waits`` times per request; the next 429 fails the item as
  ``rate_limited``.

    >>> import random
    >>> from scrapeline.errors import HTTPError
    >>> policy = RetryPolicy(max_attempts=3, base_delay=1.0)
    >>> should_retry(HTTPError("server error", status=503), 1, policy)
    True
    >>> should_retry(HTTPError("not found", status=404), 1, policy)
    False
    >>> 0.0 <= backoff(policy, 2, random.Random(7)) <= 2.0
    True
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapeline.errors import (
    Category,
    ConfigError,
    FetchError,
    FetchTimeout,
    HTTPError,
    NetworkError,
    RateLimited,
)

RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth another try: the server may well answer differently soon."""

_MAX_EXPONENT = 62  # 2**62 * any sane base_delay is far past any max_delay; avoids overflow
_DELTA_SECONDS = re.compile(r"[+-]?\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry one request.

    ``max_attempts`` counts the first try: 4 means one try and up to three retries.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 60.0
    rate_limited_waits: int = 20
    """How many 429s one request waits out (apart from ``max_attempts``) before failing."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"retry max_attempts must be at least 1, got {self.max_attempts}")
        if self.rate_limited_waits < 0:
            raise ConfigError(
                f"retry rate_limited_waits must be at least 0, got {self.rate_limited_waits}"
            )
        for name in ("base_delay", "max_delay"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"retry {name} must be a finite number ≥ 0, got {value}")


def backoff(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (exponential, full jitter)."""
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    cap = min(policy.max_delay, policy.base_delay * 2.0**exponent)
    return rng.uniform(0.0, cap)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks us to wait, or None if absent or unreadable.

    Accepts delta-seconds (``"120"``, leniently ``"1.5"``) and HTTP-dates; a date
    without a zone, and a naive ``now``, are taken as UTC. Never negative: a date
    in the past means "now" (0.0).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        seconds = float(text)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is the kind of failure that may go away on its own."""
    if not isinstance(error, FetchError) or not error.retryable:
        return False
    if isinstance(error, HTTPError):
        return error.status in RETRY_STATUSES
    if isinstance(error, NetworkError | FetchTimeout):
        return error.category in (Category.NETWORK, Category.TIMEOUT)
    return False


def should_retry(error: BaseException, attempt: int, policy: RetryPolicy) -> bool:
    """Whether to try again after attempt number ``attempt`` failed with ``error``."""
    if attempt >= policy.max_attempts or not is_transient(error):
        return False
    retry_after = error.retry_after if isinstance(error, RateLimited) else None
    return retry_after is None or retry_after <= policy.max_delay


def retry_delay(
    error: BaseException, attempt: int, policy: RetryPolicy, rng: random.Random
) -> float:
    """Seconds to wait before the next attempt: the backoff, or longer if the server asked."""
    delay = backoff(policy, attempt, rng)
    if isinstance(error, RateLimited) and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return delay


def should_wait_out(error: RateLimited, waits: int, policy: RetryPolicy) -> bool:
    """Whether to try again after the ``waits``-th 429 to one request (1-based).

    Yes while ``waits`` is at most ``policy.rate_limited_waits`` and the server asked
    for no longer than ``policy.max_delay``; ``max_attempts`` is not involved."""
    if waits > policy.rate_limited_waits:
        return False
    return error.retry_after is None or error.retry_after <= policy.max_delay


def rate_limited_delay(
    error: RateLimited, waits: int, policy: RetryPolicy, rng: random.Random
) -> float:
    """Seconds before a request tries again after its ``waits``-th 429: what the server
    asked (the host's limiter spaces the requests that resume together), else the
    backoff for ``waits``."""
    if error.retry_after is not None:
        return error.retry_after
    return backoff(policy, waits, rng)


def host_pause(error: RateLimited, consecutive_failures: int, policy: RetryPolicy) -> float:
    """Seconds to pause a whole host after it answered 429.

    The server's Retry-After when it gave one (honoured even beyond ``max_delay``:
    politeness first); otherwise an exponential pause that grows with the host's
    consecutive 429s (``consecutive_failures``), without jitter since it is shared by
    every request.
    """
    if error.retry_after is not None:
        return error.retry_after
    exponent = min(max(consecutive_failures - 1, 0), _MAX_EXPONENT)
    return min(policy.max_delay, policy.base_delay * 2.0**exponent)
