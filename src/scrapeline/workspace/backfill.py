"""Backfill: redo chosen stages for a slice of items, reading the archive where it can.

    outcome = asyncio.run(backfill(pipe, Path("data/football"),
                                   Slice(dates=("2024-05-01", "2024-05-31"), stages=("overview",))))
    outcome is None     # nothing in the slice: no run was recorded

The slice (:class:`~scrapeline.workspace.slices.Slice`) names items: by key, by date
(the items' own ``date``), a subtree (``--only``), or a range of the top-level
listings (``--offsets``). Each named item counts with its descendants. The chosen
stages' tasks of those items go back to pending in one transaction per stage
(every task of the subtree when no stage is chosen, as ``run --force-rescrape``
does), and a run works through them alone: nothing outside the slice is claimed.
As with ``--force-rescrape``, the old records stay until each task completes again;
its completion then replaces them in the same transaction as its ``done`` mark.

A range (``--offsets A:B``) is walked as ``run --start-offset A --end-offset B
--force-rescrape`` walks it: the whole range, no early stop, each item found (new
or known) redone, every stage of it (so a range takes no ``--stage``); that run also
does whatever other work the ledger holds pending.

Fetches go through :class:`~scrapeline.fetch.archive_first.ArchiveFirst`: the
archived response for a URL when there is one, the network otherwise (archived as
ever); ``refetch`` sends every request to the network. The run is recorded as
command ``backfill`` and does not write the heartbeat (a slice redone is not the
pipeline brought up to date).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from scrapeline.datadir import DataDir
from scrapeline.errors import ConfigError
from scrapeline.events import EventBus, Subscriber
from scrapeline.fetch.archive import Archive, ArchiveFetcher
from scrapeline.fetch.archive_first import ArchiveFirst
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.http1 import DEFAULT_MAX_BODY
from scrapeline.fetch.settings import FetchSettings
from scrapeline.ledger.base import Ledger
from scrapeline.model import Key
from scrapeline.observe.logfile import LogReporter
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import Outcome, RunOptions, check_options
from scrapeline.runner.shutdown import Shutdown
from scrapeline.workspace.invocation import Invocation
from scrapeline.workspace.opened import Workspace, default_data_dir, missing_ledger
from scrapeline.workspace.run import FetchOptions, RunFetch, check_settings, fetch_settings, run_on
from scrapeline.workspace.slices import ItemText, Slice

__all__ = ["MAX_ITEMS", "backfill", "resolve_keys", "select"]

MAX_ITEMS = 10_000
"""The most items one backfill names (each run's claims carry them): split a larger
slice into several backfills, by date or by offsets."""


async def backfill(
    pipeline: Pipeline,
    data_dir: Path | None,
    chosen: Slice,
    *,
    options: RunOptions | None = None,
    fetch_options: FetchOptions | None = None,
    refetch: bool = False,
    subscribers: Sequence[Subscriber] = (),
    shutdown: Shutdown | None = None,
    invocation: Invocation | None = None,
) -> Outcome | None:
    """Redo ``chosen``'s stages for its items on ``data_dir``; see the module doc.

    ``options`` sets workers, timeouts and the breaker (what is claimed is the
    slice's, whatever it says). Returns the run's outcome, or None when the slice
    names no item (nothing is written then, no run recorded). Raises ConfigError for
    a stage or kind the pipeline does not have, a key the ledger does not hold or a
    slice of more than :data:`MAX_ITEMS` items; DataDirError when there is no
    ledger; DataDirBusy when a run holds the data dir."""
    options = options or RunOptions()
    fetch_options = fetch_options or FetchOptions()
    for stage in chosen.stages:
        if stage not in pipeline.stages:
            known = ", ".join(pipeline.stages) or "none"
            raise ConfigError(f"--stage {stage}: the pipeline has no stage {stage!r} ({known})")
    for kind, key in (*chosen.keys, *chosen.only):
        if kind not in pipeline.kinds:
            known = ", ".join(pipeline.kinds) or "none"
            raise ConfigError(f"{kind}:{key}: the pipeline has no kind {kind!r} (it has {known})")
    settings = fetch_settings(pipeline, fetch_options)
    pipeline.validate()
    check_options(pipeline, options)
    await check_settings(settings)
    secrets = settings.secret_values()
    target = data_dir or default_data_dir(pipeline)
    if chosen.offsets is None and not DataDir(target).exists():
        raise missing_ledger(target)
    with Workspace.open(target) as ws:
        ws.prepare(pipeline)
        roots: list[tuple[str, Key]] = []
        if chosen.offsets is None:
            roots = select(ws.ledger, chosen)
            if not roots:
                return None
        stages = chosen.stages or None
        if chosen.offsets is None:
            reset = _reset(ws.ledger, roots, chosen.stages)
            options = dataclasses.replace(
                options, discover=False, only=tuple(roots), stages=stages, full=False
            )
            message = (
                f"backfilling {len(roots)} item{'s' if len(roots) != 1 else ''} "
                f"({chosen.describe()}) and their descendants: {reset} tasks redone"
            )
        else:
            start, end = chosen.offsets
            options = dataclasses.replace(
                options,
                discover=True,
                start=start,
                end=end,
                full=True,
                force_rescrape=True,
                only=(),
                stages=stages,
            )
            message = f"backfilling the items at {chosen.describe()} of the listing"
        bus = EventBus([LogReporter(), *subscribers])
        archive = ws.archive(settings) if fetch_options.archive else None
        network = FetchClient.from_settings(settings, archive=archive, on_event=bus.emit)
        client: RunFetch = network
        if not refetch and Archive.exists(ws.dd.archive):
            stored = archive or ws.existing_archive(secrets)
            assert stored is not None
            replay = FetchClient.from_settings(
                _replayed(settings, options.workers), fetcher=ArchiveFetcher(stored)
            )
            client = ArchiveFirst(archived=replay, network=network)
            message += ", archived responses read from the archive"
        elif refetch:
            message += ", every response fetched anew (--refetch)"

        def extra() -> dict[str, object]:
            found: dict[str, object] = {"hosts": network.requests_by_host()}
            if isinstance(client, ArchiveFirst):
                found["from_archive"] = client.from_archive
            return found

        return await run_on(
            ws,
            pipeline,
            client,
            options,
            bus=bus,
            shutdown=shutdown or Shutdown(),
            secrets=secrets,
            announce=message,
            summary_extra=extra,
            invocation=invocation or Invocation.current("backfill"),
        )


def _replayed(settings: FetchSettings, workers: int) -> FetchSettings:
    """The settings of the client that answers from the archive: no pauses between
    requests, no retries, no robots.txt or proxies, the body limit the responses were
    fetched under (as ``reparse`` has them)."""
    return dataclasses.replace(
        settings,
        rate=None,
        delay=None,
        concurrency=max(workers, 1),
        max_attempts=1,
        robots=False,
        proxies=(),
        max_body=DEFAULT_MAX_BODY,
    )


def select(ledger: Ledger, chosen: Slice) -> list[tuple[str, Key]]:
    """The items ``chosen`` names, as the ledger keys them, each once, in the order
    named: its keys, its ``--only`` items, then the items dated within its dates.
    Raises ConfigError for a key the ledger does not hold, or more than
    :data:`MAX_ITEMS` items."""
    found = resolve_keys(ledger, [*chosen.keys, *chosen.only])
    if chosen.dates is not None:
        found += ledger.dated(*chosen.dates)
    unique = list(dict.fromkeys(found))
    if len(unique) > MAX_ITEMS:
        raise ConfigError(
            f"the slice names {len(unique)} items, more than the {MAX_ITEMS} one backfill "
            "takes: split it (narrower --dates, or several --keys-file)"
        )
    return unique


def resolve_keys(ledger: Ledger, typed: Sequence[ItemText]) -> list[tuple[str, Key]]:
    """Items typed as text, as the ledger keys them: "2019" is the integer key 2019
    when the ledger has that, else the text. Raises ConfigError naming the first keys
    the ledger does not hold."""
    by_kind: dict[str, set[Key]] = {}
    for kind, key in typed:
        by_kind.setdefault(kind, set()).update(_candidates(key))
    known = {kind: ledger.known(kind, sorted(keys, key=str)) for kind, keys in by_kind.items()}
    found: list[tuple[str, Key]] = []
    missing: list[str] = []
    for kind, key in typed:
        match = next((k for k in _candidates(key) if k in known[kind]), None)
        if match is None:
            missing.append(f"{kind}:{key}")
        else:
            found.append((kind, match))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConfigError(
            f"the ledger has no item {missing[0]}{more}: a run finds items before a "
            "backfill can redo them"
        )
    return found


def _candidates(key: str) -> list[Key]:
    """The keys ``key`` may be: the integer first when it is one, then the text."""
    if key.lstrip("-").isdigit():
        return [int(key), key]
    return [key]


_CHUNK = 400
"""Items per reset statement (two SQL parameters each)."""


def _reset(ledger: Ledger, roots: Sequence[tuple[str, Key]], stages: Sequence[str]) -> int:
    """Put the slice's tasks back to pending: those of ``stages`` (done ones) of the
    items and their descendants, or every task of the subtrees when no stage is
    chosen. Returns how many tasks were reset."""
    total = 0
    if not stages:
        by_kind: dict[str, list[Key]] = {}
        for kind, key in roots:
            by_kind.setdefault(kind, []).append(key)
        for kind, keys in by_kind.items():
            total += ledger.rescrape(kind, keys)
        return total
    for stage in stages:
        for at in range(0, len(roots), _CHUNK):
            total += ledger.redo(stage, within=list(roots[at : at + _CHUNK]))
    return total
