"""The SQLite ledger: one file in the data dir, WAL, driven by one writer thread.

    >>> import tempfile, pathlib
    >>> from scrapeline.model import Graph
    >>> ledger = SqliteLedger(pathlib.Path(tempfile.mkdtemp()) / "ledger.db")
    >>> ledger.prepare(Graph(stages={}))
    >>> ledger.pending_count()
    0
    >>> ledger.close()

Each public method is one transaction. ``complete`` settles a whole batch of
tasks in one transaction (group commit), and each task's records, children and
DONE mark are written together in it, so atomic completion holds per task and
per batch. Every driver error is translated to LedgerError here.

The hot paths (claim, complete, adding items) pass a whole batch as one JSON
array (``json_each``) and read results back as one aggregated JSON row, so a
batch is a handful of statement steps, not one per row: Python's sqlite3 lets
go of the GIL around every step, and taking it back while the event loop's
thread is busy is what a per-row step would cost most.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import orjson

from scrapeline.errors import DiskFull, LedgerError
from scrapeline.ledger import readiness
from scrapeline.ledger.base import (
    SQL_TYPES,
    Columns,
    Completion,
    FailedTask,
    Failure,
    Forgettable,
    ItemChange,
    NewItem,
    QuarantineEntry,
    RecordRow,
    RunFailure,
    RunInfo,
    RunReport,
    RunStatus,
    RunTally,
    StageTally,
    Status,
    Task,
    Walk,
    column_added,
    compare_columns,
    kept_note,
    key_changed,
    record_key,
    runs_to_forget,
    schema_refused,
    settled_once,
)
from scrapeline.ledger.merge import log_changes, merge_data
from scrapeline.ledger.schema import migrate
from scrapeline.model import Graph, Key

_CHUNK = 500
_FAILURES_LISTED = 1000
_REDONE_SINCE = 6
"""The schema version that flags tasks redone (a read-only ledger may be older)."""
_CHANGES_SINCE = 9
"""The schema version that records item changes."""
_REFRESH_COUNTED_SINCE = 10
"""The schema version whose attempts say whether they were refreshes."""
_RECORDS_COUNTED_SINCE = 13
"""The schema version whose attempts count the records they wrote."""
_QUARANTINE_SINCE = 14
"""The schema version with a quarantine and tables' declared columns."""
_INCREMENTAL = 2
"""``PRAGMA auto_vacuum``'s value for incremental mode."""
_DEEPEST = 1000
"""How far up an item's parents readiness looks: a bound, should parents ever loop."""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(text: str | bytes | None) -> Any:
    return orjson.loads(text) if text else {}


def _array(values: Any) -> str:
    """A batch as one JSON array parameter, for ``json_each(?)``."""
    return orjson.dumps(values).decode()


_NOT_STORED = ""
"""What ``_merged`` reads for an item the ledger does not hold: stored data are
never empty text."""

_REKEY_BATCH = 5000
"""Records re-keyed per trip from SQLite to Python (bounds the memory it takes)."""


