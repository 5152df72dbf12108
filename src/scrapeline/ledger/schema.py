"""The SQLite ledger's schema, as numbered migrations applied in order.

``PRAGMA user_version`` holds how many migrations a file has had; ``migrate``
applies the rest inside the caller's transaction. Never edit a released
migration: append a new one.
"""

from __future__ import annotations

import sqlite3

from scrapeline.migrations import apply

MIGRATIONS: tuple[str, ...] = (
    # 1: items, tasks, records, runs, attempts, discovery walks
    """
    CREATE TABLE runs(
        id INTEGER PRIMARY KEY,
        pipeline TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        status TEXT NOT NULL,
        pid INTEGER,
        options TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE items(
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        key NOT NULL,
        data TEXT,
        date TEXT,
        parent_id INTEGER,
        first_run INTEGER,
        UNIQUE(kind, key)
    );
    CREATE INDEX items_parent ON items(parent_id) WHERE parent_id IS NOT NULL;
    CREATE TABLE tasks(
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL,
        stage TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        expires REAL,
        category TEXT,
        message TEXT,
        UNIQUE(item_id, stage)
    );
    CREATE INDEX tasks_status ON tasks(status, id);
    CREATE TABLE records(
        tbl TEXT NOT NULL,
        pk TEXT NOT NULL,
        item_id INTEGER NOT NULL,
        stage TEXT NOT NULL,
        version INTEGER NOT NULL,
        run_id INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY(tbl, pk)
    ) WITHOUT ROWID;
    CREATE TABLE attempts(
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL,
        task_id INTEGER NOT NULL,
        stage TEXT NOT NULL,
        ok INTEGER NOT NULL,
        category TEXT,
        duration REAL NOT NULL,
        started REAL NOT NULL
    );
    CREATE INDEX attempts_run ON attempts(run_id);
    CREATE TABLE walks(
        name TEXT PRIMARY KEY,
        next_position INTEGER NOT NULL,
        finished INTEGER NOT NULL
    );
    """,
    # 2: the parser version that settled a task DONE (re-parse only outdated ones).
    # Done tasks of older ledgers get the lowest version among their records.
    """
    ALTER TABLE tasks ADD COLUMN version INTEGER;
    UPDATE tasks SET version = v.version
    FROM (SELECT item_id, stage, min(version) AS version FROM records GROUP BY item_id, stage) AS v
    WHERE tasks.status = 'done' AND v.item_id = tasks.item_id AND v.stage = tasks.stage;
    """,
    # 3: tasks indexed by (status, stage): per-stage counts read the index alone
    # (status on a million tasks in tens of milliseconds), and claims walk it.
    """
    DROP INDEX tasks_status;
    CREATE INDEX tasks_status_stage ON tasks(status, stage);
    """,
    # 4: the stages the ledger has made tasks for: a run start only backfills new ones.
    """
    CREATE TABLE stages(name TEXT PRIMARY KEY, kind TEXT NOT NULL);
    """,
    # 5: each record table's key columns (a JSON array of names). Record keys become
    # type-tagged (a JSON array of the key's values): 1 and "1" no longer collide.
    # Records stored before are re-keyed from their data when their table's key is
    # first recorded (``adopt_tables``): only then are the key columns known.
    """
    CREATE TABLE tables(name TEXT PRIMARY KEY, key TEXT NOT NULL);
    """,
    # 6: a task that was done and is being done again (rescrape, redo) is flagged
    # ``redone`` until it completes, which then replaces the records its earlier
    # completion wrote (found through records_task); until then they are kept, and
    # counted by status. The flag keeps a first completion from paying for that.
    # Tasks of older ledgers that are not done yet hold records get the flag.
    """
    ALTER TABLE tasks ADD COLUMN redone INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX records_task ON records(item_id, stage);
    CREATE INDEX tasks_redone ON tasks(item_id, stage) WHERE redone=1;
    UPDATE tasks SET redone=1 WHERE status!='done' AND EXISTS
        (SELECT 1 FROM records r WHERE r.item_id=tasks.item_id AND r.stage=tasks.stage);
    """,
    # 7: a walk by cursor (or next link) resumes at the cursor's text; NULL for walks
    # by offset or page number, which resume at next_position.
    """
    ALTER TABLE walks ADD COLUMN cursor TEXT;
    """,
    # 8: a task run again because its item is within its refresh window: its
    # fetches are conditional, and a page the site says is unchanged keeps its records.
    """
    ALTER TABLE tasks ADD COLUMN refresh INTEGER NOT NULL DEFAULT 0;
    """,
    # 9: the item values a run changed when it found an item again (old and new as
    # JSON text), read per run: merged items keep a trace of what they were.
    """
    CREATE TABLE item_changes(
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        key NOT NULL,
        field TEXT NOT NULL,
        old TEXT NOT NULL,
        new TEXT NOT NULL
    );
    CREATE INDEX item_changes_run ON item_changes(run_id);
    """,
    # 10: whether a successful attempt ran for a refresh, and whether the site said
    # the page was unchanged (its earlier records kept): what the summary counts.
    """
    ALTER TABLE attempts ADD COLUMN refresh INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attempts ADD COLUMN unchanged INTEGER NOT NULL DEFAULT 0;
    """,
    # 11: leases by when they end, for the claim's look for expired ones: one index
    # seek however many tasks are done (the statistics of a finished ledger would
    # otherwise have the planner scan every task).
    """
    CREATE INDEX tasks_running ON tasks(expires) WHERE status='running';
    """,
    # 12: what a run's start and end look up, by index however large the ledger:
    # the items dated, or first seen, within a refresh window, and the failed tasks
    # the summary lists (the statistics of a ledger whose tasks were all done when
    # they were taken would otherwise have the planner scan every task for them).
    """
    CREATE INDEX items_dated ON items(kind, date) WHERE date IS NOT NULL;
    CREATE INDEX items_undated ON items(kind, first_run) WHERE date IS NULL;
    CREATE INDEX tasks_failed ON tasks(category) WHERE status='failed';
    """,
    # 13: run history: how many records each successful attempt wrote (stage health),
    # and runs found by index however many there are: a run's start looks for the
    # runs left running, a refresh for the runs that started within its window.
    """
    ALTER TABLE attempts ADD COLUMN records INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX runs_running ON runs(id) WHERE status='running';
    CREATE INDEX runs_started ON runs(started_at);
    """,
    # 14: records validated on the way in. Each schema'd table's declared columns (a
    # JSON array of {name, type, nullable}; NULL for a table without a schema), and
    # the quarantine: records that broke an error rule of their table, written with
    # their task's failure and deleted by its completion (found by item and stage).
    """
    ALTER TABLE tables ADD COLUMN columns TEXT;
    CREATE TABLE quarantine(
        id INTEGER PRIMARY KEY,
        tbl TEXT NOT NULL,
        pk TEXT,
        item_id INTEGER NOT NULL,
        stage TEXT NOT NULL,
        run_id INTEGER NOT NULL,
        rules TEXT NOT NULL,
        reason TEXT NOT NULL,
        record TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX quarantine_task ON quarantine(item_id, stage);
    CREATE INDEX quarantine_tbl ON quarantine(tbl, id);
    """,
)


def migrate(db: sqlite3.Connection) -> int:
    """Apply the ledger migrations this database has not had yet. Returns the new version."""
    return apply(db, MIGRATIONS, "ledger schema")
