"""``scrapeline reparse`` and ``scrapeline prune``: the raw archive's commands.

``reparse PIPELINE --stage S [--outdated]`` runs a stage again over archived
responses, with no network; exit codes as ``run``. ``prune PIPELINE --older-than
30d`` applies retention to the archive and the run history; exit 0, or 2 for a
usage error (a data dir in use by a run included). ``prune --dry-run`` counts what
would go and removes nothing.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from scrapeline.cli.app import app, console, errors, load
from scrapeline.cli.exits import exit_code
from scrapeline.cli.options import (
    GRACE,
    ITEM_TIMEOUT,
    MAX_CONSECUTIVE_FAILURES,
    BreakerOpt,
    DataDirOpt,
    GraceOpt,
    PipelineArg,
    RunFlags,
    SecretOpt,
    SetOpt,
    TimeoutOpt,
    WorkersOpt,
)
from scrapeline.runner import loop as event_loop

if TYPE_CHECKING:
    pass

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
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Say what would be removed; remove nothing."),
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
    max_consecutive_failures: BreakerOpt = MAX_CONSECUTIVE_FAILURES,
    item_timeout: TimeoutOpt = ITEM_TIMEOUT,
    grace: GraceOpt = GRACE,
    base_url: SiteOpt = None,
    set_: SetOpt = None,
    secret: SecretOpt = None,
) -> None:
    """Run a stage again over the archived responses: parse anew, fetch nothing."""
    from scrapeline.observe.console import ConsoleReporter
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.reparse import reparse as reparse_stage

    flags = RunFlags(
        workers=workers,
        max_consecutive_failures=max_consecutive_failures,
        item_timeout=item_timeout,
        grace=grace,
        set_=set_,
        secret=secret,
    )
    with errors():
        pipe = load(pipeline, secrets=secret, base_url=base_url)
        options = flags.run_options(pipe)
    reporter = ConsoleReporter()
    try:
        with errors():
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
    raise typer.Exit(exit_code(outcome.status))


@app.command()
def prune(
    pipeline: PipelineArg,
    older_than: OlderThanOpt,
    data_dir: DataDirOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Forget archived responses, attempt history and run logs older than an age."""
    from scrapeline.durations import parse_duration
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.prune import prune as prune_data

    with errors():
        pipe = load(pipeline)
        seconds = parse_duration(older_than)
        target = data_dir or default_data_dir(pipe)
        report = prune_data(target, seconds, now=time.time(), dry_run=dry_run)
    cutoff = datetime.fromtimestamp(report.cutoff).isoformat(sep=" ", timespec="minutes")
    freed = (
        f"{size(report.bytes_freed)} uncompressed"
        if dry_run
        else f"{size(report.bytes_freed)} freed"
    )
    out = console()
    for line in (
        f"{'would prune' if dry_run else 'pruned'} {target}: "
        f"what is older than {older_than} (before {cutoff})",
        f"  archive: {report.responses} responses forgotten, {report.bodies} bodies deleted "
        f"({freed})",
        f"  history: attempts of past runs {report.attempts}, run logs {report.logs}",
        *(["nothing removed (--dry-run)"] if dry_run else []),
    ):
        out.print(line, markup=False, soft_wrap=True)


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
