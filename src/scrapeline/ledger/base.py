"""The ledger: the durable store of work state, and the single source of truth for what is done.

Every backend (SQLite, in-memory, later PostgreSQL) implements :class:`Ledger` and
passes the same contract suite (``tests/contract``). The port has two faces:
:class:`WorkQueue`, what a run drives (items, tasks, claims, settlements, walks),
and :class:`RunHistory`, what reports read and retention prunes (runs, reports,
counts, records); ``Ledger`` is both. When a task is ready is decided in one
place, :mod:`scrapeline.ledger.readiness`, which every backend uses.

Vocabulary
    item    (kind, key) with a small JSON payload, optional date and parent.
    task    one (item, stage): WAITING until the stages it depends on are done,
            then PENDING; RUNNING while leased; DONE or FAILED.
    run     one invocation; attempts record every settled task with its timing.

Contract (what every backend guarantees)
    * ``complete`` is the only way to mark a task done. For each completion it
      writes the records, the child items (and their tasks) and the DONE mark in
      one transaction: all of them or none.
    * Records are upserted by (table, primary key); items by (kind, key). Adding
      an existing item never changes its tasks' status.
    * A task done before and reset (``rescrape``, ``redo``) keeps its records
      until it completes again: a failure never loses the last good data, but
      its stored message says the records are kept, and ``kept_records`` counts
      them. Completing it replaces its output as a whole: records the (item,
      stage) wrote before and did not write this time are removed in the same
      transaction as the new ones and the DONE mark.
    * An *unchanged* completion (a refresh the site answered 304 Not Modified)
      marks its task DONE and replaces nothing: the records and children of its
      earlier completion stay as they are, and so does the parser version the task
      had (a page parsed by an older version is still re-parsed by ``reparse``).
    * ``claim`` hands a PENDING task to exactly one owner, with a lease. A task
      whose lease expired may be claimed again. ``complete``/``fail``/``release``
      only act on a task still RUNNING under that owner; otherwise they return
      False and write nothing for it. A task is settled once: when a batch names
      it more than once, the first entry from its owner settles it and every
      other entry is refused (False).
    * A task becomes PENDING when every dependency is DONE: stages of the same
      item, or stages of an ancestor item of the dependency's kind.
    * A child item's parent is the one it names; a child naming none, emitted by
      a completion, has the completed task's item as parent.
    * An item found again (a listing page, a stage's child) is merged into the one
      stored, never replaces it (:mod:`scrapeline.ledger.merge` has the rules): new
      keys are added, a None never erases a value, a given date replaces the old
      one, a parent once set is kept. Each value it changes is an
      :class:`ItemChange`, recorded with the run in the same transaction, counted
      by ``report`` and logged once; identical data change and record nothing.
    * A completion's ``handed`` values are merged into its item's data with its
      DONE mark (the stages after it see them); they are no changes.
    * Each declared record table (``adopt_tables``) can be read as a view of the
      same name (``SELECT * FROM matches``) from then on, before any completion.
    * A failure may carry the records its stage gave that broke an ``error`` rule
      of their table (``Failure.quarantined``): they are written to the
      *quarantine*, with the failure, in its transaction, replacing whatever the
      (item, stage) had there. The completion of that task later deletes them in
      its own transaction, so the quarantine lists only what is still refused.
      Retention keeps them: they go only when their task completes.
    * A table adopted with its columns (``adopt_tables``) remembers them: a new
      nullable column is applied and reported, any other change to a table that
      holds records (a column removed, a type changed, a column made required or
      added required, the key changed) is refused with a one-line PipelineError.
      Its view has exactly those columns, each cast to its SQL type.
    * Ledger methods are synchronous and called from one thread at a time (the
      runner's writer thread). They raise LedgerError, never a driver exception.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import orjson

from scrapeline.errors import PipelineError
from scrapeline.model import Graph, Key


class Status(StrEnum):
    WAITING = "waiting"
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    """Finished, with failed items."""
    HALTED = "halted"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"
    """Never ended: the process died. Set when a later run finds it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewItem:
    kind: str
    key: Key
    data: Mapping[str, Any] = field(default_factory=dict)
    date: str | None = None
    parent: tuple[str, Key] | None = None


