"""Fault injection for the rehearsal site: a plan (:class:`Faults`) and a pure decision.

:func:`decide` says what goes wrong with one request. It is a pure function of
the plan, the site's seed, the request target (path and query, as requested)
and ``nth`` (how many times that target was requested before), so:

- the same seed replays the same faults, request for request;
- a retry of the same target gets a fresh, independent draw;
- a share of 0 never fires, a share of 1 always fires (where it applies).

One uniform draw in ``[0, 1)`` per request is split into consecutive bands in
this order: ``server_error``, ``rate_limit``, ``slow``, ``drop``, ``broken``,
``blocked``; each kind fires with exactly its share. ``broken`` only applies
to match pages (``/matches/<id>``) and takes no band elsewhere. The shares
must add up to at most 1.

Scope: random faults apply to every path except ``/robots.txt``, or, when
``only_paths_prefix`` is set, exactly to the paths starting with it.
``fail_paths`` (bare paths or full targets) always answer 500, whatever the
scope. ``new_results_every`` is applied by the site, not here: after every N
listing requests one held-back match is revealed.

Example::

    from scrapeline.testing import Fault, Faults, decide

    plan = Faults(server_error=0.1, rate_limit=0.05, retry_after=2)
    decide(plan, seed=0, path="/results?offset=100", nth=0)  # Fault.NONE, or a fault
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields
from enum import StrEnum

__all__ = ["Fault", "Faults", "decide", "uniform"]

_ROBOTS = "/robots.txt"
_MATCH_PAGE = re.compile(r"/matches/\d+")
_SHARES = ("server_error", "rate_limit", "slow", "drop", "broken", "blocked")


class Fault(StrEnum):
    """What the site does to one request, and what a client sees."""

    NONE = "none"
    """Answer normally."""
    SERVER_ERROR = "server_error"
    """503 Service Unavailable."""
    RATE_LIMIT = "rate_limit"
    """429 Too Many Requests with ``Retry-After: <retry_after>``."""
    SLOW = "slow"
    """The normal answer, ``slow_seconds`` late."""
    DROP = "drop"
    """The connection is closed without an answer."""
    BROKEN = "broken"
    """A match page answered 200 without its ``<h1>`` block (missing data)."""
    BLOCKED = "blocked"
    """403 with an anti-bot page ("Access denied", ``<div id="challenge">``)."""
    FAILING_PATH = "failing_path"
    """500 Internal Server Error, every time (the target is in ``fail_paths``)."""


@dataclass(frozen=True, kw_only=True)
class Faults:
    """A fault plan. Shares are probabilities in ``[0, 1]`` summing to at most 1.

    Raises :class:`ValueError` on construction for out-of-range values.
    """

    server_error: float = 0.0
    rate_limit: float = 0.0
    retry_after: int = 1
    """Seconds announced in the ``Retry-After`` header of 429 answers."""
    slow: float = 0.0
    slow_seconds: float = 2.0
    drop: float = 0.0
    broken: float = 0.0
    blocked: float = 0.0
    new_results_every: int = 0
    """After every N listing requests, reveal one held-back match (0: never)."""
    fail_paths: frozenset[str] = field(default_factory=frozenset)
    only_paths_prefix: str | None = None

    def __post_init__(self) -> None:
        for name in _SHARES:
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"Faults.{name} must be between 0 and 1, got {share!r}")
        total = sum(getattr(self, name) for name in _SHARES)
        if total > 1.0 + 1e-9:
            raise ValueError(f"Faults shares add up to {total:g}; they must add up to at most 1")
        if self.retry_after < 0:
            raise ValueError("Faults.retry_after must be >= 0")
        if self.slow_seconds < 0:
            raise ValueError("Faults.slow_seconds must be >= 0")
        if self.new_results_every < 0:
            raise ValueError("Faults.new_results_every must be >= 0")
        if not isinstance(self.fail_paths, frozenset):
            # Accept any iterable of strings (a set, a list) but store it immutably.
            object.__setattr__(self, "fail_paths", frozenset(self.fail_paths))

    def __repr__(self) -> str:
        # Only what differs from the default: plans are printed in test ids and logs.
        default = Faults()
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return f"Faults({', '.join(changed)})"


def uniform(seed: int, path: str, nth: int, *, salt: str = "fault") -> float:
    """A deterministic uniform float in ``[0, 1)`` for ``(salt, seed, path, nth)``."""
    digest = hashlib.blake2b(f"{salt}:{seed}:{path}:{nth}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _in_scope(faults: Faults, bare_path: str) -> bool:
    if faults.only_paths_prefix is not None:
        return bare_path.startswith(faults.only_paths_prefix)
    return bare_path != _ROBOTS


def decide(faults: Faults, seed: int, path: str, nth: int) -> Fault:
    """The fault for the ``nth`` (0-based) request of ``path`` (path and query)."""
    bare_path = path.split("?", 1)[0]
    if path in faults.fail_paths or bare_path in faults.fail_paths:
        return Fault.FAILING_PATH
    if not _in_scope(faults, bare_path):
        return Fault.NONE
    is_match_page = _MATCH_PAGE.fullmatch(bare_path) is not None
    draw = uniform(seed, path, nth)
    upper = 0.0
    for name in _SHARES:
        if name == "broken" and not is_match_page:
            continue
        share: float = getattr(faults, name)
        upper += share
        # `share > 0` keeps a zero share from ever firing on a draw equal to the bound.
        if share > 0 and draw < upper:
            return Fault(name)
    return Fault.NONE
