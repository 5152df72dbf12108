"""Pure decisions the runner takes as outcomes arrive."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from scrapeline.errors import Category


class Family(Enum):
    """What a streak of failures of one kind most likely means."""

    OUTAGE = "outage"
    """The site is down, or refuses us: network, timeouts, 429, 5xx, blocked."""
    LAYOUT = "layout"
    """The site answers, but not with the pages the stages declared (contract)."""
    CODE = "code"
    """The stage's own code does not cope: parse, validation, an unexpected exception."""


FAMILIES: dict[str, Family] = {
    Category.NETWORK: Family.OUTAGE,
    Category.TIMEOUT: Family.OUTAGE,
    Category.RATE_LIMITED: Family.OUTAGE,
    Category.HTTP_5XX: Family.OUTAGE,
    Category.BLOCKED: Family.OUTAGE,
    Category.CONTRACT: Family.LAYOUT,
    Category.PARSE: Family.CODE,
    Category.VALIDATION: Family.CODE,
    Category.ERROR: Family.CODE,
}
"""Categories that count towards a streak. The others (http_4xx, robots, forbidden_host,
too_large, bad_encoding, archive_miss) are about one item: they neither count nor reset."""


@dataclass(slots=True)
class _Streak:
    length: int = 0
    first_error: str = ""
    stages: dict[str, None] = field(default_factory=dict)
    """The stages whose outcomes make up the streak, in the order they joined it."""


@dataclass(slots=True)
class FailureStreaks:
    """Stop the run after ``limit`` failures in a row of one family; say which.

    Isolated failures do not stop a run; a streak does, and its family names the
    likely cause. There is one streak for outages and one for layout changes across
    the whole pipeline, and one per stage for failures of the stage's own code (a
    bug in one stage says nothing about the others).

    - A success of stage S ends the outage and layout streaks (the site answered
      as declared) and S's code streak. Other stages' code streaks go on.
    - A failure adds to its family's streak only: a parse error between two
      timeouts neither breaks nor lengthens the outage streak.
    - ``limit`` 0 turns the check off.
    - A layout streak names the stage (or stages) whose responses broke their contract;
      it never reads as an outage ("likely banned or site down").

    >>> policy = FailureStreaks(limit=2)
    >>> policy.record(stage="overview", category="parse", message="no h1")
    >>> policy.record(stage="overview", category="network", message="refused")
    >>> policy.record(stage="overview", category="parse", message="no h2")
    'stage overview failed 2 items in a row: a bug in the stage? first error: no h1'
    """

    limit: int
    outage: _Streak = field(default_factory=_Streak)
    layout: _Streak = field(default_factory=_Streak)
    code: dict[str, _Streak] = field(default_factory=dict)

    def record(self, *, stage: str, category: str | None, message: str = "") -> str | None:
        """Count one outcome (``category`` None: it succeeded); return the reason to
        halt, or None to go on."""
        if category is None:
            self.outage = _Streak()
            self.layout = _Streak()
            self.code.pop(stage, None)
            return None
        family = FAMILIES.get(category)
        if family is None:
            return None
        if family is Family.OUTAGE:
            streak = self.outage
        elif family is Family.LAYOUT:
            streak = self.layout
        else:
            streak = self.code.setdefault(stage, _Streak())
        if not streak.length:
            streak.first_error = message
        streak.length += 1
        streak.stages[stage] = None
        if not self.limit or streak.length < self.limit:
            return None
        n = streak.length
        if family is Family.OUTAGE:
            return f"{n} consecutive failures: likely banned or site down"
        if family is Family.LAYOUT:
            return layout_reason(n, tuple(streak.stages))
        return (
            f"stage {stage} failed {n} items in a row: a bug in the stage? "
            f"first error: {streak.first_error}"
        )


def layout_reason(responses: int, stages: tuple[str, ...]) -> str:
    """Why a streak of contract failures halts a run, naming the stage(s) it hit.

    >>> layout_reason(3, ("overview",))
    "the site's layout may have changed: 3 responses in a row broke the contract of stage overview"
    >>> layout_reason(4, ("overview", "stats")).partition(": ")[2]
    '4 responses in a row broke the contract of stages overview, stats'
    """
    which = f"stage {stages[0]}" if len(stages) == 1 else f"stages {', '.join(stages)}"
    return (
        f"the site's layout may have changed: {responses} responses in a row "
        f"broke the contract of {which}"
    )


def claim_size(workers: int) -> int:
    """How many tasks to lease at once: enough to keep workers busy, few enough to
    leave work for other machines and to release quickly on interrupt."""
    return max(128, min(64 * workers, 1024))
