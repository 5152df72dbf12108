"""``publish``: a versioned, checked Parquet snapshot of a pipeline's tables, and
``latest`` moved to it; ``snapshots`` and ``rollback`` over what was published.

    report = publish(pipe, Path("data/football"), duckdb=True, keep=10)
    report.snapshot, report.tables          # '20260301T060000Z', {'matches': 300, ...}
    rollback(Path("data/football"), "20260228T060000Z")

A publish, in order (layout: :mod:`scrapeline.publish.snapshots`):

1. reads the ledger read-only, without the data dir's lock (a run may hold it and
   write meanwhile), in ONE read transaction: every declared table's records
   streamed to ``published/.staging-<id>/<table>.parquet`` a batch at a time, each
   declared reconciliation computed from its source tables' records
   (incrementally, from the state it keeps in ``DATA_DIR/reconcile/<name>/``) into
   its entities, conflicts and unresolved tables
   (:mod:`scrapeline.publish.reconciled`), and the done tasks per stage, all from
   the same committed state;
2. opens DuckDB in memory with a view per table over its Parquet file (the
   reconciled tables among them), makes the
   derived tables (:func:`derive_tables`) and writes them to Parquet too, then
   runs the table rules (:func:`run_checks`);
3. if an ``error`` rule failed, removes the staging directory and raises
   RulesFailed naming the rule: nothing is published, ``latest`` stays;
4. writes the optional ``dataset.duckdb`` and CSV files and ``manifest.json``
   (every rule's result, every file's SHA-256), renames the staging directory to
   the snapshot's id and points ``latest`` at it atomically;
5. keeps the newest ``keep`` snapshots (never ``latest``'s).

It is recorded in the run history as a run of the pipeline with ``{"command":
"publish", ...}`` (``scrapeline runs`` lists it), written through a connection of
its own: the run that holds the data dir's lock is not disturbed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapeline.datadir import DataDir
from scrapeline.errors import LedgerError, PublishError, RulesFailed
from scrapeline.ledger.base import Ledger, RunStatus
from scrapeline.ledger.export import RecordsRead
from scrapeline.pipeline import Pipeline
from scrapeline.publish import duck
from scrapeline.publish import manifest as manifests
from scrapeline.publish.manifest import SnapshotInfo
from scrapeline.publish.reconcile_state import state_path
from scrapeline.publish.reconciled import reconcile_tables
from scrapeline.publish.snapshots import KEEP, Published, now_utc, snapshot_id
from scrapeline.publish.tables import TableFile, export_table, write_batches
from scrapeline.workspace.invocation import Invocation
from scrapeline.workspace.ledgers import open_ledger
from scrapeline.workspace.opened import Workspace, missing_ledger

if TYPE_CHECKING:
    import duckdb

COMMAND = "publish"
"""The ``command`` a publish records in its run's options."""

Checks = Callable[["duckdb.DuckDBPyConnection", Pipeline], list[dict[str, Any]]]
"""Table rules over the snapshot's tables in DuckDB: one result (a dict with table,
rule, severity, passed, failing, message, sample) per rule."""
Derive = Callable[["duckdb.DuckDBPyConnection", Pipeline], list[str]]
"""Derived tables: creates DuckDB tables from the snapshot's, returns their names."""


# -- the hooks the quality layer fills in ------------------------------------------


def run_checks(con: duckdb.DuckDBPyConnection, pipe: Pipeline) -> list[dict[str, Any]]:
    """The table rules' results over the snapshot ``con`` holds (a view per table, the
    derived tables made), each a dict (table, rule, severity, passed, failing,
    message, sample); a result with severity ``"error"`` and ``passed`` false stops
    the publish (:func:`scrapeline.quality.rules.evaluate`)."""
    from scrapeline.quality.rules import evaluate

    return [result.as_dict() for result in evaluate(con, pipe)]


def derive_tables(con: duckdb.DuckDBPyConnection, pipe: Pipeline) -> list[str]:
    """Make the derived tables in ``con``, in declaration order, and return their
    names, to be published as Parquet with ``"derived": true``
    (:func:`scrapeline.quality.derived.materialise`)."""
    from scrapeline.quality.derived import materialise

    return list(materialise(con, pipe))


