"""``scrapeline status`` and ``scrapeline runs``: what the ledger holds, read-only.

Both say what a run sent to each host, a line each under the table (``runs``) or the
last run (``status``): ``127.0.0.1:8000  requests 20,774  retries 12  429s 3  5xx 9``.

A task the ledger calls ``running`` is leased by a run, which claims tasks ahead in
batches: most of them wait in that run's queue and have not started. The CLI calls
them ``claimed`` (table and ``--json``), never running.

    >>> task_counts({"waiting": 0, "pending": 3, "running": 288, "done": 9, "failed": 1})
    {'waiting': 0, 'pending': 3, 'claimed': 288, 'done': 9, 'failed': 1}
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any

import typer
from rich.table import Table

from scrapeline.cli.app import app, console, errors, load, print_json
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
    last = info["last_run"]
    if last:
        out.print(
            f"last run: {last['id']} {last['status']} (started {last['started']})", markup=False
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


RUN_COLUMNS = ("id", "started", "ended", "status", "done", "failed", "reason")


@app.command()
def runs(
    pipeline: PipelineArg,
    data_dir: DataDirOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs to list.")] = 20,
    json: JsonOpt = False,
) -> None:
    """Recent runs of a pipeline, newest first."""
    from scrapeline.workspace import history
    from scrapeline.workspace.opened import default_data_dir

    with errors():
        pipe = load(pipeline)
        recent = history.runs(pipe, data_dir or default_data_dir(pipe), limit)
    if json:
        print_json(recent)
        return
    table = Table(title=f"{pipe.name} runs")
    for col in RUN_COLUMNS:
        table.add_column(col)
    for r in recent:
        table.add_row(*("" if r[c] is None else str(r[c]) for c in RUN_COLUMNS))
    out = console()
    out.print(table)
    # a line per host under the table: a cell would wrap it past reading
    for r in recent:
        for line in host_lines(r):
            out.print(f"run {r['id']}  {line}", markup=False, soft_wrap=True)