class SqliteLedger:
    """Ledger in a SQLite file. Not thread-safe: call it from one thread."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        """Open (or create) the ledger at ``path``.

        A new file is created 0600 and never through a symbolic link. With
        ``read_only`` the file is opened ``mode=ro``: nothing is written, not even
        the WAL switch, so ``status`` works on a data dir it may not write; on a
        read-only file system, where SQLite cannot make the WAL index, it is
        opened immutable. Raises LedgerError (DiskFull when the disk is full)."""
        self.path = Path(path)
        self.read_only = read_only
        try:
            if read_only:
                self.db = self._connect_read_only()
            else:
                _create_private(self.path)
                self.db = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=10.0
                )
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA temp_store=MEMORY")
            self.db.execute("PRAGMA cache_size=-32000")
        except sqlite3.Error as exc:
            raise self._translate(exc, f"cannot open ledger {self.path}") from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFull(_full(self.path)) from exc
            raise LedgerError(f"cannot open ledger {self.path}: {exc.strerror or exc}") from exc
        self.graph = Graph(stages={})
        self._plans: dict[str, tuple[readiness.Unblock, ...]] = {}
        self._unseen: dict[str, tuple[str, ...]] = {}
        """Declared tables with no records yet: their view has the key columns only,
        until their first records show the rest."""
        self._keys: dict[str, tuple[str, ...]] = {}
        self._quarantining = True
        """Whether the quarantine may hold rows: until ``prepare`` finds it empty (a
        completion then skips the look for rows to delete) or a failure writes one."""

    def _connect_read_only(self) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            db.close()
            if os.access(self.path.parent, os.W_OK):
                raise
            # A WAL file on a read-only file system: no writer can be there either.
            db = sqlite3.connect(
                f"{uri}&immutable=1", uri=True, isolation_level=None, check_same_thread=False
            )
        return db

    def has_schema(self) -> bool:
        """Whether a run has ever set this ledger up (a fresh or empty file has not)."""
        return int(self._read("PRAGMA user_version")[0][0]) > 0

    def _translate(self, exc: sqlite3.Error, what: str) -> LedgerError:
        """The one place a driver error becomes ours: DiskFull for a full disk."""
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(
            exc
        ):
            return DiskFull(_full(self.path))
        return LedgerError(f"{what}: {exc}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                with suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise self._translate(exc, f"ledger {self.path}") from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._translate(exc, f"ledger {self.path}") from exc

    # -- set-up ----------------------------------------------------------------

    def use_graph(self, graph: Graph) -> None:
        """Learn the graph for reading only: nothing is migrated or written, so this
        works on a ledger opened ``read_only`` while a run writes it."""
        self.graph = graph
        self._plans = {}

    def prepare(self, graph: Graph) -> None:
        self.use_graph(graph)
        with self._tx() as db:
            migrate(db)
            self._keys = {
                name: tuple(orjson.loads(key))
                for name, key in db.execute("SELECT name, key FROM tables")
            }
            self._quarantining = (
                db.execute("SELECT 1 FROM quarantine LIMIT 1").fetchone() is not None
            )
            known = dict(db.execute("SELECT name, kind FROM stages").fetchall())
            for node in graph.stages.values():
                if known.get(node.name) == node.kind:
                    continue
                # A stage new to this ledger gets tasks for the items that already
                # exist, ready at once where their dependencies are done.
                db.execute(
                    "INSERT OR IGNORE INTO tasks(item_id, stage, status) "
                    "SELECT id, ?, 'waiting' FROM items WHERE kind=?",
                    (node.name, node.kind),
                )
                waiting = db.execute(
                    "SELECT id, item_id, stage FROM tasks WHERE status='waiting' AND stage=?",
                    (node.name,),
                ).fetchall()
                self._promote(db, waiting)
                db.execute(
                    "INSERT INTO stages(name, kind) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET kind=excluded.kind",
                    (node.name, node.kind),
                )

    def adopt_tables(
        self,
        keys: Mapping[str, Sequence[str]],
        columns: Mapping[str, Columns] | None = None,
    ) -> list[str]:
        declared = dict(columns or {})
        said: list[str] = []
        with self._tx() as db:
            recorded: dict[str, tuple[str, ...]] = {}
            remembered: dict[str, Columns | None] = {}
            for name, key, cols in db.execute("SELECT name, key, columns FROM tables"):
                recorded[name] = tuple(orjson.loads(key))
                remembered[name] = orjson.loads(cols) if cols else None
            changes = [(t, tuple(k)) for t, k in keys.items() if recorded.get(t) != tuple(k)]
            for table, key in changes:
                if table in recorded and self._holds(db, table):
                    raise key_changed(table, recorded[table], key)
            retyped: set[str] = set()
            for table in keys:
                old, new = remembered.get(table), declared.get(table)
                if _plain(old) == _plain(new):
                    continue
                retyped.add(table)
                change = compare_columns(old, new)
                if change.refused and self._holds(db, table):
                    raise schema_refused(table, change.refused)
                if change.added and self._holds(db, table):
                    rows = db.execute(
                        "SELECT count(*) FROM records WHERE tbl=?", (table,)
                    ).fetchone()[0]
                    said += [column_added(table, name, rows) for name in change.added]
            for table, key in changes:
                db.execute(
                    "INSERT INTO tables(name, key) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET key=excluded.key",
                    (table, _dumps(list(key))),
                )
                if table not in recorded:
                    self._rekey(db, table, key)
                recorded[table] = key
            for table in retyped:
                new = declared.get(table)
                db.execute(
                    "UPDATE tables SET columns=? WHERE name=?",
                    (None if new is None else _dumps(_plain(new)), table),
                )
            self._keys = recorded
            self._unseen = {}
            for table in keys:
                typed = declared.get(table)
                if typed is not None:
                    self._declare_typed_view(db, table, typed)
                else:
                    self._declare_view(db, table, recorded[table], again=table in retyped)
        return said

    @staticmethod
    def _holds(db: sqlite3.Connection, table: str) -> bool:
        return (
            db.execute("SELECT 1 FROM records WHERE tbl=? LIMIT 1", (table,)).fetchone() is not None
        )

    @staticmethod
    def _declare_typed_view(db: sqlite3.Connection, table: str, columns: Columns) -> None:
        """The typed table of a table with a schema (:func:`_typed_table`), made anew
        from the stored records when its columns are not the schema's (first
        declared, a column added). A name taken by anything else but this table or
        the view an older ledger made for it is left alone."""
        if not table.isidentifier():
            return
        found = db.execute("SELECT type FROM sqlite_master WHERE name=?", (table,)).fetchone()
        wanted = _typed_columns(columns)
        if found is not None and found[0] == "table":
            have = [(r[1], r[2]) for r in db.execute(f'PRAGMA table_info("{table}")')]
            if have == wanted and _has_triggers(db, table):
                return
            if ROW_PK not in (name for name, _ in have):
                return  # not ours
        elif found is not None and found[0] != "view":
            return
        _typed_table(db, table, columns)

    def _declare_view(
        self, db: sqlite3.Connection, table: str, key: Sequence[str], *, again: bool = False
    ) -> None:
        """A read-only view per declared record table, so ``SELECT * FROM matches``
        works from now on. Its columns are those of the table's first stored
        record; a table with none yet gets its key columns, and its first records
        widen it (``_widen_views``). A name taken by anything else is left alone.
        ``again``: the table lost its schema, so its typed view is made anew."""
        if not table.isidentifier():
            return
        first = db.execute("SELECT data FROM records WHERE tbl=? LIMIT 1", (table,)).fetchone()
        if first is None:
            self._unseen[table] = tuple(key)
        found = db.execute("SELECT type FROM sqlite_master WHERE name=?", (table,)).fetchone()
        if found is not None and again and found[0] == "table":
            names = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
            if ROW_PK in names:  # its typed table
                _drop_typed(db, table)
                found = None
        if found is not None:
            if not again or found[0] != "view":
                return
            db.execute(f'DROP VIEW IF EXISTS "{table}"')
        _create_view(db, table, _columns(key, first[0] if first else None))

    def _widen_views(self, db: sqlite3.Connection, rows: Sequence[RecordRow]) -> None:
        """Give the views of tables that had no records their columns, from the
        first record written to each (once per table; a set lookup otherwise)."""
        for row in rows:
            key = self._unseen.pop(row.table, None)
            if key is None:
                continue
            found = db.execute(
                "SELECT type FROM sqlite_master WHERE name=?", (row.table,)
            ).fetchone()
            if found is not None and found[0] != "view":
                continue
            db.execute(f'DROP VIEW IF EXISTS "{row.table}"')
            _create_view(db, row.table, _columns(key, row.json))
            if not self._unseen:
                return

    @staticmethod
    def _rekey(db: sqlite3.Connection, table: str, key: Sequence[str]) -> None:
        """Store a table's records under ``record_key`` (they were stored before keys
        were type-tagged); a record lacking a key column keeps the key it had.

        Walks the records in key order a batch at a time, so a ledger of a million
        records is re-keyed in bounded memory; of records whose new keys collide,
        the one re-keyed last is kept, as an upsert would. A record already under
        its new key may be read twice and is left as it is."""
        last = ""
        while batch := db.execute(
            "SELECT pk, data FROM records WHERE tbl=? AND pk>? ORDER BY pk LIMIT ?",
            (table, last, _REKEY_BATCH),
        ).fetchall():
            moves = []
            for pk, data in batch:
                with suppress(KeyError, TypeError, orjson.JSONDecodeError):
                    new = record_key(orjson.loads(data), key)
                    if new != pk:
                        moves.append((new, table, pk))
            db.executemany("UPDATE OR REPLACE records SET pk=? WHERE tbl=? AND pk=?", moves)
            last = batch[-1][0]

    def _pk(self, row: RecordRow) -> str:
        key = self._keys.get(row.table)
        if key is None:
            return row.pk
        try:
            return record_key(orjson.loads(row.json), key)
        except (KeyError, TypeError) as exc:
            raise LedgerError(f"record for table {row.table!r} lacks its key {key}") from exc

    def close(self) -> None:
        """Close the connection; never raises (a full disk only skips ``optimize``)."""
        if not self.read_only:
            with suppress(sqlite3.Error):
                self.db.execute("PRAGMA optimize")
        with suppress(sqlite3.Error):
            self.db.close()

    # -- runs ------------------------------------------------------------------

    def begin_run(self, pipeline: str, options: Mapping[str, Any], now: float, pid: int) -> int:
        with self._tx() as db:
            db.execute("UPDATE runs SET status='crashed' WHERE status='running'")
            cur = db.execute(
                "INSERT INTO runs(pipeline, started_at, status, pid, options, summary) "
                "VALUES (?, ?, 'running', ?, ?, '{}')",
                (pipeline, now, pid, _dumps(dict(options))),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def end_run(
        self, run_id: int, status: RunStatus, now: float, summary: Mapping[str, Any]
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, ended_at=?, summary=? WHERE id=?",
                (status.value, now, _dumps(dict(summary)), run_id),
            )

    def runs(self, limit: int = 20) -> list[RunInfo]:
        rows = self._read(
            "SELECT id, pipeline, started_at, ended_at, status, pid, options, summary "
            "FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_run_info(r) for r in rows]

    # run history: one run, its tallies, what it failed; crashed runs

    def run(self, run_id: int) -> RunInfo | None:
        rows = self._read(
            "SELECT id, pipeline, started_at, ended_at, status, pid, options, summary "
            "FROM runs WHERE id=?",
            (run_id,),
        )
        return _run_info(rows[0]) if rows else None

    def mark_crashed(self, run_ids: Sequence[int]) -> int:
        with self._tx() as db:
            return db.execute(
                "UPDATE runs SET status='crashed' "
                "WHERE id IN (SELECT value FROM json_each(?)) AND status='running'",
                (_array(list(run_ids)),),
            ).rowcount

    def note_run(self, run_id: int, values: Mapping[str, Any]) -> None:
        with self._tx() as db:
            (found,) = db.execute("SELECT summary FROM runs WHERE id=?", (run_id,)).fetchone()
            summary = {**_loads(found), **values}
            db.execute("UPDATE runs SET summary=? WHERE id=?", (_dumps(summary), run_id))

    def tallies(self, run_ids: Sequence[int]) -> dict[int, RunTally]:
        records = "sum(a.records)" if self._version() >= _RECORDS_COUNTED_SINCE else "0"
        # the runs asked for, their attempts by the run index: never a scan of every
        # attempt, whatever the statistics of a small or lopsided ledger suggest
        rows = self._read(
            f"SELECT a.run_id, a.stage, a.ok, a.category, count(*), {records}, max(a.id), "
            "min(a.id) FROM json_each(?) AS j CROSS JOIN attempts AS a INDEXED BY attempts_run "
            "ON a.run_id=j.value "
            "GROUP BY a.run_id, a.stage, a.ok, a.category ORDER BY a.run_id, min(a.id)",
            (_array(list(run_ids)),),
        )
        return _tallies(rows)

    def durations(self, run_ids: Sequence[int]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for stage, duration in self._read(
            "SELECT a.stage, a.duration FROM json_each(?) AS j "
            "CROSS JOIN attempts AS a INDEXED BY attempts_run ON a.run_id=j.value",
            (_array(list(run_ids)),),
        ):
            out.setdefault(stage, []).append(duration)
        return out

    def run_failures(self, run_id: int, limit: int = 1000) -> list[RunFailure]:
        return [
            RunFailure(
                stage=stage,
                kind=kind,
                key=key,
                category=category or "error",
                message=message if status == Status.FAILED else None,
                status=Status(status),
            )
            for stage, kind, key, category, message, status in self._read(
                "SELECT a.stage, i.kind, i.key, a.category, t.message, t.status "
                "FROM attempts AS a INDEXED BY attempts_run JOIN tasks t ON t.id=a.task_id "
                "JOIN items i ON i.id=t.item_id WHERE a.run_id=? AND a.ok=0 "
                "GROUP BY a.task_id ORDER BY min(a.id) LIMIT ?",
                (run_id, limit),
            )
        ]

    # -- work state ------------------------------------------------------------

    def release_all_running(self) -> int:
        with self._tx() as db:
            return db.execute(
                "UPDATE tasks SET status='pending', owner=NULL, expires=NULL WHERE status='running'"
            ).rowcount

    def reset_failed(self) -> int:
        with self._tx() as db:
            rows = db.execute(
                "UPDATE tasks SET status='waiting', category=NULL, message=NULL "
                "WHERE status='failed' RETURNING id, item_id, stage"
            ).fetchall()
            self._promote(db, rows)
            return len(rows)

    def rescrape(self, kind: str, keys: Sequence[Key]) -> int:
        with self._tx() as db:
            total = 0
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "WITH RECURSIVE tree(id) AS ("
                    f" SELECT id FROM items WHERE kind=? AND key IN ({marks})"
                    " UNION ALL SELECT i.id FROM items i JOIN tree ON i.parent_id = tree.id)"
                    " UPDATE tasks SET status='waiting', owner=NULL, expires=NULL, attempts=0,"
                    " category=NULL, message=NULL, redone=(redone OR status='done'), refresh=0"
                    " WHERE item_id IN (SELECT id FROM tree)"
                    " RETURNING id, item_id, stage",
                    (kind, *chunk),
                ).fetchall()
                self._promote(db, rows)
                total += len(rows)
            return total

    def redo(
        self,
        stage: str,
        *,
        older_than_version: int | None = None,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> int:
        outdated = "" if older_than_version is None else " AND coalesce(version, 1) < ?"
        params: tuple[Any, ...] = (stage,)
        if older_than_version is not None:
            params += (older_than_version,)
        subtree, roots = _subtree(within)
        with self._tx() as db:
            rows = db.execute(
                "UPDATE tasks SET status='waiting', owner=NULL, expires=NULL, attempts=0, "
                "category=NULL, message=NULL, redone=1, refresh=0 "
                f"WHERE stage=? AND status='done'{outdated}{subtree} "
                "RETURNING id, item_id, stage",
                (*params, *roots),
            ).fetchall()
            self._promote(db, rows)
            return len(rows)

    def refresh(
        self,
        stage: str,
        *,
        dated_from: str,
        seen_since: float,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> int:
        node = self.graph.stages.get(stage)
        if node is None:
            return 0
        subtree, roots = _subtree(within)
        with self._tx() as db:
            rows = db.execute(
                "UPDATE tasks SET status='waiting', owner=NULL, expires=NULL, attempts=0, "
                "category=NULL, message=NULL, redone=1, refresh=1 "
                "WHERE stage=? AND status='done' AND item_id IN (SELECT id FROM items "
                "WHERE kind=? AND (date>=? OR date IS NULL AND first_run IN (SELECT id FROM runs "
                f"WHERE started_at>=?))){subtree} RETURNING id, item_id, stage",
                (stage, node.kind, dated_from, seen_since, *roots),
            ).fetchall()
            self._promote(db, rows)
            return len(rows)

    def forget_attempts(self, before: float) -> int:
        with self._tx() as db:
            return db.execute(
                "DELETE FROM attempts WHERE run_id IN (SELECT id FROM runs "
                "WHERE status!='running' AND coalesce(ended_at, started_at) < ?)",
                (before,),
            ).rowcount

    # -- retention beyond attempts (prune) ---------------------------------------

    def forget_runs(self, before: float, keep_runs: int) -> int:
        with self._tx() as db:
            gone = _array(runs_to_forget(_history(db), before, keep_runs))
            for table in ("attempts", "item_changes"):
                db.execute(
                    f"DELETE FROM {table} WHERE run_id IN (SELECT value FROM json_each(?))",
                    (gone,),
                )
            return db.execute(
                "DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))", (gone,)
            ).rowcount

    def forgettable(self, before: float, keep_runs: int) -> Forgettable:
        try:
            gone = runs_to_forget(_history(self.db), before, keep_runs)
        except sqlite3.Error as exc:
            raise self._translate(exc, f"ledger {self.path}") from exc
        ids = _array(gone)
        (attempts, total_attempts), *_ = self._read(
            "SELECT count(*) FILTER (WHERE run_id IN (SELECT id FROM runs "
            "WHERE status!='running' AND coalesce(ended_at, started_at) < ?)), count(*) "
            "FROM attempts",
            (before,),
        )
        (changes, total_changes), *_ = self._read(
            "SELECT count(*) FILTER (WHERE run_id IN (SELECT value FROM json_each(?))), "
            "count(*) FROM item_changes",
            (ids,),
        )
        (total_runs,), *_ = self._read("SELECT count(*) FROM runs")
        # each table's pages, shared out by the rows that go
        shares = {
            ("attempts", "attempts_run"): (attempts, total_attempts),
            ("runs",): (len(gone), total_runs),
            ("item_changes", "item_changes_run"): (changes, total_changes),
        }
        estimate = self._unused_bytes()
        for names, (rows, total) in shares.items():
            if rows and total:
                estimate += sum(self._stored_bytes(name) for name in names) * rows // total
        return Forgettable(attempts=attempts, runs=len(gone), changes=changes, bytes=estimate)

    def reclaim_space(self) -> None:
        """SQLite keeps deleted rows' pages for reuse; this hands them back. A ledger
        in incremental auto-vacuum mode moves its free pages to the end and cuts them
        off; one made before that mode is rebuilt once by VACUUM (which takes the
        ledger's size again in free disk for a moment) and is in that mode from then
        on. Then the WAL is checkpointed and truncated."""
        try:
            if int(self.db.execute("PRAGMA auto_vacuum").fetchone()[0]) == _INCREMENTAL:
                if int(self.db.execute("PRAGMA freelist_count").fetchone()[0]):
                    # run to the end: sqlite3's execute() would step it once, one page
                    self.db.executescript("PRAGMA incremental_vacuum")
            else:
                self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            raise self._translate(exc, f"cannot reclaim space in ledger {self.path}") from exc

    def _unused_bytes(self) -> int:
        (free,), *_ = self._read("PRAGMA freelist_count")
        (size,), *_ = self._read("PRAGMA page_size")
        return int(free) * int(size)

    def _stored_bytes(self, name: str) -> int:
        """The bytes of a table's or an index's pages; 0 where SQLite was built
        without its dbstat table (the estimate is then a lower bound)."""
        try:
            rows = self.db.execute(
                "SELECT pgsize FROM dbstat WHERE name=? AND aggregate=TRUE", (name,)
            ).fetchall()
        except sqlite3.Error:
            return 0
        return int(rows[0][0] or 0) if rows else 0

    def dated(self, date_from: str, date_to: str) -> list[tuple[str, Key]]:
        # as within_dates: the upper bound compares the date's first characters, so
        # "2024-05-01T20:00" is within a range that ends on "2024-05-01"
        rows = self._read(
            "SELECT kind, key FROM items WHERE date >= ? AND substr(date, 1, length(?)) <= ? "
            "ORDER BY kind, key",
            (date_from, date_to, date_to),
        )
        return [(kind, key) for kind, key in rows]

    def known(self, kind: str, keys: Sequence[Key]) -> set[Key]:
        try:
            return self._known(self.db, kind, keys)
        except sqlite3.Error as exc:
            raise self._translate(exc, f"ledger {self.path}") from exc

    def _known(self, db: sqlite3.Connection, kind: str, keys: Sequence[Key]) -> set[Key]:
        if _has_nul(keys):  # SQLite's JSON reader cuts a str at a NUL: bind them instead
            found_keys: set[Key] = set()
            for chunk in _chunks(list(keys)):
                marks = ",".join("?" * len(chunk))
                found_keys.update(
                    k
                    for (k,) in db.execute(
                        f"SELECT key FROM items WHERE kind=? AND key IN ({marks})", (kind, *chunk)
                    )
                )
            return found_keys
        (found,) = db.execute(
            "SELECT json_group_array(key) FROM items "
            "WHERE kind=? AND key IN (SELECT value FROM json_each(?))",
            (kind, _array(list(keys))),
        ).fetchone()
        return set(orjson.loads(found))

    def add_items(self, items: Sequence[NewItem], run_id: int) -> int:
        changes: list[ItemChange] = []
        with self._tx() as db:
            new = self._upsert_items(db, [(it, None, None) for it in items], run_id, changes)
        log_changes(changes)
        return new

    def claim(
        self,
        owner: str,
        limit: int,
        now: float,
        lease: float,
        stages: Sequence[str] | None = None,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> list[Task]:
        order = self._claim_order(stages)
        subtree, params = _subtree(within)
        with self._tx() as db:
            ids: list[int] = []
            # stage by stage, deepest work first: each a walk of (status, stage) in id order
            for stage in order:
                ids += self._ids(
                    db,
                    f"SELECT id FROM tasks WHERE status='pending' AND stage=?{subtree} LIMIT ?",
                    (stage, *params, limit - len(ids)),
                )
                if len(ids) >= limit:
                    break
            if ids:
                db.execute(
                    "UPDATE tasks SET status='running', owner=?, expires=?, attempts=attempts+1 "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (owner, now + lease, _array(ids)),
                )
            expired: list[int] = []
            if len(ids) < limit and order:
                only = ",".join("?" * len(order))
                (found,) = db.execute(
                    "SELECT json_group_array(json_array(id, stage)) FROM (SELECT id, stage "
                    "FROM tasks INDEXED BY tasks_running WHERE status='running' AND expires<=? "
                    f"AND stage IN ({only}){subtree} LIMIT ?)",
                    (now, *order, *params, limit - len(ids)),
                ).fetchone()
                rank = {stage: n for n, stage in enumerate(order)}
                rows = sorted(orjson.loads(found), key=lambda row: (rank[row[1]], row[0]))
                expired = [tid for tid, _ in rows]
            if expired:
                db.execute(
                    "UPDATE tasks SET owner=?, expires=?, attempts=attempts+1 "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (owner, now + lease, _array(expired)),
                )
                ids += expired
            if not ids:
                return []
            return self._tasks(db, ids)

    def _claim_order(self, stages: Sequence[str] | None) -> list[str]:
        """The stages to claim from, in the graph's order (any others after, by name)."""
        known = list(self.graph.claim_order)
        known += sorted(set(self.graph.stages) - set(known))
        return [s for s in known if stages is None or s in stages]

    @staticmethod
    def _ids(db: sqlite3.Connection, select: str, params: Sequence[Any]) -> list[int]:
        """The ids a ``SELECT id ...`` finds, read back as one JSON row."""
        (found,) = db.execute(f"SELECT json_group_array(id) FROM ({select})", params).fetchone()
        ids: list[int] = orjson.loads(found)
        return ids

    def complete(self, completions: Sequence[Completion], run_id: int, now: float) -> list[bool]:
        if not completions:
            return []
        changes: list[ItemChange] = []
        with self._tx() as db:
            held, redone = self._holding(db, completions)
            settles = settled_once([(c.task.id, c.owner) for c in completions], held)
            ok = [c for c, yes in zip(completions, settles, strict=True) if yes]
            item_of = {tid: item_id for (tid, _), item_id in held.items()}
            changed = [c for c in ok if not c.unchanged]
            by_version: dict[tuple[int, bool], list[int]] = {}
            for c in ok:
                by_version.setdefault((c.version, c.unchanged), []).append(c.task.id)
            for (version, unchanged), ids in by_version.items():
                # an unchanged task keeps the version its records were parsed by
                db.execute(
                    "UPDATE tasks SET status='done', owner=NULL, expires=NULL, "
                    "category=NULL, message=NULL, "
                    + ("version=coalesce(version, ?), redone=0 " if unchanged else "version=? ")
                    + "WHERE id IN (SELECT value FROM json_each(?))",
                    (version, _array(ids)),
                )
            if redone:
                self._replace(db, [c for c in changed if c.task.id in redone], item_of)
            if self._quarantining and ok:
                db.execute(
                    "DELETE FROM quarantine WHERE (item_id, stage) IN "
                    "(SELECT value->>0, value->>1 FROM json_each(?))",
                    (_array([(item_of[c.task.id], c.task.stage) for c in ok]),),
                )
            rows = [
                (r.table, self._pk(r), item_of[c.task.id], c.task.stage, c.version, run_id, r.json)
                for c in changed
                for r in c.records
            ]
            if rows:
                db.execute(
                    "INSERT INTO records(tbl, pk, item_id, stage, version, run_id, data) "
                    "SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, "
                    "value->>6 FROM json_each(?) WHERE true ON CONFLICT(tbl, pk) DO UPDATE SET "
                    "item_id=excluded.item_id, stage=excluded.stage, version=excluded.version, "
                    "run_id=excluded.run_id, data=excluded.data",
                    (_array(rows),),
                )
                if self._unseen:
                    self._widen_views(db, [r for c in changed for r in c.records])
            if ok:
                db.execute(
                    "INSERT INTO attempts(run_id, task_id, stage, ok, duration, started, "
                    "refresh, unchanged, records) SELECT ?, value->>0, value->>1, 1, value->>2, "
                    "value->>3, value->>4, value->>5, value->>6 FROM json_each(?)",
                    (
                        run_id,
                        _array(
                            [
                                (
                                    c.task.id,
                                    c.task.stage,
                                    c.duration,
                                    c.started,
                                    int(c.refresh or c.unchanged),
                                    int(c.unchanged),
                                    0 if c.unchanged else len(c.records),
                                )
                                for c in ok
                            ]
                        ),
                    ),
                )
            self._unblock(db, [(item_of[c.task.id], c.task.stage) for c in ok])
            handed = [(item_of[c.task.id], c.handed) for c in ok if c.handed]
            if handed:
                self._hand_on(db, handed)
            children = [
                _emitted(child, c.task, item_of[c.task.id]) for c in changed for child in c.children
            ]
            if children:
                self._upsert_items(db, children, run_id, changes)
        log_changes(changes)
        return settles

    @staticmethod
    def _hand_on(db: sqlite3.Connection, handed: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Merge what completions handed on into their items' data (item id, values),
        in the caller's transaction: one read and one write for the batch."""
        (found,) = db.execute(
            "SELECT json_group_array(json_array(id, data)) FROM items "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (_array(sorted({item_id for item_id, _ in handed})),),
        ).fetchone()
        data = {item_id: _loads(text) for item_id, text in orjson.loads(found)}
        written: dict[int, str] = {}
        for item_id, values in handed:
            merged, _ = merge_data(data[item_id], values)
            if merged is not None:
                data[item_id] = merged
                written[item_id] = _dumps(merged)
        if written:
            db.execute(
                "UPDATE items SET data=j.value->>1 FROM json_each(?) AS j "
                "WHERE items.id=j.value->>0",
                (_array(list(written.items())),),
            )

    @staticmethod
    def _holding(
        db: sqlite3.Connection, completions: Sequence[Completion]
    ) -> tuple[dict[tuple[int, str], int], set[int]]:
        """Of the completions' tasks, those RUNNING under the owner a completion
        names: (task id, owner) → item id; and the ids of those done before."""
        by_owner: dict[str, list[int]] = {}
        for c in completions:
            by_owner.setdefault(c.owner, []).append(c.task.id)
        held: dict[tuple[int, str], int] = {}
        redone: set[int] = set()
        for owner, ids in by_owner.items():
            (found,) = db.execute(
                "SELECT json_group_array(json_array(id, item_id, redone)) FROM tasks "
                # unary + keeps the planner on the primary key, off the status index
                "WHERE id IN (SELECT value FROM json_each(?)) "
                "AND +status='running' AND owner=?",
                (_array(ids), owner),
            ).fetchone()
            for tid, item_id, again in orjson.loads(found):
                held[(tid, owner)] = item_id
                if again:
                    redone.add(tid)
        return held, redone

    def fail(self, failures: Sequence[Failure], run_id: int, now: float) -> list[bool]:
        if not failures:
            return []
        with self._tx() as db:
            held = self._held(db, [(f.task.id, f.owner) for f in failures])
            settles = settled_once([(f.task.id, f.owner) for f in failures], held)
            ok = [f for f, yes in zip(failures, settles, strict=True) if yes]
            db.executemany(
                "UPDATE tasks SET status='failed', owner=NULL, expires=NULL, category=?, "
                "message=? WHERE id=?",
                [
                    (f.category, self._message(db, f, *held[(f.task.id, f.owner)]), f.task.id)
                    for f in ok
                ],
            )
            db.executemany(
                "INSERT INTO attempts(run_id, task_id, stage, ok, category, duration, started) "
                "VALUES (?, ?, ?, 0, ?, ?, ?)",
                [(run_id, f.task.id, f.task.stage, f.category, f.duration, f.started) for f in ok],
            )
            quarantined = [f for f in ok if f.quarantined]
            if quarantined:
                self._quarantine(db, quarantined, held, run_id, now)
            return settles

    def _quarantine(
        self,
        db: sqlite3.Connection,
        failures: Sequence[Failure],
        held: Mapping[tuple[int, str], tuple[int, bool]],
        run_id: int,
        now: float,
    ) -> None:
        """Write the failures' refused records, in the caller's transaction, in place
        of what their (item, stage) had in the quarantine."""
        pairs = [(held[(f.task.id, f.owner)][0], f.task.stage) for f in failures]
        db.executemany("DELETE FROM quarantine WHERE item_id=? AND stage=?", pairs)
        db.executemany(
            "INSERT INTO quarantine(tbl, pk, item_id, stage, run_id, rules, reason, record, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    q.table,
                    q.pk,
                    item_id,
                    stage,
                    run_id,
                    _dumps(list(q.rules)),
                    q.reason,
                    q.record,
                    now,
                )
                for f, (item_id, stage) in zip(failures, pairs, strict=True)
                for q in f.quarantined
            ],
        )
        self._quarantining = True

    def release(self, tasks: Sequence[Task], owner: str) -> int:
        with self._tx() as db:
            cur = db.executemany(
                "UPDATE tasks SET status='pending', owner=NULL, expires=NULL, "
                "attempts=MAX(attempts-1, 0) WHERE id=? AND status='running' AND owner=?",
                [(t.id, owner) for t in tasks],
            )
            return cur.rowcount

    # -- discovery -------------------------------------------------------------

    def walk(self, name: str) -> Walk | None:
        rows = self._read("SELECT next_position, finished, cursor FROM walks WHERE name=?", (name,))
        if not rows:
            return None
        position, finished, cursor = rows[0]
        return Walk(name=name, next_position=position, finished=bool(finished), cursor=cursor)

    def save_walk(self, walk: Walk) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO walks(name, next_position, finished, cursor) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET next_position=excluded.next_position, "
                "finished=excluded.finished, cursor=excluded.cursor",
                (walk.name, walk.next_position, int(walk.finished), walk.cursor),
            )

    # -- reading ---------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        out = {s: {st.value: 0 for st in Status} for s in self.graph.stages}
        for stage, status, n in self._read(
            "SELECT stage, status, count(*) FROM tasks GROUP BY status, stage"
        ):
            out.setdefault(stage, {st.value: 0 for st in Status})[status] = n
        return out

    def report(self, run_id: int) -> RunReport:
        runs = self._read(
            "SELECT id, pipeline, started_at, ended_at, status, pid, options, summary "
            "FROM runs WHERE id=?",
            (run_id,),
        )
        if not runs:
            raise LedgerError(f"no run {run_id} in {self.path}")
        done: dict[str, int] = {}
        failed: dict[str, int] = {}
        durations: dict[str, list[float]] = {}
        refreshed = [0, 0]  # unchanged, changed
        # a ledger opened read-only may predate the attempts' refresh columns
        marked = int(self._read("PRAGMA user_version")[0][0]) >= _REFRESH_COUNTED_SINCE
        columns = "refresh, unchanged" if marked else "0, 0"
        for stage, ok, duration, refresh, unchanged in self._read(
            f"SELECT stage, ok, duration, {columns} FROM attempts WHERE run_id=?", (run_id,)
        ):
            bucket = done if ok else failed
            bucket[stage] = bucket.get(stage, 0) + 1
            durations.setdefault(stage, []).append(duration)
            if refresh:
                refreshed[0 if unchanged else 1] += 1
        categories = {
            cat or "error": n
            for cat, n in self._read(
                "SELECT category, count(*) FROM tasks WHERE status='failed' GROUP BY category"
            )
        }
        failures = [
            FailedTask(stage=s, kind=k, key=key, category=c or "error", message=m or "", attempts=a)
            for s, k, key, c, m, a in self._read(
                "SELECT t.stage, i.kind, i.key, t.category, t.message, t.attempts "
                "FROM tasks t JOIN items i ON i.id=t.item_id WHERE t.status='failed' "
                "ORDER BY +t.id LIMIT ?",  # by index on status, not a scan in id order
                (_FAILURES_LISTED,),
            )
        ]
        return RunReport(
            run=_run_info(runs[0]),
            counts=self.counts(),
            done_this_run=done,
            failed_this_run=failed,
            durations=durations,
            categories=categories,
            failures=failures,
            items_settled=self._read(
                "SELECT count(DISTINCT t.item_id) FROM attempts a "
                "JOIN tasks t ON t.id=a.task_id WHERE a.run_id=?",
                (run_id,),
            )[0][0],
            items_total=self._read("SELECT count(*) FROM items")[0][0],
            items_changed=self._read("SELECT count(*) FROM item_changes WHERE run_id=?", (run_id,))[
                0
            ][0]
            if self._version() >= _CHANGES_SINCE
            else 0,
            refreshed_unchanged=refreshed[0],
            refreshed_changed=refreshed[1],
        )

    def changes(self, run_id: int) -> list[ItemChange]:
        if self._version() < _CHANGES_SINCE:
            return []
        return [
            ItemChange(
                run_id=rid,
                kind=kind,
                key=key,
                field=name,
                old=orjson.loads(old),
                new=orjson.loads(new),
            )
            for rid, kind, key, name, old, new in self._read(
                "SELECT run_id, kind, key, field, old, new FROM item_changes "
                "WHERE run_id=? ORDER BY id",
                (run_id,),
            )
        ]

    def quarantine(self, table: str | None = None, limit: int = 1000) -> list[QuarantineEntry]:
        if self._version() < _QUARANTINE_SINCE:
            return []
        where, params = ("WHERE q.tbl=? ", (table, limit)) if table is not None else ("", (limit,))
        return [
            QuarantineEntry(
                id=qid,
                table=tbl,
                pk=pk,
                kind=kind,
                key=key,
                stage=stage,
                run_id=rid,
                rules=tuple(orjson.loads(rules)),
                reason=reason,
                record=record,
                at=at,
            )
            for qid, tbl, pk, kind, key, stage, rid, rules, reason, record, at in self._read(
                "SELECT q.id, q.tbl, q.pk, i.kind, i.key, q.stage, q.run_id, q.rules, q.reason, "
                f"q.record, q.at FROM quarantine q JOIN items i ON i.id=q.item_id {where}"
                "ORDER BY q.id LIMIT ?",
                params,
            )
        ]

    def quarantined(self) -> dict[str, int]:
        if self._version() < _QUARANTINE_SINCE:
            return {}
        return dict(self._read("SELECT tbl, count(*) FROM quarantine GROUP BY tbl ORDER BY tbl"))

    def _version(self) -> int:
        """The schema version of the file (a ledger opened read-only may be older)."""
        return int(self._read("PRAGMA user_version")[0][0])

    def records(self, table: str) -> Iterator[dict[str, Any]]:
        for (data,) in self._read("SELECT data FROM records WHERE tbl=? ORDER BY pk", (table,)):
            yield _loads(data)

    def pending_count(self) -> int:
        rows = self._read(
            "SELECT count(*) FROM tasks WHERE status IN ('waiting', 'pending', 'running')"
        )
        return int(rows[0][0])

    def items_per_kind(self) -> dict[str, int]:
        return dict(self._read("SELECT kind, count(*) FROM items GROUP BY kind ORDER BY kind"))

    def kept_records(self) -> dict[str, int]:
        # A ledger opened read-only may predate the redone flag: then every record
        # of a task that is not done was kept from an earlier run (as migration 6 says).
        flagged = int(self._read("PRAGMA user_version")[0][0]) >= _REDONE_SINCE
        which = "t.redone=1 AND t.status!='done'" if flagged else "t.status!='done'"
        return dict(
            self._read(
                "SELECT r.tbl, count(*) FROM tasks t "
                "JOIN records r ON r.item_id=t.item_id AND r.stage=t.stage "
                f"WHERE {which} GROUP BY r.tbl ORDER BY r.tbl"
            )
        )

    # -- internals ---------------------------------------------------------------

    def _held(
        self, db: sqlite3.Connection, pairs: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], tuple[int, bool]]:
        """Those of ``pairs`` (task id, owner) whose task is RUNNING under that
        owner: (id, owner) → (item_id, redone)."""
        held: dict[tuple[int, str], tuple[int, bool]] = {}
        wanted = set(pairs)
        for chunk in _chunks(sorted({p[0] for p in pairs})):
            marks = ",".join("?" * len(chunk))
            for tid, item_id, owner, redone in db.execute(
                f"SELECT id, item_id, owner, redone FROM tasks WHERE id IN ({marks}) "
                "AND +status='running'",
                chunk,
            ):
                if (tid, owner) in wanted:
                    held[(tid, owner)] = (item_id, bool(redone))
        return held

    @staticmethod
    def _replace(
        db: sqlite3.Connection, again: Sequence[Completion], held: Mapping[int, int]
    ) -> None:
        """Clear the output of tasks done before, in the caller's transaction: the
        records their earlier completion wrote go (the new ones are written next)
        and the tasks are no longer flagged redone."""
        pairs = [(held[c.task.id], c.task.stage) for c in again]
        db.executemany("DELETE FROM records WHERE item_id=? AND stage=?", pairs)
        db.execute(
            "UPDATE tasks SET redone=0 WHERE id IN (SELECT value FROM json_each(?))",
            (_array([c.task.id for c in again]),),
        )

    @staticmethod
    def _message(db: sqlite3.Connection, failure: Failure, item_id: int, redone: bool) -> str:
        """The failure's message as stored: saying so when earlier records are kept."""
        if not redone:
            return failure.message
        count, first, last = db.execute(
            "SELECT count(*), min(run_id), max(run_id) FROM records WHERE item_id=? AND stage=?",
            (item_id, failure.task.stage),
        ).fetchone()
        if not count:
            return failure.message
        return f"{failure.message} ({kept_note(count, (first, last))})"

    def _tasks(self, db: sqlite3.Connection, ids: Sequence[int]) -> list[Task]:
        (found,) = db.execute(
            "SELECT json_group_array(json_array(t.id, t.stage, t.attempts, i.kind, i.key, "
            "i.data, i.date, p.kind, p.key, t.refresh)) "
            "FROM json_each(?) AS j CROSS JOIN tasks t ON t.id=j.value "
            "JOIN items i ON i.id=t.item_id LEFT JOIN items p ON p.id=i.parent_id",
            (_array(list(ids)),),
        ).fetchone()
        rows = orjson.loads(found)
        place = {tid: n for n, tid in enumerate(ids)}
        rows.sort(key=lambda row: place[row[0]])  # the order they were claimed in
        return [
            Task(
                id=tid,
                stage=stage,
                kind=kind,
                key=key,
                data=_loads(data),
                date=date,
                parent=(pkind, pkey) if pkind is not None else None,
                attempts=attempts,
                refresh=bool(refresh),
            )
            for tid, stage, attempts, kind, key, data, date, pkind, pkey, refresh in rows
        ]

    def _promote(self, db: sqlite3.Connection, waiting: Iterable[tuple[int, int, str]]) -> None:
        """WAITING → PENDING for those of the given (task id, item id, stage) whose
        dependencies are done, as :func:`readiness.task_status` decides, reading
        the items' lineages and the tasks they point at in two statements."""
        rows = [w for w in waiting if w[2] in self.graph.stages]
        if not rows:
            return
        lineages = self._lineages(db, sorted({item_id for _, item_id, _ in rows}))
        done = self._done_among(
            db,
            {ref[1] for lineage in lineages.values() for ref in lineage},
            {d.stage for _, _, stage in rows for d in self.graph.stages[stage].deps},
        )
        ready = []
        for tid, item_id, stage in rows:
            lineage = lineages.get(item_id)
            if not lineage:
                continue
            node = self.graph.stages[stage]
            if readiness.task_status(node, lineage[0], lineage[1:], done) is Status.PENDING:
                ready.append((tid,))
        db.executemany("UPDATE tasks SET status='pending' WHERE id=? AND status='waiting'", ready)

    @staticmethod
    def _lineages(
        db: sqlite3.Connection, item_ids: Sequence[int]
    ) -> dict[int, list[tuple[str, int]]]:
        """Each item and its ancestors, nearest first, as (kind, item id)."""
        (found,) = db.execute(
            "WITH RECURSIVE up(start, id, kind, parent_id, depth) AS ("
            " SELECT i.id, i.id, i.kind, i.parent_id, 0 FROM json_each(?) AS j"
            " JOIN items i ON i.id=j.value"
            " UNION ALL SELECT up.start, p.id, p.kind, p.parent_id, up.depth+1"
            f" FROM up JOIN items p ON p.id=up.parent_id WHERE up.depth<{_DEEPEST})"
            " SELECT json_group_array(json_array(start, id, kind))"
            " FROM (SELECT * FROM up ORDER BY start, depth)",
            (_array(list(item_ids)),),
        ).fetchone()
        out: dict[int, list[tuple[str, int]]] = {}
        for start, item_id, kind in orjson.loads(found):
            out.setdefault(start, []).append((kind, item_id))
        return out

    @staticmethod
    def _done_among(
        db: sqlite3.Connection, item_ids: Iterable[int], stages: Iterable[str]
    ) -> set[tuple[tuple[str, int], str]]:
        """The DONE tasks of those items and stages, as ((kind, item id), stage)."""
        stages = sorted(set(stages))
        if not stages:
            return set()
        (found,) = db.execute(
            "SELECT json_group_array(json_array(i.kind, t.item_id, t.stage)) "
            "FROM json_each(?) AS j CROSS JOIN tasks t ON t.item_id=j.value "
            "JOIN items i ON i.id=t.item_id "
            "WHERE t.stage IN (SELECT value FROM json_each(?)) AND t.status='done'",
            (_array(sorted(set(item_ids))), _array(stages)),
        ).fetchone()
        return {((kind, item_id), stage) for kind, item_id, stage in orjson.loads(found)}

    def _plan(self, stage: str) -> tuple[readiness.Unblock, ...]:
        plan = self._plans.get(stage)
        if plan is None:
            plan = self._plans[stage] = readiness.unblocks(self.graph, stage)
        return plan

    def _unblock(self, db: sqlite3.Connection, done: Sequence[tuple[int, str]]) -> None:
        """Promote tasks waiting on the (item id, stage) pairs just done, as
        :func:`readiness.unblocks` plans it: the same item's dependent stages
        (set-wise when they only depend on the item's own stages) and the
        descendants' stages that depend on an ancestor's."""
        by_stage: dict[str, list[int]] = {}
        for item_id, stage in done:
            by_stage.setdefault(stage, []).append(item_id)
        for stage, item_ids in by_stage.items():
            for step in self._plan(stage):
                for chunk in _chunks(item_ids):
                    if step.same_item and step.local:
                        self._unblock_local(db, step, chunk)
                    elif step.same_item:
                        marks = ",".join("?" * len(chunk))
                        rows = db.execute(
                            f"SELECT id, item_id, stage FROM tasks WHERE item_id IN ({marks}) "
                            "AND +stage=? AND +status='waiting'",
                            (*chunk, step.stage),
                        ).fetchall()
                        self._promote(db, rows)
                    else:
                        self._promote(db, self._waiting_below(db, step.stage, chunk))

    @staticmethod
    def _unblock_local(
        db: sqlite3.Connection, step: readiness.Unblock, item_ids: Sequence[int]
    ) -> None:
        """The rule for a stage that depends on its own item's stages only, in one
        statement: ready when each of those stages' tasks is DONE."""
        own = sorted({d.stage for d in step.deps})
        marks = ",".join("?" * len(item_ids))
        db.execute(
            # unary + keeps the planner on the (item_id, stage) index
            "UPDATE tasks SET status='pending' "
            f"WHERE item_id IN ({marks}) AND +stage=? AND +status='waiting' "
            "AND (SELECT count(*) FROM tasks d WHERE d.item_id=tasks.item_id "
            f"AND d.stage IN ({','.join('?' * len(own))}) AND d.status='done')=?",
            (*item_ids, step.stage, *own, len(own)),
        )

    @staticmethod
    def _waiting_below(
        db: sqlite3.Connection, stage: str, item_ids: Sequence[int]
    ) -> list[tuple[int, int, str]]:
        """WAITING tasks of ``stage`` on descendants of the given items."""
        marks = ",".join("?" * len(item_ids))
        rows: list[tuple[int, int, str]] = db.execute(
            "WITH RECURSIVE tree(id, depth) AS ("
            f" SELECT id, 1 FROM items WHERE parent_id IN ({marks})"
            " UNION ALL SELECT i.id, tree.depth+1 FROM items i JOIN tree ON i.parent_id=tree.id"
            f" WHERE tree.depth<{_DEEPEST})"
            " SELECT id, item_id, stage FROM tasks WHERE +stage=? AND +status='waiting'"
            " AND item_id IN (SELECT id FROM tree)",
            (*item_ids, stage),
        ).fetchall()
        return rows

    def _upsert_items(
        self,
        db: sqlite3.Connection,
        rows: Sequence[tuple[NewItem, int | None, str | None]],
        run_id: int,
        changes: list[ItemChange],
    ) -> int:
        """Upsert items and create their missing tasks, in a few statements per batch.

        ``rows`` holds (item, parent item id or None, the parent's stage that just
        finished or None); the id and stage are given only for a child of the
        completion that emitted it. An item already stored is merged into it
        (:func:`merge_data`), the values it changes recorded and added to
        ``changes``. A task's first status is :func:`readiness.first_status` where
        the graph decides it, else it is read (``_promote``), as it is for the
        waiting tasks of a stored item that gains its parent now. Returns how many
        items were new.
        """
        nul = _has_nul([it.key for it, _, _ in rows]) or _has_nul(
            [it.parent[1] for it, _, _ in rows if it.parent]
        )
        data, new, changed, adopted = self._merged(db, rows, run_id, nul)
        self._write_items(db, rows, data, run_id, nul)
        if changed:
            db.executemany(
                "INSERT INTO item_changes(run_id, kind, key, field, old, new) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, c.kind, c.key, c.field, _dumps(c.old), _dumps(c.new)) for c in changed],
            )
            changes += changed
        tasks, unsure = self._plan_tasks(rows)
        self._write_tasks(db, tasks, nul)
        unsure += [
            (kind, key, node.name) for kind, key in adopted for node in self.graph.stages_of(kind)
        ]
        self._promote_new(db, unsure, nul)
        return new

    def _merged(
        self,
        db: sqlite3.Connection,
        rows: Sequence[tuple[NewItem, int | None, str | None]],
        run_id: int,
        nul: bool,
    ) -> tuple[list[str], int, list[ItemChange], list[tuple[str, Key]]]:
        """Each item's data as it is to be written (JSON text), merged into what is
        stored or into what the batch gave before it; how many items are new; the
        values changed; and the stored items with no parent that are given one. The
        stored items are read in one statement."""
        state, orphans = self._stored(db, [it for it, _, _ in rows], nul)
        out: list[str] = []
        new = 0
        changed: list[ItemChange] = []
        adopted: list[tuple[str, Key]] = []
        for it, pid, _ in rows:
            ref = (it.kind, it.key)
            text = state.get(ref, _NOT_STORED)
            if orphans and ref in orphans and (pid is not None or it.parent is not None):
                orphans.discard(ref)
                adopted.append(ref)
            if text is _NOT_STORED:
                new += 1
                text = _dumps(dict(it.data))
            elif it.data:
                merged, found = merge_data(_loads(text), it.data)
                if merged is not None:
                    text = _dumps(merged)
                changed += [
                    ItemChange(run_id=run_id, kind=it.kind, key=it.key, field=f, old=old, new=value)
                    for f, old, value in found
                ]
            state[ref] = text
            out.append(text)
        return out, new, changed, adopted

    @staticmethod
    def _stored(
        db: sqlite3.Connection, items: Sequence[NewItem], nul: bool
    ) -> tuple[dict[tuple[str, Key], str], set[tuple[str, Key]]]:
        """The stored data (JSON text) of those items the ledger holds, and which of
        them have no parent."""
        refs = list(dict.fromkeys((it.kind, it.key) for it in items))
        if nul:  # SQLite's JSON reader cuts a str at a NUL: bind them instead
            rows = []
            for kind, key in refs:
                rows += db.execute(
                    "SELECT kind, key, data, parent_id IS NULL FROM items WHERE kind=? AND key=?",
                    (kind, key),
                ).fetchall()
        else:
            (found,) = db.execute(
                "SELECT json_group_array(json_array(i.kind, i.key, i.data, i.parent_id IS NULL)) "
                "FROM json_each(?) AS j "
                "CROSS JOIN items i ON i.kind=j.value->>0 AND i.key=j.value->>1",
                (_array(refs),),
            ).fetchone()
            rows = orjson.loads(found)
        data = {(kind, key): text or "{}" for kind, key, text, _ in rows}
        return data, {(kind, key) for kind, key, _, orphan in rows if orphan}

    @staticmethod
    def _write_items(
        db: sqlite3.Connection,
        rows: Sequence[tuple[NewItem, int | None, str | None]],
        data: Sequence[str],
        run_id: int,
        nul: bool,
    ) -> None:
        """Upsert the items with their merged ``data``: a date given replaces the
        stored one, a parent is kept once it is set; a row that changes nothing is
        not written."""
        values = [
            (it.kind, it.key, text, it.date, pid, *(it.parent or (None, None)))
            for (it, pid, _), text in zip(rows, data, strict=True)
        ]
        upsert = (
            "ON CONFLICT(kind, key) DO UPDATE SET data=excluded.data, "
            "date=coalesce(excluded.date, items.date), "
            "parent_id=coalesce(items.parent_id, excluded.parent_id) "
            "WHERE items.data IS NOT excluded.data OR excluded.date IS NOT items.date "
            "AND excluded.date IS NOT NULL "
            "OR items.parent_id IS NULL AND excluded.parent_id IS NOT NULL"
        )
        if not nul:
            values = _parents_by_id(db, values)
        if not nul and all(v[4] is not None or v[5] is None for v in values):
            # parents known by id (or none): the whole batch in one statement
            db.execute(
                "INSERT INTO items(kind, key, data, date, parent_id, first_run) "
                "SELECT value->>0, value->>1, value->>2, value->>3, value->>4, ? "
                f"FROM json_each(?) WHERE true {upsert}",
                (run_id, _array([v[:5] for v in values])),
            )
            return
        # a parent named by key may be in this very batch, or a key holds a NUL
        db.executemany(
            "INSERT INTO items(kind, key, data, date, parent_id, first_run) VALUES "
            f"(?, ?, ?, ?, coalesce(?, (SELECT id FROM items WHERE kind=? AND key=?)), ?) {upsert}",
            [(*v, run_id) for v in values],
        )

    def _plan_tasks(
        self, rows: Sequence[tuple[NewItem, int | None, str | None]]
    ) -> tuple[list[tuple[str, str, str, Key]], list[tuple[str, Key, str]]]:
        """Each item's tasks with their first status (stage, status, kind, key), and
        those the graph alone cannot decide (kind, key, stage), to be read."""
        tasks: list[tuple[str, str, str, Key]] = []
        unsure: list[tuple[str, Key, str]] = []
        for it, _, stage_done in rows:
            for node in self.graph.stages_of(it.kind):
                status = readiness.first_status(node, emitted_by=stage_done, graph=self.graph)
                if status is None:
                    status = Status.WAITING
                    unsure.append((it.kind, it.key, node.name))
                tasks.append((node.name, status.value, it.kind, it.key))
        return tasks, unsure

    @staticmethod
    def _write_tasks(
        db: sqlite3.Connection, tasks: Sequence[tuple[str, str, str, Key]], nul: bool
    ) -> None:
        """Create the tasks items lack (an existing task keeps its status)."""
        if not tasks:
            return
        if nul:
            db.executemany(
                "INSERT OR IGNORE INTO tasks(item_id, stage, status) "
                "SELECT id, ?, ? FROM items WHERE kind=? AND key=?",
                tasks,
            )
            return
        db.execute(
            "INSERT OR IGNORE INTO tasks(item_id, stage, status) "
            "SELECT i.id, j.value->>0, j.value->>1 FROM json_each(?) AS j "
            "CROSS JOIN items i ON i.kind=j.value->>2 AND i.key=j.value->>3",
            (_array(tasks),),
        )

    def _promote_new(
        self, db: sqlite3.Connection, unsure: Sequence[tuple[str, Key, str]], nul: bool
    ) -> None:
        """Decide the new tasks the graph could not, from the ledger."""
        if not unsure:
            return
        select = (
            "SELECT t.id, t.item_id, t.stage FROM tasks t JOIN items i ON i.id=t.item_id "
            "WHERE i.kind=? AND i.key=? AND t.stage=? AND t.status='waiting'"
        )
        if nul:
            waiting = [row for u in unsure for row in db.execute(select, u).fetchall()]
        else:
            (found,) = db.execute(
                "SELECT json_group_array(json_array(t.id, t.item_id, t.stage)) "
                "FROM json_each(?) AS j CROSS JOIN items i "
                "ON i.kind=j.value->>0 AND i.key=j.value->>1 "
                "JOIN tasks t ON t.item_id=i.id AND t.stage=j.value->>2 "
                "WHERE t.status='waiting'",
                (_array(list(unsure)),),
            ).fetchone()
            waiting = [tuple(row) for row in orjson.loads(found)]
        self._promote(db, waiting)