# -- publishing --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PublishReport:
    """What :func:`publish` wrote."""

    snapshot: str
    path: Path
    tables: dict[str, int]
    """Rows per table, derived tables included."""
    rules: list[dict[str, Any]]
    removed: list[str]
    """Older snapshots retention removed."""
    run_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "path": str(self.path),
            "tables": self.tables,
            "rows": sum(self.tables.values()),
            "rules": self.rules,
            "removed": self.removed,
            "run_id": self.run_id,
        }


def publish(
    pipe: Pipeline,
    data_dir: Path,
    *,
    duckdb: bool = False,
    csv: bool = False,
    keep: int = KEEP,
    checks: Checks = run_checks,
    derive: Derive = derive_tables,
    invocation: Invocation | None = None,
    now: Callable[[], datetime] = now_utc,
) -> PublishReport:
    """Publish a snapshot of ``pipe``'s tables in ``data_dir`` (see the module doc).

    Raises DataDirError when there is no ledger, RulesFailed when an error rule
    failed, PublishError when the snapshot cannot be written; in every case nothing
    is published and ``latest`` is where it was. ``checks`` and ``derive`` replace
    the table rules and the derived tables (tests, other rule sets)."""
    dd = DataDir(data_dir)
    with Workspace.read(data_dir):  # one line for a data dir without a ledger
        pass
    history = open_ledger(dd.ledger)
    try:
        call = invocation or Invocation.current(COMMAND)
        options = {
            "command": COMMAND,
            "duckdb": duckdb,
            "csv": csv,
            "keep": keep,
            "invocation": call.record(pipe.secret_values()),
        }
        run_id = history.begin_run(pipe.name, options, time.time(), os.getpid())
        try:
            report = _publish(
                pipe, dd, duckdb=duckdb, csv=csv, keep=keep, checks=checks, derive=derive, now=now
            )
        except BaseException as exc:
            _record_failure(history, run_id, exc)
            raise
        summary = {
            "exit_code": 0,
            "reason": None,
            "snapshot": report.snapshot,
            "tables": report.tables,
        }
        history.end_run(run_id, RunStatus.DONE, time.time(), summary)
    finally:
        history.close()
    return replace(report, run_id=run_id)


def _publish(
    pipe: Pipeline,
    dd: DataDir,
    *,
    duckdb: bool,
    csv: bool,
    keep: int,
    checks: Checks,
    derive: Derive,
    now: Callable[[], datetime],
) -> PublishReport:
    published = Published(dd.path)
    with published.lock():
        published.clear_staging()
        created = now()
        snapshot = snapshot_id(created, set(published.ids()))
        staging = published.staging(snapshot)
        try:
            tables, files, rules, tasks_done = _stage(pipe, dd, staging, checks, derive)
            _refuse_failed(rules)
            if duckdb:
                duck.write_duckdb(staging / duck.DUCKDB_FILE, files)
            if csv:
                for name, path in files.items():
                    duck.write_csv(path, staging / _file_name(name, ".csv"))
            document = manifests.build(
                snapshot=snapshot,
                pipeline=pipe.name,
                created_at=created,
                tables=tables,
                rules=rules,
                tasks_done=tasks_done,
                directory=staging,
            )
            manifests.write(staging, document)
            final = published.commit(staging, snapshot)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        published.point_latest(snapshot)
        removed = published.retain(keep)
    return PublishReport(
        snapshot=snapshot,
        path=final,
        tables={t.name: t.rows for t in tables},
        rules=rules,
        removed=removed,
    )


def _stage(
    pipe: Pipeline, dd: DataDir, staging: Path, checks: Checks, derive: Derive
) -> tuple[list[TableFile], dict[str, Path], list[dict[str, Any]], dict[str, int]]:
    """Steps 1 and 2 of a publish into ``staging``: the tables' Parquet files (the
    derived ones included), every rule's result, and the done tasks per stage."""
    tables, tasks_done = _export(pipe, dd, staging)
    files = {t.name: staging / t.file for t in tables}
    con = duck.views(files)
    try:
        for name in derive(con, pipe):
            schema, batches = duck.table_batches(con, name)
            path = staging / _file_name(name, ".parquet")
            tables.append(write_batches(name, batches, schema, path))
            files[name] = path
        rules = [dict(r) for r in checks(con, pipe)]
    finally:
        con.close()
    return tables, files, rules, tasks_done


# -- validate: the same checks, nothing published ------------------------------------


