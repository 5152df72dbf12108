"""``scrapeline run PIPELINE``: discover new items, then run every stage not done.

Exit codes follow the run's status (cli/exits.py): 0 done · 1 failed items · 3 halted
· 130 interrupted; 2 for a usage or config error before the run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import typer

from scrapeline.cli.app import app, errors, load
from scrapeline.cli.exits import exit_code
from scrapeline.cli.options import (
    GRACE,
    ITEM_TIMEOUT,
    MAX_CONSECUTIVE_FAILURES,
    ArchiveOpt,
    BaseUrlOpt,
    BreakerOpt,
    DataDirOpt,
    EndOpt,
    ForceOpt,
    FullOpt,
    GraceOpt,
    OnlyOpt,
    PipelineArg,
    RateOpt,
    RunFlags,
    SecretOpt,
    SetOpt,
    StartOpt,
    TimeoutOpt,
    WorkersOpt,
    fetch_options,
)
from scrapeline.pipeline import Pipeline
from scrapeline.runner import loop as event_loop
from scrapeline.runner.run import Outcome, RunOptions


@app.command()
def run(
    pipeline: PipelineArg,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = None,
    start_offset: StartOpt = None,
    end_offset: EndOpt = None,
    full: FullOpt = False,
    force_rescrape: ForceOpt = False,
    only: OnlyOpt = None,
    max_consecutive_failures: BreakerOpt = MAX_CONSECUTIVE_FAILURES,
    item_timeout: TimeoutOpt = ITEM_TIMEOUT,
    grace: GraceOpt = GRACE,
    base_url: BaseUrlOpt = None,
    rate: RateOpt = None,
    set_: SetOpt = None,
    secret: SecretOpt = None,
    archive: ArchiveOpt = True,
) -> None:
    """Run a pipeline: discover new items, then run every stage that is not done."""
    flags = RunFlags(
        workers=workers,
        start_offset=start_offset,
        end_offset=end_offset,
        full=full,
        force_rescrape=force_rescrape,
        max_consecutive_failures=max_consecutive_failures,
        item_timeout=item_timeout,
        grace=grace,
        set_=set_,
        secret=secret,
        only=only,
    )
    with errors():
        pipe = load(pipeline, secrets=secret, base_url=base_url)
        options = flags.run_options(pipe)
    from scrapeline.workspace.opened import default_data_dir

    run_and_exit(
        pipe, data_dir or default_data_dir(pipe), options, base_url, archive=archive, rate=rate
    )


def run_and_exit(
    pipe: Pipeline,
    data_dir: Path,
    options: RunOptions,
    base_url: str | None,
    *,
    archive: bool = True,
    rate: str | None = None,
    after: Callable[[Outcome], None] | None = None,
) -> NoReturn:
    """Run ``pipe`` on ``data_dir`` with the console reporting (``rate``: ``--rate``,
    None for the pipeline's), call ``after`` with the outcome, and exit with the code
    of the run's status."""
    from scrapeline.observe.console import ConsoleReporter
    from scrapeline.workspace.run import run as run_pipeline

    reporter = ConsoleReporter()
    try:
        with errors():
            outcome = event_loop.run(
                run_pipeline(
                    pipe,
                    data_dir,
                    options,
                    fetch_options=fetch_options(base_url=base_url, archive=archive, rate=rate),
                    subscribers=[reporter],
                )
            )
    finally:
        reporter.close()
    if after is not None:
        after(outcome)
    raise typer.Exit(exit_code(outcome.status))
