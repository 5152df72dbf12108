"""``scrapeline reparse`` and ``scrapeline prune``: the raw archive's commands.

``reparse PIPELINE --stage S [--outdated]`` runs a stage again over archived
responses, with no network; exit codes as ``run``. ``prune PIPELINE --older-than
30d [--keep-runs 100]`` applies retention to the archive and the run history, then
shrinks the files, and prints what it removed and the bytes the files shrank by;
exit 0, or 2 for a usage error (a data dir in use by a run included). ``prune
--dry-run`` says what would go and about how many bytes that frees, and removes
nothing::

    pruned data/football: what is older than 30d (before 2026-04-01 06:00), runs beyond the last 100
      archive: 784 responses forgotten, 780 bodies deleted (221.9 kB compressed)
      history: attempts of past runs 776, run logs 2, runs 3
      space: archive.db 651.3 kB → 32.8 kB, ledger.db 573.4 kB → 417.8 kB, logs 96.6 kB → 0 B
      freed 870.7 kB (measured on disk)
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from scrapeline.cli.app import app, console, errors, load
from scrapeline.cli.exits import exit_code
from scrapeline.cli.flags import (
    GRACE,
    ITEM_TIMEOUT,
    MAX_CONSECUTIVE_FAILURES,
    BreakerOpt,
    GraceOpt,
    QuietOpt,
    RunFlags,
    TimeoutOpt,
    WorkersOpt,
)
from scrapeline.cli.options import (
    DataDirOpt,
    PipelineArg,
    ProfileOpt,
    SecretOpt,
    SetOpt,
)
from scrapeline.ledger.base import KEEP_RUNS
from scrapeline.runner import loop as event_loop

if TYPE_CHECKING:
    from scrapeline.workspace.prune import PruneReport

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
KeepRunsOpt = Annotated[
    int,
    typer.Option(
        "--keep-runs",
        min=0,
        help=(
            "Finished runs kept in the history however old they are; older runs beyond "
            "them go (never the last successful one)."
        ),
    ),
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
    profile: ProfileOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a stage again over the archived responses: parse anew, fetch nothing."""
    from dataclasses import replace

    from scrapeline.cli.run import configured
    from scrapeline.observe.console import ConsoleReporter
    from scrapeline.workspace.invocation import Invocation
    from scrapeline.workspace.reparse import reparse as reparse_stage

    flags = RunFlags(
        profile=profile,
        data_dir=data_dir,
        quiet=quiet,
        workers=workers,
        max_consecutive_failures=max_consecutive_failures,
        item_timeout=item_timeout,
        grace=grace,
        set_=set_,
        secret=secret,
    )
    with errors():
        pipe = load(pipeline, secrets=secret, base_url=base_url)
        settings = configured(flags, pipeline, pipe)  # the file's and the profile's too
        options = flags.run_options(pipe, settings)
    reporter = ConsoleReporter(quiet=settings.quiet, items=settings.items)
    invocation = replace(Invocation.current("reparse"), profile=settings.profile)
    try:
        with errors():
            outcome = event_loop.run(
                reparse_stage(
                    pipe,
                    settings.data_dir,
                    stage,
                    invocation=invocation,
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
    keep_runs: KeepRunsOpt = KEEP_RUNS,
) -> None:
    """Forget archived responses, run history and run logs older than an age, and
    shrink the files."""
    from scrapeline.durations import parse_duration
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.prune import prune as prune_data

    with errors():
        pipe = load(pipeline)
        seconds = parse_duration(older_than)
        target = data_dir or default_data_dir(pipe)
        report = prune_data(
            target,
            seconds,
            keep_runs=keep_runs,
            pipeline=pipe.name,
            now=time.time(),
            dry_run=dry_run,
        )
    out = console()
    for line in prune_lines(report, target=str(target), older_than=older_than):
        out.print(line, markup=False, soft_wrap=True)


def prune_lines(report: PruneReport, *, target: str, older_than: str) -> list[str]:
    """What ``prune`` prints: what went (or would go), then each store's size before
    and after, and the bytes freed: measured on disk, or estimated for a dry run."""
    cutoff = datetime.fromtimestamp(report.cutoff).isoformat(sep=" ", timespec="minutes")
    arrow = "→ about" if report.dry_run else "→"
    space = ", ".join(f"{f.name} {size(f.before)} {arrow} {size(f.after)}" for f in report.files)
    freed = (
        f"would free about {size(report.bytes_freed)} (estimated)"
        if report.dry_run
        else f"freed {size(report.bytes_freed)} (measured on disk)"
    )
    return [
        f"{'would prune' if report.dry_run else 'pruned'} {target}: "
        f"what is older than {older_than} (before {cutoff}), "
        f"runs beyond the last {report.keep_runs}",
        f"  archive: {report.responses} responses forgotten, {report.bodies} bodies deleted "
        f"({size(report.body_bytes)} compressed)",
        f"  history: attempts of past runs {report.attempts}, run logs {report.logs}, "
        f"runs {report.runs}",
        *([f"  space: {space}"] if space else []),
        f"  {freed}",
        *(["nothing removed (--dry-run)"] if report.dry_run else []),
    ]


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
