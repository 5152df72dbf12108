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
from scrapeline.ledger.base import (
    Completion,
    FailedTask,
    Failure,
    NewItem,
    RecordRow,
    RunInfo,
    RunReport,
    RunStatus,
    Status,
    Task,
    Walk,
    kept_note,
    key_changed,
    record_key,
)
from scrapeline.ledger.schema import migrate
from scrapeline.model import Graph, Key, StageNode

_CHUNK = 500
_FAILURES_LISTED = 1000
_REDONE_SINCE = 6
"""The schema version that flags tasks redone (a read-only ledger may be older)."""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(text: str | bytes | None) -> Any:
    return orjson.loads(text) if text else {}


def _array(values: Any) -> str:
    """A batch as one JSON array parameter, for ``json_each(?)``."""
    return orjson.dumps(values).decode()


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
        self._views: set[str] = set()
        self._keys: dict[str, tuple[str, ...]] = {}

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

    def prepare(self, graph: Graph) -> None:
        self.graph = graph
        with self._tx() as db:
            migrate(db)
            self._views = {
                r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='view'")
            }
            self._keys = {
                name: tuple(orjson.loads(key))
                for name, key in db.execute("SELECT name, key FROM tables")
            }
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

    def adopt_tables(self, keys: Mapping[str, Sequence[str]]) -> None:
        with self._tx() as db:
            recorded = {
                name: tuple(orjson.loads(key))
                for name, key in db.execute("SELECT name, key FROM tables")
            }
            changes = [(t, tuple(k)) for t, k in keys.items() if recorded.get(t) != tuple(k)]
            for table, key in changes:
                if (
                    table in recorded
                    and db.execute("SELECT 1 FROM records WHERE tbl=? LIMIT 1", (table,)).fetchone()
                ):
                    raise key_changed(table, recorded[table], key)
            for table, key in changes:
                db.execute(
                    "INSERT INTO tables(name, key) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET key=excluded.key",
                    (table, _dumps(list(key))),
                )
                if table not in recorded:
                    self._rekey(db, table, key)
                recorded[table] = key
            self._keys = recorded

    @staticmethod
    def _rekey(db: sqlite3.Connection, table: str, key: Sequence[str]) -> None:
        """Store a table's records under ``record_key`` (they were stored before keys
        were type-tagged); a record lacking a key column keeps the key it had."""
        rows = db.execute(
            "SELECT pk, item_id, stage, version, run_id, data FROM records WHERE tbl=?",
            (table,),
        ).fetchall()
        if not rows:
            return
        db.execute("DELETE FROM records WHERE tbl=?", (table,))
        rekeyed = []
        for pk, *rest, data in rows:
            with suppress(KeyError, TypeError, orjson.JSONDecodeError):
                pk = record_key(orjson.loads(data), key)
            rekeyed.append((table, pk, *rest, data))
        db.executemany(
            "INSERT OR REPLACE INTO records(tbl, pk, item_id, stage, version, run_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rekeyed,
        )

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
                    " category=NULL, message=NULL, redone=(redone OR status='done')"
                    " WHERE item_id IN (SELECT id FROM tree)"
                    " RETURNING id, item_id, stage",
                    (kind, *chunk),
                ).fetchall()
                self._promote(db, rows)
                total += len(rows)
            return total

    def redo(self, stage: str, *, older_than_version: int | None = None) -> int:
        outdated = "" if older_than_version is None else " AND coalesce(version, 1) < ?"
        params = (stage,) if older_than_version is None else (stage, older_than_version)
        with self._tx() as db:
            rows = db.execute(
                "UPDATE tasks SET status='waiting', owner=NULL, expires=NULL, attempts=0, "
                "category=NULL, message=NULL, redone=1 "
                f"WHERE stage=? AND status='done'{outdated} "
                "RETURNING id, item_id, stage",
                params,
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
        with self._tx() as db:
            return self._upsert_items(db, [(it, None, None) for it in items], run_id)

    def claim(
        self,
        owner: str,
        limit: int,
        now: float,
        lease: float,
        stages: Sequence[str] | None = None,
    ) -> list[Task]:
        only = ""
        params: tuple[str, ...] = ()
        if stages is not None:
            only = f" AND stage IN ({','.join('?' * len(stages))})"
            params = tuple(stages)
        with self._tx() as db:
            # index order, (stage, id): no sort over every pending task
            ids = self._ids(
                db, f"SELECT id FROM tasks WHERE status='pending'{only} LIMIT ?", (*params, limit)
            )
            if ids:
                db.execute(
                    "UPDATE tasks SET status='running', owner=?, expires=?, attempts=attempts+1 "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (owner, now + lease, _array(ids)),
                )
            if len(ids) < limit:
                expired = self._ids(
                    db,
                    f"SELECT id FROM tasks WHERE status='running' AND expires<=?{only} LIMIT ?",
                    (now, *params, limit - len(ids)),
                )
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

    @staticmethod
    def _ids(db: sqlite3.Connection, select: str, params: Sequence[Any]) -> list[int]:
        """The ids a ``SELECT id ...`` finds, read back as one JSON row."""
        (found,) = db.execute(f"SELECT json_group_array(id) FROM ({select})", params).fetchone()
        ids: list[int] = orjson.loads(found)
        return ids

    def complete(self, completions: Sequence[Completion], run_id: int, now: float) -> list[bool]:
        if not completions:
            return []
        with self._tx() as db:
            held: dict[int, int] = {}  # task id -> item id, of the tasks still ours
            redone: set[int] = set()  # those done before: their output is replaced
            by_owner: dict[tuple[str, int], list[int]] = {}
            for c in completions:
                by_owner.setdefault((c.owner, c.version), []).append(c.task.id)
            for (owner, version), ids in by_owner.items():
                (found,) = db.execute(
                    "SELECT json_group_array(json_array(id, item_id, redone)) FROM tasks "
                    # unary + keeps the planner on the primary key, off the status index
                    "WHERE id IN (SELECT value FROM json_each(?)) "
                    "AND +status='running' AND owner=?",
                    (_array(ids), owner),
                ).fetchone()
                mine: dict[int, int] = {}
                for tid, item_id, again in orjson.loads(found):
                    mine[tid] = item_id
                    if again:
                        redone.add(tid)
                if mine:
                    db.execute(
                        "UPDATE tasks SET status='done', owner=NULL, expires=NULL, "
                        "category=NULL, message=NULL, version=? "
                        "WHERE id IN (SELECT value FROM json_each(?))",
                        (version, _array(list(mine))),
                    )
                held.update(mine)
            ok = [c for c in completions if c.task.id in held]
            if redone:
                self._replace(db, [c for c in ok if c.task.id in redone], held)
            rows = [
                (r.table, self._pk(r), held[c.task.id], c.task.stage, c.version, run_id, r.json)
                for c in ok
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
                self._ensure_views(db, [r for c in ok for r in c.records])
            if ok:
                db.execute(
                    "INSERT INTO attempts(run_id, task_id, stage, ok, duration, started) "
                    "SELECT ?, value->>0, value->>1, 1, value->>2, value->>3 FROM json_each(?)",
                    (
                        run_id,
                        _array([(c.task.id, c.task.stage, c.duration, c.started) for c in ok]),
                    ),
                )
            self._unblock(db, [(held[c.task.id], c.task.stage) for c in ok])
            children = [(child, held[c.task.id], c.task.stage) for c in ok for child in c.children]
            if children:
                self._upsert_items(db, children, run_id)
            return [c.task.id in held for c in completions]

    def fail(self, failures: Sequence[Failure], run_id: int, now: float) -> list[bool]:
        if not failures:
            return []
        with self._tx() as db:
            held = self._held(db, [(f.task.id, f.owner) for f in failures])
            ok = [f for f in failures if f.task.id in held]
            db.executemany(
                "UPDATE tasks SET status='failed', owner=NULL, expires=NULL, category=?, "
                "message=? WHERE id=?",
                [(f.category, self._message(db, f, *held[f.task.id]), f.task.id) for f in ok],
            )
            db.executemany(
                "INSERT INTO attempts(run_id, task_id, stage, ok, category, duration, started) "
                "VALUES (?, ?, ?, 0, ?, ?, ?)",
                [(run_id, f.task.id, f.task.stage, f.category, f.duration, f.started) for f in ok],
            )
            return [f.task.id in held for f in failures]

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
        rows = self._read("SELECT next_position, finished FROM walks WHERE name=?", (name,))
        if not rows:
            return None
        return Walk(name=name, next_position=rows[0][0], finished=bool(rows[0][1]))

    def save_walk(self, walk: Walk) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO walks(name, next_position, finished) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET next_position=excluded.next_position, "
                "finished=excluded.finished",
                (walk.name, walk.next_position, int(walk.finished)),
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
        for stage, ok, duration in self._read(
            "SELECT stage, ok, duration FROM attempts WHERE run_id=?", (run_id,)
        ):
            bucket = done if ok else failed
            bucket[stage] = bucket.get(stage, 0) + 1
            durations.setdefault(stage, []).append(duration)
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
                "ORDER BY t.id LIMIT ?",
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
            items_total=self._read("SELECT count(*) FROM items")[0][0],
        )

    def records(self, table: str) -> Iterator[dict[str, Any]]:
        for (data,) in self._read("SELECT data FROM records WHERE tbl=? ORDER BY pk", (table,)):
            yield _loads(data)

    def pending_count(self) -> int:
        rows = self._read(
            "SELECT count(*) FROM tasks WHERE status IN ('waiting', 'pending', 'running')"
        )
        return int(rows[0][0])

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

    def _held(self, db: sqlite3.Connection, pairs: Sequence[tuple[int, str]]) -> dict[int, Any]:
        """Tasks among ``pairs`` still RUNNING under that owner: id → (item_id, redone)."""
        held: dict[int, Any] = {}
        owners = dict(pairs)
        for chunk in _chunks([p[0] for p in pairs]):
            marks = ",".join("?" * len(chunk))
            for tid, item_id, owner, redone in db.execute(
                f"SELECT id, item_id, owner, redone FROM tasks WHERE id IN ({marks}) "
                "AND +status='running'",
                chunk,
            ):
                if owners[tid] == owner:
                    held[tid] = (item_id, bool(redone))
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
            "i.data, i.date, p.kind, p.key)) "
            "FROM json_each(?) AS j CROSS JOIN tasks t ON t.id=j.value "
            "JOIN items i ON i.id=t.item_id LEFT JOIN items p ON p.id=i.parent_id",
            (_array(list(ids)),),
        ).fetchone()
        rows = orjson.loads(found)
        rows.sort(key=lambda row: row[0])
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
            )
            for tid, stage, attempts, kind, key, data, date, pkind, pkey in rows
        ]

    def _deps_done(self, db: sqlite3.Connection, item_id: int, node: StageNode) -> bool:
        for dep in node.deps:
            owner = item_id if dep.same_item else self._ancestor(db, item_id, dep.kind)
            if owner is None:
                return False
            row = db.execute(
                "SELECT status FROM tasks WHERE item_id=? AND stage=?", (owner, dep.stage)
            ).fetchone()
            if row is None or row[0] != "done":
                return False
        return True

    def _ancestor(self, db: sqlite3.Connection, item_id: int, kind: str) -> int | None:
        row = db.execute(
            "WITH RECURSIVE up(id, kind, parent_id) AS ("
            " SELECT p.id, p.kind, p.parent_id FROM items c JOIN items p ON p.id=c.parent_id"
            " WHERE c.id=?"
            " UNION ALL SELECT p.id, p.kind, p.parent_id FROM items p JOIN up ON p.id=up.parent_id)"
            " SELECT id FROM up WHERE kind=? LIMIT 1",
            (item_id, kind),
        ).fetchone()
        return row[0] if row else None

    def _promote(self, db: sqlite3.Connection, waiting: Iterable[tuple[int, int, str]]) -> None:
        """WAITING → PENDING for those of the given tasks whose dependencies are done."""
        ready = [
            (tid,)
            for tid, item_id, stage in waiting
            if stage in self.graph.stages and self._deps_done(db, item_id, self.graph.stages[stage])
        ]
        db.executemany("UPDATE tasks SET status='pending' WHERE id=? AND status='waiting'", ready)

    def _unblock(self, db: sqlite3.Connection, done: Sequence[tuple[int, str]]) -> None:
        """Promote tasks waiting on the (item, stage) pairs just done: the same
        item's later stages, and descendants' stages that depend on them."""
        same: dict[str, list[int]] = {}
        below: dict[str, list[int]] = {}
        for item_id, stage in done:
            kind = self.graph.stages[stage].kind if stage in self.graph.stages else None
            for node in self.graph.dependents(stage):
                (same if node.kind == kind else below).setdefault(node.name, []).append(item_id)
        for name, ids in same.items():
            node = self.graph.stages[name]
            own = [d.stage for d in node.deps if d.same_item]
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                if len(own) == len(node.deps):  # only this item's stages: one statement
                    db.execute(
                        # unary + keeps the planner on the (item_id, stage) index
                        "UPDATE tasks SET status='pending' "
                        f"WHERE item_id IN ({marks}) AND +stage=? AND +status='waiting' "
                        "AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.item_id=tasks.item_id "
                        f"AND d.stage IN ({','.join('?' * len(own))}) AND d.status!='done')",
                        (*chunk, name, *own),
                    )
                    continue
                rows = db.execute(
                    f"SELECT id, item_id, stage FROM tasks WHERE item_id IN ({marks}) "
                    "AND +stage=? AND +status='waiting'",
                    (*chunk, name),
                ).fetchall()
                self._promote(db, rows)
        for name, ids in below.items():
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "WITH RECURSIVE tree(id) AS ("
                    f" SELECT id FROM items WHERE parent_id IN ({marks})"
                    " UNION ALL SELECT i.id FROM items i JOIN tree ON i.parent_id=tree.id)"
                    " SELECT id, item_id, stage FROM tasks WHERE +stage=? AND +status='waiting'"
                    " AND item_id IN (SELECT id FROM tree)",
                    (*chunk, name),
                ).fetchall()
                self._promote(db, rows)

    def _upsert_items(
        self,
        db: sqlite3.Connection,
        rows: Sequence[tuple[NewItem, int | None, str | None]],
        run_id: int,
    ) -> int:
        """Upsert items and create their missing tasks, in a few statements per batch.

        ``rows`` holds (item, parent item id or None, the parent's stage that just
        finished or None). A task is PENDING at once when it has no dependencies,
        or when its only dependencies are that very stage of its parent (the usual
        case of a stage emitting children); otherwise it is checked one by one.
        Returns how many items were new.
        """
        by_kind: dict[str, list[Key]] = {}
        for it, _, _ in rows:
            by_kind.setdefault(it.kind, []).append(it.key)
        existing = {kind: self._known(db, kind, keys) for kind, keys in by_kind.items()}
        new = {(it.kind, it.key) for it, _, _ in rows if it.key not in existing[it.kind]}
        values = [
            (it.kind, it.key, _dumps(dict(it.data)), it.date, pid, *(it.parent or (None, None)))
            for it, pid, _ in rows
        ]
        nul = _has_nul([it.key for it, _, _ in rows]) or _has_nul(
            [it.parent[1] for it, _, _ in rows if it.parent]
        )
        if not nul and all(pid is not None or it.parent is None for it, pid, _ in rows):
            # parents known by id (or none): the whole batch in one statement
            db.execute(
                "INSERT INTO items(kind, key, data, date, parent_id, first_run) "
                "SELECT value->>0, value->>1, value->>2, value->>3, value->>4, ? "
                "FROM json_each(?) WHERE true "
                "ON CONFLICT(kind, key) DO UPDATE SET data=excluded.data, date=excluded.date, "
                "parent_id=coalesce(items.parent_id, excluded.parent_id)",
                (run_id, _array([v[:5] for v in values])),
            )
        else:  # a parent named by key may be in this very batch, or a key holds a NUL
            db.executemany(
                "INSERT INTO items(kind, key, data, date, parent_id, first_run) VALUES "
                "(?, ?, ?, ?, coalesce(?, (SELECT id FROM items WHERE kind=? AND key=?)), ?) "
                "ON CONFLICT(kind, key) DO UPDATE SET data=excluded.data, date=excluded.date, "
                "parent_id=coalesce(items.parent_id, excluded.parent_id)",
                [(*v, run_id) for v in values],
            )
        tasks: list[tuple[str, str, str, Key]] = []
        unsure: list[tuple[str, Key, str]] = []
        for it, pid, stage_done in rows:
            parent_kind = it.parent[0] if it.parent else None
            if pid is not None and stage_done is not None:
                parent_kind = self.graph.stages[stage_done].kind
            for node in self.graph.stages_of(it.kind):
                if not node.deps:
                    status = "pending"
                elif any(d.same_item for d in node.deps):
                    status = "waiting"  # the item's own stages are not done yet
                elif stage_done is not None and all(
                    d.kind == parent_kind and d.stage == stage_done for d in node.deps
                ):
                    status = "pending"
                else:
                    status = "waiting"
                    unsure.append((it.kind, it.key, node.name))
                tasks.append((node.name, status, it.kind, it.key))
        if tasks and nul:
            db.executemany(
                "INSERT OR IGNORE INTO tasks(item_id, stage, status) "
                "SELECT id, ?, ? FROM items WHERE kind=? AND key=?",
                tasks,
            )
        elif tasks:
            db.execute(
                "INSERT OR IGNORE INTO tasks(item_id, stage, status) "
                "SELECT i.id, j.value->>0, j.value->>1 FROM json_each(?) AS j "
                "CROSS JOIN items i ON i.kind=j.value->>2 AND i.key=j.value->>3",
                (_array(tasks),),
            )
        for kind, key, stage in unsure:
            waiting = db.execute(
                "SELECT t.id, t.item_id, t.stage FROM tasks t JOIN items i ON i.id=t.item_id "
                "WHERE i.kind=? AND i.key=? AND t.stage=? AND t.status='waiting'",
                (kind, key, stage),
            ).fetchall()
            self._promote(db, waiting)
        return len(new)

    def _ensure_views(self, db: sqlite3.Connection, rows: Sequence[Any]) -> None:
        """A read-only view per record table, so ``SELECT * FROM matches`` just works."""
        for row in rows:
            if row.table in self._views or not row.table.isidentifier():
                continue
            if db.execute("SELECT 1 FROM sqlite_master WHERE name=?", (row.table,)).fetchone():
                self._views.add(row.table)
                continue
            columns = ", ".join(
                f'json_extract(data, \'$."{c}"\') AS "{c}"'
                for c in orjson.loads(row.json)
                if isinstance(c, str) and c.isidentifier()
            )
            if not columns:
                continue
            table = row.table.replace("'", "''")
            db.execute(
                f"CREATE VIEW \"{row.table}\" AS SELECT {columns} FROM records WHERE tbl='{table}'"
            )
            self._views.add(row.table)


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
