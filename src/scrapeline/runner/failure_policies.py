"""What a failed item does to its run: each stage's failure policy, and the failures
kept for the retry at the end. Pure: the runner does what :meth:`FailurePolicies.failed`
decides.

- ``continue``: the failure is recorded; the run goes on (and exits 1 at its end).
- ``fail-fast``: the failure is recorded and the run halts, naming the stage and item.
- ``retry-at-end``: the failure is kept back, its task still leased, until everything
  else is done; then, after a pause, the item runs once more and whatever it does that
  time is recorded. A run that stops before then records the kept failures as they are.

A stage's policy for one run is the most specific setting there is::

    >>> from scrapeline.model import FailurePolicy as P
    >>> chosen = failure_policies(
    ...     ("overview", "half_stats", "stats"),
    ...     pipeline=P.CONTINUE,
    ...     declared={"overview": P.RETRY_AT_END, "stats": P.RETRY_AT_END},
    ...     run_stages={"stats": "fail-fast"},
    ... )
    >>> [str(chosen[name]) for name in ("overview", "half_stats", "stats")]
    ['retry-at-end', 'continue', 'fail-fast']
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scrapeline.errors import ConfigError
from scrapeline.ledger.base import Task
from scrapeline.model import FailurePolicy, Key
from scrapeline.runner.execute import Executed

__all__ = [
    "FailurePolicies",
    "Verdict",
    "fail_fast_reason",
    "failure_policies",
    "retry_note",
]


def failure_policies(
    names: Sequence[str],
    *,
    pipeline: FailurePolicy,
    declared: Mapping[str, FailurePolicy | None],
    run: str | None = None,
    run_stages: Mapping[str, str] | None = None,
) -> dict[str, FailurePolicy]:
    """The failure policy of each stage (or listing) in ``names`` for one run.

    Most specific first: the run's setting for that stage (``run_stages``), the run's
    for every stage (``run``), the stage's own declaration (``declared``), then the
    pipeline's. A run's settings override what the code declares, so a profile or a
    flag can make a run fail fast without editing the pipeline.

    Raises ConfigError for a policy name that is not one, or a ``run_stages`` key that
    names no stage (the error lists the pipeline's)."""
    run_stages = run_stages or {}
    for name in run_stages:
        if name not in names:
            raise ConfigError(
                f"stage_policies: unknown stage {name!r}: the pipeline has "
                f"{', '.join(names) or 'no stages'}"
            )
    everywhere = None if run is None else FailurePolicy.named(run)
    chosen: dict[str, FailurePolicy] = {}
    for name in names:
        own = run_stages.get(name)
        if own is not None:
            chosen[name] = FailurePolicy.named(own, f"stage_policies[{name!r}]")
        else:
            chosen[name] = everywhere or declared.get(name) or pipeline
    return chosen


def fail_fast_reason(stage: str, kind: str, key: Key, message: str) -> str:
    """Why a fail-fast stage stopped the run, in words naming the stage and item.

    >>> fail_fast_reason("overview", "match", 17, "HTTP 500")
    'fail-fast: overview failed on match 17: HTTP 500'
    """
    return f"fail-fast: {stage} failed on {kind} {key}: {message}"


def retry_note(retried: int, recovered: int) -> str:
    """What the retry at the end did, in one line.

    >>> retry_note(3, 2)
    'retried 3 failed items at the end of the run: 2 recovered, 1 failed again'
    >>> retry_note(1, 0)
    'retried 1 failed item at the end of the run: it failed again'
    """
    if retried == 1:
        how = "it recovered" if recovered else "it failed again"
        return f"retried 1 failed item at the end of the run: {how}"
    return (
        f"retried {retried} failed items at the end of the run: "
        f"{recovered} recovered, {retried - recovered} failed again"
    )


class Verdict(enum.Enum):
    """What the runner does with one failed task."""

    RECORD = "record"
    """Record the failure; go on."""
    HOLD = "hold"
    """Keep it back for the retry at the end (its task stays leased)."""
    HALT = "halt"
    """Record the failure and halt the run (:attr:`FailurePolicies.reason`)."""


@dataclass(slots=True)
class _Kept:
    task: Task
    failure: Executed


class FailurePolicies:
    """The run's policies, per stage, and the failures kept for its retry at the end.

    >>> from scrapeline.model import FailurePolicy as P
    >>> def task(i, stage):
    ...     return Task(id=i, stage=stage, kind="match", key=i, data={}, date=None,
    ...                 parent=None, attempts=1)
    >>> failed = Executed(ok=False, started=0, duration=0, message="HTTP 500")
    >>> policies = FailurePolicies({"overview": P.RETRY_AT_END, "stats": P.FAIL_FAST})
    >>> policies.failed(task(1, "overview"), failed), policies.failed(task(2, "other"), failed)
    (<Verdict.HOLD: 'hold'>, <Verdict.RECORD: 'record'>)
    >>> [t.id for t in policies.start_retry()]  # everything else is done: the pass
    [1]
    >>> policies.settled(task(1, "overview"), ok=True)
    True
    >>> policies.retried, policies.recovered
    (1, 1)
    >>> policies.failed(task(3, "stats"), failed), policies.reason
    (<Verdict.HALT: 'halt'>, 'fail-fast: stats failed on match 3: HTTP 500')

    Not thread-safe: the loop's thread only (the shutdown watchdog reads
    :meth:`kept_tasks` from another, as a snapshot)."""

    __slots__ = ("_fast", "_kept", "_retry", "_retry_ids", "reason", "recovered", "retried")

    def __init__(self, policies: Mapping[str, FailurePolicy]) -> None:
        self._fast = frozenset(n for n, p in policies.items() if p is FailurePolicy.FAIL_FAST)
        self._retry = frozenset(n for n, p in policies.items() if p is FailurePolicy.RETRY_AT_END)
        self._kept: dict[int, _Kept] = {}
        """Failures kept back for the retry, by task id, in the order they failed."""
        self._retry_ids: set[int] | None = None
        """The tasks of the retry pass, once it has begun (then nothing is kept back)."""
        self.reason: str | None = None
        """Why the run must halt: the first fail-fast failure's reason."""
        self.retried = 0
        self.recovered = 0

    @property
    def retrying(self) -> bool:
        """Whether the retry pass has begun."""
        return self._retry_ids is not None

    @property
    def waiting(self) -> int:
        """How many failures are kept back for the retry."""
        return len(self._kept)

    def failed(self, task: Task, failure: Executed) -> Verdict:
        """What to do with ``task``'s failure (after its fetches' own retries)."""
        stage = task.stage
        if stage in self._retry and self._retry_ids is None:
            self._kept[task.id] = _Kept(task, failure)
            return Verdict.HOLD
        if stage in self._fast:
            if self.reason is None:
                self.reason = fail_fast_reason(stage, task.kind, task.key, failure.message)
            return Verdict.HALT
        return Verdict.RECORD

    def claimed_again(self, tasks: Sequence[Task]) -> None:
        """The ledger leased these tasks again (a kept task's lease expired during a
        long run): they run now, so they are no longer kept back."""
        for task in tasks:
            self._kept.pop(task.id, None)

    def start_retry(self) -> list[Task]:
        """Begin the retry pass: the tasks to run once more, in the order they
        failed. From now on no failure is kept back."""
        tasks = [kept.task for kept in self._kept.values()]
        self._kept.clear()
        self._retry_ids = {task.id for task in tasks}
        self.retried = len(tasks)
        return tasks

    def settled(self, task: Task, *, ok: bool) -> bool:
        """Count the outcome of a task of the retry pass; False for any other task
        (work the pass made, such as a recovered item's children)."""
        ids = self._retry_ids
        if ids is None or task.id not in ids:
            return False
        ids.discard(task.id)
        if ok:
            self.recovered += 1
        return True

    def give_up(self) -> list[tuple[Task, Executed]]:
        """The run stops before its retry pass: the kept failures, to be recorded as
        they are (the next run resets failed tasks and tries them again)."""
        kept = [(k.task, k.failure) for k in self._kept.values()]
        self._kept.clear()
        return kept

    def kept_tasks(self) -> list[Task]:
        """The tasks kept back (for a caller that must give their leases back)."""
        return [k.task for k in list(self._kept.values())]
