"""An in-memory ledger for tests: the same contract as SQLite, nothing on disk.

>>> from scrapeline.model import Graph
>>> ledger = MemoryLedger()
>>> ledger.prepare(Graph(stages={}))
>>> ledger.pending_count()
0
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from scrapeline.errors import LedgerError
from scrapeline.ledger import readiness
from scrapeline.ledger.base import (
    Columns,
    Completion,
    FailedTask,
    Failure,
    Forgettable,
    ItemChange,
    NewItem,
    QuarantineEntry,
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
    within_dates,
)
from scrapeline.ledger.merge import log_changes, merge_data
from scrapeline.model import Graph, Key

ItemRef = tuple[str, Key]


def _sortable(key: Key) -> tuple[int, Key]:
    """Keys in SQLite's order: integers first, then text."""
    return (0, key) if isinstance(key, int) else (1, key)


def _plain(columns: Columns) -> list[dict[str, Any]]:
    return [
        {"name": c["name"], "type": c["type"], "nullable": bool(c["nullable"])} for c in columns
    ]


def _pk_of(data: Mapping[str, Any], key: Sequence[str], old: str) -> str:
    try:
        return record_key(data, key)
    except (KeyError, TypeError):
        return old


@dataclass(slots=True)
class _Task:
    id: int
    stage: str
    item: ItemRef
    status: Status
    attempts: int = 0
    owner: str | None = None
    expires: float = 0.0
    category: str | None = None
    message: str | None = None
    version: int | None = None
    """The stage version that settled it DONE."""
    redone: bool = False
    """Done before and reset: its earlier records stay until it completes again."""
    refresh: bool = False
    """Reset because its item is within its refresh window."""


@dataclass(slots=True)
class _Record:
    data: dict[str, Any]
    item: ItemRef
    stage: str
    run_id: int


@dataclass(slots=True)
class _Item:
    kind: str
    key: Key
    data: dict[str, Any]
    date: str | None
    parent: ItemRef | None
    children: list[ItemRef] = field(default_factory=list)
    first_run: int | None = None


@dataclass(slots=True)
class _Attempt:
    run_id: int
    stage: str
    item: ItemRef
    ok: bool
    duration: float
    category: str | None
    refresh: bool = False
    unchanged: bool = False
    task_id: int = 0
    records: int = 0


