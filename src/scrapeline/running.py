"""``scrapeline.run``: a pipeline once, from Python, as ``scrapeline run`` does it.

    import scrapeline
    outcome = scrapeline.run(pipe, "data/football", scrapeline.RunOptions(workers=4))
    if outcome.status is not scrapeline.RunStatus.DONE:
        raise SystemExit(outcome.reason)

It blocks until the run ends. Ctrl+C drains in-flight items as in the CLI (a second
one cancels them); the run is recorded in the data dir's ledger either way, so the
next call resumes where this one stopped. From code already inside an event loop,
await :func:`scrapeline.workspace.run.run` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scrapeline.events import Subscriber
from scrapeline.pipeline import Pipeline
from scrapeline.runner import loop
from scrapeline.runner.run import Outcome, RunOptions
from scrapeline.workspace import run as running


def run(
    pipeline: Pipeline,
    data_dir: str | Path | None = None,
    options: RunOptions | None = None,
    *,
    base_url: str | None = None,
    archive: bool = True,
    subscribers: Sequence[Subscriber] = (),
) -> Outcome:
    """Run ``pipeline`` once on ``data_dir`` (default ``data/<name>``) and say how it ended.

    ``base_url`` points the run at another copy of the site (the pipeline is not
    changed); ``archive=False`` keeps no response bodies; ``subscribers`` receive
    every event of the run (:mod:`scrapeline.events`), the fetch layer's included.
    Raises ConfigError or PipelineError before anything is written, DataDirBusy when
    another run holds the data dir; failed items are in the outcome, not raised."""
    return loop.run(
        running.run(
            pipeline,
            Path(data_dir) if data_dir is not None else None,
            options,
            fetch_options=running.FetchOptions(base_url=base_url, archive=archive),
            subscribers=subscribers,
        )
    )
