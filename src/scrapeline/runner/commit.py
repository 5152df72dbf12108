"""Group commit: finished items wait in a buffer and are written in batches.

An outcome becomes what the ledger takes (a Completion or a Failure) as soon as it
is settled, and stays that until it is committed; only then is its line reported
(TaskDone / TaskFailed), so what the console says is done is durable.

When a batch is written
    * ``every`` outcomes are waiting: at once (:meth:`Committer.add` says so);
    * otherwise at most ``interval`` seconds after the last commit (:meth:`run`);
    * or whenever the run asks (:meth:`commit`): the workers ran dry, the run ends.

A batch is two transactions, one for the successes and one for the failures; an
outcome whose lease was lost meanwhile writes nothing and is not reported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

from scrapeline import events as ev
from scrapeline.ledger.aio import AsyncWorkQueue
from scrapeline.ledger.base import Completion, Failure, Task
from scrapeline.runner.execute import Executed
from scrapeline.runner.quality import QualityTally


class Committer:
    """The buffer of settled outcomes and the batches that write it."""

    def __init__(
        self,
        queue: AsyncWorkQueue,
        *,
        run_id: int,
        owner: str,
        versions: Mapping[str, int],
        emit: Callable[[ev.Event], None],
        every: int = 512,
        interval: float = 0.1,
        wall_clock: Callable[[], float],
        on_committed: Callable[[int, int], None] = lambda settled, children: None,
    ) -> None:
        self._queue = queue
        self._run_id = run_id
        self._owner = owner
        self._versions = versions
        self._emit = emit
        self._every = every
        self._interval = interval
        self._wall_clock = wall_clock
        self._on_committed = on_committed
        """Called after each batch with how many outcomes it settled and how many
        child items its completions added."""
        self.completions: list[Completion] = []
        self.failures: list[Failure] = []
        self.committing = 0
        """Batches being written now (their outcomes are in neither list)."""
        self.quality = QualityTally()
        """The rules broken by the records of the outcomes committed so far."""
        self._warned: dict[int, list[tuple[str, str]]] = {}
        """The ``warn`` rules of buffered completions, by task id (counted once
        committed); only tasks whose records broke one are here."""
        self._due = asyncio.Event()

    def __len__(self) -> int:
        return len(self.completions) + len(self.failures)

    def add(self, task: Task, done: Executed) -> bool:
        """Buffer one outcome. True when the buffer is full: commit it now."""
        if done.ok:
            if done.warnings:
                self._warned[task.id] = done.warnings
            self.completions.append(
                Completion(
                    task=task,
                    owner=self._owner,
                    records=done.records,
                    children=done.children,
                    started=done.started,
                    duration=done.duration,
                    version=self._versions[task.stage],
                    handed=done.handed,
                    refresh=done.refresh,
                    unchanged=done.unchanged,
                )
            )
        else:
            self.failures.append(
                Failure(
                    task=task,
                    owner=self._owner,
                    category=done.category,
                    message=done.message,
                    started=done.started,
                    duration=done.duration,
                    quarantined=done.quarantined,
                )
            )
        # the two lists' lengths, not len(self): this runs once per transition
        if len(self.completions) + len(self.failures) >= self._every:
            self._due.set()
            return True
        return False

    def take(self) -> tuple[list[Completion], list[Failure]]:
        """Empty the buffer and return what it held (for a caller that commits it
        some other way, such as the shutdown watchdog)."""
        taken = self.completions, self.failures
        self.completions, self.failures = [], []
        return taken

    async def run(self) -> None:
        """Commit every ``interval`` seconds, or at once when the buffer fills. Runs
        until cancelled; a commit that fails ends it with that error."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._due.wait()
            self._due.clear()
            if len(self):
                await self.commit()

    async def commit(self) -> None:
        """Write what is buffered, then report each outcome the ledger took.
        Raises what the ledger raised (LedgerError, DiskFull): the batch is lost to
        this run, its leases expire and the next run redoes it."""
        if not len(self):
            return
        completions, failures = self.take()
        now = self._wall_clock()
        self.committing += 1
        try:
            done = await self._queue.complete(completions, self._run_id, now)
            failed = await self._queue.fail(failures, self._run_id, now)
        finally:
            self.committing -= 1
        children = 0
        emit = self._emit
        warned = self._warned
        for completion, ok in zip(completions, done, strict=True):
            if warned:
                broken = warned.pop(completion.task.id, None)
                if broken and ok:
                    self.quality.warned(broken)
            if ok:
                t = completion.task
                children += len(completion.children)
                emit(
                    ev.TaskDone(
                        stage=t.stage,
                        kind=t.kind,
                        key=t.key,
                        duration=completion.duration,
                        records=len(completion.records),
                        children=len(completion.children),
                    )
                )
        for failure, ok in zip(failures, failed, strict=True):
            if ok:
                t = failure.task
                if failure.quarantined:
                    self.quality.refused((q.table, q.rules) for q in failure.quarantined)
                emit(
                    ev.TaskFailed(
                        stage=t.stage,
                        kind=t.kind,
                        key=t.key,
                        duration=failure.duration,
                        category=failure.category,
                        message=failure.message,
                        attempts=t.attempts,
                    )
                )
        self._on_committed(len(completions) + len(failures), children)
