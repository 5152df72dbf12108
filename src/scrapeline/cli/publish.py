"""``scrapeline publish``, ``scrapeline snapshots`` and ``scrapeline rollback``: the
published snapshots of a pipeline's tables (DATA_DIR/published/).

``publish PIPELINE [--duckdb] [--csv] [--keep K] [--json]`` writes a snapshot (a
Parquet file per table and a manifest) from what the ledger holds, checks it, and
points ``latest`` at it; it only reads the ledger, so it works while a run holds
the data dir::

    published 20260301T060000Z (data/football/published/20260301T060000Z)
      matches  300 rows
      halves   600 rows
    latest -> 20260301T060000Z; kept the newest 10

Exit 0; 1 when an error rule failed (nothing published, ``latest`` unchanged) or
the snapshot could not be written; 2 for no ledger or bad flags.

``validate PIPELINE [--json]`` runs the derived tables and table rules as a
publish would, over one consistent copy of the ledger's tables, and publishes
nothing: a line per rule, exit 1 when an ``error`` rule failed::

    ok    matches  unique(match_id)
    FAIL  matches  between(home_goals, min=0)  2 rows with home_goals below 0
    warn  matches  row_count(min=400)  312 rows, fewer than 400
    3 rules: 1 passed, 1 error failed, 1 warning

``snapshots PIPELINE [--json]`` lists them; ``rollback PIPELINE ID`` points
``latest`` at an earlier one (exit 2 for an unknown id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from scrapeline.cli.app import app, console, errors, load, print_json
from scrapeline.cli.options import DataDirOpt, JsonOpt, PipelineArg

if TYPE_CHECKING:
    from scrapeline.workspace.publish import PublishReport, ValidationReport

KEEP = 10
"""Snapshots kept unless ``--keep`` says (publish.snapshots.KEEP, without importing it)."""

DuckdbOpt = Annotated[
    bool, typer.Option("--duckdb", help="Also write dataset.duckdb, a table per table.")
]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Also write TABLE.csv for each table.")]
KeepOpt = Annotated[
    int,
    typer.Option(
        "--keep",
        min=1,
        help="Snapshots kept after this one is published, newest first (never the one "
        "latest points at).",
    ),
]
SnapshotArg = Annotated[str, typer.Argument(metavar="ID", help="A snapshot's id (see snapshots).")]


@app.command()
def publish(
    pipeline: PipelineArg,
    data_dir: DataDirOpt = None,
    duckdb: DuckdbOpt = False,
    csv: CsvOpt = False,
    keep: KeepOpt = KEEP,
    json: JsonOpt = False,
) -> None:
    """Publish a checked snapshot of the pipeline's tables as Parquet, and point
    DATA_DIR/published/latest at it."""
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.publish import publish as publish_tables

    with errors():
        pipe = load(pipeline)
        report = publish_tables(
            pipe, data_dir or default_data_dir(pipe), duckdb=duckdb, csv=csv, keep=keep
        )
    if json:
        print_json(report.as_dict())
        return
    out = console()
    for line in report_lines(report, keep=keep):
        out.print(line, markup=False, soft_wrap=True)


def report_lines(report: PublishReport, *, keep: int = KEEP) -> list[str]:
    """What ``publish`` prints: the snapshot, rows per table, the rules, ``latest``."""
    width = max((len(name) for name in report.tables), default=0)
    lines = [f"published {report.snapshot} ({report.path})"]
    lines += [f"  {name.ljust(width)}  {rows:,} rows" for name, rows in report.tables.items()]
    failed = [r for r in report.rules if not r.get("passed")]
    if report.rules:
        lines.append(f"rules: {len(report.rules) - len(failed)} passed, {len(failed)} warnings")
    removed = f", removed {len(report.removed)} older" if report.removed else ""
    lines.append(f"latest -> {report.snapshot}; kept the newest {keep}{removed}")
    return lines


@app.command()
def validate(pipeline: PipelineArg, data_dir: DataDirOpt = None, json: JsonOpt = False) -> None:
    """Run the derived tables and table rules over the pipeline's tables, as publish
    would, publishing nothing; exit 1 when an error rule fails."""
    from scrapeline.cli.exits import EXIT_FAILED
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.publish import validate as validate_tables

    with errors():
        pipe = load(pipeline)
        report = validate_tables(pipe, data_dir or default_data_dir(pipe))
    if json:
        print_json(report.as_dict())
    else:
        out = console()
        for line in validation_lines(report):
            out.print(line, markup=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def validation_lines(report: ValidationReport) -> list[str]:
    """What ``validate`` prints: a line per rule (ok, FAIL for an error, warn), then
    the count."""
    if not report.rules:
        tables = ", ".join(f"{name} {rows:,}" for name, rows in report.tables.items())
        return [f"no table rules declared ({tables or 'no tables'})"]
    width = max(len(str(r["table"])) for r in report.rules)
    lines = []
    for r in report.rules:
        mark = "ok" if r["passed"] else ("FAIL" if r["severity"] == "error" else "warn")
        detail = "" if r["passed"] else f"  {r['message']}"
        lines.append(f"{mark.ljust(4)}  {str(r['table']).ljust(width)}  {r['rule']}{detail}")
    errors_, warnings = len(report.failed), len(report.warnings)
    passed = len(report.rules) - errors_ - warnings
    lines.append(
        f"{len(report.rules)} rules: {passed} passed, {errors_} error"
        f"{'' if errors_ == 1 else 's'} failed, {warnings} warning{'' if warnings == 1 else 's'}"
    )
    return lines


@app.command()
def snapshots(pipeline: PipelineArg, data_dir: DataDirOpt = None, json: JsonOpt = False) -> None:
    """The published snapshots, oldest first: id, when, rows per table, which is latest."""
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.publish import snapshots as list_snapshots

    with errors():
        pipe = load(pipeline)
        found = list_snapshots(data_dir or default_data_dir(pipe))
    if json:
        print_json([s.as_dict() for s in found])
        return
    out = console()
    if not found:
        out.print("nothing published yet (scrapeline publish)", markup=False)
        return
    table = Table(title=f"{pipe.name} · snapshots")
    for column in ("id", "created_at", "tables", "rows", "latest"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for s in found:
        tables = ", ".join(f"{name} {rows:,}" for name, rows in s.tables.items())
        table.add_row(s.id, s.created_at, tables, f"{s.rows:,}", "latest" if s.latest else "")
    out.print(table)


@app.command()
def rollback(pipeline: PipelineArg, snapshot: SnapshotArg, data_dir: DataDirOpt = None) -> None:
    """Point DATA_DIR/published/latest at an earlier snapshot."""
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.publish import rollback as roll_back

    with errors():
        pipe = load(pipeline)
        info = roll_back(data_dir or default_data_dir(pipe), snapshot)
    console().print(
        f"latest -> {info.id} (created {info.created_at}, {info.rows:,} rows)", markup=False
    )
