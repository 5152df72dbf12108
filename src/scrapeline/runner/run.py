"""One run: discovery, then workers draining claimable tasks, with group commit.

The runner owns the order of things and nothing else. It talks to the ledger
through one writer thread (every ledger call is serialised there), reaches the
network only through the fetch client it is handed, and reports by emitting
events to whoever subscribed. It imports no reporter.

Shape of the work loop::

    feeder ──claim(batch)──► queue ──► N workers ──outcome──► buffer
       ▲                                                   │
       └──── wake ◄──── flush: complete()/fail() in one transaction per batch

Outcomes are committed in batches; an item's line is reported once its batch is
committed, so what the console says is done is durable.

What a SIGKILL costs: the in-flight items (at most one per worker), plus the items
that finished but are not committed yet. A finished item waits in the buffer until
the next commit: at most ``commit_interval`` (0.1 s), sooner when ``commit_every``
(512) items are waiting or the workers run dry, plus the time the commit before it
takes to write. All of that work is redone by the next run; none is lost twice
or duplicated (a commit is one transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import orjson

from scrapeline import events as ev
from scrapeline.context import Context, Fetch
from scrapeline.errors import (
    Category,
    ItemError,
    ItemTimeout,
    LedgerError,
    RunHalted,
    ScrapelineError,
    ValidationError,
    categorize,
)
from scrapeline.ledger.base import (
    Completion,
    Failure,
    Ledger,
    NewItem,
    RecordRow,
    RunReport,
    RunStatus,
    Task,
    Walk,
)
from scrapeline.model import Item, Record
from scrapeline.pipeline import Discovery, Pipeline, Stage, as_records
from scrapeline.runner.policies import FailureStreaks, claim_size
from scrapeline.runner.shutdown import Shutdown
from scrapeline.secrets import redact

log = logging.getLogger("scrapeline.runner")
T = TypeVar("T")

EXIT_OK, EXIT_FAILED_ITEMS, EXIT_HALTED, EXIT_INTERRUPTED = 0, 1, 3, 130


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    workers: int = 4
    start: int | None = None
    end: int | None = None
    full: bool = False
    force_rescrape: bool = False
    max_consecutive_failures: int = 3
    item_timeout: float | None = 300.0
    grace: float = 30.0
    """Seconds in-flight items get to finish after the first Ctrl+C or a halt."""
    lease: float = 900.0
    commit_every: int = 512
    """Commit at once when this many finished items are waiting."""
    commit_interval: float = 0.1
    """Seconds a finished item waits, at most, for its commit to begin."""
    config: Mapping[str, Any] = field(default_factory=dict)
    discover: bool = True
    """Walk the listings first. Off to only work through what the ledger holds."""
    stages: tuple[str, ...] | None = None
    """Only run these stages (None: all)."""

    def public(self) -> dict[str, Any]:
        """What is stored with the run (config values are the user's; kept out)."""
        return {
            "workers": self.workers,
            "start": self.start,
            "end": self.end,
            "full": self.full,
            "force_rescrape": self.force_rescrape,
            "max_consecutive_failures": self.max_consecutive_failures,
            "item_timeout": self.item_timeout,
        }


@dataclass(frozen=True, kw_only=True)
class Outcome:
    run_id: int
    status: RunStatus
    exit_code: int
    reason: str | None


@dataclass(slots=True)
class _Settled:
    task: Task
    ok: bool
    started: float
    duration: float
    records: list[RecordRow] = field(default_factory=list)
    children: list[NewItem] = field(default_factory=list)
    category: str = ""
    message: str = ""


class Runner:
    """Runs a pipeline once against a ledger. Create one per run."""

    def __init__(
        self,
        pipeline: Pipeline,
        ledger: Ledger,
        fetch: Fetch,
        options: RunOptions,
        *,
        subscribers: Sequence[Callable[[ev.Event], None]] = (),
        shutdown: Shutdown | None = None,
        data_dir: str = "",
        on_begin: Callable[[int], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        secrets: Sequence[str] = (),
    ) -> None:
        self.pipeline = pipeline
        self._secrets = tuple(secrets)
        """Hidden from every failure message and halt reason (ledger, events)."""
        self.ledger = ledger
        self.fetch = fetch
        self.options = options
        self.subscribers = list(subscribers)
        self.shutdown = shutdown or Shutdown()
        self.data_dir = data_dir
        self.on_begin = on_begin
        self.clock = clock
        self.wall_clock = wall_clock
        self.owner = f"{os.getpid()}-{id(self):x}"
        self.run_id = 0
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrapeline-ledger")
        self._queue: deque[Task] = deque()
        self._buffer: list[_Settled] = []
        self._in_flight: dict[int, Task] = {}
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        self._stop_reason: str | None = None
        self._halted = False
        self._failures = FailureStreaks(options.max_consecutive_failures)
        self._remaining = 0
        self._discovery_errors: list[str] = []
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False
        self._discovery_running = False
        self._deadlines: dict[int, tuple[float, asyncio.Task[None]]] = {}
        self._timed_out: dict[int, bool] = {}
        # claim ahead: refill the queue while half a claim is left, so workers never wait
        self._low_water = max(options.workers, claim_size(options.workers) // 2)
        self._discovering: asyncio.Future[None] | None = None
        self._flushing = 0
        self._started = 0.0
        self._ended = threading.Lock()
        """Held by whoever ends the run in the ledger: the loop, or the shutdown
        watchdog when a stage blocks the loop. Never released: the run ends once."""

    # -- plumbing ----------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def _emit(self, event: ev.Event) -> None:
        for sub in list(self.subscribers):
            try:
                sub(event)
            except Exception:
                log.exception("reporter %r failed; it is dropped", sub)
                self.subscribers.remove(sub)

    @property
    def _stopping(self) -> bool:
        return self._stop_reason is not None

    # -- the run -------------------------------------------------------------------

    async def run(self) -> Outcome:
        """Run to the end, a halt or an interrupt. Always ends the run in the ledger."""
        loop = asyncio.get_running_loop()
        self.shutdown.listen(loop, self._on_shutdown)
        self.shutdown.when_stuck(self._abandon, grace=self.options.grace)
        started = self.clock()
        self._started = started
        try:
            self.run_id = await self._db(
                self.ledger.begin_run,
                self.pipeline.name,
                self.options.public(),
                self.wall_clock(),
                os.getpid(),
            )
            await self._db(self.ledger.reset_failed)
            log_path = self.on_begin(self.run_id) if self.on_begin else None
            self._emit(
                ev.RunStarted(
                    run_id=self.run_id,
                    pipeline=self.pipeline.name,
                    data_dir=self.data_dir,
                    options=self.options.public(),
                    log_path=log_path,
                )
            )
            if not self._stopping:
                await self._work()
            outcome = await self._finish(started)
        finally:
            self._io.shutdown(wait=True)
        return outcome

    async def _finish(self, started: float) -> Outcome:
        if not self._ended.acquire(blocking=False):
            # the shutdown watchdog took the run over while a stage blocked the loop:
            # it records the end and exits the process; nothing is left to do here
            reason = self._stop_reason
            return Outcome(
                run_id=self.run_id,
                status=RunStatus.INTERRUPTED,
                exit_code=EXIT_INTERRUPTED,
                reason=reason,
            )
        report = await self._db(self.ledger.report, self.run_id)
        failed = sum(c.get("failed", 0) for c in report.counts.values())
        reason = self._stop_reason
        if self.shutdown.draining:
            status, code = RunStatus.INTERRUPTED, EXIT_INTERRUPTED
        elif self._halted:
            status, code = RunStatus.HALTED, EXIT_HALTED
        elif failed or self._discovery_errors:
            status, code = RunStatus.FAILED, EXIT_FAILED_ITEMS
            if self._discovery_errors and not reason:
                reason = "discovery failed: " + self._discovery_errors[0]
        else:
            status, code = RunStatus.DONE, EXIT_OK
        wall = self.clock() - started
        report = await self._db(self._end_run, report, status, code, reason, wall)
        self._emit(
            ev.RunFinished(
                status=status.value, exit_code=code, report=report, reason=reason, wall=wall
            )
        )
        return Outcome(run_id=self.run_id, status=status, exit_code=code, reason=reason)

    def _end_run(
        self, report: RunReport, status: RunStatus, code: int, reason: str | None, wall: float
    ) -> RunReport:
        """Record the run's end (in the writer thread); return the report as it ends."""
        failed = sum(c.get("failed", 0) for c in report.counts.values())
        summary = {"exit_code": code, "reason": reason, "wall": round(wall, 3)}
        summary |= {"done": sum(report.done_this_run.values()), "failed": failed}
        ended = self.wall_clock()
        self.ledger.end_run(self.run_id, status, ended, summary)
        # what end_run changed, without reading the whole report again
        run = replace(report.run, status=status, ended_at=ended, summary=summary)
        return replace(report, run=run)

    def _abandon(self) -> int:
        """End the run without the event loop, which a stage is blocking: called by
        the shutdown watchdog in its own thread, after which the process exits.

        Commits what finished and is still buffered, gives back every other lease we
        hold, records the run as interrupted and reports its end, all through the
        writer thread (the ledger's one connection, idle while the loop is stuck).
        Returns the exit code."""
        if not self._ended.acquire(blocking=False):
            return EXIT_INTERRUPTED  # the loop got there first; it is closing down
        stuck = _snapshot(lambda: list(self._in_flight.values()))
        held = _snapshot(lambda: [*self._queue, *stuck])
        buffered = _snapshot(lambda: list(self._buffer))
        names = ", ".join(f"{t.stage} {t.kind} {t.key}" for t in stuck[:3]) or "none in flight"
        reason = redact(
            f"interrupted by {self.shutdown.signal_name}: a stage blocked the event loop "
            f"({names}); its leases were given back without waiting for it",
            self._secrets,
        )
        log.error("%s", reason)

        def wind_up() -> RunReport:
            completions, failures = self._outcomes(buffered)
            now = self.wall_clock()
            self.ledger.complete(completions, self.run_id, now)
            self.ledger.fail(failures, self.run_id, now)
            self.ledger.release(held, self.owner)
            report = self.ledger.report(self.run_id)
            wall = self.clock() - self._started
            return self._end_run(report, RunStatus.INTERRUPTED, EXIT_INTERRUPTED, reason, wall)

        report = self._io.submit(wind_up).result(timeout=30)
        self._emit(
            ev.RunFinished(
                status=RunStatus.INTERRUPTED.value,
                exit_code=EXIT_INTERRUPTED,
                report=report,
                reason=reason,
                wall=self.clock() - self._started,
            )
        )
        return EXIT_INTERRUPTED

    # -- signals and halts -----------------------------------------------------------

    def _on_shutdown(self, requests: int) -> None:
        forced = requests >= 2
        if self._stop_reason is None:
            self._stop_reason = f"interrupted by {self.shutdown.signal_name}"
        self._emit(
            ev.ShutdownRequested(
                signal=self.shutdown.signal_name, forced=forced, in_flight=len(self._in_flight)
            )
        )
        if forced:
            if self._discovering is not None:
                self._discovering.cancel()
            for worker in self._workers:
                worker.cancel()
        self._wake.set()

    def _halt(self, reason: str) -> None:
        if self._stopping:
            return
        reason = redact(reason, self._secrets)
        self._halted = True
        self._stop_reason = reason
        log.warning("halting: %s", reason)
        self._emit(ev.RunHalted(reason=reason))
        self._wake.set()

    # -- discovery -------------------------------------------------------------------

    async def _discover_all(self) -> None:
        """Walk every listing, while the workers already take the items it finds."""
        try:
            for discovery in self.pipeline.discoveries if self.options.discover else ():
                if self._stopping:
                    break
                try:
                    await self._discover_cancellable(discovery)
                except LedgerError as exc:
                    self._halt(f"cannot write the ledger: {exc}")
                except Exception as exc:  # our own bug: the discovery fails, loudly
                    log.error("discovery %s failed", discovery.name, exc_info=exc)
                    self._discovery_failed(f"{discovery.name}: {_describe(exc)[1]}")
        finally:
            self._discovery_running = False
            self._wake.set()

    async def _discover_cancellable(self, d: Discovery) -> None:
        """Discovery as its own task, so that a second Ctrl+C can cut its page short."""
        self._discovering = asyncio.ensure_future(self._discover(d))
        try:
            await self._discovering
        except asyncio.CancelledError:
            if not self.shutdown.forced:
                raise
        finally:
            self._discovering = None

    async def _discover(self, d: Discovery) -> None:
        """Walk the listing from the start offset. Incremental unless --full.

        Stops at the first page whose every key is known, unless an earlier walk
        was cut short: then it jumps to where that walk got to and goes on, so an
        interrupted backfill is finished by the next run. Keys identify items, so
        a listing that shifted meanwhile only makes pages overlap.
        """
        opts = self.options
        full = opts.full or opts.force_rescrape
        previous = await self._db(self.ledger.walk, d.name)
        furthest = previous.next_position if previous and not previous.finished else None
        position = d.pages.first if opts.start is None else opts.start
        pages = new_total = 0
        finished = False
        while True:
            if opts.end is not None and position > opts.end:
                reason = "end offset"
                break
            if self._stopping:
                reason = "interrupted"
                break
            ctx = Context(fetch=self.fetch, config=opts.config, run_id=self.run_id, expect=d.expect)
            try:
                batch = [storable_item(it, d.kind) async for it in d.fn(ctx, position)]
            except (RunHalted, LedgerError) as exc:
                self._halt(str(exc))
                reason = "halted"
                break
            except BaseException as exc:  # SystemExit too: the user's code fails its page
                if _cancelled_by_us(exc):
                    raise
                category, text = _describe(exc)
                self._discovery_failed(f"{d.name} at {position} ({category}): {text}")
                reason = "error"
                break
            if not batch:
                reason, finished = "end of listing", True
                break
            keys = list(dict.fromkeys(it.key for it in batch))
            try:
                new = await self._db(self._store_page, d.kind, batch, keys)
            except LedgerError as exc:
                self._halt(f"cannot write the ledger: {exc}")
                reason = "halted"
                break
            except Exception as exc:
                log.error("discovery %s could not store its page", d.name, exc_info=exc)
                category, text = _describe(exc)
                self._discovery_failed(f"{d.name} at {position} ({category}): {text}")
                reason = "error"
                break
            if new:
                self._remaining += new * len(self.pipeline.stages_of(d.kind))
                self._emit(ev.WorkQueued(remaining=self._remaining))
            self._wake.set()  # the feeder can claim this page's items now
            pages += 1
            new_total += new
            self._emit(
                ev.PageDiscovered(discovery=d.name, position=position, keys=len(keys), new=new)
            )
            position += d.pages.step
            if new == 0 and not full:
                if furthest is not None and furthest >= position:
                    log.info("discovery %s: resuming a cut-short walk at %s", d.name, furthest)
                    position, furthest = furthest, None
                    continue
                reason, finished = "known page", True
                break
            reached = max(position, furthest or 0)
            await self._db(
                self.ledger.save_walk, Walk(name=d.name, next_position=reached, finished=False)
            )
        if finished:
            await self._db(
                self.ledger.save_walk, Walk(name=d.name, next_position=position, finished=True)
            )
        self._emit(
            ev.DiscoveryFinished(discovery=d.name, pages=pages, new=new_total, reason=reason)
        )

    def _discovery_failed(self, message: str) -> None:
        """A listing page (or a whole discovery) failed: the run will exit 1 with it."""
        message = redact(message, self._secrets)
        self._discovery_errors.append(message)
        self._emit(ev.Log(level=logging.ERROR, message=f"discovery {message}"))

    def _store_page(self, kind: str, batch: list[NewItem], keys: list[Any]) -> int:
        """A listing page's items into the ledger, in one trip to the writer thread
        (discovery must not queue three times behind the workers' commits). Returns
        how many were new."""
        if not self.options.force_rescrape:
            return self.ledger.add_items(batch, self.run_id)
        known = self.ledger.known(kind, keys)
        self.ledger.add_items(batch, self.run_id)
        if known:
            self.ledger.rescrape(kind, [k for k in keys if k in known])
        return len(keys) - len(known)

    # -- stage work ---------------------------------------------------------------------

    async def _work(self) -> None:
        self._remaining = await self._db(self.ledger.pending_count)
        self._emit(ev.WorkQueued(remaining=self._remaining))
        workers = max(1, self.options.workers)
        self._workers = [self._supervised(self._worker(), "a worker") for _ in range(workers)]
        flusher = self._supervised(self._flusher(), "the committer")
        watchdog = self._supervised(self._watchdog(), "the item timer")
        self._discovery_running = True
        discovery = self._supervised(self._discover_all(), "discovery")
        try:
            await self._feed()
        except BaseException:
            if self._stop_reason is None:  # a bug or a cancel: stop everything, wait for none
                self._stop_reason = "stopped by an error"
            raise
        finally:
            self._closing = True
            self._wake.set()
            await self._stop_workers([discovery])
            for helper in (flusher, watchdog):
                helper.cancel()
            # what they died of, if anything, was reported by _supervised
            await asyncio.gather(flusher, watchdog, return_exceptions=True)
            await self._flush()
            leftovers = list(self._queue) + list(self._in_flight.values())
            self._queue.clear()
            if leftovers:
                await self._db(self.ledger.release, leftovers, self.owner)

    def _supervised(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start one of the run's own tasks. Should it ever die of an exception, the run
        halts with that reason (exit 3) rather than go on, or hang, without it."""
        task = asyncio.ensure_future(coro)

        def died(t: asyncio.Task[None]) -> None:
            exc = None if t.cancelled() else t.exception()
            if exc is None:
                return
            if isinstance(exc, LedgerError):
                self._halt(f"cannot write the ledger: {exc}")
                return
            log.error("%s died", name, exc_info=exc)
            self._halt(f"internal error in {name}: {_describe(exc)[1]}")

        task.add_done_callback(died)
        return task

    async def _feed(self) -> None:
        """Keep the queue topped up until there is no claimable work or we stop."""
        batch = claim_size(self.options.workers)
        low = self._low_water
        while not self._stopping:
            if len(self._queue) < low:
                tasks = await self._db(
                    self.ledger.claim,
                    self.owner,
                    batch,
                    self.wall_clock(),
                    self.options.lease,
                    self.options.stages,
                )
                if tasks:
                    self._queue.extend(tasks)
                    self._wake.set()
                    continue
                idle = not (
                    self._in_flight
                    or self._buffer
                    or self._queue
                    or self._flushing
                    or self._discovery_running
                )
                if idle:
                    return  # nothing claimable, and nothing running could make more
                if self._buffer and not self._flushing:
                    # Nothing claimable: the next work may be children waiting in the
                    # buffer for their parents' commit. Commit now, not at the next tick.
                    await self._flush()
                    continue
            self._wake.clear()
            if self._stopping:  # a halt while we claimed: its wake-up was just cleared
                break
            await self._wake.wait()

    async def _worker(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        key = id(me)
        while True:
            while not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                if self._closing:
                    return
            if self._stopping:
                return
            task = self._queue.popleft()
            if len(self._queue) == self._low_water:
                self._wake.set()  # ask the feeder for more
            stage = self.pipeline.stages[task.stage]
            timeout = stage.timeout or self.options.item_timeout
            started = self.clock()
            self._in_flight[key] = task
            if timeout:
                self._deadlines[key] = (started + timeout, me)
            try:
                settled = await self._execute(task, stage, started)
            except asyncio.CancelledError:
                if not self._timed_out.pop(key, False):
                    return  # left in _in_flight: released after the workers stop
                me.uncancel()  # our watchdog's cancel, not the run's: the item timed out
                exc = ItemTimeout(f"item took longer than {timeout:g}s")
                settled = self._failed(task, started, exc)
            except (RunHalted, LedgerError) as exc:  # a full disk is no stage's bug
                self._halt(str(exc))
                return
            finally:
                self._deadlines.pop(key, None)
            del self._in_flight[key]
            self._settle(settled)

    async def _watchdog(self) -> None:
        """Cancel items that outlive their timeout (one timer for all, not one per item)."""
        timeouts = [s.timeout for s in self.pipeline.stages.values() if s.timeout]
        shortest = min([*timeouts, self.options.item_timeout or 60.0])
        interval = min(1.0, max(0.01, shortest / 10))
        while True:
            await asyncio.sleep(interval)
            now = self.clock()
            for key, (deadline, worker) in list(self._deadlines.items()):
                if now >= deadline and key not in self._timed_out:
                    self._timed_out[key] = True
                    worker.cancel()

    async def _execute(self, task: Task, stage: Stage, started: float) -> _Settled:
        item = Item(
            key=task.key, kind=task.kind, data=dict(task.data), date=task.date, parent=task.parent
        )
        ctx = Context(
            fetch=self.fetch,
            config=self.options.config,
            run_id=self.run_id,
            stage=stage.name,
            item=item,
            emits=stage.emits,
            expect=stage.expect,
        )
        try:
            result = await stage.fn(ctx, item)
            records = [self._row(r) for r in as_records(result, stage.name)]
            children = [storable_item(c, c.kind or "") for c in ctx.children]
        except (RunHalted, LedgerError):
            raise
        except BaseException as exc:  # a stage's own bug (even sys.exit) fails its item
            if _cancelled_by_us(exc):
                raise
            return self._failed(task, started, exc)
        return _Settled(task, True, started, self.clock() - started, records, children)

    def _failed(self, task: Task, started: float, exc: BaseException) -> _Settled:
        category, message = _describe(exc)
        message = redact(message, self._secrets)
        log.debug("%s %s %s failed: %s", task.kind, task.key, task.stage, message, exc_info=exc)
        return _Settled(
            task, False, started, self.clock() - started, category=category, message=message
        )

    def _row(self, record: Record) -> RecordRow:
        pk, data = self.pipeline.encode_record(record)
        return RecordRow(table=record.table, pk=pk, json=data)

    def _settle(self, settled: _Settled) -> None:
        self._buffer.append(settled)
        reason = self._failures.record(
            stage=settled.task.stage,
            category=None if settled.ok else settled.category or Category.ERROR,
            message=settled.message,
        )
        if reason:
            self._halt(reason)
        if len(self._buffer) >= self.options.commit_every:
            self._wake.set()
            self._flushed.set()
        elif not self._queue:
            # The workers are running dry: the feeder claims now, and when nothing is
            # claimable, commits this buffer at once (its children may be the next work)
            # rather than at the flusher's next tick.
            self._wake.set()

    def _outcomes(self, batch: Sequence[_Settled]) -> tuple[list[Completion], list[Failure]]:
        """Settled items as the ledger takes them: completions and failures."""
        completions = [
            Completion(
                task=s.task,
                owner=self.owner,
                records=s.records,
                children=s.children,
                started=s.started,
                duration=s.duration,
                version=self.pipeline.stages[s.task.stage].version,
            )
            for s in batch
            if s.ok
        ]
        failures = [
            Failure(
                task=s.task,
                owner=self.owner,
                category=s.category or Category.ERROR,
                message=s.message,
                started=s.started,
                duration=s.duration,
            )
            for s in batch
            if not s.ok
        ]
        return completions, failures

    async def _flusher(self) -> None:
        interval = self.options.commit_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._flushed.wait()
            self._flushed.clear()
            if self._buffer:
                await self._flush()

    async def _flush(self) -> None:
        """Commit buffered outcomes: one transaction for successes, one for failures."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        now = self.wall_clock()
        completions, failures = self._outcomes(batch)
        self._flushing += 1
        try:
            done = await self._db(self.ledger.complete, completions, self.run_id, now)
            failed = await self._db(self.ledger.fail, failures, self.run_id, now)
        except ScrapelineError as exc:
            self._halt(f"cannot write the ledger: {exc}")
            raise
        finally:
            self._flushing -= 1
        children = 0
        for completion, ok in zip(completions, done, strict=True):
            if ok:
                t = completion.task
                children += len(completion.children)
                self._emit(
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
                self._emit(
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
        self._remaining = max(0, self._remaining + children - len(batch))
        self._emit(ev.WorkQueued(remaining=self._remaining))
        self._wake.set()

    async def _stop_workers(self, others: Sequence[asyncio.Future[None]] = ()) -> None:
        """Let in-flight items (and a discovery page) finish within the grace period,
        then cancel them."""
        pending = [w for w in [*self._workers, *others] if not w.done()]
        if pending and not self.shutdown.forced:
            grace = self.options.grace if self._stopping else None
            _, pending_set = await asyncio.wait(pending, timeout=grace)
            pending = list(pending_set)
        for w in pending:
            w.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


_KEY_RANGE = range(-(2**63), 2**63)
"""What an int key may be: a SQLite integer. A larger one would be stored as a float."""


def storable_item(item: Item, kind: str) -> NewItem:
    """The item as the ledger stores it. Raises ValidationError, naming the key and
    the field, for what the ledger could not store: a key past 64 bits, data that is
    not JSON (a parsed HTML node, Decimal, bytes, ...)."""
    if not isinstance(item, Item):
        raise ValidationError(f"discovery must yield Item objects, not {type(item).__name__}")
    if isinstance(item.key, int) and item.key not in _KEY_RANGE:
        raise ValidationError(f"item key {item.key} does not fit in 64 bits: give it as a str")
    try:
        orjson.dumps(item.data)
        orjson.dumps(item.parent)
    except TypeError:
        problem = _json_problem(item.data, "") or _json_problem(item.parent, "parent")
        raise ValidationError(f"item {item.key!r}: {problem}") from None
    if item.date is not None and not isinstance(item.date, str):
        raise ValidationError(f"item {item.key!r}: date must be a str, not {item.date!r}")
    return NewItem(
        kind=item.kind or kind,
        key=item.key,
        data=item.data,
        date=item.date,
        parent=item.parent,
    )


def _json_problem(value: Any, path: str) -> str | None:
    """Where in ``value`` JSON gives up: "field 'teams': LexborNode is not JSON"."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if not isinstance(name, str):
                return f"field {path or '.'!r}: key {name!r} is not a str"
            found = _json_problem(inner, f"{path}.{name}" if path else name)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            found = _json_problem(inner, f"{path}[{i}]")
            if found:
                return found
        return None
    try:
        orjson.dumps(value)
    except TypeError:
        if isinstance(value, int):
            return f"field {path!r}: {value} does not fit in 64 bits"
        return f"field {path!r}: {type(value).__name__} is not JSON"
    return None


def _snapshot(read: Callable[[], list[T]]) -> list[T]:
    """A copy of a collection the loop's thread may be changing (from another thread)."""
    for _ in range(100):
        try:
            return read()
        except RuntimeError:  # changed size during iteration: read it again
            time.sleep(0.001)
    return []


def _cancelled_by_us(exc: BaseException) -> bool:
    """Is this the run's own cancellation (drain, second Ctrl+C, item timeout)?

    A CancelledError the user's code raised by itself, with nobody cancelling the
    task, is the user's failure like any other exception."""
    if not isinstance(exc, asyncio.CancelledError):
        return False
    me = asyncio.current_task()
    return me is None or me.cancelling() > 0


def _describe(exc: BaseException) -> tuple[str, str]:
    """Category and one-line message for anything a stage or discovery raised; never
    raises itself (an exception whose ``str`` fails is still reported)."""
    try:
        category, message = categorize(exc)
        if isinstance(exc, ItemError) and exc.attempts:
            message = str(exc)
    except Exception:
        return Category.ERROR, type(exc).__name__
    return category, message
