"""A declared reconciliation computed while a snapshot is staged: its source tables'
records read in the staging's read transaction, reconciled (incrementally, from the
state the last staging saved), and written as three Parquet tables beside the others.

    files = reconcile_tables(read, decl, schemas, staging, state_file)
    [f.name for f in files]   # ['prospects', 'prospects_conflicts', 'prospects_unresolved']

The tables (docs/reconciliation.md, "Published tables"):

- ``<name>``: the entity's id (the declaration's ``key``), then every field, typed as
  the source tables' schemas declare it (a field the sources type differently, or a
  source without a schema: as its values show), then ``sources``: JSON text
  ``{source: that source's record key}``;
- ``<name>_conflicts``: ``entity``, ``field``, ``values`` (JSON text ``{source:
  value}``), ``winner`` (JSON text of the value taken), ``rule``;
- ``<name>_unresolved``: ``source``, ``key`` (the record's key as text; a compound
  key as JSON text of its values), ``identity``, ``reason``, ``candidates`` (JSON text
  of the sorted entity ids).

Incremental: with a saved state of the same declaration (:mod:`reconcile_state`),
only the records whose run id differs from their fingerprint's, those of the run at
the watermark or newer, and the new keys are read; those whose stored JSON hashes as
before are left alone; keys gone are removed. Without one (missing, damaged, another
declaration), everything is reconciled and one log line says why.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from scrapeline.errors import PublishError, ReconcileError
from scrapeline.ledger.export import RecordsRead
from scrapeline.publish import reconcile_state
from scrapeline.publish.columns import OutColumn, rows_batch
from scrapeline.publish.files import new_file, sha256_of
from scrapeline.publish.reconcile_state import SavedState
from scrapeline.publish.tables import COMPRESSION, TableFile
from scrapeline.quality.reconcile import (
    Reconciler,
    Reconciliation,
    Result,
    declaration_hash,
)
from scrapeline.quality.schema import ColumnType, TableSchema

log = logging.getLogger("scrapeline.reconcile")

PARTS = ("entities", "conflicts", "unresolved")
SOURCES_COLUMN = "sources"
"""The entities table's column of ``{source: record key}`` (JSON text)."""
ROWS_PER_BATCH = 50_000


def table_names(name: str) -> dict[str, str]:
    """The published tables of reconciliation ``name``, by part."""
    return {"entities": name, "conflicts": f"{name}_conflicts", "unresolved": f"{name}_unresolved"}


@dataclass(frozen=True, kw_only=True)
class Reconciled:
    """What one staging of a reconciliation did (the benchmark and tests read it)."""

    tables: list[TableFile]
    full: bool
    """True when everything was reconciled (no usable saved state)."""
    changed: int
    """Source records given to the engine as new or changed (all of them when full)."""
    removed: int
    seconds: float


