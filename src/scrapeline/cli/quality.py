"""``scrapeline quarantine PIPELINE``: the records refused on the way in, read-only.

A record that broke an ``error`` rule of its table (its schema, or an error check)
is not stored: it waits in the quarantine, with its item's failure, until a later
run completes that item (after the pipeline or the site is fixed). This lists them:
table, key, item, stage, run, the rules broken, why, and the record as the stage gave
it (secrets redacted); ``--table`` for one table, ``--json`` for scripts.

    >>> record_text({"match_id": "7", "home_goals": -1})
    '{"match_id":"7","home_goals":-1}'
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from scrapeline.cli.app import app, console, errors, load, print_json
from scrapeline.cli.options import DataDirOpt, JsonOpt, PipelineArg

TableOpt = Annotated[
    str | None, typer.Option("--table", metavar="TABLE", help="Only this table's records.")
]


def record_text(record: Any) -> str:
    """A quarantined record in one line, as compact JSON."""
    if isinstance(record, str):
        return record
    return orjson.dumps(record).decode()


@app.command()
def quarantine(
    pipeline: PipelineArg,
    table: TableOpt = None,
    data_dir: DataDirOpt = None,
    json: JsonOpt = False,
) -> None:
    """Records refused on the way in (they broke an error rule of their table), oldest
    first: table, key, item, stage, run, rule, reason and the record. A record leaves
    the quarantine when a later run completes its item."""
    from scrapeline.workspace import history
    from scrapeline.workspace.opened import default_data_dir

    with errors():
        pipe = load(pipeline)
        info = history.quarantine(pipe, data_dir or default_data_dir(pipe), table)
    if json:
        print_json(info)
        return
    out = console()
    rows = info["records"]
    if not rows:
        where = f"table {table}" if table else pipe.name
        out.print(f"quarantine of {where}: empty", markup=False)
        return
    grid = Table(title=f"{pipe.name} quarantine · {info['data_dir']}")
    for name in ("table", "key", "item", "stage", "run", "rule", "reason", "record"):
        grid.add_column(name, overflow="fold")
    for row in rows:
        grid.add_row(
            row["table"],
            "-" if row["key"] is None else record_text(row["key"]),
            f"{row['kind']} {row['item']}",
            row["stage"],
            str(row["run"]),
            ", ".join(row["rules"]),
            row["reason"],
            record_text(row["record"]),
        )
    out.print(grid)
    held = ", ".join(f"{name} {n:,}" for name, n in info["counts"].items())
    out.print(f"quarantined records: {held}", markup=False)