# Task and Completion are made for every transition, by the writer thread and the
# loop: not frozen, since a frozen dataclass takes twice as long to build. Read-only
# by convention; nothing changes them after they are made.
@dataclass(slots=True, kw_only=True)
class Task:
    id: int
    stage: str
    kind: str
    key: Key
    data: Mapping[str, Any]
    date: str | None
    parent: tuple[str, Key] | None
    attempts: int
    """Attempts so far, this claim included."""
    refresh: bool = False
    """Run again because the item is within its refresh window (:meth:`WorkQueue.refresh`):
    its fetches are conditional."""


def record_key(data: Mapping[str, Any], columns: Sequence[str]) -> str:
    """A record's primary key as stored: its key columns' values as one JSON array.

    Type-tagged and unambiguous: ``1`` and ``"1"`` differ, a separator or a NUL
    inside a str is escaped, never cut. Raises KeyError for a missing column."""
    return orjson.dumps([data[c] for c in columns]).decode()


def kept_note(count: int, runs: Sequence[int]) -> str:
    """What a failure adds to its message when the task's earlier records stay:
    ``its 1 record from run 3 is kept``, ``its 4 records from runs 2–3 are kept``."""
    first, last = min(runs), max(runs)
    where = f"run {first}" if first == last else f"runs {first}–{last}"
    if count == 1:
        return f"its 1 record from {where} is kept"
    return f"its {count} records from {where} are kept"


def key_changed(table: str, old: Sequence[str], new: Sequence[str]) -> PipelineError:
    """The one-line refusal of a table whose stored records have another key."""
    return PipelineError(
        f"table {table}: key changed from ({', '.join(old)}) to ({', '.join(new)}); "
        "its stored records are keyed by the old one: put the old key back, or run on "
        "a new --data-dir to rebuild it"
    )


Columns = Sequence[Mapping[str, Any]]
"""A table's declared columns as a ledger remembers them: ``{"name", "type",
"nullable"}`` each, in order (``TableSchema.as_dict()``)."""

SQL_TYPES: Mapping[str, str] = {
    "int": "INTEGER",
    "float": "REAL",
    "bool": "INTEGER",
    "str": "TEXT",
    "date": "TEXT",
    "datetime": "TEXT",
    "json": "TEXT",
}
"""What each column type is in a table's SQL view."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaChange:
    """How a table's declared columns differ from those its ledger remembers."""

    added: tuple[str, ...] = ()
    """New nullable columns: applied (rows stored before read them as NULL)."""
    refused: tuple[str, ...] = ()
    """Changes the stored rows cannot take, each in words."""


def compare_columns(old: Columns | None, new: Columns | None) -> SchemaChange:
    """What changed between the columns a ledger remembers (``old``, None: none
    recorded) and those declared now (``new``, None: the table has no schema).
    Only a change to a table that holds records matters; the caller asks then.

    >>> def cols(*spec):
    ...     return [{"name": n, "type": t, "nullable": z} for n, t, z in spec]
    >>> old = cols(("id", "int", False), ("goals", "int", False), ("ht", "int", True))
    >>> compare_columns(old, cols(("id", "int", False), ("goals", "int", False),
    ...                           ("ht", "int", True), ("referee", "str", True)))
    SchemaChange(added=('referee',), refused=())
    >>> compare_columns(old, cols(("id", "int", False), ("goals", "str", False),
    ...                           ("ht", "int", False), ("x", "int", False))).refused
    ... # doctest: +NORMALIZE_WHITESPACE
    ('column goals changed type int -> str', 'column ht is now required',
     'column x added as required')
    >>> compare_columns(old, cols(("id", "int", False))).refused
    ('column goals removed', 'column ht removed')
    >>> compare_columns(None, old), compare_columns(old, None)
    (SchemaChange(added=(), refused=()), SchemaChange(added=(), refused=()))
    """
    if old is None or new is None:
        return SchemaChange()
    before = {c["name"]: c for c in old}
    now = {c["name"]: c for c in new}
    added: list[str] = []
    refused: list[str] = []
    for name in before:
        if name not in now:
            refused.append(f"column {name} removed")
    for name, column in now.items():
        was = before.get(name)
        if was is None:
            if column["nullable"]:
                added.append(name)
            else:
                refused.append(f"column {name} added as required")
            continue
        if was["type"] != column["type"]:
            refused.append(f"column {name} changed type {was['type']} -> {column['type']}")
        elif was["nullable"] and not column["nullable"]:
            refused.append(f"column {name} is now required")
    return SchemaChange(added=tuple(added), refused=tuple(refused))