def reconcile_tables(
    read: RecordsRead,
    decl: Reconciliation,
    schemas: Mapping[str, TableSchema | None],
    staging: Path,
    state_file: Path,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> Reconciled:
    """Reconcile ``decl``'s sources as ``read`` sees them and write its three tables to
    ``staging``; save the new state at ``state_file``. Raises ReconcileError for
    records the engine cannot take (nothing is saved then), PublishError for values
    that do not fit the columns or a state that cannot be written.

    The cyclic garbage collector is paused meanwhile: the step makes and keeps
    hundreds of thousands of small containers (the state), none of them in a cycle,
    and each full collection would walk them all again (measured: most of an
    incremental staging's time)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _reconcile_tables(read, decl, schemas, staging, state_file, clock)
    finally:
        if paused:
            gc.enable()


def _reconcile_tables(
    read: RecordsRead,
    decl: Reconciliation,
    schemas: Mapping[str, TableSchema | None],
    staging: Path,
    state_file: Path,
    clock: Callable[[], float],
) -> Reconciled:
    started = clock()
    saved, reconciler = _restored(decl, state_file)
    full = reconciler is None
    engine = reconciler or Reconciler(decl)
    old: reconcile_state.Fingerprints = {} if saved is None or full else saved.fingerprints
    mark = 0 if saved is None or full else saved.watermark
    changed: dict[str, list[dict[str, Any]]] = {}
    removed: dict[str, list[Any]] = {}
    fingerprints: reconcile_state.Fingerprints = {}
    newest = 0
    for label, src in decl.sources.items():
        before = old.get(label, {})
        now: dict[str, list[Any]] = {}
        wanted: list[str] | None = None
        if not full:
            written = read.written_by(src.table)
            wanted = []
            for pk, run in written:
                newest = max(newest, run)
                had = before.get(pk)
                if had is None or had[0] != run or run >= mark:
                    wanted.append(pk)
                else:
                    now[pk] = had
            present = {pk for pk, _ in written}
            removed[label] = [f[2] for pk, f in before.items() if pk not in present]
        records: list[dict[str, Any]] = []
        for batch in read.texts(src.table, wanted):
            for pk, run, text in batch:
                newest = max(newest, run)
                digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
                had = before.get(pk)
                if had is not None and had[1] == digest:
                    now[pk] = [run, digest, had[2]]
                    continue
                record = orjson.loads(text)
                key = [record.get(c) for c in src.key]
                now[pk] = [run, digest, key]
                records.append(record)
        changed[label] = records
        fingerprints[label] = now
    result = engine.update(changed, removed)
    everything = result if full else engine.result()
    tables = write_tables(decl, schemas, everything, staging)
    # records of a run still going may be rewritten by it: the next staging reads
    # them again (the watermark); a finished run's records can only change by a later run
    going = [r for r in read.unfinished_runs() if r <= newest]
    reconcile_state.save(
        state_file,
        SavedState(
            declaration=declaration_hash(decl),
            watermark=min(going) if going else newest + 1,
            fingerprints=fingerprints,
            engine=engine.state(),
        ),
    )
    done = Reconciled(
        tables=tables,
        full=full,
        changed=sum(len(v) for v in changed.values()),
        removed=sum(len(v) for v in removed.values()),
        seconds=clock() - started,
    )
    log.info(
        "reconcile %s: %s, %d records changed, %d removed, %.3f s",
        decl.name,
        "in full" if full else "incrementally",
        done.changed,
        done.removed,
        done.seconds,
    )
    return done


def _restored(
    decl: Reconciliation, state_file: Path
) -> tuple[SavedState | None, Reconciler | None]:
    """The saved state and a reconciler restored from it, or (…, None) with a log line
    saying why everything is reconciled."""
    try:
        saved = reconcile_state.load(state_file)
    except ReconcileError as exc:
        log.warning("reconcile %s: %s; reconciling every record", decl.name, exc)
        return None, None
    if saved is None:
        log.info("reconcile %s: no saved state; reconciling every record", decl.name)
        return None, None
    if saved.declaration != declaration_hash(decl):
        log.warning(
            "reconcile %s: the saved state is of another declaration; reconciling every record",
            decl.name,
        )
        return saved, None
    try:
        return saved, Reconciler.restore(decl, saved.engine)
    except ReconcileError as exc:
        log.warning("reconcile %s: %s; reconciling every record", decl.name, exc)
        return saved, None


# -- the three tables -------------------------------------------------------------------


def write_tables(
    decl: Reconciliation,
    schemas: Mapping[str, TableSchema | None],
    result: Result,
    staging: Path,
) -> list[TableFile]:
    """The entities, conflicts and unresolved tables of ``result`` as Parquet files."""
    names = table_names(decl.name)
    rows = list(result.entities.values())
    columns = entity_columns(decl, schemas, rows)
    entities = [
        {**row, SOURCES_COLUMN: result.sources[eid]} for eid, row in result.entities.items()
    ]
    conflicts = [
        {
            "entity": c["entity"],
            "field": c["field"],
            "values": _json(c["values"]),
            "winner": _json(c["winner"]),
            "rule": c["rule"],
        }
        for c in result.conflicts
    ]
    unresolved = [
        {
            "source": u["source"],
            "key": key_text(u["key"]),
            "identity": u["identity"],
            "reason": u["reason"],
            "candidates": _json(u["candidates"]),
        }
        for u in result.unresolved
    ]
    return [
        _write(names["entities"], (decl.name, "entities"), columns, entities, staging, decl.key),
        _write(
            names["conflicts"],
            (decl.name, "conflicts"),
            _text_columns(("entity", "field", "values", "winner", "rule"), nullable=("winner",)),
            conflicts,
            staging,
            ("entity", "field"),
        ),
        _write(
            names["unresolved"],
            (decl.name, "unresolved"),
            _text_columns(
                ("source", "key", "identity", "reason", "candidates"), nullable=("identity",)
            ),
            unresolved,
            staging,
            ("source", "key"),
        ),
    ]


def key_text(key: Any) -> str:
    """A source record's key as the unresolved table shows it: the value as text, a
    compound key as the JSON text of its values."""
    if isinstance(key, (list, tuple)):
        return orjson.dumps(list(key)).decode()
    return str(key)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def _text_columns(names: Sequence[str], *, nullable: Sequence[str] = ()) -> list[OutColumn]:
    return [OutColumn(n, "str", n in nullable) for n in names]


def entity_columns(
    decl: Reconciliation,
    schemas: Mapping[str, TableSchema | None],
    rows: Iterable[Mapping[str, Any]],
) -> list[OutColumn]:
    """The entities table's columns: the key, the fields in the order the sources'
    schemas name them (sources in declared order), then fields only the rows show
    (sorted), then ``sources``. A field's type is what every schema naming it
    declares; numbers declared int and float are float; otherwise its values decide."""
    declared: dict[str, set[ColumnType]] = {}
    for label, src in decl.sources.items():
        schema = schemas.get(src.table)
        for column in schema.columns if schema is not None else ():
            name = decl.field_of(label, column.name)
            if name is not None and name != decl.key:
                declared.setdefault(name, set()).add(column.type)
    values: dict[str, list[Any]] = {}
    for row in rows:
        for name, value in row.items():
            if name != decl.key:
                values.setdefault(name, []).append(value)
    if SOURCES_COLUMN in declared or SOURCES_COLUMN in values:
        raise PublishError(
            f"reconcile {decl.name!r}: a field is named {SOURCES_COLUMN!r}, the entities "
            "table's column of source records: rename it with source(..., rename=...)"
        )
    names = list(declared) + sorted(n for n in values if n not in declared)
    columns = [OutColumn(decl.key, "str", False)]
    for name in names:
        kinds = declared.get(name, set())
        seen = values.get(name, [])
        if len(kinds) == 1 and "json" not in kinds and not _mixed_with(kinds, seen):
            kind = next(iter(kinds))
        elif kinds and kinds <= {"int", "float"}:
            kind = "float"
        else:
            kind = _type_of(seen)
        utc = kind == "datetime" and any(isinstance(v, str) and _OFFSET.search(v) for v in seen)
        columns.append(OutColumn(name, kind, True, utc))
    columns.append(OutColumn(SOURCES_COLUMN, "json", False))
    return columns


_OFFSET = re.compile(r"([Zz]|[+-]\d\d:\d\d)$")


def _mixed_with(kinds: set[ColumnType], seen: Sequence[Any]) -> bool:
    """Whether a field declared one type holds values of another (a custom rule's)."""
    (kind,) = kinds
    if kind in ("str", "date", "datetime"):
        return any(v is not None and not isinstance(v, str) for v in seen)
    if kind == "int":
        return any(v is not None and (isinstance(v, bool) or not isinstance(v, int)) for v in seen)
    if kind == "float":
        return any(
            v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))) for v in seen
        )
    if kind == "bool":
        return any(v is not None and not isinstance(v, bool) for v in seen)
    return False


def _type_of(values: Sequence[Any]) -> ColumnType:
    """The type of a field no schema types, from its values (as publish.columns)."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return "str"
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "int"
    if kinds <= {int, float}:
        return "float"
    if kinds == {str}:
        return "str"
    return "json"


def _write(
    name: str,
    part: tuple[str, str],
    columns: Sequence[OutColumn],
    rows: Sequence[Mapping[str, Any]],
    staging: Path,
    key: str | Sequence[str],
) -> TableFile:
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\x00" in name:
        raise PublishError(f"table {name!r} cannot be a file name: rename the reconciliation")
    path = staging / f"{name}.parquet"
    schema = pa.schema([c.field() for c in columns])
    with new_file(path) as out, pq.ParquetWriter(out, schema, compression=COMPRESSION) as w:
        if not rows:
            w.write_table(schema.empty_table())
        for at in range(0, len(rows), ROWS_PER_BATCH):
            w.write_batch(rows_batch(name, columns, schema, rows[at : at + ROWS_PER_BATCH]))
    return TableFile(
        name=name,
        file=path.name,
        rows=len(rows),
        key=(key,) if isinstance(key, str) else tuple(key),
        columns=tuple(columns),
        sha256=sha256_of(path),
        reconciled=part,
    )
