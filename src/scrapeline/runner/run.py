"""One run: discovery walks, then workers draining claimable tasks, with group commit.

The runner owns the order of things and nothing else. It is handed a run the
composition root has begun (its id), a work queue (the ledger, awaited), the fetch
client it reaches the network through, and one ``emit`` for its events. It imports
no reporter, and ends the run in the ledger on every path it can.

Shape of the work loop::

    walks ──add_page──► ledger ◄──claim(batch)── feeder ──► queue ──► N workers
                          ▲                                              │
                          └──── Committer: complete()/fail() per batch ◄─┘

The parts: :mod:`~scrapeline.runner.walk` (discovery), :mod:`~scrapeline.runner.execute`
(one stage on one item), :mod:`~scrapeline.runner.commit` (group commit). The run has
one stop state, :class:`RunState`: running → stopping (interrupted, halted, or an
error) → closed. Stopping: nothing more is claimed and in-flight items get ``grace``
seconds to finish; a second stop request cancels them and their leases go back.

Outcomes are committed in batches; an item's line is reported once its batch is
committed, so what the console says is done is durable.

``workers`` bounds the items *at work*: an item that waits for the host (a retry's
backoff, a 429's pause, the breaker's cooldown, a politeness slot) gives its worker
slot up meanwhile and another worker takes the next item, up to
:data:`WORKERS_PER_SLOT` workers per slot (:mod:`~scrapeline.runner.slots`). The
wait does not count toward ``item_timeout`` either.

What a SIGKILL costs: the in-flight items (at most 4 per worker slot), plus the items
that finished but are not committed yet. A finished item waits in the buffer until
the next commit: at most ``commit_interval`` (0.1 s), sooner when ``commit_every``
(512) items are waiting or the workers run dry, plus the time the commit before it
takes to write. All of that work is redone by the next run; none is lost twice
or duplicated (a commit is one transaction).

Failure policies (:mod:`~scrapeline.runner.failure_policies`) say, per stage, what a
failed item does: nothing more (``continue``), halt the run (``fail-fast``), or run
once more at the end (``retry-at-end``): the run's work is done, ``retry_pause``
seconds pass, then the failed items of those stages (kept back meanwhile, their
tasks still leased) run again with whatever work their success makes. Stage
selection (:mod:`~scrapeline.runner.selection`) leaves the skipped stages' tasks as
they are. ``max_duration`` stops the run as a first Ctrl+C does, with the reason
"time limit".
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from scrapeline import events as ev
from scrapeline.context import Fetch
from scrapeline.errors import Category, DiskFull, LedgerError, RunHalted
from scrapeline.fetch.waiting import set_waiter
from scrapeline.ledger.aio import AsyncWorkQueue
from scrapeline.ledger.base import Ledger, RunReport, RunStatus, Task
from scrapeline.model import FailurePolicy, Item, Key
from scrapeline.pipeline import Discovery, Pipeline
from scrapeline.runner.claimed import Claimed
from scrapeline.runner.commit import Committer
from scrapeline.runner.execute import Deadlines, Executed, describe, execute, storable_item
from scrapeline.runner.failure_policies import Verdict, retry_note
from scrapeline.runner.options import RunOptions, check_options, claimable_stages, run_policies
from scrapeline.runner.policies import FailureStreaks, claim_size
from scrapeline.runner.shutdown import Shutdown
from scrapeline.runner.slots import ItemWaits, WorkerSlots
from scrapeline.runner.walk import WalkOptions, walk_listing
from scrapeline.secrets import redact

__all__ = [
    "TIME_LIMIT",
    "Outcome",
    "RunOptions",
    "RunState",
    "Runner",
    "StopKind",
    "check_options",
    "storable_item",
]

log = logging.getLogger("scrapeline.runner")
T = TypeVar("T")

EXIT_OK, EXIT_FAILED_ITEMS, EXIT_HALTED, EXIT_INTERRUPTED = 0, 1, 3, 130

TIME_LIMIT = "time limit"
"""The reason of a run stopped by its ``max_duration``."""

WORKERS_PER_SLOT = 4
"""Worker coroutines a run may have per ``--workers`` slot: the slots' own, plus
workers started while items wait for the host (a retry's backoff, a politeness slot)
so that others run meanwhile. Bounds the items in flight to 4 × ``workers``."""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    run_id: int
    status: RunStatus
    exit_code: int
    reason: str | None


class StopKind(enum.StrEnum):
    """Why a run stopped taking work."""

    INTERRUPTED = "interrupted"
    """A stop request (Ctrl+C, SIGTERM, :meth:`Shutdown.request`)."""
    HALTED = "halted"
    """A policy or the ledger stopped it: a failure streak, a host down, a full disk."""
    ERROR = "error"
    """The run itself failed (a bug, or a cancel from outside): it stops at once."""


class Phase(enum.Enum):
    RUNNING = "running"
    STOPPING = "stopping"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunState:
    """Where a run is: running → stopping(reason, kind) → closed. The first stop
    wins: its reason is the run's."""

    phase: Phase = Phase.RUNNING
    reason: str | None = None
    kind: StopKind | None = None

    @property
    def running(self) -> bool:
        return self.phase is Phase.RUNNING

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    def stop(self, reason: str, kind: StopKind) -> RunState:
        """Stopping, unless already stopping or closed (then unchanged)."""
        if self.phase is not Phase.RUNNING:
            return self
        return RunState(phase=Phase.STOPPING, reason=reason, kind=kind)

    def close(self) -> RunState:
        return RunState(phase=Phase.CLOSED, reason=self.reason, kind=self.kind)


def _ignore(event: ev.Event) -> None:
    return None


class Runner:
    """Runs a pipeline once, as run ``run_id`` (begun by the caller). One per run."""

    def __init__(
        self,
        pipeline: Pipeline,
        queue: AsyncWorkQueue,
        fetch: Fetch,
        options: RunOptions,
        *,
        run_id: int,
        emit: Callable[[ev.Event], None] = _ignore,
        shutdown: Shutdown | None = None,
        data_dir: str = "",
        log_path: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        secrets: Sequence[str] = (),
        summary_extra: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.queue = queue
        self.fetch = fetch
        self.options = options
        self.run_id = run_id
        self.emit = emit
        self.shutdown = shutdown or Shutdown()
        self.data_dir = data_dir
        self.log_path = log_path
        self.clock = clock
        self.wall_clock = wall_clock
        self._secrets = tuple(secrets)
        """Hidden from every failure message and halt reason (ledger, events)."""
        self._summary_extra = summary_extra
        """What the caller adds to the summary stored with the run, asked once as the
        run ends (the composition root: requests per host). JSON-able values; a key
        the runner sets itself (``exit_code``, ``reason``, ``done``, …) is kept as is."""
        self._claimable = claimable_stages(pipeline, options)
        """The stages (and listings) this run claims work of; None: all."""
        self._policies = run_policies(pipeline, options)
        """Each stage's failure policy, and the failures kept for the retry at the end."""
        self._retrying = False
        """The retry-at-end pass has begun: its outcomes are counted."""
        run_policy = options.failure_policy
        self._discovery_fails_fast = (
            FailurePolicy.named(run_policy) if run_policy else pipeline.failure_policy
        ) is FailurePolicy.FAIL_FAST
        """A failed page of a top-level listing halts the run (the pipeline's policy, or
        the run's, is fail-fast)."""
        self._stopping = asyncio.Event()
        """Set when the run stops taking work (a pause waits on it)."""
        self.owner = f"{os.getpid()}-{id(self):x}"
        self.state = RunState()
        self._queue = Claimed(pipeline.claim_order())
        self._in_flight: dict[int, Task] = {}
        self._wake = asyncio.Event()
        self._failures = FailureStreaks(options.max_consecutive_failures)
        self._deadlines = Deadlines()
        """Every in-flight item's time limit, on one timer (not one per item)."""
        self._remaining = 0
        self._discovery_errors: list[str] = []
        self._workers: set[asyncio.Task[None]] = set()
        self._slots = WorkerSlots(max(1, options.workers), on_free=self._more_workers)
        """Items at work: a waiting item's slot goes to a worker started for it."""
        self._most_workers = WORKERS_PER_SLOT * max(1, options.workers)
        self._discovery: asyncio.Task[None] | None = None
        self._walk_options = WalkOptions(
            start=options.start,
            end=options.end,
            full=options.full,
            rescrape=options.force_rescrape,
            config=options.config,
        )
        self._found: list[tuple[str, Key]] | None = [] if options.limit is not None else None
        """With ``limit``: the top-level items this run's walks found, the only ones
        (with their descendants) it claims work of."""
        self._walking: dict[int, Task] = {}
        """Listing tasks being walked, by task id."""
        self._walks: set[asyncio.Task[None]] = set()
        self._walk_slots = asyncio.Semaphore(max(1, options.workers))
        self._given_back: list[Task] = []
        """Listing tasks cut short by a stop: released with the other leftovers."""
        self._disk_full: DiskFull | None = None
        """The full disk that halted the run, if one did."""
        # claim ahead: refill the queue while half a claim is left, so workers never wait
        self._low_water = max(options.workers, claim_size(options.workers) // 2)
        self._started = 0.0
        self._ended = threading.Lock()
        """Held by whoever ends the run in the ledger: the loop, or the shutdown
        watchdog when a stage blocks the loop. Never released: the run ends once."""
        self.commits = Committer(
            queue,
            run_id=run_id,
            owner=self.owner,
            versions={name: s.version for name, s in pipeline.stages.items()}
            | dict.fromkeys(pipeline.listings, 1),
            emit=self._emit,
            every=options.commit_every,
            interval=options.commit_interval,
            wall_clock=wall_clock,
            on_committed=self._committed,
        )

    def _emit(self, event: ev.Event) -> None:
        self.emit(event)

    # -- the run -------------------------------------------------------------------

    async def run(self) -> Outcome:
        """Run to the end, a halt or an interrupt; end the run in the ledger.

        Raises what the ledger raised when it cannot be written (LedgerError,
        DiskFull) after giving back what it can; the run is then not ended here. A
        run halted by a full disk anywhere (a commit, a listing page, the archive
        under a stage) raises that DiskFull once it has ended, whether or not the
        end could still be recorded: the caller says so in one line, every time."""
        loop = asyncio.get_running_loop()
        self.shutdown.listen(loop, self._on_shutdown)
        self.shutdown.when_stuck(self._abandon, grace=self.options.grace)
        self._started = self.clock()
        self._emit(
            ev.RunStarted(
                run_id=self.run_id,
                pipeline=self.pipeline.name,
                data_dir=self.data_dir,
                options=self.options.public(),
                log_path=self.log_path,
            )
        )
        if self.shutdown.draining:  # asked to stop before it began
            self._stop(f"interrupted by {self.shutdown.signal_name}", StopKind.INTERRUPTED)
        limit = self.options.max_duration
        timer = None if limit is None else loop.call_later(limit, self._time_up, limit)
        try:
            if self.state.running:
                await self._work()
        finally:
            if timer is not None:
                timer.cancel()
        outcome = await self._finish()
        if self._disk_full is not None:
            raise self._disk_full
        return outcome

    async def _finish(self) -> Outcome:
        reason = self.state.reason
        if not self._ended.acquire(blocking=False):
            # the shutdown watchdog took the run over while a stage blocked the loop:
            # it records the end and exits the process; nothing is left to do here
            return Outcome(
                run_id=self.run_id,
                status=RunStatus.INTERRUPTED,
                exit_code=EXIT_INTERRUPTED,
                reason=reason,
            )
        report = await self.queue.report(self.run_id)
        failed = sum(c.get("failed", 0) for c in report.counts.values())
        if self.shutdown.draining or self.state.kind is StopKind.INTERRUPTED:
            status, code = RunStatus.INTERRUPTED, EXIT_INTERRUPTED
        elif self.state.kind is StopKind.HALTED:
            status, code = RunStatus.HALTED, EXIT_HALTED
        elif failed or self._discovery_errors:
            status, code = RunStatus.FAILED, EXIT_FAILED_ITEMS
            if self._discovery_errors and not reason:
                reason = "discovery failed: " + self._discovery_errors[0]
        else:
            status, code = RunStatus.DONE, EXIT_OK
        wall = self.clock() - self._started
        summary = _summary(report, code, reason, wall, self._extra())
        summary |= self.commits.quality.as_summary()
        if self._retrying:
            summary |= {"retried": self._policies.retried, "recovered": self._policies.recovered}
        ended = self.wall_clock()
        await self.queue.end_run(self.run_id, status, ended, summary)
        report = _ended_report(report, status, ended, summary)
        self._emit(
            ev.RunFinished(
                status=status.value, exit_code=code, report=report, reason=reason, wall=wall
            )
        )
        return Outcome(run_id=self.run_id, status=status, exit_code=code, reason=reason)

    def _abandon(self) -> int:
        """End the run without the event loop, which a stage is blocking: called by
        the shutdown watchdog in its own thread, after which the process exits.

        Commits what finished and is still buffered, gives back every other lease we
        hold, records the run as interrupted and reports its end, all through the
        ledger's writer thread (idle while the loop is stuck). Returns the exit code."""
        if not self._ended.acquire(blocking=False):
            return EXIT_INTERRUPTED  # the loop got there first; it is closing down
        stuck = _snapshot(lambda: [*self._in_flight.values(), *self._walking.values()])
        held = _snapshot(lambda: [*self._queue, *stuck, *self._policies.kept_tasks()])
        completions = _snapshot(lambda: list(self.commits.completions))
        failures = _snapshot(lambda: list(self.commits.failures))
        names = ", ".join(f"{t.stage} {t.kind} {t.key}" for t in stuck[:3]) or "none in flight"
        reason = redact(
            f"interrupted by {self.shutdown.signal_name}: a stage blocked the event loop "
            f"({names}); its leases were given back without waiting for it",
            self._secrets,
        )
        log.error("%s", reason)
        run_id, owner, status = self.run_id, self.owner, RunStatus.INTERRUPTED
        extra = self._extra()  # the loop is blocked: nothing changes it meanwhile
        committer = self.commits

        def wind_up(ledger: Ledger) -> RunReport:
            now = self.wall_clock()
            ledger.complete(completions, run_id, now)
            ledger.fail(failures, run_id, now)
            ledger.release(held, owner)
            report = ledger.report(run_id)
            wall = self.clock() - self._started
            summary = _summary(report, EXIT_INTERRUPTED, reason, wall, extra)
            summary |= committer.quality.as_summary()  # without what this commits
            ended = self.wall_clock()
            ledger.end_run(run_id, status, ended, summary)
            return _ended_report(report, status, ended, summary)

        report = self.queue.call_blocking(wind_up, timeout=30)
        self._emit(
            ev.RunFinished(
                status=status.value,
                exit_code=EXIT_INTERRUPTED,
                report=report,
                reason=reason,
                wall=self.clock() - self._started,
            )
        )
        return EXIT_INTERRUPTED

    def _extra(self) -> Mapping[str, Any]:
        """The caller's part of the summary; nothing when there is none, or when it
        fails (a report is no reason not to record how the run ended)."""
        if self._summary_extra is None:
            return {}
        try:
            return dict(self._summary_extra())
        except Exception:
            log.exception("the summary's extra part could not be computed; left out")
            return {}

    # -- stopping ------------------------------------------------------------------

    def _stop(self, reason: str, kind: StopKind) -> bool:
        """Move to stopping (the first stop wins). True if this call did."""
        before = self.state
        self.state = before.stop(reason, kind)
        self._wake.set()
        self._stopping.set()
        return self.state is not before

    def _time_up(self, limit: float) -> None:
        """``max_duration`` has passed: stop as a first Ctrl+C does."""
        if self._stop(TIME_LIMIT, StopKind.INTERRUPTED):
            items = len(self._in_flight)
            self._emit(
                ev.Log(
                    level=logging.WARNING,
                    message=(
                        f"time limit of {limit:g} s reached: finishing {items} in-flight "
                        f"item{'s' if items != 1 else ''}, taking no more work"
                    ),
                )
            )

    def _on_shutdown(self, requests: int) -> None:
        forced = requests >= 2
        self._stop(f"interrupted by {self.shutdown.signal_name}", StopKind.INTERRUPTED)
        self._emit(
            ev.ShutdownRequested(
                signal=self.shutdown.signal_name, forced=forced, in_flight=len(self._in_flight)
            )
        )
        if forced:
            if self._discovery is not None:
                self._discovery.cancel()
            for worker in [*self._workers, *self._walks]:
                worker.cancel()

    def _halt(self, reason: str, cause: BaseException | None = None) -> None:
        if isinstance(cause, DiskFull) and self._disk_full is None:
            self._disk_full = cause  # raised once the run has ended: see run()
        if not self.state.running:
            return
        reason = redact(reason, self._secrets)
        self._stop(reason, StopKind.HALTED)
        log.warning("halting: %s", reason)
        self._emit(ev.RunHalted(reason=reason))

    # -- discovery -------------------------------------------------------------------

    async def _discover_all(self) -> None:
        """Walk every top-level listing, while the workers already take the items it
        finds (listings per parent item are tasks: :meth:`_walk_task`)."""
        opts = self.options
        walk = self._walk_options
        top = self.pipeline.top_listings if opts.discover and not opts.only else []
        found = self._found
        try:
            for discovery in top:
                if not self.state.running:
                    break
                on_found = None
                if found is not None and opts.limit is not None:
                    kind = discovery.kind
                    left = opts.limit - sum(1 for k, _ in found if k == kind)
                    if left <= 0:
                        continue  # another listing of its kind found them all
                    walk = replace(self._walk_options, limit=left)
                    on_found = functools.partial(self._items_found, kind)
                try:
                    await walk_listing(
                        discovery,
                        queue=self.queue,
                        fetch=self.fetch,
                        options=walk,
                        on_found=on_found,
                        run_id=self.run_id,
                        emit=self._emit,
                        stopping=lambda: not self.state.running,
                        on_page=functools.partial(self._page_stored, discovery.kind),
                        on_halt=self._halt,
                        on_error=self._discovery_failed,
                    )
                except LedgerError as exc:
                    self._halt(f"cannot write the ledger: {exc}", exc)
                except Exception as exc:  # our own bug: the discovery fails, loudly
                    log.error("discovery %s failed", discovery.name, exc_info=exc)
                    self._discovery_failed(f"{discovery.name}: {describe(exc)[1]}")
        finally:
            self._wake.set()

    def _items_found(self, kind: str, keys: Sequence[Key]) -> None:
        """A limited walk found these new items: the run works them (``limit``)."""
        assert self._found is not None
        self._found.extend((kind, key) for key in keys)

    def _page_stored(self, kind: str, new: int) -> None:
        if new:
            self._remaining += new * self.pipeline.tasks_of(kind)
            self._emit(ev.WorkQueued(remaining=self._remaining))
        self._wake.set()  # the feeder can claim this page's items now

    def _discovery_failed(self, message: str, category: str = Category.ERROR) -> None:
        """A listing page (or a whole discovery) failed: the run will exit 1 with it."""
        message = redact(message, self._secrets)
        self._discovery_errors.append(message)
        self._emit(ev.Log(level=logging.ERROR, message=f"discovery {message}"))
        if self._discovery_fails_fast:
            self._halt(f"fail-fast: discovery {message}")

    # -- stage work ---------------------------------------------------------------------

    async def _reopen(self) -> None:
        """What this run does again: with ``--full`` every listing per parent (of the
        ``--only`` items when given); with ``--force-rescrape`` and ``--only`` all the
        work of those items; the stages and listings whose items are within their
        refresh window."""
        within = self.options.only or None
        if self.options.force_rescrape:
            for kind, key in self.options.only:  # the whole subtree, its listings too
                await self.queue.rescrape(kind, [key])
        if self.options.full and self.options.discover:
            for name in self.pipeline.listings:
                await self.queue.redo(name, within=within)
        now = self.wall_clock()
        for name in [*self.pipeline.stages, *self.pipeline.listings]:
            window = self.pipeline.refresh_window(name)
            if window is None or (self._claimable is not None and name not in self._claimable):
                continue
            dated_from = datetime.fromtimestamp(now - window, UTC).date().isoformat()
            count = await self.queue.refresh(
                name, dated_from=dated_from, seen_since=now - window, within=within
            )
            if count:
                log.info("refreshing %s: %d items within %s of now", name, count, _days(window))

    async def _work(self) -> None:
        await self._reopen()
        self._remaining = await self.queue.pending_count()
        self._emit(ev.WorkQueued(remaining=self._remaining))
        for _ in range(max(1, self.options.workers)):
            self._start_worker()
        committer = self._supervised(self.commits.run(), "the committer")
        self._discovery = self._supervised(self._discover_all(), "discovery")
        try:
            await self._feed()
            if self._policies.waiting and self.state.running:
                await self._retry_at_end()
        except BaseException:
            # a bug, a ledger that cannot be written, or a cancel: stop everything
            self._stop("stopped by an error", StopKind.ERROR)
            raise
        finally:
            self.state = self.state.close()
            self._wake.set()
            await self._stop_workers([self._discovery, *self._walks])
            self._deadlines.close()
            committer.cancel()
            # what it died of, if anything, was reported by _supervised
            await asyncio.gather(committer, return_exceptions=True)
            for task, failure in self._policies.give_up():  # stopped before their retry
                self.commits.add(task, failure)
            await self._commit()
            leftovers = [*self._queue, *self._in_flight.values(), *self._walking.values()]
            leftovers += self._given_back
            self._queue.clear()
            if leftovers:
                await self.queue.release(leftovers, self.owner)

    async def _retry_at_end(self) -> None:
        """The run's work is done but for the failures kept back: after ``retry_pause``
        seconds (cut short by a stop), run their items once more, with whatever work
        their success makes, and record what they do this time."""
        waiting, pause = self._policies.waiting, self.options.retry_pause
        self._emit(
            ev.Log(
                level=logging.INFO,
                message=(
                    f"retrying {waiting} failed item{'s' if waiting != 1 else ''} "
                    f"at the end of the run, in {pause:g} s"
                ),
            )
        )
        await self._commit()  # what is done is reported before the pause
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(pause):
                await self._stopping.wait()
        if not self.state.running:
            return  # the kept failures are recorded as they are
        tasks = self._policies.start_retry()
        self._retrying = True
        self._queue.extend(tasks)
        self._wake.set()
        if self._slots.free > 0:
            self._more_workers()
        await self._feed()
        note = retry_note(self._policies.retried, self._policies.recovered)
        self._emit(ev.Log(level=logging.INFO, message=note))

    def _supervised(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start one of the run's own tasks. Should it ever die of an exception, the run
        halts with that reason (exit 3) rather than go on, or hang, without it."""
        task = asyncio.ensure_future(coro)

        def died(t: asyncio.Task[None]) -> None:
            exc = None if t.cancelled() else t.exception()
            if exc is None:
                return
            if isinstance(exc, LedgerError):
                self._halt(f"cannot write the ledger: {exc}", exc)
                return
            log.error("%s died", name, exc_info=exc)
            self._halt(f"internal error in {name}: {describe(exc)[1]}")

        task.add_done_callback(died)
        return task

    def _idle(self) -> bool:
        """Nothing claimable could appear: nothing queued, running, buffered, being
        committed, or being discovered."""
        discovering = self._discovery is not None and not self._discovery.done()
        return not (
            self._in_flight
            or self._walking
            or self._queue
            or len(self.commits)
            or self.commits.committing
            or discovering
        )

    async def _feed(self) -> None:
        """Keep the queue topped up until there is no claimable work or we stop."""
        batch = claim_size(self.options.workers)
        low = self._low_water
        while self.state.running:
            if len(self._queue) < low:
                if await self._claim(batch):
                    continue
                if self._idle():
                    return  # nothing claimable, and nothing running could make more
                if len(self.commits) and not self.commits.committing:
                    # Nothing claimable: the next work may be children waiting in the
                    # buffer for their parents' commit. Commit now, not at the next tick.
                    await self._commit()
                    continue
            self._wake.clear()
            if not self.state.running:  # a halt while we claimed: its wake-up was just cleared
                break
            await self._wake.wait()

    async def _claim(self, limit: int) -> bool:
        """Lease up to ``limit`` more tasks into the queue; False when none was claimable."""
        tasks = await self.queue.claim(
            self.owner,
            limit,
            self.wall_clock(),
            self.options.lease,
            self._claimable,
            tuple(self._found) if self._found is not None else self.options.only or None,
        )
        if not tasks:
            return False
        if self._policies.waiting:  # a kept failure's lease ran out: it runs again now
            self._policies.claimed_again(tasks)
        self._queue.extend(tasks)
        self._wake.set()
        if self._slots.free > 0:  # items wait: their slots can take these
            self._more_workers()
        return True

    def _start_worker(self) -> None:
        """A worker, holding a slot."""
        self._slots.take()
        worker = self._supervised(self._worker(), "a worker")
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    def _more_workers(self) -> None:
        """Slots came free (their items wait for the host): start workers to take the
        queued items, as many as there are free slots, up to the run's bound."""
        if not self.state.running:
            return
        wanted = min(self._slots.free, len(self._queue), self._most_workers - len(self._workers))
        for _ in range(wanted):
            self._start_worker()

    async def _worker(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        key = id(me)
        queue = self._queue
        stages = self.pipeline.stages
        listings = self.pipeline.listings
        item_timeout = self.options.item_timeout
        deadlines = self._deadlines
        slots = self._slots
        set_waiter(ItemWaits(slots, deadlines, me))  # this task's items, and theirs
        while True:
            while not queue:
                if not self.state.running:
                    return
                self._wake.clear()
                await self._wake.wait()
                if self.state.closed:
                    return
            if not self.state.running:
                return
            if slots.free < 0:  # items back from a wait hold more slots than there are
                slots.give()
                return
            task = queue.popleft()
            if len(queue) == self._low_water:
                self._wake.set()  # ask the feeder for more
            item = Item(
                key=task.key,
                kind=task.kind,
                data=dict(task.data),
                date=task.date,
                parent=task.parent,
            )
            listing = listings.get(task.stage)
            if listing is not None:
                # a walk goes page after page: in the background, so the workers take
                # what it finds as it finds it (at most ``workers`` walks at once)
                self._in_flight[key] = task  # given back, should a stop cancel the wait
                try:
                    await self._walk_slots.acquire()
                except asyncio.CancelledError:
                    return
                del self._in_flight[key]
                self._walking[task.id] = task
                walk = self._supervised(self._walk(listing, task, item), "a listing")
                self._walks.add(walk)
                walk.add_done_callback(self._walks.discard)
                continue
            self._in_flight[key] = task
            stage = stages[task.stage]
            try:
                done = await execute(
                    self.pipeline,
                    stage,
                    item,
                    fetch=self.fetch,
                    timeout=stage.timeout or item_timeout,
                    config=self.options.config,
                    run_id=self.run_id,
                    secrets=self._secrets,
                    clock=self.clock,
                    deadlines=deadlines,
                    refresh=task.refresh,
                )
            except asyncio.CancelledError:
                return  # left in _in_flight: released after the workers stop
            except (RunHalted, LedgerError) as exc:  # a full disk is no stage's bug
                self._halt(str(exc), exc)
                return
            del self._in_flight[key]
            self._settle(task, done)

    async def _walk(self, listing: Discovery, task: Task, parent: Item) -> None:
        """Walk one listing per parent as its task, then settle it."""
        try:
            walked = await self._walk_task(listing, parent)
        except asyncio.CancelledError:
            return  # left in _walking: released after the workers stop
        finally:
            self._walk_slots.release()
        del self._walking[task.id]
        if walked is None:
            self._given_back.append(task)  # cut short by a stop: resumed next run
            return
        self._settle(task, walked)
        if self.state.running:
            # what the listing found is deeper than what waits in the queue: claim it
            # now, so it goes first (depth first), not after the queue
            await self._claim(claim_size(self.options.workers))

    async def _walk_task(self, listing: Discovery, parent: Item) -> Executed | None:
        """Walk ``parent``'s listing as one task: done when the walk ends, failed with
        its page's error, None when a stop cut it short (its walk resumes next run)."""
        failed: list[tuple[str, str]] = []
        started = self.wall_clock()
        clock = self.clock()
        reason = await walk_listing(
            listing,
            queue=self.queue,
            fetch=self.fetch,
            options=self._walk_options,
            run_id=self.run_id,
            emit=self._emit,
            stopping=lambda: not self.state.running,
            on_page=functools.partial(self._page_stored, listing.kind),
            on_halt=self._halt,
            on_error=lambda message, category: failed.append((message, category)),
            parent=parent,
        )
        if reason in ("interrupted", "halted"):
            return None
        duration = self.clock() - clock
        if failed:
            message, category = failed[0]
            message = redact(message, self._secrets)
            return Executed(
                ok=False, started=started, duration=duration, category=category, message=message
            )
        return Executed(ok=True, started=started, duration=duration)

    def _settle(self, task: Task, done: Executed) -> None:
        retried = self._retrying and self._policies.settled(task, ok=done.ok)
        if done.ok:
            full = self.commits.add(task, done)
            reason = self._failures.record(stage=task.stage, category=None)
        else:
            verdict = self._policies.failed(task, done)
            # a failure kept back for the retry at the end is not recorded (its task
            # stays leased); it still counts towards a streak, which is about the site.
            # A retried item that fails again does not: it was known to fail, and the
            # retries come one after another; it stays failed and the run exits 1.
            full = verdict is not Verdict.HOLD and self.commits.add(task, done)
            reason = None
            if not retried:
                reason = self._failures.record(
                    stage=task.stage, category=done.category or Category.ERROR, message=done.message
                )
            if verdict is Verdict.HALT:
                reason = self._policies.reason
        if reason:
            self._halt(reason)
        if full or not self._queue:
            # Full: the committer writes it now. Running dry: the feeder claims now and,
            # when nothing is claimable, commits this buffer at once (its children may
            # be the next work) rather than at the committer's next tick.
            self._wake.set()

    async def _commit(self) -> None:
        try:
            await self.commits.commit()
        except LedgerError as exc:
            self._halt(f"cannot write the ledger: {exc}", exc)
            raise

    def _committed(self, settled: int, children: int) -> None:
        self._remaining = max(0, self._remaining + children - settled)
        self._emit(ev.WorkQueued(remaining=self._remaining))
        self._wake.set()

    async def _stop_workers(self, others: Sequence[asyncio.Future[None] | None] = ()) -> None:
        """Let in-flight items (and a discovery page) finish within the grace period,
        then cancel them."""
        pending = [w for w in [*self._workers, *others] if w is not None and not w.done()]
        if pending and not self.shutdown.forced:
            grace = self.options.grace if self.state.kind is not None else None
            _, pending_set = await asyncio.wait(pending, timeout=grace)
            pending = list(pending_set)
        for w in pending:
            w.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _days(seconds: float) -> str:
    """A refresh window for people: "7 days", "12 hours"."""
    if seconds >= 86400 and seconds % 86400 == 0:
        n, unit = int(seconds // 86400), "day"
    elif seconds >= 3600:
        n, unit = round(seconds / 3600), "hour"
    else:
        n, unit = max(1, round(seconds / 60)), "minute"
    return f"{n} {unit}{'s' if n != 1 else ''}"


def _summary(
    report: RunReport,
    code: int,
    reason: str | None,
    wall: float,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    failed = sum(c.get("failed", 0) for c in report.counts.values())
    summary: dict[str, Any] = {"exit_code": code, "reason": reason, "wall": round(wall, 3)}
    summary |= {"done": sum(report.done_this_run.values()), "failed": failed}
    summary["items_changed"] = report.items_changed
    summary |= {key: value for key, value in (extra or {}).items() if key not in summary}
    return summary


def _ended_report(
    report: RunReport, status: RunStatus, ended: float, summary: Mapping[str, Any]
) -> RunReport:
    """What end_run changed, without reading the whole report again."""
    run = replace(report.run, status=status, ended_at=ended, summary=summary)
    return replace(report, run=run)


def _snapshot(read: Callable[[], list[T]]) -> list[T]:
    """A copy of a collection the loop's thread may be changing (from another thread)."""
    for _ in range(100):
        try:
            return read()
        except RuntimeError:  # changed size during iteration: read it again
            time.sleep(0.001)
    return []