def schema_refused(table: str, reasons: Sequence[str]) -> PipelineError:
    """The one-line refusal of a table whose stored records its new schema breaks."""
    return PipelineError(
        f"table {table}: {'; '.join(reasons)}; its stored records have the old columns: "
        "put them back, or run on a new --data-dir to rebuild it"
    )


def column_added(table: str, column: str, rows: int) -> str:
    """What a run says of a nullable column its table gained:

    >>> column_added("matches", "referee", 3040)
    'table matches: column referee added (existing 3,040 rows have none)'
    """
    row = "row has" if rows == 1 else "rows have"
    return f"table {table}: column {column} added (existing {rows:,} {row} none)"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordRow:
    """A record ready to store: its table, primary key as text, and its data as JSON."""

    table: str
    pk: str
    """The key as the caller encoded it; a ledger that knows the table's key columns
    (``adopt_tables``) stores ``record_key`` of the data instead."""
    json: str


@dataclass(slots=True, kw_only=True)
class Completion:
    task: Task
    owner: str
    records: Sequence[RecordRow] = ()
    children: Sequence[NewItem] = ()
    started: float = 0.0
    duration: float = 0.0
    version: int = 1
    """The stage's parser version; the task and its records remember it."""
    handed: Mapping[str, Any] | None = None
    """What the stage handed on (``ctx.hand_on``): merged into its item's data in
    the completion's transaction, for the item's later stages; not counted as changes."""
    refresh: bool = False
    """The task ran again for a refresh (its item is within its refresh window)."""
    unchanged: bool = False
    """A refresh whose first fetch the site answered 304 Not Modified: nothing was
    parsed. It carries no records or children (any given are ignored); see
    :meth:`WorkQueue.complete` for what it keeps."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemChange:
    """One value of an item that a later sighting changed: which item, which field
    of its data, the value before and after (as JSON values), and the run."""

    run_id: int
    kind: str
    key: Key
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarantinedRecord:
    """A record a stage gave that broke an ``error`` rule of its table: kept out of
    the table, and written to the quarantine with its task's failure."""

    table: str
    pk: str | None
    """Its key as the stage gave it (a JSON array of the key's values); None when
    the key itself is missing or bad."""
    rules: Sequence[str]
    """The rules it broke (a schema rule such as ``greater_than_equal``, or a check's
    name), in the order they were found."""
    reason: str
    """One line saying why (secrets redacted)."""
    record: str
    """The record as the stage gave it, as JSON text (secrets redacted)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarantineEntry:
    """A quarantined record as the ledger lists it: where it came from and when."""

    id: int
    table: str
    pk: str | None
    kind: str
    key: Key
    stage: str
    run_id: int
    rules: Sequence[str]
    reason: str
    record: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    task: Task
    owner: str
    category: str
    message: str
    started: float = 0.0
    duration: float = 0.0
    quarantined: Sequence[QuarantinedRecord] = ()
    """The records of the task that broke an ``error`` rule (the reason it failed,
    category ``validation``): written to the quarantine with the failure."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    id: int
    pipeline: str
    started_at: float
    ended_at: float | None
    status: RunStatus
    pid: int | None
    options: Mapping[str, Any]
    summary: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class StageTally:
    """What one run settled of one stage, read from its attempts: tasks done and
    failed, the records the done ones wrote, the failed ones by category."""

    done: int = 0
    failed: int = 0
    records: int = 0
    categories: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTally:
    """A run's attempts per stage (stage order: as the ledger first met them in the
    run), and the stage of its last failed attempt (None when none failed)."""

    run_id: int
    stages: Mapping[str, StageTally]
    last_failed_stage: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailure:
    """An item a run failed: the task's stage, its item, the run's category for it,
    the task's message (None once a later run settled it) and its status now."""

    stage: str
    kind: str
    key: Key
    category: str
    message: str | None
    status: Status


