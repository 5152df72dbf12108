"""``scrapeline status``, ``scrapeline runs`` and ``scrapeline health``: what the ledger
holds and what its runs did, read-only (a run whose process is gone is written back
as crashed, nothing else).

``runs PIPELINE`` lists the last runs, ``runs PIPELINE ID`` (or ``runs show PIPELINE
ID``) shows one with its failed items, ``runs PIPELINE --last-success`` reads the
heartbeat; ``--json`` and ``--csv`` for the first two. Times are UTC, with their offset.

``status`` and ``runs`` say what a run sent to each host, a line each under the table
(``runs``) or the last run (``status``):
``127.0.0.1:8000  requests 20,774  retries 12  429s 3  5xx 9``.

A task the ledger calls ``running`` is leased by a run, which claims tasks ahead in
batches: most of them wait in that run's queue and have not started. The CLI calls
them ``claimed`` (table and ``--json``), never running.

    >>> task_counts({"waiting": 0, "pending": 3, "running": 288, "done": 9, "failed": 1})
    {'waiting': 0, 'pending': 3, 'claimed': 288, 'done': 9, 'failed': 1}
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from scrapeline.cli.app import app, console, errors, fail, load, print_json
from scrapeline.cli.options import DataDirOpt, JsonOpt, PipelineArg
from scrapeline.ledger.base import Status

TASK_LABELS: Mapping[Status, str] = MappingProxyType(
    {
        Status.WAITING: "waiting",
        Status.PENDING: "pending",
        Status.RUNNING: "claimed",  # leased by a run; most have not started
        Status.DONE: "done",
        Status.FAILED: "failed",
    }
)
"""What ``status`` calls each task status, in the order of its columns."""


def task_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """A stage's task counts by the ledger's status, keyed by the CLI's labels, in
    column order (a status with no tasks counts 0)."""
    return {label: counts.get(status.value, 0) for status, label in TASK_LABELS.items()}


@app.command()
def status(pipeline: PipelineArg, data_dir: DataDirOpt = None, json: JsonOpt = False) -> None:
    """Per-stage counts of a pipeline's tasks.

    waiting: for the stages they depend on · pending: ready to run · claimed: leased
    by a run, which claims ahead in batches (not all have started) · done · failed."""
    from scrapeline.workspace import history
    from scrapeline.workspace.opened import default_data_dir

    with errors():
        pipe = load(pipeline)
        info = history.status(pipe, data_dir or default_data_dir(pipe))
    stages = {stage: task_counts(counts) for stage, counts in info["stages"].items()}
    if json:
        print_json({**info, "stages": stages})
        return
    out = console()
    table = Table(title=f"{pipe.name} · {info['data_dir']}")
    table.add_column("stage")
    for label in TASK_LABELS.values():
        table.add_column(label, justify="right")
    for stage, counts in stages.items():
        table.add_row(stage, *(str(n) for n in counts.values()))
    out.print(table)
    items = ", ".join(f"{n} {kind}" for kind, n in info["items"].items()) or "none"
    out.print(f"items: {items}", markup=False)
    if info["kept"]:
        kept = ", ".join(f"{name} {n}" for name, n in info["kept"].items())
        out.print(f"kept from an earlier run (task not done): {kept}", markup=False)
    if info["quarantined"]:
        held = ", ".join(f"{name} {n:,}" for name, n in info["quarantined"].items())
        out.print(
            f"quarantined records: {held} (`scrapeline quarantine {pipeline}` lists them)",
            markup=False,
        )
    last = info["last_run"]
    if last:
        out.print(
            f"last run: {last['id']} {last['status']} (started {last['started']})"
            + (f", failed in stage {last['failed_stage']}" if last["failed_stage"] else ""),
            markup=False,
        )
        for line in host_lines(last):
            out.print(f"  {line}", markup=False, soft_wrap=True)


def host_lines(run: Mapping[str, Any]) -> list[str]:
    """What a run (as ``runs --json`` has it) sent to each host, a line per host:

    >>> host_lines({"hosts": {"127.0.0.1:8000": {"requests": 20774, "retries": 12}}})
    ['127.0.0.1:8000  requests 20,774  retries 12  429s 0  5xx 0']
    """
    from scrapeline.observe.summary import host_line, host_rows

    return [host_line(row) for row in host_rows(run)]


RUN_COLUMNS = (
    "id",
    "started",
    "status",
    "failed_stage",
    "done",
    "failed",
    "took",
    "command",
    "profile",
    "reason",
)
_KEPT_WHOLE = frozenset({"id", "started", "took", "status", "done", "failed"})
"""Columns never wrapped: the reason wraps instead."""
"""The columns of the ``runs`` table (``--json`` and ``--csv`` have every field)."""

CSV_COLUMNS = (
    "id",
    "command",
    "args",
    "profile",
    "host",
    "version",
    "started",
    "ended",
    "seconds",
    "status",
    "pid",
    "stages_asked",
    "failed_stage",
    "done",
    "failed",
    "exit_code",
    "reason",
    "stages",
    "categories",
    "hosts",
)
FAILURE_COLUMNS = ("run", "stage", "kind", "key", "category", "status", "message")

RunIdArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[ID]", help="Show this run in full: its stages, failed items and errors."
    ),
]
_ShowIdArg = Annotated[str | None, typer.Argument(hidden=True)]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")]
LastSuccessOpt = Annotated[
    bool,
    typer.Option(
        "--last-success",
        help="Print the age of the last run that ended done (DATA_DIR/state/last_success.json);"
        " exit 1 when there is none, or when it is older than --max-age.",
    ),
]
MaxAgeOpt = Annotated[
    str | None,
    typer.Option("--max-age", metavar="DURATION", help="With --last-success: e.g. 26h, 2d, 90m."),
]


@app.command()
def runs(
    pipeline: PipelineArg,
    run_id: RunIdArg = None,
    show_id: _ShowIdArg = None,
    data_dir: DataDirOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs to list.")] = 20,
    json: JsonOpt = False,
    csv_: CsvOpt = False,
    last_success: LastSuccessOpt = False,
    max_age: MaxAgeOpt = None,
) -> None:
    """Recent runs of a pipeline, newest first; with ID, that run in full.

    Each run: its command and arguments (secrets masked), profile, host, start and
    end in UTC, status (done, failed, halted, interrupted, crashed, running), the
    stage that failed, and counts per stage. A run whose process is gone is crashed."""
    from scrapeline.workspace import history
    from scrapeline.workspace.opened import default_data_dir

    if pipeline == "show" and run_id is not None:  # `runs show PIPELINE ID`
        pipeline, run_id = run_id, show_id
        if run_id is None:
            fail("runs show PIPELINE ID: which run? (`scrapeline runs PIPELINE` lists them)", 2)
    elif show_id is not None:
        fail(f"runs: unexpected argument {show_id!r}", 2)
    if json and csv_:
        fail("--json and --csv: choose one", 2)
    with errors():
        pipe = load(pipeline)
        where = data_dir or default_data_dir(pipe)
        if last_success:
            _last_success(where, max_age, json=json)
            return
        if max_age is not None:
            fail("--max-age goes with --last-success", 2)
        if run_id is not None:
            one = history.show(pipe, where, _run_number(run_id))
        else:
            recent = history.runs(pipe, where, limit)
    if run_id is not None:
        _print_run(one, json=json, csv_=csv_)
        return
    if json:
        print_json(recent)
        return
    if csv_:
        _write_csv(CSV_COLUMNS, recent)
        return
    table = Table(title=f"{pipe.name} runs (times in UTC)")
    # a profile column only when a run had one
    columns = [c for c in RUN_COLUMNS if c != "profile" or any(r["profile"] for r in recent)]
    for col in columns:
        table.add_column(col.replace("_", " "), no_wrap=col in _KEPT_WHOLE)
    for r in recent:
        row = {**r, "took": _took(r)}
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    out = console()
    out.print(table)
    # a line per host under the table: a cell would wrap it past reading
    for r in recent:
        for line in host_lines(r):
            out.print(f"run {r['id']}  {line}", markup=False, soft_wrap=True)


def _run_number(text: str) -> int:
    if not text.isdigit():
        fail(f"runs: {text!r} is not a run id (a number: `scrapeline runs PIPELINE` lists them)", 2)
    return int(text)


def _print_run(run: Mapping[str, Any], *, json: bool, csv_: bool) -> None:
    """One run in full: what it was asked, how it went, per stage, its failed items."""
    if json:
        print_json(run)
        return
    if csv_:
        _write_csv(FAILURE_COLUMNS, [{"run": run["id"], **f} for f in run["failures"]])
        return
    out = console()

    def say(text: str) -> None:
        out.print(text, markup=False, soft_wrap=True)

    say(f"run {run['id']}: {run['status']}" + (f" ({run['reason']})" if run["reason"] else ""))
    say(f"command: {' '.join(['scrapeline', run['command'] or '?', *run['args']])}")
    where = {key: run[key] or "-" for key in ("profile", "host", "version")}
    say("  ".join(f"{key}: {value}" for key, value in where.items()))
    say(f"started: {run['started']}  ended: {run['ended'] or '-'}  took: {_took(run) or '-'}")
    if run["stages_asked"]:
        say(f"stages asked: {', '.join(run['stages_asked'])}")
    if run["failed_stage"]:
        say(f"failed stage: {run['failed_stage']}")
    table = Table()
    for col in ("stage", "done", "failed", "records"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, counts in run["stages"].items():
        table.add_row(stage, *(str(counts.get(c, 0)) for c in ("done", "failed", "records")))
    if run["stages"]:
        out.print(table)
    if run["categories"]:
        say("errors: " + ", ".join(f"{name} {n}" for name, n in run["categories"].items()))
    for line in host_lines(run):
        say(f"  {line}")
    failures = run["failures"]
    if failures:
        say(f"failed items ({len(failures)}):")
        for f in failures:
            now = "" if f["status"] == "failed" else f" (now {f['status']})"
            message = f": {f['message']}" if f["message"] else ""
            say(f"  {f['stage']} {f['kind']} {f['key']}  {f['category']}{now}{message}")


def _took(run: Mapping[str, Any]) -> str | None:
    from scrapeline.observe.stats import format_duration

    seconds = run.get("seconds")
    return None if seconds is None else format_duration(seconds)


def _write_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows as CSV on stdout: lists joined by spaces, mappings as JSON."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return orjson.dumps(value).decode()
    return str(value)


def _last_success(data_dir: Path, max_age: str | None, *, json: bool) -> None:
    """Say how old the last success is; exit 1 when there is none or it is too old."""
    from scrapeline.durations import parse_duration
    from scrapeline.observe.stats import format_duration
    from scrapeline.workspace.heartbeat import freshness, last_success_path, read_last_success
    from scrapeline.workspace.history import utc

    limit = parse_duration(max_age) if max_age is not None else None
    last = read_last_success(data_dir)
    if last is None:
        fail(f"no successful run yet: {last_success_path(data_dir)} does not exist", 1)
    fresh = freshness(last, now=time.time(), max_age=limit)
    if json:
        print_json(
            {
                "run_id": last.run_id,
                "finished_at": utc(last.finished_at),
                "age_seconds": round(fresh.age, 1),
                "max_age_seconds": limit,
                "stale": fresh.stale,
                "counts": last.counts,
            }
        )
    else:
        line = (
            f"last success: run {last.run_id}, finished {utc(last.finished_at)}, "
            f"{format_duration(fresh.age)} ago"
        )
        if fresh.stale:
            line += f": older than --max-age {max_age}"
        console().print(line, markup=False, soft_wrap=True)
    if fresh.stale:
        raise typer.Exit(1)


@app.command()
def health(
    pipeline: PipelineArg,
    data_dir: DataDirOpt = None,
    runs: Annotated[
        int, typer.Option("--runs", min=1, help="Over how many of the last runs.")
    ] = 10,
    json: JsonOpt = False,
) -> None:
    """Per stage, over the last runs: tasks, success rate, p50/p95 duration, records,
    and the most common errors with their trend against the runs before."""
    from scrapeline.workspace.health import health as stage_health
    from scrapeline.workspace.opened import default_data_dir

    with errors():
        pipe = load(pipeline)
        report = stage_health(pipe, data_dir or default_data_dir(pipe), runs)
    if json:
        print_json(report)
        return
    ids = report["runs"]
    span = f"runs {ids[0]}–{ids[-1]}" if len(ids) > 1 else f"run {ids[0]}" if ids else "no runs"
    before = report["compared_with"]
    compared = f", compared with the {len(before)} before" if before else ""
    table = Table(title=f"{pipe.name} health · last {len(ids)} ({span}){compared}")
    for col in ("stage", "tasks", "success", "p50", "p95", "records", "errors"):
        table.add_column(col, justify="left" if col in ("stage", "errors") else "right")
    for h in report["stages"]:
        rate = h["success_rate"]
        errors_text = ", ".join(
            f"{e['category']} {e['count']}" + (f" ({e['trend']})" if e["trend"] else "")
            for e in h["errors"]
        )
        table.add_row(
            h["stage"],
            str(h["tasks"]),
            "-" if rate is None else f"{rate:.1%}",
            _seconds(h["p50"]),
            _seconds(h["p95"]),
            str(h["records"]),
            errors_text,
        )
    console().print(table)


def _seconds(value: float) -> str:
    """A stage's attempt duration: milliseconds under a second, else as the summary has it.

    >>> _seconds(0.0042), _seconds(0.5), _seconds(75.0)
    ('4ms', '500ms', '1m15s')
    """
    from scrapeline.observe.stats import format_duration

    return f"{value * 1000:.0f}ms" if value < 1 else format_duration(value)
