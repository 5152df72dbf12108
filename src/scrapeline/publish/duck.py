"""DuckDB over a snapshot's Parquet files: the in-memory database table rules and
derived tables run in, and the optional ``dataset.duckdb`` and CSV copies.

    con = views({"matches": staging / "matches.parquet"})
    con.sql('select count(*) from "matches"').fetchone()

Table names and paths are quoted as SQL identifiers and literals; nothing a user
typed is spliced into SQL otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scrapeline.errors import PublishError
from scrapeline.publish.files import new_file, settle

DUCKDB_FILE = "dataset.duckdb"


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as a quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def views(files: Mapping[str, Path]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per table over its Parquet file."""
    con = duckdb.connect(":memory:")
    try:
        for name, path in files.items():
            con.execute(
                f"CREATE VIEW {ident(name)} AS SELECT * FROM read_parquet({literal(str(path))})"
            )
    except duckdb.Error as exc:
        con.close()
        raise PublishError(f"cannot read the snapshot's tables in DuckDB: {exc}") from exc
    return con


def table_batches(
    con: duckdb.DuckDBPyConnection, name: str, rows: int = 50_000
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """A DuckDB table's Arrow schema and its rows, a batch at a time."""
    try:
        reader = con.sql(f"SELECT * FROM {ident(name)}").to_arrow_reader(rows)
    except duckdb.Error as exc:
        raise PublishError(f"cannot read derived table {name!r}: {exc}") from exc
    if reader is None:
        raise PublishError(f"derived table {name!r} gave no rows to read")
    return reader.schema, iter(reader)


def write_duckdb(path: Path, files: Mapping[str, Path]) -> None:
    """A DuckDB database at ``path`` with a table per Parquet file (owner-only)."""
    try:
        con = duckdb.connect(str(path))
        try:
            for name, parquet in files.items():
                con.execute(
                    f"CREATE TABLE {ident(name)} AS "
                    f"SELECT * FROM read_parquet({literal(str(parquet))})"
                )
            con.execute("CHECKPOINT")
        finally:
            con.close()
    except duckdb.Error as exc:
        raise PublishError(f"cannot write {path}: {exc}") from exc
    settle(path)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        settle(wal)


def write_csv(parquet: Path, path: Path) -> None:
    """A Parquet file as CSV with a header row, read a row group at a time."""
    source = pq.ParquetFile(parquet)
    with new_file(path) as out, pacsv.CSVWriter(out, source.schema_arrow) as writer:
        for batch in source.iter_batches():
            writer.write_batch(batch)