def _parents_by_id(db: sqlite3.Connection, values: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Item rows (kind, key, data, date, parent id, parent kind, parent key) with the
    parents named by key that are stored already given by id, read in one statement:
    a listing per parent names its parent so, and the batch is then written in one."""
    wanted = {(v[5], v[6]) for v in values if v[4] is None and v[5] is not None}
    if not wanted:
        return values
    (found,) = db.execute(
        "SELECT json_group_array(json_array(i.kind, i.key, i.id)) FROM json_each(?) AS j "
        "CROSS JOIN items i ON i.kind=j.value->>0 AND i.key=j.value->>1",
        (_array(sorted(wanted, key=str)),),
    ).fetchone()
    ids = {(kind, key): item_id for kind, key, item_id in orjson.loads(found)}
    return [
        v if v[4] is not None or v[5] is None else (*v[:4], ids.get((v[5], v[6])), *v[5:])
        for v in values
    ]


def _emitted(child: NewItem, task: Task, item_id: int) -> tuple[NewItem, int | None, str | None]:
    """A child as ``_upsert_items`` takes it: with the completing item as parent
    (by id, and the stage just done) unless the child names another parent."""
    if child.parent is not None and child.parent != (task.kind, task.key):
        return child, None, None
    return child, item_id, task.stage


def _columns(key: Sequence[str], first: str | bytes | None) -> list[str]:
    """A view's columns: the first record's (in its order), then key columns it lacks."""
    names = [c for c in orjson.loads(first) if isinstance(c, str)] if first else []
    names += [c for c in key if c not in names]
    return [c for c in names if c.isidentifier()]


def _create_view(db: sqlite3.Connection, table: str, columns: Sequence[str]) -> None:
    if not columns:
        return
    select = ", ".join(f'json_extract(data, \'$."{c}"\') AS "{c}"' for c in columns)
    literal = table.replace("'", "''")
    db.execute(f"CREATE VIEW \"{table}\" AS SELECT {select} FROM records WHERE tbl='{literal}'")


def _plain(columns: Columns | None) -> list[dict[str, Any]] | None:
    """Columns as plain values, to compare and to store."""
    if columns is None:
        return None
    return [
        {"name": c["name"], "type": c["type"], "nullable": bool(c["nullable"])} for c in columns
    ]


ROW_PK = "row:pk"
"""A typed table's key: the record's key as the ledger encodes it (after the
declared columns, so ``SELECT *`` starts with those)."""
ROW_COLUMNS = (
    ("row:item_id", "INTEGER"),
    ("row:stage", "TEXT"),
    ("row:version", "INTEGER"),
    ("row:run_id", "INTEGER"),
)
"""After the declared columns, what wrote each row: its item, stage, the stage's
parser version and the run. A declared column is a Python identifier, so these
names never collide with one."""


def _typed_columns(columns: Columns) -> list[tuple[str, str]]:
    """The (name, SQL type) of a typed table's columns, in order."""
    declared = [
        (str(c["name"]), SQL_TYPES[c["type"]])
        for c in columns
        if isinstance(c["name"], str) and c["name"].isidentifier()
    ]
    return [*declared, (ROW_PK, "TEXT"), *ROW_COLUMNS]


def _typed_value(column: Mapping[str, Any], row: str) -> str:
    """The SQL of a declared column's value, typed, from the JSON ``row.data``."""
    path = "'$.\"" + str(column["name"]) + "\"'"
    if column["type"] == "json":  # as JSON text: a list stays a list, a str is quoted
        return f"nullif({row}.data->{path}, 'null')"
    return f"CAST(json_extract({row}.data, {path}) AS {SQL_TYPES[column['type']]})"


def _triggers(table: str) -> list[str]:
    return [f"{table}:{event}" for event in ("insert", "update", "delete")]


def _has_triggers(db: sqlite3.Connection, table: str) -> bool:
    names = _triggers(table)
    found = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND name IN (?, ?, ?)", names
    ).fetchone()[0]
    return bool(found == len(names))