@dataclass(frozen=True, kw_only=True)
class ValidationReport:
    """What :func:`validate` found: rows per table (derived ones included) and every
    table rule's result."""

    tables: dict[str, int]
    rules: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The ``error`` rules that failed (what would stop a publish)."""
        return [r for r in self.rules if r.get("severity") == "error" and not r.get("passed")]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """The ``warn`` rules that failed."""
        return [r for r in self.rules if r.get("severity") != "error" and not r.get("passed")]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": not self.failed,
            "tables": self.tables,
            "rules": self.rules,
            "errors": len(self.failed),
            "warnings": len(self.warnings),
        }


def validate(
    pipe: Pipeline,
    data_dir: Path,
    *,
    checks: Checks = run_checks,
    derive: Derive = derive_tables,
) -> ValidationReport:
    """Run ``pipe``'s derived tables and table rules over one consistent copy of what
    the ledger holds, as a publish would, and publish nothing: the copy is made in a
    private temporary directory of the data dir and removed. Read-only (a run may
    hold the data dir meanwhile). Raises DataDirError when there is no ledger."""
    dd = DataDir(data_dir)
    with Workspace.read(data_dir):  # one line for a data dir without a ledger
        pass
    with tempfile.TemporaryDirectory(prefix=".validate-", dir=dd.path) as scratch:
        tables, _, rules, _ = _stage(pipe, dd, Path(scratch), checks, derive)
    return ValidationReport(tables={t.name: t.rows for t in tables}, rules=rules)


def _export(pipe: Pipeline, dd: DataDir, staging: Path) -> tuple[list[TableFile], dict[str, int]]:
    """Every declared table to Parquet, then every declared reconciliation's three
    tables (:func:`~scrapeline.publish.reconciled.reconcile_tables`, from the same
    records), and the done tasks, in one read transaction."""
    tables = []
    with RecordsRead(dd.ledger) as read:
        for name, table in pipe.tables.items():
            path = staging / _file_name(name, ".parquet")
            tables.append(export_table(read, table, pipe.schemas.get(name), path))
        schemas = {name: pipe.schemas.get(name) for name in pipe.tables}
        for name, decl in pipe.reconciliations.items():
            done = reconcile_tables(read, decl, schemas, staging, state_path(dd.path, name))
            tables.extend(done.tables)
        tasks_done = read.tasks_done()
    return tables, tasks_done


def _file_name(table: str, suffix: str) -> str:
    if not table or table.startswith(".") or "/" in table or "\\" in table or "\x00" in table:
        raise PublishError(f"table {table!r} cannot be a file name: rename it to publish it")
    return table + suffix


def _refuse_failed(rules: list[dict[str, Any]]) -> None:
    failed = [r for r in rules if r.get("severity") == "error" and not r.get("passed")]
    if not failed:
        return
    first = failed[0]
    where = f"{first.get('table')}.{first.get('rule')}" if first.get("table") else first.get("rule")
    message = f"rule {where} failed"
    if first.get("message"):
        message += f": {first['message']}"
    if len(failed) > 1:
        message += f" (and {len(failed) - 1} more error rules)"
    raise RulesFailed(message + "; nothing published, latest unchanged", rules)


def _record_failure(ledger: Ledger, run_id: int, exc: BaseException) -> None:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    summary = {"exit_code": getattr(exc, "exit_code", 1), "reason": reason}
    with contextlib.suppress(LedgerError):
        ledger.end_run(run_id, RunStatus.FAILED, time.time(), summary)


# -- what was published ---------------------------------------------------------------


def snapshots(data_dir: Path) -> list[SnapshotInfo]:
    """The snapshots published in ``data_dir``, oldest first. DataDirError when there
    is no ledger."""
    if not DataDir(data_dir).exists():
        raise missing_ledger(data_dir)
    published = Published(data_dir)
    latest = published.latest()
    return [SnapshotInfo.of(published.manifest(i), latest=i == latest) for i in published.ids()]


def rollback(data_dir: Path, snapshot: str) -> SnapshotInfo:
    """Point ``latest`` at the existing snapshot ``snapshot``, atomically.
    SnapshotNotFound (exit 2) for an id that was never published or was removed."""
    if not DataDir(data_dir).exists():
        raise missing_ledger(data_dir)
    published = Published(data_dir)
    with published.lock():
        document = published.manifest(snapshot)
        published.point_latest(snapshot)
    return SnapshotInfo.of(document, latest=True)
