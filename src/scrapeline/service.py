"""What the CLI (and a user's own code) calls: run a pipeline, read its status and runs.

    from scrapeline.service import run_pipeline
    outcome = asyncio.run(run_pipeline(pipe, Path("data/football"), RunOptions(workers=4)))

Each function opens what it needs (data dir, ledger, fetch client, run log) and
closes it on every exit path.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scrapeline.datadir import DataDir
from scrapeline.errors import DataDirError, DiskFull, LedgerError
from scrapeline.events import Event, EventBus
from scrapeline.fetch.archive import Archive
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.events import FetchEvent
from scrapeline.ledger.aio import AsyncLedger
from scrapeline.ledger.base import RunInfo, RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.observe.logfile import LogReporter, close_run_log, open_run_log
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import Outcome, Runner, RunOptions
from scrapeline.runner.shutdown import Shutdown


def default_data_dir(pipeline: Pipeline) -> Path:
    return Path("data") / pipeline.name


@dataclass(frozen=True, kw_only=True)
class FetchOptions:
    base_url: str | None = None
    """Overrides the pipeline's base_url (its host joins the declared hosts)."""
    archive: bool = True
    """Keep every usable response in DATA_DIR/archive (``--no-archive`` turns it off)."""


async def run_pipeline(
    pipeline: Pipeline,
    data_dir: Path,
    options: RunOptions,
    *,
    fetch_options: FetchOptions | None = None,
    subscribers: Sequence[Callable[[Event], None]] = (),
    shutdown: Shutdown | None = None,
) -> Outcome:
    """Run ``pipeline`` once on ``data_dir``. Raises DataDirBusy when another run holds it.

    Every setting is checked before the data dir is touched: a ConfigError or
    PipelineError leaves no directory and no empty ledger behind."""
    fetch_options = fetch_options or FetchOptions()
    if fetch_options.base_url:
        pipeline.use_base_url(fetch_options.base_url)
    pipeline.validate()
    graph = pipeline.graph()
    await check_settings(pipeline)
    secrets = pipeline.secret_values()  # kept out of the log, the console and the ledger
    shutdown = shutdown or Shutdown()
    with DataDir(data_dir) as dd:
        ledger = SqliteLedger(dd.ledger)
        queue = AsyncLedger(ledger)
        handlers: list[Any] = []
        begun: list[int] = []
        bus = EventBus([LogReporter(), *subscribers])
        archive = open_archive(dd, pipeline) if fetch_options.archive else None
        client = make_fetch_client(pipeline, archive=archive, on_event=bus.emit)
        try:
            ledger.prepare(graph)
            # A table's key is part of its schema: a change is refused here, at start.
            ledger.adopt_tables({t.name: t.key for t in pipeline.tables.values()})
            # We hold the data-dir lock: whatever is still RUNNING belongs to a
            # process that died. Give it back now rather than when leases expire.
            ledger.release_all_running()
            shutdown.install()
            try:
                run_id = await queue.begin_run(
                    pipeline.name, options.public(), time.time(), os.getpid()
                )
                begun.append(run_id)
                await queue.reset_failed()
                if archive is not None:
                    archive.run_id = run_id  # labels what it stores from now on
                path, handler = open_run_log(dd.path, run_id, datetime.now(), secrets=secrets)
                handlers.append(handler)
                runner = Runner(
                    pipeline,
                    queue,
                    client,
                    options,
                    run_id=run_id,
                    emit=bus.emit,
                    shutdown=shutdown,
                    data_dir=str(dd.path),
                    log_path=str(path),
                    secrets=secrets,
                )
                return await runner.run()
            except DiskFull as exc:
                queue.close()  # nothing of the run is still writing
                dd.release_reserve()  # room for the ledger to say the run halted
                _halt(ledger, begun, exc)
                raise
            finally:
                # Signals stay ours until the fetcher is closed: a second SIGTERM must
                # not kill the process halfway through closing a browser (bounded).
                try:
                    await client.close()
                finally:
                    shutdown.restore()
        finally:
            await client.close()  # idempotent; for a failure before the run began
            try:
                queue.close()
                if archive is not None:
                    archive.close()  # writes what is still queued
            finally:
                ledger.close()
                for handler in handlers:
                    close_run_log(handler)


