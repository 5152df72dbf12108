"""Re-parse: run one stage again over the archived responses, with no network at all.

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

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from scrapeline import events as ev
from scrapeline.datadir import DataDir
from scrapeline.errors import ConfigError, DataDirError
from scrapeline.fetch.archive import Archive, ArchiveFetcher
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.http1 import DEFAULT_MAX_BODY
from scrapeline.ledger.base import Ledger
from scrapeline.observe.logfile import LogReporter
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import Outcome, RunOptions
from scrapeline.runner.shutdown import Shutdown
from scrapeline.workspace.invocation import Invocation
from scrapeline.workspace.opened import Workspace, missing_ledger
from scrapeline.workspace.run import run_on


async def reparse(
    pipeline: Pipeline,
    data_dir: Path,
    stage: str,
    *,
    outdated_only: bool = False,
    options: RunOptions | None = None,
    base_url: str | None = None,
    subscribers: Sequence[ev.Subscriber] = (),
    shutdown: Shutdown | None = None,
    invocation: Invocation | None = None,
) -> Outcome:
    """Re-run ``stage`` of ``pipeline`` on ``data_dir`` from its archive; see the module doc.

    ``options`` sets workers, timeouts and the breaker (discovery is off and only
    ``stage`` runs, whatever it says). The run's record keeps ``invocation``
    (default: this process's ``reparse`` and its arguments), secrets masked; a
    re-parse fetches nothing new, so it never writes the heartbeat. Raises
    ConfigError for an unknown stage,
    DataDirError when there is no ledger or no archived response of the stage, and
    DataDirBusy when a run holds the data dir."""
    if stage not in pipeline.stages:
        known = ", ".join(pipeline.stages) or "none"
        raise ConfigError(f"unknown stage {stage!r}: pipeline {pipeline.name!r} has {known}")
    layout = DataDir(data_dir)
    if not layout.exists():
        raise missing_ledger(data_dir)
    if not Archive.exists(layout.archive):
        raise DataDirError(
            f"no archive in {layout.archive}: nothing to re-parse "
            "(runs with --no-archive keep no responses)"
        )
    options = replace(options or RunOptions(), discover=False, stages=(stage,))
    secrets = pipeline.fetch.secret_values()
    shutdown = shutdown or Shutdown()
    bus = ev.EventBus([LogReporter(), *subscribers])
    with Workspace.open(data_dir) as ws:
        archive = ws.existing_archive(secrets)
        if archive is None or not archive.count(stage=stage):
            raise DataDirError(
                f"the archive in {ws.dd.archive} holds no response fetched by stage {stage!r}: "
                "nothing to re-parse"
            )
        site = base_url or archive.base_url()
        settings = pipeline.fetch.with_base_url(site) if site else pipeline.fetch
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
        try:
            ws.prepare(pipeline)
            message = _redo(ws.ledger, pipeline, stage, outdated_only=outdated_only)
        except BaseException:
            await client.close()
            raise
        return await run_on(
            ws,
            pipeline,
            client,
            options,
            bus=bus,
            shutdown=shutdown,
            secrets=secrets,
            announce=message,
            invocation=invocation or Invocation.current("reparse"),
        )


def _redo(ledger: Ledger, pipeline: Pipeline, stage: str, *, outdated_only: bool) -> str:
    """Put the stage's done tasks (or its outdated ones) back to pending; say so."""
    version = pipeline.stages[stage].version
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
    return message
