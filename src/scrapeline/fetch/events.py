"""Events the fetch client reports to ``on_event`` subscribers (console, metrics, ...).

Plain frozen values; subscribers only observe. Emitted in the order things happen
for one request; nothing is emitted when no subscriber is set.

    >>> event = RetryScheduled(url="http://h/x", host="h", attempt=1, delay=0.5, reason="503")
    >>> event.host, event.attempt, event.delay
    ('h', 1, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """A request succeeded (possibly after retries and redirects)."""

    url: str
    host: str
    status: int
    elapsed: float
    """Seconds the last attempt took on the wire."""
    attempts: int
    size: int
    """Body bytes."""
    stage: str | None = None
    item_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryScheduled:
    """Attempt number ``attempt`` failed; the next one starts in ``delay`` seconds."""

    url: str
    host: str
    attempt: int
    delay: float
    reason: str
    stage: str | None = None
    item_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostPaused:
    """No request starts to ``host`` for ``seconds`` (it answered 429)."""

    host: str
    seconds: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSlowed:
    """Requests to ``host`` now start at most ``rate`` per second (it answered 429, or
    its breaker opened: ``reason``); the rate grows back slowly."""

    host: str
    rate: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HostRecovered:
    """``host`` is back to its full rate: ``rate`` per second, or no limit (None)."""

    host: str
    rate: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerOpened:
    """``host`` kept failing: requests to it wait ``cooldown`` seconds, then one tries."""

    host: str
    trips: int
    cooldown: float
    last_errors: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerClosed:
    """``host`` answered again after its breaker had opened."""

    host: str


FetchEvent: TypeAlias = (
    Fetched
    | RetryScheduled
    | HostPaused
    | HostSlowed
    | HostRecovered
    | BreakerOpened
    | BreakerClosed
)
