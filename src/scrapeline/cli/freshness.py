"""``scrapeline freshness PIPELINE``: is the published data recent enough?

    scrapeline freshness football.py --max-age 24h
    scrapeline freshness football.py --max-age 3d --table matches --column date --json

Checks the latest snapshot's age, and the newest date of tables in it, against
``--max-age`` and the ``[freshness]`` table of scrapeline.toml (profiles apply); see
:mod:`scrapeline.ops.freshness`. The figures go to stdout, as lines or ``--json``.
When stale: one line on stderr saying why, a "stale" alert to every configured
notifier that wants it, exit 1. Exit 0 when fresh; 2 when nothing is published, a
table or column is not in the snapshot, or the flags ask for nothing to check.

Read-only, and light to start: what it needs is imported when it runs.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from scrapeline.cli.app import app, console, errors, load, print_json
from scrapeline.cli.options import DataDirOpt, JsonOpt, PipelineArg, ProfileOpt

MaxAgeOpt = Annotated[
    str | None,
    typer.Option(
        "--max-age",
        metavar="DURATION",
        help="How old the latest snapshot (and --table) may be, e.g. 24h, 3d, 90m "
        "[default: [freshness] max_age of scrapeline.toml].",
    ),
]
TableOpt = Annotated[
    str | None,
    typer.Option(
        "--table",
        help="Check this table's newest date instead of [freshness]'s tables.",
    ),
]
ColumnOpt = Annotated[
    str | None,
    typer.Option(
        "--column", help="The --table's column of dates [default: its [freshness] column]."
    ),
]


@app.command()
def freshness(
    pipeline: PipelineArg,
    max_age: MaxAgeOpt = None,
    table: TableOpt = None,
    column: ColumnOpt = None,
    data_dir: DataDirOpt = None,
    profile: ProfileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Exit 1, with an alert, when the published data are older than allowed."""
    import os
    from datetime import UTC, datetime

    from scrapeline.ops.config import Flags, load_settings
    from scrapeline.ops.freshness import check_and_alert, freshness_rules
    from scrapeline.runner import loop as event_loop

    with errors():
        pipe = load(pipeline)
        given = {"data_dir": str(data_dir)} if data_dir is not None else {}
        effective = load_settings(
            pipeline, pipe, profile=profile, env=os.environ, cli=Flags(settings=given)
        )
        settings = effective.run()
        rules = freshness_rules(
            effective.resolved.freshness, max_age=max_age, table=table, column=column
        )
        checked = event_loop.run(
            check_and_alert(
                pipe.name,
                settings.data_dir,
                rules,
                settings.notifiers,
                now=datetime.now(UTC),
                profile=settings.profile,
                secrets=settings.secrets,
            )
        )
    report = checked.report
    if json:
        print_json(report.as_json())
    else:
        out = console()
        state = "stale" if report.stale else "fresh"
        out.print(f"{pipe.name}: {state}: snapshot {report.snapshot}", markup=False)
        for check in report.checks:
            mark = "STALE" if check.stale else "ok"
            out.print(f"  {mark:<5} {check.line()}", markup=False, soft_wrap=True)
    if report.stale:
        sys.stderr.write(f"stale: {report.reason}\n")
        raise typer.Exit(1)