def _drop_typed(db: sqlite3.Connection, table: str) -> None:
    """Remove a typed table and its triggers (the records stay)."""
    for trigger in _triggers(table):
        db.execute(f'DROP TRIGGER IF EXISTS "{trigger}"')
    found = db.execute("SELECT type FROM sqlite_master WHERE name=?", (table,)).fetchone()
    if found is not None:
        db.execute(f'DROP {"VIEW" if found[0] == "view" else "TABLE"} "{table}"')


def _typed_table(db: sqlite3.Connection, table: str, columns: Columns) -> None:
    """A real table per table with a schema, named after it: its declared columns
    with their SQL types (``SQL_TYPES``), then what wrote each row (``ROW_COLUMNS``),
    keyed by the record's key. Triggers on ``records`` keep it equal to the table's
    records in the same transaction as every write (a task's completion, a redo,
    a re-keying, retention), so it is never ahead of or behind its task's ``done``.
    Made from the records already stored; the caller's transaction holds it all."""
    _drop_typed(db, table)
    declared = [c for c in columns if isinstance(c["name"], str) and c["name"].isidentifier()]
    names = [*(str(c["name"]) for c in declared), ROW_PK, *(n for n, _ in ROW_COLUMNS)]
    spec = ", ".join(f'"{n}" {t}' for n, t in _typed_columns(columns))
    db.execute(f'CREATE TABLE "{table}" ({spec}, PRIMARY KEY ("{ROW_PK}")) WITHOUT ROWID')
    target = ", ".join(f'"{n}"' for n in names)

    def values(row: str) -> str:
        typed = [_typed_value(c, row) for c in declared]
        meta = [f"{row}.item_id", f"{row}.stage", f"{row}.version", f"{row}.run_id"]
        return ", ".join([*typed, f"{row}.pk", *meta])

    literal = table.replace("'", "''")
    db.execute(
        f'INSERT INTO "{table}"({target}) SELECT {values("r")} FROM records r '
        f"WHERE r.tbl='{literal}'"
    )
    insert, update, delete = _triggers(table)
    db.execute(
        f"CREATE TRIGGER \"{insert}\" AFTER INSERT ON records WHEN NEW.tbl='{literal}' "
        f'BEGIN INSERT OR REPLACE INTO "{table}"({target}) VALUES ({values("NEW")}); END'
    )
    db.execute(
        f'CREATE TRIGGER "{update}" AFTER UPDATE ON records '
        f"WHEN OLD.tbl='{literal}' OR NEW.tbl='{literal}' BEGIN "
        f'DELETE FROM "{table}" WHERE OLD.tbl=\'{literal}\' AND "{ROW_PK}"=OLD.pk; '
        f'INSERT OR REPLACE INTO "{table}"({target}) SELECT {values("NEW")} '
        f"WHERE NEW.tbl='{literal}'; END"
    )
    db.execute(
        f"CREATE TRIGGER \"{delete}\" AFTER DELETE ON records WHEN OLD.tbl='{literal}' "
        f'BEGIN DELETE FROM "{table}" WHERE "{ROW_PK}"=OLD.pk; END'
    )