class MemoryLedger:
    """Ledger kept in dicts. Every method acts atomically (nothing can interleave)."""

    def __init__(self) -> None:
        self.graph = Graph(stages={})
        self.items: dict[ItemRef, _Item] = {}
        self.tasks: dict[int, _Task] = {}
        self.by_item: dict[tuple[ItemRef, str], int] = {}
        self.tables: dict[str, dict[str, _Record]] = {}
        self.runs_: dict[int, RunInfo] = {}
        self.attempts: list[_Attempt] = []
        self.walks: dict[str, Walk] = {}
        self.keys: dict[str, tuple[str, ...]] = {}
        self.columns: dict[str, list[dict[str, Any]]] = {}
        """Each schema'd table's declared columns, as ``adopt_tables`` last took them."""
        self.quarantine_: list[tuple[QuarantineEntry, ItemRef]] = []
        self.item_changes: list[ItemChange] = []
        self.prepared = False

    # -- set-up ----------------------------------------------------------------

    def prepare(self, graph: Graph) -> None:
        self.graph = graph
        self.prepared = True
        for ref in list(self.items):
            self._ensure_tasks(ref)

    def use_graph(self, graph: Graph) -> None:
        self.graph = graph

    def has_schema(self) -> bool:
        return self.prepared

    def adopt_tables(
        self,
        keys: Mapping[str, Sequence[str]],
        columns: Mapping[str, Columns] | None = None,
    ) -> list[str]:
        declared = {t: _plain(c) for t, c in (columns or {}).items()}
        changes = [(t, tuple(k)) for t, k in keys.items() if self.keys.get(t) != tuple(k)]
        for table, key in changes:
            if table in self.keys and self.tables.get(table):
                raise key_changed(table, self.keys[table], key)
        said: list[str] = []
        for table in keys:
            change = compare_columns(self.columns.get(table), declared.get(table))
            rows = len(self.tables.get(table, {}))
            if change.refused and rows:
                raise schema_refused(table, change.refused)
            if rows:
                said += [column_added(table, name, rows) for name in change.added]
        for table, key in changes:
            if table not in self.keys and table in self.tables:
                rows_ = self.tables[table]
                self.tables[table] = {_pk_of(r.data, key, pk): r for pk, r in rows_.items()}
            self.keys[table] = key
        for table in keys:
            if table in declared:
                self.columns[table] = declared[table]
            else:
                self.columns.pop(table, None)
        return said

    def close(self) -> None:
        pass

    # -- runs ------------------------------------------------------------------

    def begin_run(self, pipeline: str, options: Mapping[str, Any], now: float, pid: int) -> int:
        for rid, info in self.runs_.items():
            if info.status is RunStatus.RUNNING:
                self.runs_[rid] = replace(info, status=RunStatus.CRASHED)
        run_id = len(self.runs_) + 1
        self.runs_[run_id] = RunInfo(
            id=run_id,
            pipeline=pipeline,
            started_at=now,
            ended_at=None,
            status=RunStatus.RUNNING,
            pid=pid,
            options=dict(options),
            summary={},
        )
        return run_id

    def end_run(
        self, run_id: int, status: RunStatus, now: float, summary: Mapping[str, Any]
    ) -> None:
        info = self.runs_[run_id]
        self.runs_[run_id] = replace(info, status=status, ended_at=now, summary=dict(summary))

    def runs(self, limit: int = 20) -> list[RunInfo]:
        return sorted(self.runs_.values(), key=lambda r: -r.id)[:limit]

    # run history: one run, its tallies, what it failed; crashed runs

    def run(self, run_id: int) -> RunInfo | None:
        return self.runs_.get(run_id)

    def mark_crashed(self, run_ids: Sequence[int]) -> int:
        changed = 0
        for rid in run_ids:
            info = self.runs_.get(rid)
            if info is not None and info.status is RunStatus.RUNNING:
                self.runs_[rid] = replace(info, status=RunStatus.CRASHED)
                changed += 1
        return changed

    def note_run(self, run_id: int, values: Mapping[str, Any]) -> None:
        info = self.runs_[run_id]
        summary = {**info.summary, **orjson.loads(orjson.dumps(dict(values)))}
        self.runs_[run_id] = replace(info, summary=summary)

    def tallies(self, run_ids: Sequence[int]) -> dict[int, RunTally]:
        wanted = set(run_ids)
        stages: dict[int, dict[str, dict[str, Any]]] = {}
        last_failed: dict[int, str] = {}
        for a in self.attempts:
            if a.run_id not in wanted:
                continue
            tally = stages.setdefault(a.run_id, {}).setdefault(
                a.stage, {"done": 0, "failed": 0, "records": 0, "categories": {}}
            )
            if a.ok:
                tally["done"] += 1
                tally["records"] += a.records
                continue
            tally["failed"] += 1
            name = a.category or "error"
            tally["categories"][name] = tally["categories"].get(name, 0) + 1
            last_failed[a.run_id] = a.stage
        return {
            rid: RunTally(
                run_id=rid,
                stages={stage: StageTally(**t) for stage, t in by_stage.items()},
                last_failed_stage=last_failed.get(rid),
            )
            for rid, by_stage in sorted(stages.items())
        }

    def durations(self, run_ids: Sequence[int]) -> dict[str, list[float]]:
        wanted = set(run_ids)
        out: dict[str, list[float]] = {}
        for a in self.attempts:
            if a.run_id in wanted:
                out.setdefault(a.stage, []).append(a.duration)
        return out

    def run_failures(self, run_id: int, limit: int = 1000) -> list[RunFailure]:
        seen: set[int] = set()
        out: list[RunFailure] = []
        for a in self.attempts:
            if a.run_id != run_id or a.ok or a.task_id in seen or len(out) >= limit:
                continue
            seen.add(a.task_id)
            t = self.tasks[a.task_id]
            out.append(
                RunFailure(
                    stage=a.stage,
                    kind=a.item[0],
                    key=a.item[1],
                    category=a.category or "error",
                    message=t.message if t.status is Status.FAILED else None,
                    status=t.status,
                )
            )
        return out

    # -- work state ------------------------------------------------------------

    def release_all_running(self) -> int:
        n = 0
        for t in self.tasks.values():
            if t.status is Status.RUNNING:
                t.status, t.owner = Status.PENDING, None
                n += 1
        return n

    def reset_failed(self) -> int:
        failed = [t for t in self.tasks.values() if t.status is Status.FAILED]
        reset = {(t.item, t.stage) for t in failed}
        for t in failed:
            node = self.graph.stages[t.stage]
            lineage = self._lineage(t.item)
            t.status = readiness.reset_status(node, t.item, lineage, self._done, reset)
            t.category = t.message = None
        return len(failed)

    def rescrape(self, kind: str, keys: Sequence[Key]) -> int:
        todo = [(kind, k) for k in keys if (kind, k) in self.items]
        refs: list[ItemRef] = []
        while todo:
            ref = todo.pop()
            refs.append(ref)
            todo.extend(self.items[ref].children)
        chosen = [
            self.tasks[self.by_item[(ref, node.name)]]
            for ref in refs
            for node in self.graph.stages_of(ref[0])
        ]
        for t in chosen:
            t.redone = t.redone or t.status is Status.DONE
            t.refresh = False
        self._reset(chosen)
        return len(chosen)

    def redo(
        self,
        stage: str,
        *,
        older_than_version: int | None = None,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> int:
        inside = None if within is None else self._subtree(within)
        chosen = [
            t
            for t in self.tasks.values()
            if t.stage == stage
            and t.status is Status.DONE
            and (older_than_version is None or (t.version or 1) < older_than_version)
            and (inside is None or t.item in inside)
        ]
        for t in chosen:
            t.redone, t.refresh = True, False
        self._reset(chosen)
        return len(chosen)

    def refresh(
        self,
        stage: str,
        *,
        dated_from: str,
        seen_since: float,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> int:
        inside = None if within is None else self._subtree(within)
        recent_runs = {r.id for r in self.runs_.values() if r.started_at >= seen_since}

        def recent(item: _Item) -> bool:
            if item.date is not None:
                return item.date >= dated_from
            return item.first_run in recent_runs

        chosen = [
            t
            for t in self.tasks.values()
            if t.stage == stage
            and t.status is Status.DONE
            and recent(self.items[t.item])
            and (inside is None or t.item in inside)
        ]
        for t in chosen:
            t.redone, t.refresh = True, True
        self._reset(chosen)
        return len(chosen)

    def forget_attempts(self, before: float) -> int:
        ended = {
            r.id
            for r in self.runs_.values()
            if r.status is not RunStatus.RUNNING
            and (r.ended_at if r.ended_at is not None else r.started_at) < before
        }
        kept = [a for a in self.attempts if a.run_id not in ended]
        forgotten = len(self.attempts) - len(kept)
        self.attempts = kept
        return forgotten

    # retention beyond attempts (prune)
    def forget_runs(self, before: float, keep_runs: int) -> int:
        gone = set(runs_to_forget(list(self.runs_.values()), before, keep_runs))
        self.attempts = [a for a in self.attempts if a.run_id not in gone]
        self.item_changes = [c for c in self.item_changes if c.run_id not in gone]
        for run_id in gone:
            del self.runs_[run_id]
        return len(gone)

    def forgettable(self, before: float, keep_runs: int) -> Forgettable:
        ended = {
            r.id
            for r in self.runs_.values()
            if r.status is not RunStatus.RUNNING
            and (r.ended_at if r.ended_at is not None else r.started_at) < before
        }
        gone = set(runs_to_forget(list(self.runs_.values()), before, keep_runs))
        return Forgettable(
            attempts=sum(1 for a in self.attempts if a.run_id in ended),
            runs=len(gone),
            changes=sum(1 for c in self.item_changes if c.run_id in gone),
            bytes=0,  # nothing on disk
        )

    def reclaim_space(self) -> None:
        return None  # deleted rows are garbage for Python to collect

    def dated(self, date_from: str, date_to: str) -> list[tuple[str, Key]]:
        found = [
            ref
            for ref, item in self.items.items()
            if item.date is not None and within_dates(item.date, date_from, date_to)
        ]
        return sorted(found, key=lambda ref: (ref[0], _sortable(ref[1])))

    def known(self, kind: str, keys: Sequence[Key]) -> set[Key]:
        return {k for k in keys if (kind, k) in self.items}

    def add_items(self, items: Sequence[NewItem], run_id: int) -> int:
        changes: list[ItemChange] = []
        new = self._add(items, run_id, changes)
        log_changes(changes)
        return new

    def _add(self, items: Sequence[NewItem], run_id: int, changes: list[ItemChange]) -> int:
        """Upsert items, merging those already held; their changes are recorded and
        added to ``changes``. Returns how many were new."""
        new = 0
        for it in items:
            ref = (it.kind, it.key)
            existing = self.items.get(ref)
            if existing is None:
                new += 1
                self.items[ref] = _Item(
                    it.kind, it.key, dict(it.data), it.date, it.parent, first_run=run_id
                )
                if it.parent is not None and it.parent in self.items:
                    self.items[it.parent].children.append(ref)
            else:
                merged, found = merge_data(existing.data, it.data)
                if merged is not None:
                    existing.data = merged
                changed = [
                    ItemChange(run_id=run_id, kind=it.kind, key=it.key, field=f, old=o, new=n)
                    for f, o, n in found
                ]
                self.item_changes += changed
                changes += changed
                if it.date is not None:
                    existing.date = it.date
                if existing.parent is None and it.parent is not None:
                    existing.parent = it.parent  # a parent once set is kept
                    if it.parent in self.items:
                        self.items[it.parent].children.append(ref)
            self._ensure_tasks(ref)
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
        # The same choice as SQLite's: pending tasks stage by stage in the graph's
        # claim order, oldest first; then expired leases; handed back in that order.
        order = list(self.graph.claim_order)
        order += sorted(set(self.graph.stages) - set(order))
        rank = {stage: n for n, stage in enumerate(order)}
        inside = None if within is None else self._subtree(within)

        def wanted(t: _Task) -> bool:
            if stages is not None and t.stage not in stages:
                return False
            return t.stage in rank and (inside is None or t.item in inside)

        pending = [t for t in self.tasks.values() if t.status is Status.PENDING and wanted(t)]
        expired = [
            t
            for t in self.tasks.values()
            if t.status is Status.RUNNING and t.expires <= now and wanted(t)
        ]
        chosen = sorted(pending, key=lambda t: (rank[t.stage], t.id))[:limit]
        chosen += sorted(expired, key=lambda t: (rank[t.stage], t.id))[: limit - len(chosen)]
        for t in chosen:
            t.status, t.owner, t.expires = Status.RUNNING, owner, now + lease
            t.attempts += 1
        return [self._task_value(t) for t in chosen]

    def _subtree(self, roots: Sequence[ItemRef]) -> set[ItemRef]:
        """The named items and all their descendants."""
        todo = [ref for ref in roots if ref in self.items]
        found: set[ItemRef] = set()
        while todo:
            ref = todo.pop()
            if ref not in found:
                found.add(ref)
                todo.extend(self.items[ref].children)
        return found

    def complete(self, completions: Sequence[Completion], run_id: int, now: float) -> list[bool]:
        # Check the whole batch before changing anything: like a rolled-back
        # transaction, a bad completion leaves no trace of the batch.
        staged = []
        for c in completions:
            rows = []
            for r in c.records:
                data = orjson.loads(r.json)
                key = self.keys.get(r.table)
                if key is None:
                    rows.append((r.table, r.pk, data))
                    continue
                try:
                    rows.append((r.table, record_key(data, key), data))
                except (KeyError, TypeError) as exc:
                    raise LedgerError(f"record for table {r.table!r} lacks its key {key}") from exc
            for ch in c.children:
                orjson.dumps(dict(ch.data))
            orjson.dumps(dict(c.handed or {}))
            staged.append((c, rows))
        results = []
        changes: list[ItemChange] = []
        for c, rows in staged:
            t = self.tasks.get(c.task.id)
            if t is None or t.status is not Status.RUNNING or t.owner != c.owner:
                results.append(False)
                continue
            t.status, t.owner, t.category, t.message = Status.DONE, None, None, None
            if self.quarantine_:
                self.quarantine_ = [
                    (q, ref) for q, ref in self.quarantine_ if (ref, q.stage) != (t.item, t.stage)
                ]
            if c.unchanged:  # nothing replaced; the version its records were parsed by stays
                if t.version is None:
                    t.version = c.version
                t.redone = False
            else:
                t.version = c.version
                if t.redone:  # its output is replaced as a whole
                    for records in self.tables.values():
                        for pk in [pk for pk, r in records.items() if self._wrote(t, r)]:
                            del records[pk]
                    t.redone = False
                for table, pk, data in rows:
                    self.tables.setdefault(table, {})[pk] = _Record(data, t.item, t.stage, run_id)
                if c.handed:  # the pipeline's own values: merged, not counted as changes
                    item = self.items[t.item]
                    merged, _ = merge_data(item.data, copy.deepcopy(dict(c.handed)))
                    if merged is not None:
                        item.data = merged
                children = [replace(ch, parent=ch.parent or t.item) for ch in c.children]
                self._add(children, run_id, changes)
            self._unblock(t)
            self.attempts.append(
                _Attempt(
                    run_id,
                    t.stage,
                    t.item,
                    True,
                    c.duration,
                    None,
                    refresh=c.refresh or c.unchanged,
                    unchanged=c.unchanged,
                    task_id=t.id,
                    records=0 if c.unchanged else len(rows),
                )
            )
            results.append(True)
        log_changes(changes)
        return results

    def fail(self, failures: Sequence[Failure], run_id: int, now: float) -> list[bool]:
        results = []
        for f in failures:
            t = self.tasks.get(f.task.id)
            if t is None or t.status is not Status.RUNNING or t.owner != f.owner:
                results.append(False)
                continue
            t.status, t.owner, t.category = Status.FAILED, None, f.category
            t.message = f.message
            kept = [r.run_id for r in self._kept(t)]
            if kept:
                t.message = f"{f.message} ({kept_note(len(kept), kept)})"
            self.attempts.append(
                _Attempt(run_id, t.stage, t.item, False, f.duration, f.category, task_id=t.id)
            )
            if f.quarantined:
                self._quarantine(t, f, run_id, now)
            results.append(True)
        return results

    def _quarantine(self, t: _Task, f: Failure, run_id: int, now: float) -> None:
        """The failure's refused records, in place of what its (item, stage) had there."""
        kept = [(q, ref) for q, ref in self.quarantine_ if (ref, q.stage) != (t.item, t.stage)]
        first = max((q.id for q, _ in self.quarantine_), default=0) + 1
        for n, q in enumerate(f.quarantined):
            entry = QuarantineEntry(
                id=first + n,
                table=q.table,
                pk=q.pk,
                kind=t.item[0],
                key=t.item[1],
                stage=t.stage,
                run_id=run_id,
                rules=tuple(q.rules),
                reason=q.reason,
                record=q.record,
                at=now,
            )
            kept.append((entry, t.item))
        self.quarantine_ = kept

    def quarantine(self, table: str | None = None, limit: int = 1000) -> list[QuarantineEntry]:
        found = [q for q, _ in self.quarantine_ if table is None or q.table == table]
        return found[:limit]

    def quarantined(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for q, _ in self.quarantine_:
            out[q.table] = out.get(q.table, 0) + 1
        return dict(sorted(out.items()))

    def release(self, tasks: Sequence[Task], owner: str) -> int:
        n = 0
        for task in tasks:
            t = self.tasks.get(task.id)
            if t is not None and t.status is Status.RUNNING and t.owner == owner:
                t.status, t.owner = Status.PENDING, None
                t.attempts = max(0, t.attempts - 1)
                n += 1
        return n

    # -- discovery -------------------------------------------------------------

    def walk(self, name: str) -> Walk | None:
        return self.walks.get(name)

    def save_walk(self, walk: Walk) -> None:
        self.walks[walk.name] = walk

    # -- reading ---------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {
            s: {st.value: 0 for st in Status} for s in self.graph.stages
        }
        for t in self.tasks.values():
            out.setdefault(t.stage, {st.value: 0 for st in Status})[t.status.value] += 1
        return out

    def report(self, run_id: int) -> RunReport:
        done: dict[str, int] = {}
        failed: dict[str, int] = {}
        durations: dict[str, list[float]] = {}
        settled: set[ItemRef] = set()
        refreshed = [0, 0]  # unchanged, changed
        for a in self.attempts:
            if a.run_id != run_id:
                continue
            settled.add(a.item)
            if a.refresh:
                refreshed[0 if a.unchanged else 1] += 1
            bucket = done if a.ok else failed
            bucket[a.stage] = bucket.get(a.stage, 0) + 1
            durations.setdefault(a.stage, []).append(a.duration)
        categories: dict[str, int] = {}
        failures = []
        for t in self.tasks.values():
            if t.status is Status.FAILED:
                cat = t.category or "error"
                categories[cat] = categories.get(cat, 0) + 1
                failures.append(
                    FailedTask(
                        stage=t.stage,
                        kind=t.item[0],
                        key=t.item[1],
                        category=cat,
                        message=t.message or "",
                        attempts=t.attempts,
                    )
                )
        return RunReport(
            run=self.runs_[run_id],
            counts=self.counts(),
            done_this_run=done,
            failed_this_run=failed,
            durations=durations,
            categories=categories,
            failures=failures,
            items_settled=len(settled),
            items_total=len(self.items),
            items_changed=sum(1 for c in self.item_changes if c.run_id == run_id),
            refreshed_unchanged=refreshed[0],
            refreshed_changed=refreshed[1],
        )

    def changes(self, run_id: int) -> list[ItemChange]:
        return [c for c in self.item_changes if c.run_id == run_id]

    def records(self, table: str) -> Iterator[dict[str, Any]]:
        rows = self.tables.get(table, {})
        for pk in sorted(rows):
            yield copy.deepcopy(rows[pk].data)

    def pending_count(self) -> int:
        unsettled = (Status.WAITING, Status.PENDING, Status.RUNNING)
        return sum(1 for t in self.tasks.values() if t.status in unsettled)

    def items_per_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind, _ in self.items:
            out[kind] = out.get(kind, 0) + 1
        return dict(sorted(out.items()))

    def kept_records(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks.values():
            if t.redone and t.status is not Status.DONE:
                for table, records in self.tables.items():
                    n = sum(1 for r in records.values() if self._wrote(t, r))
                    if n:
                        out[table] = out.get(table, 0) + n
        return dict(sorted(out.items()))

    # -- internals ---------------------------------------------------------------

    @staticmethod
    def _wrote(t: _Task, r: _Record) -> bool:
        """Whether the record was written by this task's (item, stage), as stored now."""
        return r.item == t.item and r.stage == t.stage

    def _kept(self, t: _Task) -> list[_Record]:
        """The records an earlier completion of a redone task left."""
        if not t.redone:
            return []
        return [
            r for records in self.tables.values() for r in records.values() if self._wrote(t, r)
        ]

    def _ensure_tasks(self, ref: ItemRef) -> None:
        for node in self.graph.stages_of(ref[0]):
            if (ref, node.name) not in self.by_item:
                tid = len(self.tasks) + 1
                self.tasks[tid] = _Task(tid, node.name, ref, self._initial_status(node.name, ref))
                self.by_item[(ref, node.name)] = tid

    def _initial_status(self, stage: str, ref: ItemRef) -> Status:
        return readiness.task_status(self.graph.stages[stage], ref, self._lineage(ref), self._done)

    def _reset(self, chosen: Sequence[_Task]) -> None:
        """Reset tasks to be done again, each then WAITING or PENDING as the rules
        say with every task of this reset counted as not done."""
        reset = {(t.item, t.stage) for t in chosen}
        for t in chosen:
            t.status, t.owner, t.attempts = Status.WAITING, None, 0
            t.category = t.message = None
        for t in chosen:
            node = self.graph.stages[t.stage]
            lineage = self._lineage(t.item)
            t.status = readiness.reset_status(node, t.item, lineage, self._done, reset)

    @property
    def _done(self) -> _DoneTasks:
        return _DoneTasks(self)

    def _lineage(self, ref: ItemRef) -> list[ItemRef]:
        """The item's ancestors, nearest first (as far as they are known)."""
        out: list[ItemRef] = []
        parent = self.items[ref].parent
        while parent is not None:
            out.append(parent)
            item = self.items.get(parent)
            parent = item.parent if item else None
        return out

    def _descendants(self, ref: ItemRef) -> list[ItemRef]:
        out: list[ItemRef] = []
        todo = list(self.items[ref].children)
        while todo:
            child = todo.pop()
            out.append(child)
            todo.extend(self.items[child].children)
        return out

    def _unblock(self, done: _Task) -> None:
        plan = readiness.unblocks(self.graph, done.stage)
        if not plan:
            return
        # descendants may depend on an ancestor's stage
        below = self._descendants(done.item) if any(not u.same_item for u in plan) else []
        for u in plan:
            node = self.graph.stages[u.stage]
            for ref in [done.item] if u.same_item else below:
                if ref[0] != u.kind:
                    continue
                tid = self.by_item.get((ref, u.stage))
                if tid is None:
                    continue
                t = self.tasks[tid]
                if t.status is Status.WAITING:
                    t.status = readiness.task_status(node, ref, self._lineage(ref), self._done)

    def _task_value(self, t: _Task) -> Task:
        item = self.items[t.item]
        return Task(
            id=t.id,
            stage=t.stage,
            kind=item.kind,
            key=item.key,
            data=copy.deepcopy(item.data),
            date=item.date,
            parent=item.parent,
            attempts=t.attempts,
            refresh=t.refresh,
        )


@dataclass(frozen=True, slots=True)
class _DoneTasks:
    """The ledger's DONE (item, stage) pairs, as the readiness rules ask for them."""

    ledger: MemoryLedger

    def __contains__(self, pair: object) -> bool:
        tid = self.ledger.by_item.get(pair)  # type: ignore[call-overload]
        return tid is not None and self.ledger.tasks[tid].status is Status.DONE
