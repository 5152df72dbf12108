"""A circuit breaker per host, as a pure state machine.

A host whose requests keep failing (connection errors, timeouts, 5xx, 429, blocked
pages) stops getting requests for a while, then gets one trial request:

::

    CLOSED ──threshold consecutive failures──▶ OPEN ──cooldown passed──▶ HALF_OPEN
      ▲                                         ▲                          │ one trial
      └───────────── any success ───────────────┼──────────────────────────┤
                                                └──── trial fails ─────────┘
    the max_trips-th consecutive open without a success ──▶ DEAD (HostDown: halt the run)

The state is a frozen :class:`Breaker` value; :func:`admit`, :func:`record_success`,
:func:`record_failure` and :func:`release_trial` return the next value. The clock is
an argument (``now``, monotonic seconds), so every transition is tested with a table.

Contract:

- Only failures that say something about the *host* count (the client decides which);
  a 404 or a broken contract is the host answering normally and counts as a success.
- Any success closes the breaker and forgets earlier trips.
- Failures reported while OPEN (requests that started before it opened) are only
  remembered in ``last_errors``; they do not trip the breaker again.
- In HALF_OPEN exactly one trial is let through; others wait for its outcome. A trial
  that ends with neither (cancelled) must be handed back with :func:`release_trial`.
- :func:`admit` on a DEAD host raises :class:`HostDown`, a :class:`RunHalted` whose
  message names the host and its last errors.

    >>> policy = BreakerPolicy(threshold=2, cooldown=10.0)
    >>> b = Breaker(host="example.com")
    >>> b = record_failure(b, now=0.0, error="503", policy=policy)
    >>> b = record_failure(b, now=1.0, error="503", policy=policy)
    >>> b.state, admit(b, now=5.0, policy=policy)[1]
    (<BreakerState.OPEN: 'open'>, 6.0)
    >>> b, wait = admit(b, now=11.0, policy=policy)
    >>> b.state, wait
    (<BreakerState.HALF_OPEN: 'half_open'>, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from scrapeline.errors import ConfigError, RunHalted


class BreakerState(StrEnum):
    CLOSED = "closed"
    """Requests flow."""
    OPEN = "open"
    """Requests wait for the cooldown."""
    HALF_OPEN = "half_open"
    """One trial request decides."""
    DEAD = "dead"
    """Tripped ``max_trips`` times in a row: the run should stop."""


class HostDown(RunHalted):
    """A host kept failing through every cooldown: likely a ban or the site is down."""

    def __init__(self, host: str, *, trips: int, last_errors: Sequence[str] = ()) -> None:
        self.host = host
        self.trips = trips
        self.last_errors = tuple(last_errors)
        errors = "; ".join(self.last_errors) or "none recorded"
        super().__init__(
            f"{host} is not answering (likely banned or site down): the circuit breaker opened "
            f"{trips} times in a row without a success. Last errors: {errors}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """When to stop sending to a host, for how long, and when to give up on it."""

    threshold: int = 5
    """Consecutive failed requests that open the breaker."""
    cooldown: float = 30.0
    """Seconds the breaker stays open before a trial request."""
    max_trips: int = 3
    """Consecutive opens without a success after which the host is declared down."""
    keep_errors: int = 5
    """How many recent error messages to keep for the report."""

    def __post_init__(self) -> None:
        for name in ("threshold", "max_trips", "keep_errors"):
            if getattr(self, name) < 1:
                raise ConfigError(f"breaker {name} must be at least 1, got {getattr(self, name)}")
        if not self.cooldown >= 0:
            raise ConfigError(f"breaker cooldown must be ≥ 0 seconds, got {self.cooldown}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Breaker:
    """The breaker of one host at one moment."""

    host: str
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    """Consecutive failed requests since the last success."""
    trips: int = 0
    """Consecutive opens since the last success."""
    opened_at: float = 0.0
    trial: bool = False
    """Whether the HALF_OPEN trial request is in flight."""
    last_errors: tuple[str, ...] = ()


def admit(breaker: Breaker, *, now: float, policy: BreakerPolicy) -> tuple[Breaker, float | None]:
    """May a request to this host go now?

    Returns the next breaker and a wait: ``0.0`` means send now; a positive number
    means ask again after that many seconds; ``None`` means a trial request is in
    flight, ask again once it settles. Raises :class:`HostDown` if the host is dead.
    """
    match breaker.state:
        case BreakerState.CLOSED:
            return breaker, 0.0
        case BreakerState.OPEN:
            reopen = breaker.opened_at + policy.cooldown
            if now < reopen:
                return breaker, reopen - now
            return replace(breaker, state=BreakerState.HALF_OPEN, trial=True), 0.0
        case BreakerState.HALF_OPEN:
            if breaker.trial:
                return breaker, None
            return replace(breaker, trial=True), 0.0
        case BreakerState.DEAD:
            raise HostDown(breaker.host, trips=breaker.trips, last_errors=breaker.last_errors)
    raise AssertionError(breaker.state)  # pragma: no cover - the match is exhaustive


def record_success(breaker: Breaker) -> Breaker:
    """The host answered usefully: close the breaker and forget earlier trips."""
    if breaker.state is BreakerState.DEAD:
        return breaker
    if breaker.state is BreakerState.CLOSED and breaker.failures == 0 and breaker.trips == 0:
        return breaker  # the common case: no new value per request
    return replace(breaker, state=BreakerState.CLOSED, failures=0, trips=0, trial=False)


def record_failure(breaker: Breaker, *, now: float, error: str, policy: BreakerPolicy) -> Breaker:
    """A request to the host failed in a way that says something about the host."""
    errors = (*breaker.last_errors, error)[-policy.keep_errors :]
    match breaker.state:
        case BreakerState.CLOSED:
            failures = breaker.failures + 1
            if failures < policy.threshold:
                return replace(breaker, failures=failures, last_errors=errors)
            return _open(breaker, now=now, failures=failures, errors=errors, policy=policy)
        case BreakerState.HALF_OPEN:
            return _open(
                breaker, now=now, failures=breaker.failures + 1, errors=errors, policy=policy
            )
        case BreakerState.OPEN | BreakerState.DEAD:
            return replace(breaker, last_errors=errors)
    raise AssertionError(breaker.state)  # pragma: no cover - the match is exhaustive


def release_trial(breaker: Breaker) -> Breaker:
    """The trial request ended without an outcome (cancelled): let another one try."""
    if breaker.state is BreakerState.HALF_OPEN and breaker.trial:
        return replace(breaker, trial=False)
    return breaker


def _open(
    breaker: Breaker,
    *,
    now: float,
    failures: int,
    errors: tuple[str, ...],
    policy: BreakerPolicy,
) -> Breaker:
    trips = breaker.trips + 1
    state = BreakerState.DEAD if trips >= policy.max_trips else BreakerState.OPEN
    return replace(
        breaker,
        state=state,
        failures=failures,
        trips=trips,
        opened_at=now,
        trial=False,
        last_errors=errors,
    )