def _subtree(within: Sequence[tuple[str, Key]] | None) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition (and its parameters) for tasks of the named items and their
    descendants; none when ``within`` is None."""
    if within is None:
        return "", ()
    roots = " OR ".join("(kind=? AND key=?)" for _ in within) or "false"
    condition = (
        " AND item_id IN (WITH RECURSIVE tree(id) AS ("
        f"SELECT id FROM items WHERE {roots} "
        "UNION ALL SELECT i.id FROM items i JOIN tree ON i.parent_id=tree.id) "
        "SELECT id FROM tree)"
    )
    return condition, tuple(v for kind, key in within for v in (kind, key))


def _has_nul(keys: Iterable[Key]) -> bool:
    return any(isinstance(k, str) and "\x00" in k for k in keys)


def _full(path: Path) -> str:
    return f"disk full: no space left to write the ledger {path}; free space and run again"


def _create_private(path: Path) -> None:
    """Make the ledger file owner-only (SQLite gives its WAL and SHM the same mode),
    refusing a symbolic link where the file should be."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LedgerError(
                f"ledger {path} is a symbolic link: scrapeline will not follow it"
            ) from exc
        raise
    os.close(fd)


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _history(db: sqlite3.Connection) -> list[RunInfo]:
    """Every run as retention decides on it: its summary left unread (empty)."""
    return [
        _run_info(row)
        for row in db.execute(
            "SELECT id, pipeline, started_at, ended_at, status, pid, options, NULL FROM runs"
        )
    ]


