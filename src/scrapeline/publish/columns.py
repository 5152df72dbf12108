"""A published table's columns: what each declared type becomes in Parquet, the
types of a table declared without a schema, and a batch of records turned into
typed Arrow arrays.

=========  ==========================================================================
declared   Parquet / Arrow (DuckDB reads it as)
=========  ==========================================================================
int        int64 (BIGINT)
float      float64 (DOUBLE)
bool       bool (BOOLEAN)
str        string (VARCHAR)
date       date32 (DATE)
datetime   timestamp[us] (TIMESTAMP) when no value carries an offset; when any does,
           timestamp[us, tz=UTC] (TIMESTAMP WITH TIME ZONE), values converted to UTC,
           and values without an offset in that column taken as UTC
json       string holding the value's JSON text (VARCHAR)
=========  ==========================================================================

A None is a null in every type (an int column with a None holds NULL, never NaN).

A table without a schema gets its columns from its stored records
(:func:`infer_columns`): every key any record has is a column (none is dropped
because it appears only in later rows); in the first record's order, then the
others alphabetically. Its type comes from the JSON types its values take over the
whole table: only integers → int; integers and reals → float; only true/false →
bool; only text → str (text that looks like a date stays text: declare a schema for
a DATE); anything else (arrays, objects, or a mix such as text and numbers) → json.
A column is nullable when some value is null or some record lacks it; a column
whose every value is null is a nullable str.

    >>> [c.type for c in infer_columns(["id"], {"id": {"integer": 2}, "x": {"real": 1,
    ...     "integer": 1}}, rows=2)]
    ['int', 'float']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from scrapeline.errors import PublishError
from scrapeline.quality.schema import Column, ColumnType

_ARROW: Mapping[ColumnType, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "str": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "json": pa.string(),
}
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
_OFFSET = r"([Zz]|[+-]\d\d:\d\d)$"


@dataclass(frozen=True, slots=True)
class OutColumn:
    """A column as published: its declared type, and for a datetime whether its
    values are instants in UTC (some carry an offset) or wall-clock times."""

    name: str
    type: ColumnType
    nullable: bool
    utc: bool = False
    given: pa.DataType | None = None
    """The Arrow type, when it is not the declared type's (a derived table's, as
    DuckDB made it)."""

    @property
    def arrow(self) -> pa.DataType:
        if self.given is not None:
            return self.given
        return UTC_TIMESTAMP if self.type == "datetime" and self.utc else _ARROW[self.type]

    def field(self) -> pa.Field:
        return pa.field(self.name, self.arrow, nullable=self.nullable)

    def as_dict(self) -> dict[str, Any]:
        """The manifest's entry: name, declared type, nullable, and the Parquet type."""
        return {
            "name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "parquet": str(self.arrow),
        }


def declared(columns: Sequence[Column], utc: frozenset[str] = frozenset()) -> list[OutColumn]:
    """A schema's columns as published; ``utc``: the datetime columns with offsets."""
    return [OutColumn(c.name, c.type, c.nullable, c.name in utc) for c in columns]


def column_type_of(kinds: Mapping[str, int]) -> tuple[ColumnType, bool]:
    """The type of a column of a table without a schema, from the JSON types its
    values take (SQLite's names, each with a count), and whether null is among them.

    >>> column_type_of({"integer": 3, "null": 1})
    ('int', True)
    >>> column_type_of({"text": 2, "integer": 1})
    ('json', False)
    """
    present = {kind for kind, n in kinds.items() if n}
    nullable = "null" in present
    present.discard("null")
    if not present:
        return "str", True
    if present <= {"true", "false"}:
        return "bool", nullable
    if present == {"integer"}:
        return "int", nullable
    if present <= {"integer", "real"}:
        return "float", nullable
    if present == {"text"}:
        return "str", nullable
    return "json", nullable


def infer_columns(
    first: Sequence[str],
    seen: Mapping[str, Mapping[str, int]],
    *,
    rows: int,
    key: Sequence[str] = (),
) -> list[Column]:
    """The columns of a table without a schema (see the module doc): ``first`` are the
    first record's keys, ``seen`` each key's JSON types with their counts over the
    ``rows`` records. Key columns no record has are str columns (an empty table)."""
    names = [k for k in first if k in seen]
    names += sorted(k for k in seen if k not in names)
    names += [k for k in key if k not in names]
    columns = []
    for name in names:
        kinds = seen.get(name, {})
        kind, nullable = column_type_of(kinds)
        missing = sum(kinds.values()) < rows
        columns.append(Column(name, kind, nullable or missing or not kinds))
    return columns


def arrow_batch(
    table: str, columns: Sequence[OutColumn], schema: pa.Schema, texts: Sequence[str]
) -> pa.RecordBatch:
    """Stored records (their JSON text) as one typed batch of ``columns``.

    Raises PublishError, naming the table and column, for a value that is not of its
    column's type or a null in a column that is not nullable (records stored before
    the table's schema said otherwise)."""
    return rows_batch(table, columns, schema, [orjson.loads(text) for text in texts])


def rows_batch(
    table: str,
    columns: Sequence[OutColumn],
    schema: pa.Schema,
    records: Sequence[Mapping[str, Any]],
) -> pa.RecordBatch:
    """Rows as plain values (what stored JSON decodes to) as one typed batch of
    ``columns``; raises PublishError as :func:`arrow_batch`."""
    arrays = []
    for column in columns:
        name = column.name
        values = [r.get(name) for r in records]
        try:
            array = _array(column, values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise PublishError(
                f"table {table!r}, column {name!r}: a stored value is not of type {column.type}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        if not column.nullable and array.null_count:
            raise PublishError(
                f"table {table!r}, column {name!r}: {array.null_count} stored records have "
                "no value, and the column is not nullable"
            )
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _array(column: OutColumn, values: list[Any]) -> pa.Array:
    kind = column.type
    if kind == "json":
        return pa.array(
            [None if v is None else orjson.dumps(v).decode() for v in values], pa.string()
        )
    if kind == "date":
        return pa.array(values, pa.string()).cast(pa.date32())
    if kind == "datetime":
        text = pa.array(values, pa.string())
        if not column.utc:
            return text.cast(pa.timestamp("us"))
        # in a column of instants, a value without an offset is taken as UTC
        with_offset = pc.match_substring_regex(text, _OFFSET)
        text = pc.if_else(with_offset, text, pc.binary_join_element_wise(text, "Z", ""))
        return text.cast(UTC_TIMESTAMP)
    return pa.array(values, _ARROW[kind])