async def check_settings(pipeline: Pipeline) -> None:
    """Raise ConfigError for any fetch setting that cannot work (rate, delay,
    concurrency, retries, base_url, hosts, proxies, the browser's needs), by
    building the fetch client once: nothing is opened or written."""
    await FetchClient.from_settings(pipeline.fetch).close()


def open_archive(dd: DataDir, pipeline: Pipeline) -> Archive:
    """The data dir's archive, ready to store what ``pipeline`` fetches."""
    archive = Archive(dd.archive, secrets=pipeline.fetch.secret_values())
    archive.remember_base_url(pipeline.fetch.base_url)
    return archive


def make_fetch_client(
    pipeline: Pipeline,
    *,
    archive: Archive | None = None,
    on_event: Callable[[FetchEvent], None] | None = None,
) -> FetchClient:
    """The fetch client a pipeline's stages use (:meth:`FetchClient.from_settings`)."""
    return FetchClient.from_settings(pipeline.fetch, archive=archive, on_event=on_event)


def _halt(ledger: SqliteLedger, begun: Sequence[int], error: DiskFull) -> None:
    """Mark the run HALTED with its reason, if the full disk still lets the ledger
    take that one row; otherwise the next run finds it and marks it crashed."""
    if not begun:
        return
    summary = {"reason": str(error), "exit_code": error.exit_code}
    with contextlib.suppress(LedgerError):
        ledger.end_run(begun[-1], RunStatus.HALTED, time.time(), summary)


def _open_existing(data_dir: Path) -> SqliteLedger:
    """The data dir's ledger, opened read-only: reading never needs write access.

    DataDirError in one line when there is no ledger, or only a file no run has
    set up (a run that stopped before it began)."""
    dd = DataDir(data_dir)
    missing = f"no ledger in {data_dir}: run the pipeline first (scrapeline run)"
    if not dd.exists():
        raise DataDirError(missing)
    ledger = SqliteLedger(dd.ledger, read_only=True)
    try:
        ready = ledger.has_schema()
    except BaseException:
        ledger.close()
        raise
    if not ready:
        ledger.close()
        raise DataDirError(missing)
    return ledger


def status(pipeline: Pipeline, data_dir: Path) -> dict[str, Any]:
    """Per-stage task counts, items per kind, and the records kept from an earlier
    run whose task is not done now (per table), read from the ledger (read-only)."""
    ledger = _open_existing(data_dir)
    try:
        ledger.graph = pipeline.graph()  # read only: a run may be writing
        counts = ledger.counts()
        items = ledger.db.execute("SELECT kind, count(*) FROM items GROUP BY kind").fetchall()
        last = ledger.runs(1)
        return {
            "pipeline": pipeline.name,
            "data_dir": str(data_dir),
            "stages": counts,
            "items": dict(items),
            "kept": ledger.kept_records(),
            "last_run": _run_dict(last[0]) if last else None,
        }
    finally:
        ledger.close()


def runs(pipeline: Pipeline, data_dir: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent runs, newest first, read from the ledger (read-only)."""
    ledger = _open_existing(data_dir)
    try:
        ledger.graph = pipeline.graph()
        return [_run_dict(r) for r in ledger.runs(limit)]
    finally:
        ledger.close()


def _run_dict(run: RunInfo) -> dict[str, Any]:
    def iso(ts: float | None) -> str | None:
        return None if ts is None else datetime.fromtimestamp(ts).isoformat(timespec="seconds")

    alive = run.status == "running" and run.pid is not None and _alive(run.pid)
    return {
        "id": run.id,
        "started": iso(run.started_at),
        "ended": iso(run.ended_at),
        "status": "running" if alive else run.status.value,
        "pid": run.pid,
        "done": run.summary.get("done"),
        "failed": run.summary.get("failed"),
        "exit_code": run.summary.get("exit_code"),
        "reason": run.summary.get("reason"),
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