def _run_info(row: Sequence[Any]) -> RunInfo:
    rid, pipeline, started, ended, status, pid, options, summary = row
    return RunInfo(
        id=rid,
        pipeline=pipeline,
        started_at=started,
        ended_at=ended,
        status=RunStatus(status),
        pid=pid,
        options=_loads(options),
        summary=_loads(summary),
    )


def _tallies(rows: Iterable[Sequence[Any]]) -> dict[int, RunTally]:
    """Runs' tallies from their attempts grouped by (run, stage, ok, category), each
    row ending with its records, last and first attempt id; in first-attempt order."""
    counts: dict[int, dict[str, dict[str, Any]]] = {}
    last_failed: dict[int, tuple[int, str]] = {}
    for run_id, stage, ok, category, n, records, last, _first in rows:
        tally = counts.setdefault(run_id, {}).setdefault(
            stage, {"done": 0, "failed": 0, "records": 0, "categories": {}}
        )
        if ok:
            tally["done"] += n
            tally["records"] += records or 0
            continue
        tally["failed"] += n
        name = category or "error"
        tally["categories"][name] = tally["categories"].get(name, 0) + n
        if last > last_failed.get(run_id, (-1, ""))[0]:
            last_failed[run_id] = (last, stage)
    return {
        run_id: RunTally(
            run_id=run_id,
            stages={stage: StageTally(**tally) for stage, tally in stages.items()},
            last_failed_stage=last_failed[run_id][1] if run_id in last_failed else None,
        )
        for run_id, stages in counts.items()
    }
