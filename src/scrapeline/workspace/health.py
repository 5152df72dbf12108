"""``health``: how each stage has been doing over the last N runs.

    report = health(pipe, Path("data/football"), runs=10)
    report["stages"][0]   # {"stage": "overview", "tasks": 4012, "success_rate": 0.993, ...}

Per stage, over the last ``runs`` runs: the tasks they settled (done and failed),
the share done, the p50 and p95 duration of an attempt, the records the done ones
wrote, and the most common error categories, each with its count in every run of the
window (oldest first) and its trend against the ``runs`` runs before them: ``more``,
``fewer`` or ``same`` (None when there were no runs before to compare with). A
category the runs before had and the window has not shows with 0, ``fewer``.

Read-only, by index: the newest 2 × N runs by id, then their attempts by run, grouped
in the ledger; only the window's durations come back whole (for the percentiles).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scrapeline.ledger.base import RunTally
from scrapeline.observe.stats import percentile
from scrapeline.pipeline import Pipeline
from scrapeline.workspace.history import settle_crashed
from scrapeline.workspace.opened import Workspace

TOP_ERRORS = 3
"""Error categories shown per stage, most common first."""


@dataclass(frozen=True, kw_only=True)
class ErrorTrend:
    """One error category of a stage: its failures in the window, in each of the
    window's runs (oldest first), in the runs before, and the trend."""

    category: str
    count: int
    per_run: tuple[int, ...]
    previous: int
    trend: str | None


@dataclass(frozen=True, kw_only=True)
class StageHealth:
    stage: str
    tasks: int
    done: int
    failed: int
    success_rate: float | None
    """Done over tasks; None when the stage settled no task in the window."""
    p50: float
    p95: float
    """Seconds an attempt took, done or failed."""
    records: int
    errors: tuple[ErrorTrend, ...]


def trend(now: int, before: int | None) -> str | None:
    """``more``, ``fewer`` or ``same`` failures than before; None with nothing to
    compare with. Pure.

    >>> trend(5, 2), trend(0, 3), trend(4, 4), trend(4, None)
    ('more', 'fewer', 'same', None)
    """
    if before is None:
        return None
    if now == before:
        return "same"
    return "more" if now > before else "fewer"


def stage_health(
    window: Sequence[RunTally | None],
    previous: Sequence[RunTally | None] | None,
    durations: Mapping[str, Sequence[float]],
    *,
    order: Sequence[str] = (),
    top: int = TOP_ERRORS,
) -> list[StageHealth]:
    """Each stage's health from the window's tallies (one per run, oldest first;
    None for a run with no attempts), the tallies of the runs before it (None: there
    were none) and the window's durations. Stages in ``order`` first, then the others
    as met. Pure.

    >>> from scrapeline.ledger.base import StageTally
    >>> run = lambda n: RunTally(run_id=n, stages={"overview": StageTally(
    ...     done=8, failed=2, records=8, categories={"parse": 2})})
    >>> [h] = stage_health([run(2), run(3)], [run(1)], {"overview": [1.0, 2.0, 3.0]})
    >>> h.tasks, h.success_rate, h.p50, h.errors[0].per_run, h.errors[0].trend
    (20, 0.8, 2.0, (2, 2), 'more')
    """
    stages = list(dict.fromkeys([*order, *(s for run in window if run for s in run.stages)]))
    before: dict[str, dict[str, int]] = {}
    for run in previous or ():
        for stage, tally in (run.stages if run else {}).items():
            into = before.setdefault(stage, {})
            for name, n in tally.categories.items():
                into[name] = into.get(name, 0) + n
    out = []
    for stage in stages:
        mine = [run.stages.get(stage) if run else None for run in window]
        done = sum(t.done for t in mine if t)
        failed = sum(t.failed for t in mine if t)
        if not done and not failed and stage not in order:
            continue
        earlier = before.get(stage, {})
        # the categories of the runs before too: one gone from the window shows "fewer"
        per_run: dict[str, list[int]] = {name: [0] * len(mine) for name in earlier}
        for i, got in enumerate(mine):
            for name, n in (got.categories if got else {}).items():
                per_run.setdefault(name, [0] * len(mine))[i] += n
        ranked = sorted(
            per_run.items(), key=lambda kv: (-sum(kv[1]), -earlier.get(kv[0], 0), kv[0])
        )[:top]
        spent = durations.get(stage, ())
        out.append(
            StageHealth(
                stage=stage,
                tasks=done + failed,
                done=done,
                failed=failed,
                success_rate=round(done / (done + failed), 4) if done + failed else None,
                p50=round(percentile(spent, 50), 4),
                p95=round(percentile(spent, 95), 4),
                records=sum(t.records for t in mine if t),
                errors=tuple(
                    ErrorTrend(
                        category=name,
                        count=sum(counts),
                        per_run=tuple(counts),
                        previous=earlier.get(name, 0),
                        trend=trend(
                            sum(counts), None if previous is None else earlier.get(name, 0)
                        ),
                    )
                    for name, counts in ranked
                ),
            )
        )
    return out


def health(pipeline: Pipeline, data_dir: Path, runs: int = 10) -> dict[str, Any]:
    """The health of every stage over the last ``runs`` runs (see the module doc):
    ``{"pipeline", "runs": [ids, oldest first], "compared_with": [ids] or None,
    "stages": [...]}``. DataDirError in one line when there is no ledger."""
    with Workspace.read(data_dir, pipeline) as ws:
        recent = settle_crashed(ws, ws.ledger.runs(2 * runs))
        window = [r.id for r in reversed(recent[:runs])]
        earlier = [r.id for r in reversed(recent[runs:])]
        tallies = ws.ledger.tallies(window + earlier)
        spent = ws.ledger.durations(window) if window else {}
    stages = stage_health(
        [tallies.get(i) for i in window],
        [tallies.get(i) for i in earlier] if earlier else None,
        spent,
        order=list(pipeline.stages),
    )
    return {
        "pipeline": pipeline.name,
        "data_dir": str(data_dir),
        "runs": window,
        "compared_with": earlier or None,
        "stages": [_plain(h) for h in stages],
    }


def _plain(health: StageHealth) -> dict[str, Any]:
    """A stage's health as JSON has it (lists, not tuples)."""
    value = asdict(health)
    value["errors"] = [{**e, "per_run": list(e["per_run"])} for e in value["errors"]]
    return value