@dataclass(frozen=True, slots=True, kw_only=True)
class Walk:
    """How far a discovery got: resume there when a walk was cut short.

    A walk by offset or page number resumes at ``next_position``; a walk by cursor
    (or next link) at ``cursor``, the text its discovery gave (None: the first page),
    ``next_position`` being 0."""

    name: str
    next_position: int
    finished: bool
    cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedTask:
    stage: str
    kind: str
    key: Key
    category: str
    message: str
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReport:
    """What a run did, read back from the ledger (never from counters in memory).

    ``counts[stage][status]`` is the state of every task now; ``done_this_run``
    and ``failed_this_run`` count attempts settled by this run; ``durations``
    are this run's successful and failed attempt durations per stage.
    ``items_settled`` is how many distinct items (kind, key) had at least one
    task settled, done or failed, by this run: what a user counts, where the
    attempts count one per item and stage. ``items_total`` is every item the
    ledger holds. ``items_changed`` counts the item values this run changed
    (:class:`ItemChange`).
    """

    run: RunInfo
    counts: Mapping[str, Mapping[str, int]]
    done_this_run: Mapping[str, int]
    failed_this_run: Mapping[str, int]
    durations: Mapping[str, Sequence[float]]
    categories: Mapping[str, int]
    failures: Sequence[FailedTask]
    items_settled: int
    items_total: int
    items_changed: int = 0
    refreshed_unchanged: int = 0
    """This run's completions of tasks run again for a refresh that the site said
    were unchanged (their earlier records kept)."""
    refreshed_changed: int = 0
    """This run's other completions of tasks run again for a refresh: parsed anew."""


def within_dates(date: str, date_from: str, date_to: str) -> bool:
    """Whether an item's ISO ``date`` is within ``date_from`` to ``date_to``, both
    included: the upper bound compares as many characters as it has, so a date and
    time on the last day is within.

    >>> [within_dates(d, "2024-05-01", "2024-05-31") for d in
    ...  ("2024-04-30", "2024-05-01", "2024-05-31T23:00", "2024-06-01")]
    [False, True, True, False]
    """
    return date >= date_from and date[: len(date_to)] <= date_to


def settled_once(
    entries: Sequence[tuple[int, str]], holds: Container[tuple[int, str]]
) -> list[bool]:
    """Which entries of a batch of (task id, owner) settle their task: the first
    entry for a task whose owner ``holds`` it (RUNNING under that owner at the
    start of the batch); every other entry is refused.

    >>> settled_once([(1, "w2"), (1, "w1"), (1, "w1"), (2, "w1")], {(1, "w1")})
    [False, True, False, False]
    """
    seen: set[int] = set()
    out = []
    for tid, owner in entries:
        ok = tid not in seen and (tid, owner) in holds
        if ok:
            seen.add(tid)
        out.append(ok)
    return out


