"""``run``: a pipeline once over its data dir — discovery, stages, commits — to the
end, a halt or an interrupt.

    outcome = await run(pipe, Path("data/football"), RunOptions(workers=4))
    outcome.status   # RunStatus.DONE, FAILED (items failed), HALTED or INTERRUPTED

Every setting is checked before the data dir is touched: a ConfigError or
PipelineError leaves no directory and no empty ledger behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from scrapeline.context import Fetch
from scrapeline.errors import ConfigError, DataDirError, DiskFull, LedgerError
from scrapeline.events import EventBus, Log, Subscriber
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.settings import FetchSettings
from scrapeline.ledger.aio import AsyncLedger
from scrapeline.ledger.base import Ledger, RunStatus
from scrapeline.model import Key
from scrapeline.observe.logfile import LogReporter
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import Outcome, Runner, RunOptions, check_options
from scrapeline.runner.shutdown import Shutdown
from scrapeline.workspace import history
from scrapeline.workspace.heartbeat import write_last_success
from scrapeline.workspace.invocation import Invocation
from scrapeline.workspace.opened import BegunRun, Workspace, default_data_dir

log = logging.getLogger("scrapeline.workspace")


class RunFetch(Fetch, Protocol):
    """What a run fetches through: a :class:`FetchClient`, or one that puts the
    archive first (:class:`~scrapeline.fetch.archive_first.ArchiveFirst`)."""

    async def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class FetchOptions:
    """How this run reaches the site, beside what the pipeline declares."""

    base_url: str | None = None
    """Overrides the pipeline's base_url (its host joins the declared hosts)."""
    archive: bool = True
    """Keep every usable response in DATA_DIR/archive (``--no-archive`` turns it off)."""
    rate: str | float | None = None
    """Overrides the pipeline's rate for this run (``--rate 5/s``); None keeps it."""
    delay: tuple[float, float] | float | None = None
    """Overrides the pipeline's delay for this run; None keeps it."""
    concurrency: int | None = None
    """Overrides the pipeline's concurrency per host for this run; None keeps it."""


def fetch_settings(pipeline: Pipeline, fetch: FetchOptions) -> FetchSettings:
    """The pipeline's fetch settings, pointed at ``fetch.base_url`` and with
    ``fetch``'s rate, delay and concurrency when given (a new value: the pipeline is
    not changed)."""
    settings = pipeline.fetch
    if fetch.base_url:
        settings = settings.with_base_url(fetch.base_url)
    overrides: dict[str, Any] = {
        "rate": fetch.rate,
        "delay": fetch.delay,
        "concurrency": fetch.concurrency,
    }
    given = {name: value for name, value in overrides.items() if value is not None}
    if given:
        settings = dataclasses.replace(settings, **given)
    return settings


async def check_settings(settings: FetchSettings) -> None:
    """Raise ConfigError for any fetch setting that cannot work (rate, delay,
    concurrency, retries, base_url, hosts, proxies, the browser's needs), by
    building the fetch client once: nothing is opened or written."""
    await FetchClient.from_settings(settings).close()


async def run(
    pipeline: Pipeline,
    data_dir: Path | None = None,
    options: RunOptions | None = None,
    *,
    fetch_options: FetchOptions | None = None,
    subscribers: Sequence[Subscriber] = (),
    shutdown: Shutdown | None = None,
    invocation: Invocation | None = None,
) -> Outcome:
    """Run ``pipeline`` once on ``data_dir`` (default ``data/<name>``).

    Events go to ``subscribers`` and to the run's log file: the runner's and the
    fetch layer's alike. The summary stored with the run says what was sent to each
    host (``hosts``: requests, retries, 429s, 5xx, requests with no answer) and what
    each stage did; the run's record keeps ``invocation`` (default: this process's
    ``run`` and its arguments), secrets masked. A run that ends done writes the
    heartbeat, DATA_DIR/state/last_success.json. Raises DataDirBusy when another run
    holds the data dir, ConfigError/PipelineError before anything is written."""
    options = options or RunOptions()
    fetch_options = fetch_options or FetchOptions()
    settings = fetch_settings(pipeline, fetch_options)
    pipeline.validate()
    check_options(pipeline, options)
    await check_settings(settings)
    secrets = settings.secret_values()  # kept out of the log, the console and the ledger
    shutdown = shutdown or Shutdown()
    bus = EventBus([LogReporter(), *subscribers])
    with Workspace.open(data_dir or default_data_dir(pipeline)) as ws:
        notes = ws.prepare(pipeline)
        if options.only:
            options = dataclasses.replace(options, only=only_items(ws.ledger, options.only))
        archive = ws.archive(settings) if fetch_options.archive else None
        client = FetchClient.from_settings(settings, archive=archive, on_event=bus.emit)
        return await run_on(
            ws,
            pipeline,
            client,
            options,
            bus=bus,
            shutdown=shutdown,
            secrets=secrets,
            summary_extra=lambda: {"hosts": client.requests_by_host()},
            invocation=invocation or Invocation.current("run"),
            heartbeat=True,
            notes=notes,
        )


