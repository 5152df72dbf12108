"""Re-parse: run one stage again over the archived responses, with no network at all.

    from scrapeline.reparse import reparse
    outcome = asyncio.run(reparse(pipe, Path("data/football"), "overview", outdated_only=True))

The stage's DONE tasks go back to pending (with ``outdated_only``, only those
settled by a lower ``version`` than the stage declares now), then a run with no
discovery works through that stage alone. Its ``ctx.fetch`` is served by an
:class:`~scrapeline.fetch.archive.ArchiveFetcher`: the latest archived response
for each URL, no rate limit, no robots.txt, one attempt. Records are upserted by
key, so each re-parsed record replaces the old one and remembers the new version;
emitted children are upserted and their tasks keep their state.

Tasks of the stage that were not done (pending, or failed: failed tasks are
retried at the start of every run) are tried from the archive too: a page that
failed to parse is parsed again; a URL never archived fails with category
``archive_miss``, and the next ``scrapeline run`` fetches it.

Relative URLs resolve against ``base_url``, or else the base URL the archive
recorded when it stored responses (so a crawl of a rehearsal copy on another port
re-parses as it was fetched), or else the pipeline's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from scrapeline import events as ev
from scrapeline.datadir import DataDir
from scrapeline.errors import ConfigError, DataDirError
from scrapeline.events import EventBus
from scrapeline.fetch.archive import Archive, ArchiveFetcher
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.http1 import DEFAULT_MAX_BODY
from scrapeline.ledger.aio import AsyncLedger
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.observe.logfile import LogReporter, close_run_log, open_run_log
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import Outcome, Runner, RunOptions
from scrapeline.runner.shutdown import Shutdown


async def reparse(
    pipeline: Pipeline,
    data_dir: Path,
    stage: str,
    *,
    outdated_only: bool = False,
    options: RunOptions | None = None,
    base_url: str | None = None,
    subscribers: Sequence[Callable[[ev.Event], None]] = (),
    shutdown: Shutdown | None = None,
) -> Outcome:
    """Re-run ``stage`` of ``pipeline`` on ``data_dir`` from its archive; see the module doc.

    ``options`` sets workers, timeouts and the breaker (discovery is off and only
    ``stage`` runs, whatever it says). Raises ConfigError for an unknown stage,
    DataDirError when there is no ledger or no archived response of the stage, and
    DataDirBusy when a run holds the data dir."""
    if stage not in pipeline.stages:
        known = ", ".join(pipeline.stages) or "none"
        raise ConfigError(f"unknown stage {stage!r}: pipeline {pipeline.name!r} has {known}")
    layout = DataDir(data_dir)
    if not layout.exists():
        raise DataDirError(f"no ledger in {data_dir}: run the pipeline first (scrapeline run)")
    if not Archive.exists(layout.archive):
        raise DataDirError(
            f"no archive in {layout.archive}: nothing to re-parse "
            "(runs with --no-archive keep no responses)"
        )
    options = replace(options or RunOptions(), discover=False, stages=(stage,))
    version = pipeline.stages[stage].version
    secrets = pipeline.secret_values()
    shutdown = shutdown or Shutdown()
    reporters: list[Callable[[ev.Event], None]] = [LogReporter(), *subscribers]
    async with contextlib.AsyncExitStack() as stack:
        dd = stack.enter_context(DataDir(data_dir))
        archive = stack.enter_context(Archive(dd.archive, secrets=secrets))
        if not archive.count(stage=stage):
            raise DataDirError(
                f"the archive in {dd.archive} holds no response fetched by stage {stage!r}: "
                "nothing to re-parse"
            )
        site = base_url or archive.base_url()
        settings = pipeline.fetch.with_base_url(site) if site else pipeline.fetch
        graph = pipeline.graph()
        ledger = SqliteLedger(dd.ledger)
        stack.callback(ledger.close)
        # The archive answers, once each: no pauses between requests, no retries, no
        # robots.txt or proxies, and the body limit the responses were fetched under.
        settings = replace(
            settings,
            rate=None,
            delay=None,
            concurrency=max(options.workers, 1),
            max_attempts=1,
            robots=False,
            proxies=(),
            max_body=DEFAULT_MAX_BODY,
        )
        client = FetchClient.from_settings(settings, fetcher=ArchiveFetcher(archive))
        stack.push_async_callback(client.close)
        ledger.prepare(graph)
        # A table's key is part of its schema: refused here as at the start of a run.
        ledger.adopt_tables({t.name: t.key for t in pipeline.tables.values()})
        # We hold the data-dir lock: whatever is still RUNNING belongs to a dead process.
        ledger.release_all_running()
        before = ledger.counts().get(stage, {})
        not_done = sum(before.get(s, 0) for s in ("pending", "failed", "running"))
        redone = ledger.redo(stage, older_than_version=version if outdated_only else None)
        if outdated_only:
            message = (
                f"re-parsing {redone} tasks of stage {stage!r} done by a version below "
                f"{version}, from the archive"
            )
        else:
            message = f"re-parsing {redone} done tasks of stage {stage!r} from the archive"
        if not_done:
            message += f", and {not_done} not done before (fetched by the next run if not archived)"

        queue = AsyncLedger(ledger)
        stack.callback(queue.close)  # closed before the ledger (callbacks run last first)
        bus = EventBus(reporters)
        shutdown.install()
        try:
            run_id = await queue.begin_run(
                pipeline.name, options.public(), time.time(), os.getpid()
            )
            await queue.reset_failed()
            path, handler = open_run_log(dd.path, run_id, datetime.now(), secrets=secrets)
            stack.callback(close_run_log, handler)
            bus.emit(ev.Log(level=logging.INFO, message=message))
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
            outcome = await runner.run()
        finally:
            shutdown.restore()
    return outcome