class WorkQueue(Protocol):
    """The work a run drives: items, their tasks, claims, settlements and walks."""

    def prepare(self, graph: Graph) -> None:
        """Create or migrate storage and learn the pipeline's stage graph.

        Tasks for stages that the graph gained since the last run are created for
        existing items."""

    def adopt_tables(
        self,
        keys: Mapping[str, Sequence[str]],
        columns: Mapping[str, Columns] | None = None,
    ) -> list[str]:
        """Record each table's key columns, the first time the ledger sees it.

        From then on its records are keyed by ``record_key`` of those columns
        (records stored before, under another encoding, are re-keyed now). A
        table whose stored records have another key raises PipelineError and
        changes nothing; one with no records just takes the new key.

        ``columns``: the declared columns of the tables that have a schema
        (:func:`compare_columns` says what may change). They are remembered, and
        the table's view has exactly them, cast to their types (``SQL_TYPES``); a
        table not named there has no schema (an untyped view, as before). Raises
        PipelineError, changing nothing, for a change its stored records cannot
        take. Returns what was applied and should be said, a line each
        (:func:`column_added`)."""

    def close(self) -> None: ...

    # work state
    def release_all_running(self) -> int:
        """Put every RUNNING task back to PENDING, whoever holds it.

        Only safe when the caller knows no other worker is alive (the data-dir
        lock on one machine). Returns how many were released."""

    def reset_failed(self) -> int:
        """FAILED → PENDING (auto-retry at the start of a run). Returns the count."""

    def rescrape(self, kind: str, keys: Sequence[Key]) -> int:
        """Every task of these items and of their descendants → PENDING or WAITING.

        Their records stay until each task completes again and replaces them (see
        ``complete``); those of tasks that were done are counted by ``kept_records``
        meanwhile. Returns how many tasks were reset."""

    def redo(
        self,
        stage: str,
        *,
        older_than_version: int | None = None,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> int:
        """DONE tasks of ``stage`` → PENDING (WAITING if a dependency is not done).

        With ``older_than_version``, only tasks settled by a lower stage version
        (tasks settled before versions were kept count as version 1); with
        ``within``, only tasks of those items and their descendants. Records stay
        until the task completes again and replaces them, as ``rescrape``; other
        stages and the items' children are untouched. Returns how many tasks were
        reset."""

    def refresh(
        self,
        stage: str,
        *,
        dated_from: str,
        seen_since: float,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> int:
        """DONE tasks of ``stage`` (of the items ``within`` names and their
        descendants, when given) whose item is recent → PENDING (WAITING if a
        dependency is not done), flagged ``refresh``: items dated ``dated_from`` or
        later (ISO text compares in date order), and items with no date first found
        by a run that started at ``seen_since`` (Unix time) or later. Records stay until the task
        completes again, as ``redo``. Returns how many tasks were reset."""

    def known(self, kind: str, keys: Sequence[Key]) -> set[Key]:
        """The subset of keys already in the ledger for that kind."""

    def dated(self, date_from: str, date_to: str) -> list[tuple[str, Key]]:
        """Every item (kind, key) dated ``date_from`` to ``date_to``, both included
        (ISO text compares in date order: a date ``2024-05-01T20:00`` is within
        ``2024-05-01``), in kind then key order. Items with no date are left out."""

    def add_items(self, items: Sequence[NewItem], run_id: int) -> int:
        """Upsert items and create their tasks. Returns how many were new.

        An item already stored is merged (see the module docstring), each value it
        changes recorded as an :class:`ItemChange` of ``run_id``."""

    def claim(
        self,
        owner: str,
        limit: int,
        now: float,
        lease: float,
        stages: Sequence[str] | None = None,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> list[Task]:
        """Lease up to ``limit`` PENDING tasks (then RUNNING ones with an expired
        lease), stage by stage in the graph's ``claim_order`` (stages it does not
        name after, by name), oldest first within a stage; only tasks of ``stages``
        when given, and only of the items ``within`` names (kind, key) and their
        descendants when given. Returned in that order."""

    def complete(self, completions: Sequence[Completion], run_id: int, now: float) -> list[bool]:
        """Settle tasks as DONE, each with its records and children atomically.

        A task done before (reset by ``rescrape``, ``redo`` or ``refresh``) has its
        output replaced: the records its earlier completion wrote are removed, in
        the same transaction, unless this completion writes them again. A first
        completion only adds. An ``unchanged`` completion writes no records or
        children and removes none; the task keeps the version it had (the
        completion's when it had none). ``report`` counts the ``refresh``
        completions, unchanged and changed."""

    def fail(self, failures: Sequence[Failure], run_id: int, now: float) -> list[bool]:
        """Settle tasks as FAILED with a category and message.

        When the task still holds records from an earlier completion, they stay,
        and the stored message ends with ``kept_note``: "… (its 1 record from
        run 3 is kept)"; ``report`` lists it so. The caller's Failure is not
        changed."""

    def release(self, tasks: Sequence[Task], owner: str) -> int:
        """RUNNING → PENDING for tasks this owner holds (cancelled, not failed)."""

    # discovery
    def walk(self, name: str) -> Walk | None: ...

    def save_walk(self, walk: Walk) -> None: ...

    def pending_count(self) -> int:
        """Tasks not yet settled (WAITING, PENDING or RUNNING)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Forgettable:
    """What retention would delete from the run history (``prune --dry-run``): counts,
    and about how many bytes the store would give back to the file system."""

    attempts: int
    """Attempts of finished runs that ended before the cut-off."""
    runs: int
    """Runs that would go, with their attempts and item changes."""
    changes: int
    """Item changes recorded by those runs."""
    bytes: int
    """An estimate of what deleting them and reclaiming the space frees: the store's
    unused pages, plus the share of each table those rows hold (where the store can
    tell; otherwise only the unused pages, a lower bound)."""


KEEP_RUNS = 100
"""Finished runs retention keeps however old they are unless told (``prune
--keep-runs``): about three months of a daily pipeline's history."""


_NOT_RUNS = frozenset({"prune", "publish"})
"""Commands recorded in the run history that fetch nothing: never the last success."""


def runs_to_forget(runs: Sequence[RunInfo], before: float, keep_runs: int) -> list[int]:
    """The ids of the runs retention deletes (see :meth:`RunHistory.forget_runs`), the
    one decision every backend takes: a finished run goes when it ended before
    ``before``, is not among the newest ``keep_runs`` finished runs and is not the
    last successful run (the newest DONE one that is not a prune or a publish).

    >>> def run(id, status, ended, command=None):
    ...     return RunInfo(id=id, pipeline="p", started_at=ended - 1, ended_at=ended,
    ...                    status=RunStatus(status), pid=1, summary={},
    ...                    options={"command": command} if command else {})
    >>> history = [run(1, "done", 10), run(2, "failed", 20), run(3, "failed", 30),
    ...            run(4, "done", 40, "prune"), run(5, "running", 50)]
    >>> runs_to_forget(history, before=100, keep_runs=1)  # 1 is the last success
    [2, 3]
    >>> runs_to_forget(history, before=25, keep_runs=0)  # only what ended before 25
    [2]
    >>> runs_to_forget(history, before=100, keep_runs=3)
    []
    >>> runs_to_forget([*history, run(6, "done", 60, "publish")], before=100, keep_runs=1)
    [2, 3, 4]
    """
    finished = sorted(
        (r for r in runs if r.status is not RunStatus.RUNNING), key=lambda r: r.id, reverse=True
    )
    successes = [
        r.id
        for r in finished
        if r.status is RunStatus.DONE and r.options.get("command") not in _NOT_RUNS
    ]
    last_success = successes[0] if successes else None
    return sorted(
        r.id
        for r in finished[max(keep_runs, 0) :]
        if r.id != last_success
        and (r.ended_at if r.ended_at is not None else r.started_at) < before
    )


class RunHistory(Protocol):
    """What a run leaves behind, read by reports and pruned by retention: runs,
    their attempts, task counts and records."""

    def use_graph(self, graph: Graph) -> None:
        """Learn the pipeline's stage graph for reading (``counts`` lists every
        stage of it) without creating, migrating or writing anything: what a
        ledger opened read-only takes instead of ``prepare``."""

    def has_schema(self) -> bool:
        """Whether a run has ever set this ledger up (``prepare``); a fresh store
        has not."""

    def close(self) -> None: ...

    # runs
    def begin_run(self, pipeline: str, options: Mapping[str, Any], now: float, pid: int) -> int:
        """Record a new run; mark runs left RUNNING by a dead process CRASHED."""

    def end_run(
        self, run_id: int, status: RunStatus, now: float, summary: Mapping[str, Any]
    ) -> None: ...

    def runs(self, limit: int = 20) -> list[RunInfo]:
        """Most recent first."""

    # run history: one run, its tallies, what it failed; crashed runs
    def run(self, run_id: int) -> RunInfo | None:
        """The run of that id, or None."""

    def mark_crashed(self, run_ids: Sequence[int]) -> int:
        """Those runs that are still RUNNING → CRASHED (their process is gone).
        Returns how many changed."""

    def note_run(self, run_id: int, values: Mapping[str, Any]) -> None:
        """Add ``values`` (JSON-able) to the run's summary: top-level keys are
        replaced, the others kept."""

    def tallies(self, run_ids: Sequence[int]) -> dict[int, RunTally]:
        """Each run's attempts per stage, read by the attempts' run index (never a
        scan of all attempts); a run with no attempts (or none left after
        ``forget_attempts``) is left out."""

    def durations(self, run_ids: Sequence[int]) -> dict[str, list[float]]:
        """The durations of those runs' attempts (done and failed), per stage."""

    def run_failures(self, run_id: int, limit: int = 1000) -> list[RunFailure]:
        """The items the run failed, in the order it failed them (at most ``limit``),
        each once."""

    def forget_attempts(self, before: float) -> int:
        """Delete the attempts of runs that ended before ``before`` (Unix time).

        The runs themselves, with their summaries, stay. Returns how many
        attempts were deleted."""

    # retention beyond attempts (prune): runs over a kept number, and the space back
    def forget_runs(self, before: float, keep_runs: int) -> int:
        """Delete the runs that ended before ``before`` (a run that never ended: its
        start) and are not among the newest ``keep_runs`` finished runs, with their
        attempts and item changes; items, tasks, records and the quarantine stay (a
        quarantined record goes only when its task completes, whatever the age of the
        run that refused it: it names a run that may be gone). Never deleted: a run
        still RUNNING (it is not counted among the kept either), and the newest DONE
        run whose options' ``command`` is not "prune" or "publish" (the last successful run).
        Returns how many runs were deleted."""

    def forgettable(self, before: float, keep_runs: int) -> Forgettable:
        """What ``forget_attempts(before)`` then ``forget_runs(before, keep_runs)``
        would delete, counted, and the bytes that would free; nothing is written (a
        ledger opened read-only answers it)."""

    def reclaim_space(self) -> None:
        """Give the space that deleted rows left unused back to the file system (the
        files shrink); nothing to do for a store kept in memory. Raises LedgerError
        (DiskFull when the disk has no room for the work)."""

    def counts(self) -> dict[str, dict[str, int]]:
        """Tasks per stage per status, every stage of the graph present."""

    def report(self, run_id: int) -> RunReport: ...

    def records(self, table: str) -> Iterator[dict[str, Any]]:
        """Every record of a table, in primary-key order."""

    def kept_records(self) -> dict[str, int]:
        """Records kept from an earlier completion of a task that is not done now
        (reset by ``rescrape`` or ``redo``, then pending, running or failed), per
        table, in table order; tables with none are left out."""

    def items_per_kind(self) -> dict[str, int]:
        """How many items the ledger holds of each kind, in kind order."""

    def changes(self, run_id: int) -> list[ItemChange]:
        """The item values that run changed, in the order they were recorded."""

    def quarantine(self, table: str | None = None, limit: int = 1000) -> list[QuarantineEntry]:
        """The quarantined records (of ``table``, when given), oldest first, at most
        ``limit``."""

    def quarantined(self) -> dict[str, int]:
        """How many records are in quarantine per table, in table order; tables with
        none are left out."""


class Ledger(WorkQueue, RunHistory, Protocol):
    """Durable work state: the work queue and the run history of one store.
    See the module docstring for the contract."""
