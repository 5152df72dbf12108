"""``scrapeline conflicts`` and ``scrapeline unresolved``: what a reconciliation could
not settle, as the latest published snapshot holds it (``prospects_conflicts``,
``prospects_unresolved``).

``conflicts PIPELINE [--field F] [--entity E] [--json]``, a row per entity and field
where sources disagree::

    entity            field      values                            winner  rule
    1f1d786f33137d7c  weight_lb  combine=266, college_stats=254    254     latest(...)
    2 conflicts

``unresolved PIPELINE [--json]``, a row per source record in no entity::

    source         key       reason     identity   candidates
    injury_report  INJ-0014  ambiguous  j anderson 270ec1ccacee4033, 707f591175ba3358

Exit 0; 2 when nothing is published, or the pipeline declares no reconciliation.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from scrapeline.cli.app import app, console, errors, load, print_json
from scrapeline.cli.options import DataDirOpt, JsonOpt, PipelineArg

ReconciliationOpt = Annotated[
    str | None,
    typer.Option(
        "--reconciliation", help="Which reconciliation (when the pipeline declares several)."
    ),
]


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@app.command()
def conflicts(
    pipeline: PipelineArg,
    field: Annotated[str | None, typer.Option("--field", help="Only this field.")] = None,
    entity: Annotated[str | None, typer.Option("--entity", help="Only this entity id.")] = None,
    reconciliation: ReconciliationOpt = None,
    data_dir: DataDirOpt = None,
    json: JsonOpt = False,
) -> None:
    """Fields where a reconciliation's sources disagree, and the value each entity took."""
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.reconciled import conflicts as find

    with errors():
        pipe = load(pipeline)
        rows = find(
            pipe, data_dir or default_data_dir(pipe), reconciliation, field=field, entity=entity
        )
    if json:
        print_json(rows)
        return
    out = console()
    if rows:
        table = Table(title=f"{pipe.name} · conflicts")
        for column in ("entity", "field", "values", "winner", "rule"):
            table.add_column(column, overflow="fold")
        for r in rows:
            values = ", ".join(f"{s}={_shown(v)}" for s, v in r["values"].items())
            table.add_row(r["entity"], r["field"], values, _shown(r["winner"]), r["rule"])
        out.print(table)
    out.print(f"{len(rows):,} conflict{'s' if len(rows) != 1 else ''}", markup=False)


@app.command()
def unresolved(
    pipeline: PipelineArg,
    reconciliation: ReconciliationOpt = None,
    data_dir: DataDirOpt = None,
    json: JsonOpt = False,
) -> None:
    """Source records a reconciliation matched to no entity, with why and their candidates."""
    from scrapeline.workspace.opened import default_data_dir
    from scrapeline.workspace.reconciled import unresolved as find

    with errors():
        pipe = load(pipeline)
        rows = find(pipe, data_dir or default_data_dir(pipe), reconciliation)
    if json:
        print_json(rows)
        return
    out = console()
    if rows:
        table = Table(title=f"{pipe.name} · unresolved")
        for column in ("source", "key", "reason", "identity", "candidates"):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row(
                r["source"], r["key"], r["reason"], r["identity"] or "", ", ".join(r["candidates"])
            )
        out.print(table)
    out.print(f"{len(rows):,} unresolved record{'s' if len(rows) != 1 else ''}", markup=False)
