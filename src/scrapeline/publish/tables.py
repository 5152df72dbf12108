"""A table of the ledger (or a derived table) written to one Parquet file, streamed
a batch at a time: what a million-row table costs in memory is one batch.

    exported = export_table(read, pipe.tables["matches"], pipe.schemas.get("matches"),
                            staging / "matches.parquet")
    exported.rows, exported.sha256, exported.runs

Files are zstd-compressed, one row group per batch, owner-only and fsynced
(:mod:`scrapeline.publish.files`). Rows are in key order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from scrapeline.ledger.export import BATCH, RecordsRead
from scrapeline.model import Table
from scrapeline.publish.columns import OutColumn, arrow_batch, declared, infer_columns
from scrapeline.publish.files import new_file, sha256_of
from scrapeline.quality.schema import ColumnType, TableSchema

COMPRESSION = "zstd"


@dataclass(frozen=True, kw_only=True)
class TableFile:
    """One table as written into a snapshot: what its manifest entry says."""

    name: str
    file: str
    rows: int
    key: tuple[str, ...]
    columns: tuple[OutColumn, ...]
    sha256: str
    derived: bool = False
    runs: tuple[int, ...] = ()
    parser_versions: dict[str, list[int]] = field(default_factory=dict)
    reconciled: tuple[str, str] | None = None
    """(reconciliation, part) of a table a reconciliation made: part is
    ``entities``, ``conflicts`` or ``unresolved``."""

    def manifest(self) -> dict[str, Any]:
        entry = {
            "file": self.file,
            "rows": self.rows,
            "key": list(self.key),
            "columns": [c.as_dict() for c in self.columns],
            "sha256": self.sha256,
            "derived": self.derived,
            "runs": list(self.runs),
            "parser_versions": {s: list(v) for s, v in self.parser_versions.items()},
        }
        if self.reconciled is not None:
            entry["reconciled"] = {"reconciliation": self.reconciled[0], "part": self.reconciled[1]}
        return entry


def columns_of(read: RecordsRead, table: Table, schema: TableSchema | None) -> list[OutColumn]:
    """The columns ``table`` is published with: its schema's, or those its records show
    (:func:`~scrapeline.publish.columns.infer_columns`); datetime columns are UTC
    when any of their values carries an offset."""
    if schema is not None:
        columns = list(schema.columns)
    else:
        seen: dict[str, dict[str, int]] = {}
        for key, kind, n in read.key_types(table.name):
            seen.setdefault(key, {})[kind] = n
        columns = infer_columns(
            read.first_keys(table.name), seen, rows=read.rows(table.name), key=table.key
        )
    utc = frozenset(
        c.name for c in columns if c.type == "datetime" and read.has_offset(table.name, c.name)
    )
    return declared(columns, utc)


def export_table(
    read: RecordsRead,
    table: Table,
    schema: TableSchema | None,
    path: Path,
    *,
    batch: int = BATCH,
) -> TableFile:
    """Write ``table``'s records as the read sees them to a new Parquet file at ``path``.

    Raises PublishError for stored values that do not fit the columns."""
    columns = columns_of(read, table, schema)
    arrow_schema = pa.schema([c.field() for c in columns])
    rows = 0
    runs: set[int] = set()
    versions: set[tuple[str, int]] = set()
    with new_file(path) as out, pq.ParquetWriter(out, arrow_schema, compression=COMPRESSION) as w:
        for chunk in read.batches(table.name, batch):
            run_ids, stages, parsed_by, texts = zip(*chunk, strict=True)
            runs.update(run_ids)
            versions.update(zip(stages, parsed_by, strict=True))
            w.write_batch(arrow_batch(table.name, columns, arrow_schema, texts))
            rows += len(chunk)
    by_stage: dict[str, list[int]] = {}
    for stage, version in sorted(versions):
        by_stage.setdefault(stage, []).append(version)
    return TableFile(
        name=table.name,
        file=path.name,
        rows=rows,
        key=table.key,
        columns=tuple(columns),
        sha256=sha256_of(path),
        runs=tuple(sorted(runs)),
        parser_versions=by_stage,
    )


def write_batches(
    name: str,
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    path: Path,
    *,
    key: Sequence[str] = (),
) -> TableFile:
    """Write a derived table (Arrow batches, e.g. from DuckDB) to a new Parquet file.

    The batches are written as they come (DuckDB's ``sum`` of BIGINTs stays a
    decimal); the manifest names each column's type from its Arrow type: integers
    ``int``, floats and decimals ``float``, and a nested type (a list, a struct)
    ``json``, its Parquet type saying what it is."""
    rows = 0
    with new_file(path) as out, pq.ParquetWriter(out, schema, compression=COMPRESSION) as w:
        for chunk in batches:
            w.write_batch(chunk)
            rows += chunk.num_rows
    return TableFile(
        name=name,
        file=path.name,
        rows=rows,
        key=tuple(key),
        columns=tuple(_described(f) for f in schema),
        sha256=sha256_of(path),
        derived=True,
    )


def _described(f: pa.Field) -> OutColumn:
    t = f.type
    kind: ColumnType = "json"
    if pa.types.is_boolean(t):
        kind = "bool"
    elif pa.types.is_integer(t):
        kind = "int"
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        kind = "float"
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        kind = "str"
    elif pa.types.is_date(t):
        kind = "date"
    elif pa.types.is_timestamp(t):
        kind = "datetime"
    return OutColumn(f.name, kind, f.nullable, given=t)