async def run_on(
    ws: Workspace,
    pipeline: Pipeline,
    client: RunFetch,
    options: RunOptions,
    *,
    bus: EventBus,
    shutdown: Shutdown,
    secrets: tuple[str, ...],
    announce: str | None = None,
    summary_extra: Callable[[], Mapping[str, Any]] | None = None,
    invocation: Invocation | None = None,
    heartbeat: bool = False,
    notes: Sequence[str] = (),
) -> Outcome:
    """Begin a run on the prepared workspace ``ws`` and run it to its end with
        ``client``, which is closed on every exit path (``announce`` is logged first, then
    each of ``notes``: what preparing the tables changed).
        ``summary_extra`` adds to the summary stored with the run (a run over the network
        adds what it sent to each host, ``{"hosts": {"127.0.0.1:8000": {"requests": …}}}``).
        The run's record keeps ``invocation``; once it has ended, its counts per stage are
        noted with it, and with ``heartbeat`` a run that ended done writes the heartbeat.

        Signals are the run's from before it begins until the client is closed. On a
        full disk the run is recorded as halted, if the ledger can still take that row."""
    queue = ws.queue()
    begun: BegunRun | None = None
    shutdown.install()
    try:
        begun = await ws.begin_run(queue, pipeline, options, secrets=secrets, invocation=invocation)
        if announce:
            bus.emit(Log(level=logging.INFO, message=announce))
        for note in notes:
            bus.emit(Log(level=logging.WARNING, message=note))
        runner = Runner(
            pipeline,
            queue,
            client,
            options,
            run_id=begun.run_id,
            emit=bus.emit,
            shutdown=shutdown,
            data_dir=str(ws.path),
            log_path=str(begun.log_path),
            secrets=secrets,
            summary_extra=summary_extra,
        )
        outcome = await runner.run()
        await _after(ws, queue, outcome, heartbeat=heartbeat)
        return outcome
    except DiskFull as exc:
        queue.close()  # nothing of the run is still writing
        ws.dd.release_reserve()  # room for the ledger to say the run halted
        if begun is not None:
            _record_halt(ws.ledger, begun.run_id, exc)
        raise
    finally:
        # Signals stay ours until the fetcher is closed: a second SIGTERM must
        # not kill the process halfway through closing a browser (bounded).
        try:
            await client.close()
        finally:
            shutdown.restore()


async def _after(ws: Workspace, queue: AsyncLedger, outcome: Outcome, *, heartbeat: bool) -> None:
    """Note what the ended run did per stage, and beat the heart when it ended done.

    Neither changes how the run went: a ledger or a file that cannot take them is
    logged as an error (a stale heartbeat is what a monitor then sees)."""
    try:
        ended = await queue.call(history.record_end, queue.ledger, outcome.run_id)
    except LedgerError as exc:
        log.error("the counts of run %s could not be noted: %s", outcome.run_id, exc)
        return
    if heartbeat and outcome.status is RunStatus.DONE:
        try:
            write_last_success(ws.path, ended)
        except DataDirError as exc:
            log.error("the heartbeat could not be written: %s", exc)


def only_items(ledger: Ledger, only: Sequence[tuple[str, Key]]) -> tuple[tuple[str, Key], ...]:
    """``--only`` items as the ledger keys them: "2019" is the integer key 2019 when
    the ledger has that, else the text. Raises ConfigError for one it does not have
    (nothing is written: the run has not begun)."""
    found: list[tuple[str, Key]] = []
    for kind, key in only:
        candidates: list[Key] = [key]
        if isinstance(key, str) and key.lstrip("-").isdigit():
            candidates.insert(0, int(key))
        known = ledger.known(kind, candidates)
        match = next((k for k in candidates if k in known), None)
        if match is None:
            raise ConfigError(
                f"--only {kind}:{key}: the ledger has no {kind} {key!r}; "
                "a run without --only finds it first"
            )
        found.append((kind, match))
    return tuple(found)


def _record_halt(ledger: Ledger, run_id: int, error: DiskFull) -> None:
    """Mark the run HALTED with its reason, unless the runner could record its end
    itself, and if the full disk still lets the ledger take that one row; otherwise
    the next run finds it and marks it crashed."""
    summary = {"reason": str(error), "exit_code": error.exit_code}
    with contextlib.suppress(LedgerError):
        ended = [r for r in ledger.runs(1) if r.id == run_id and r.status is not RunStatus.RUNNING]
        if not ended:
            ledger.end_run(run_id, RunStatus.HALTED, time.time(), summary)
