"""``scrapeline reparse`` and ``scrapeline prune``: the raw archive's commands.

``reparse PIPELINE --stage S [--outdated]`` runs a stage again over archived
responses, with no network; exit codes as ``run``. ``prune PIPELINE --older-than
30d`` applies retention to the archive and the run history; exit 0, or 2 for a
usage error (a data dir in use by a run included).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from scrapeline.cli.main import (
    BreakerOpt,
    DataDirOpt,
    GraceOpt,
    PipelineArg,
    SetOpt,
    TimeoutOpt,
    WorkersOpt,
    _config,
    _errors,
    app,
)
from scrapeline.loader import load_pipeline
from scrapeline.runner import loop as event_loop
from scrapeline.runner.run import RunOptions

StageOpt = Annotated[str, typer.Option("--stage", help="The stage to parse again.")]
OutdatedOpt = Annotated[
    bool,
    typer.Option(
        "--outdated",
        help="Only items parsed by an older version of the stage (raise its version= first).",
    ),
]
SiteOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="The copy of the site the responses came from [default: the one last archived].",
    ),
]
OlderThanOpt = Annotated[
    str,
    typer.Option("--older-than", help="Age to keep, e.g. 30d, 12h, 90m, 3600s or 2w."),
]


@app.command()
def reparse(
    pipeline: PipelineArg,
    stage: StageOpt,
    outdated: OutdatedOpt = False,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = None,
    max_consecutive_failures: BreakerOpt = 3,
    item_timeout: TimeoutOpt = 300.0,
    grace: GraceOpt = 30.0,
    base_url: SiteOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run a stage again over the archived responses: parse anew, fetch nothing."""
    from scrapeline.observe.console import ConsoleReporter
    from scrapeline.reparse import reparse as reparse_stage
    from scrapeline.service import default_data_dir

    with _errors():
        pipe = load_pipeline(pipeline)
        options = RunOptions(
            workers=workers or pipe.workers or 4,
            max_consecutive_failures=max_consecutive_failures,
            item_timeout=item_timeout or None,
            grace=grace,
            config=_config(set_),
        )
    reporter = ConsoleReporter()
    try:
        with _errors():
            outcome = event_loop.run(
                reparse_stage(
                    pipe,
                    data_dir or default_data_dir(pipe),
                    stage,
                    outdated_only=outdated,
                    options=options,
                    base_url=base_url,
                    subscribers=[reporter],
                )
            )
    finally:
        reporter.close()
    raise typer.Exit(outcome.exit_code)


@app.command()
def prune(
    pipeline: PipelineArg,
    older_than: OlderThanOpt,
    data_dir: DataDirOpt = None,
) -> None:
    """Forget archived responses, attempt history and run logs older than an age."""
    from scrapeline.retention import parse_duration
    from scrapeline.retention import prune as prune_data
    from scrapeline.service import default_data_dir

    with _errors():
        pipe = load_pipeline(pipeline)
        seconds = parse_duration(older_than)
        target = data_dir or default_data_dir(pipe)
        report = prune_data(target, seconds, now=time.time())
    cutoff = datetime.fromtimestamp(report.cutoff).isoformat(sep=" ", timespec="minutes")
    console = Console(highlight=False)
    for line in (
        f"pruned {target}: what is older than {older_than} (before {cutoff})",
        f"  archive: {report.responses} responses forgotten, {report.bodies} bodies deleted "
        f"({size(report.bytes_freed)} freed)",
        f"  history: attempts of past runs {report.attempts}, run logs {report.logs}",
    ):
        console.print(line, markup=False)


def size(n: int) -> str:
    """Bytes for people: ``'512 B'``, ``'12.3 kB'``, ``'4.0 MB'``."""
    if n < 1000:
        return f"{n} B"
    value = n / 1000
    for unit in ("kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
