"""What the last published snapshot says a reconciliation could not settle: its
conflicts and its unresolved records, read from ``DATA_DIR/published/latest``.

    conflicts(pipe, Path("data/prospects"), "prospects", field="weight_lb")
    # [{"entity": "1f1d…", "field": "weight_lb", "values": {"combine": 266, ...},
    #   "winner": 254, "rule": "latest(measured_on, college_stats=weight_as_of)"}, ...]
    unresolved(pipe, Path("data/prospects"), "prospects")

The JSON text columns (``values``, ``winner``, ``candidates``) come back decoded.
Raises UsageError (exit 2) when the pipeline declares no reconciliation (or not that
one), or when nothing is published, or the snapshot has no such table (published
before the reconciliation was declared).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from scrapeline.datadir import DataDir
from scrapeline.errors import UsageError
from scrapeline.pipeline import Pipeline
from scrapeline.publish.reconciled import table_names
from scrapeline.publish.snapshots import Published
from scrapeline.workspace.opened import missing_ledger


def reconciliation_of(pipe: Pipeline, name: str | None) -> str:
    """The reconciliation asked for: ``name``, or the pipeline's only one."""
    declared = list(pipe.reconciliations)
    if not declared:
        raise UsageError(f"pipeline {pipe.name!r} declares no reconciliation (pipe.reconcile)")
    if name is None:
        if len(declared) > 1:
            raise UsageError(
                f"pipeline {pipe.name!r} declares several reconciliations: name one with "
                f"--reconciliation ({', '.join(declared)})"
            )
        return declared[0]
    if name not in declared:
        raise UsageError(
            f"pipeline {pipe.name!r} has no reconciliation {name!r} (it has {', '.join(declared)})"
        )
    return name


def _rows(pipe: Pipeline, data_dir: Path, name: str | None, part: str) -> list[dict[str, Any]]:
    if not DataDir(data_dir).exists():
        raise missing_ledger(data_dir)
    table = table_names(reconciliation_of(pipe, name))[part]
    published = Published(data_dir)
    latest = published.latest()
    if latest is None:
        raise UsageError(f"nothing published in {data_dir} yet: scrapeline publish first")
    path = published.path / latest / f"{table}.parquet"
    if not path.is_file():
        raise UsageError(
            f"snapshot {latest} has no table {table!r}: publish again since the "
            "reconciliation was declared"
        )
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def conflicts(
    pipe: Pipeline,
    data_dir: Path,
    name: str | None = None,
    *,
    field: str | None = None,
    entity: str | None = None,
) -> list[dict[str, Any]]:
    """The conflicts the latest snapshot holds, of one field or entity when given."""
    found = []
    for row in _rows(pipe, data_dir, name, "conflicts"):
        if (field is None or row["field"] == field) and (entity is None or row["entity"] == entity):
            row["values"] = orjson.loads(row["values"])
            row["winner"] = None if row["winner"] is None else orjson.loads(row["winner"])
            found.append(row)
    return found


def unresolved(pipe: Pipeline, data_dir: Path, name: str | None = None) -> list[dict[str, Any]]:
    """The unresolved source records the latest snapshot holds."""
    rows = _rows(pipe, data_dir, name, "unresolved")
    for row in rows:
        row["candidates"] = orjson.loads(row["candidates"])
    return rows
