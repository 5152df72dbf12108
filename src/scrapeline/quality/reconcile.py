"""Reconciliation: one entity table from several source tables, by normalisation,
matching and per-field authority rules, with a conflicts and an unresolved table.
Pure: plain dicts in, plain dicts out; no ledger, no I/O.

    decl = pipe.reconcile(
        "prospects",
        sources={
            "combine": "combine_players",
            "stats": source("college_stats", rename={"full_name": "name"}),
            "injuries": "injury_report",
        },
        identity="name",
        tie_breakers=("college", "position"),
        fields={"weight": latest("measured_on"), "height": prefer("combine", "stats")},
        aliases={"college": {"USC": "Southern California"}},
        required={"injuries"},
        key="prospect_id",
    )
    result = reconcile(decl, {"combine": [...], "stats": [...], "injuries": [...]})
    result.entities     # {prospect_id: {"prospect_id": ..., "name": ..., ...}}
    result.conflicts    # [{"entity", "field", "values": {source: value}, "winner", "rule"}]
    result.unresolved   # [{"source", "key", "identity", "reason", "candidates"}]

The records given are the sources' *stored* records: those quarantined by their
table's schema or checks never reach the ledger's tables, so they contribute nothing
here, and nothing more is needed to keep them out.

:class:`Reconciler` keeps the state and takes changes (:meth:`Reconciler.update`),
recomputing only the blocks of identities the changes touch; :func:`reconcile` is the
same code from an empty state. How records match: :mod:`scrapeline.quality.matching`;
authority rules: :mod:`scrapeline.quality.authority`; spellings:
:mod:`scrapeline.quality.normalise`; for users: docs/reconciliation.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import orjson

from scrapeline.errors import PipelineError, ReconcileError
from scrapeline.quality.authority import RULE_TYPES, Candidate, Custom, Prefer, Rule
from scrapeline.quality.matching import Entity, SourceRecord, settle_block
from scrapeline.quality.normalise import (
    Aliases,
    initial_form,
    is_initial_form,
    normalise_name,
    normalise_text,
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Source:
    """A source table of a reconciliation, and how its columns are named there."""

    table: str
    rename: Mapping[str, str] = field(default_factory=dict)
    """The table's column → the reconciled field (``{"full_name": "name"}``)."""
    key: tuple[str, ...] = ()
    """The table's key columns (``pipe.reconcile`` takes them from ``pipe.table``)."""


def source(
    table: str, *, rename: Mapping[str, str] | None = None, key: str | Sequence[str] = ()
) -> Source:
    """A source table whose columns are named differently from the reconciled fields:
    ``source("college_stats", rename={"full_name": "name", "school": "college"})``.
    ``key`` names the table's key columns when it is not a declared table."""
    if not isinstance(table, str) or not table:
        raise PipelineError(f"source() names a table, not {table!r}")
    renamed = dict(rename or {})
    if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in renamed.items()):
        raise PipelineError(f"source({table!r}): rename= maps column names to field names")
    targets = list(renamed.values())
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise PipelineError(f"source({table!r}): rename= gives two columns the name {twice[0]!r}")
    return Source(table, MappingProxyType(renamed), (key,) if isinstance(key, str) else tuple(key))


@dataclass(frozen=True, kw_only=True, slots=True)
class Fuzzy:
    """Fuzzy matching of names seen in one source only (see matching.py)."""

    threshold: float


def fuzzy(threshold: float = 90) -> Fuzzy:
    """Match a name seen in one source only to a close spelling (``rapidfuzz`` ratio,
    0-100) at or above ``threshold``, within its block (same first letter of the first
    name, same first two letters of the last word). Off unless declared."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise PipelineError(f"fuzzy(threshold=...) takes a number from 1 to 100, not {threshold!r}")
    if not 0 < threshold <= 100:
        raise PipelineError(f"fuzzy(threshold=...) must be above 0 and at most 100: {threshold}")
    try:
        import rapidfuzz  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency; kept for a trimmed install
        raise PipelineError("fuzzy matching needs rapidfuzz: pip install rapidfuzz") from None
    return Fuzzy(threshold=float(threshold))


@dataclass(frozen=True, kw_only=True)
class Reconciliation:
    """How one entity table is built from its source tables (declare it with
    ``pipe.reconcile`` or :func:`reconciliation`)."""

    name: str
    sources: Mapping[str, Source]
    """Source name → table, in priority order (the order the rules break ties by)."""
    identity: tuple[str, ...]
    tie_breakers: tuple[str, ...]
    fields: Mapping[str, Rule]
    aliases: Aliases
    fuzzy: Fuzzy | None
    required: frozenset[str]
    """Sources whose records must match an entity: they never make one on their own."""
    key: str
    """The entity table's key column: the entity's id."""

    @property
    def default_rule(self) -> Rule:
        """The rule of a field no rule names: the sources in declared order."""
        return Prefer(tuple(self.sources))

    def rule_for(self, name: str) -> Rule:
        return self.fields.get(name) or self.default_rule

    def comparable(self, name: str, value: Any) -> Any:
        """A value of field ``name`` as sources are compared: text normalised (names as
        names for the identity fields) and aliased; None for a missing value."""
        if value is None:
            return None
        if isinstance(value, str):
            text = normalise_name(value) if name in self.identity else normalise_text(value)
            return self.aliases.apply(name, text) if text else None
        if isinstance(value, bool):
            return ("bool", value)  # True is not the number 1
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, (list, dict)):
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        return repr(value)

    def prepare(self, name: str, record: Mapping[str, Any]) -> SourceRecord:
        """A source record ready for matching. Raises ReconcileError for an undeclared
        source, or a record that is not a mapping or lacks a key column."""
        src = self.sources.get(name)
        if src is None:
            raise ReconcileError(
                f"reconciliation {self.name!r} has no source {name!r} "
                f"(it has {', '.join(self.sources)})"
            )
        if not isinstance(record, Mapping):
            raise ReconcileError(f"{self.name}: a {name} record must be a dict, not {record!r}")
        try:
            values = [record[c] for c in src.key]
        except KeyError as exc:
            raise ReconcileError(
                f"{self.name}: a {name} record has no key column {exc.args[0]!r}"
            ) from None
        if any(v is None for v in values):
            raise ReconcileError(f"{self.name}: a {name} record has an empty key {values!r}")
        rename, hidden = src.rename, self._key_columns[name]
        data = {rename.get(k, k): v for k, v in record.items() if k not in hidden}
        comparable = self.comparable
        normals = {k: n for k, v in data.items() if (n := comparable(k, v)) is not None}
        parts = [normals.get(f) for f in self.identity]
        identity: tuple[str, ...] | None = None
        if all(p is not None for p in parts):
            identity = tuple(p if isinstance(p, str) else str(p) for p in parts)
        ties = tuple(normals.get(f) for f in self.tie_breakers)
        return SourceRecord(
            source=name,
            order=self.source_order[name],
            key=values[0] if len(values) == 1 else values,
            key_text=orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode(),
            data=data,
            normals=normals,
            identity=identity,
            ties=ties,
            block=self.block_of(name, values, identity),
            given=record,
        )

    def block_of(
        self, name: str, key: list[Any], identity: tuple[str, ...] | None
    ) -> tuple[Any, ...]:
        """The block a record is matched within: names that could be one entity share
        one. Without fuzzy matching, the identity in initial form (``"j nunez"``, which
        ``"jose nunez"`` shares); with it, the first letter of the name and the first
        two of its last word; a record without an identity is a block of its own."""
        if identity is None:
            return ("", name, orjson.dumps(key).decode())
        if self.fuzzy is None:
            return (initial_form(identity[0]), *identity[1:])
        words = identity[0].split()
        return (words[0][0], words[-1][:2], *identity[1:])

    def field_of(self, source: str, column: str) -> str | None:
        """The entity field a column of ``source``'s table gives (renamed), or None
        for a key column that is no field of the entity."""
        if column in self._key_columns[source]:
            return None
        return self.sources[source].rename.get(column, column)

    @cached_property
    def _key_columns(self) -> Mapping[str, frozenset[str]]:
        """Per source, its key columns that are no field of the entity (its key is in
        :attr:`Result.sources`), unless renamed or named by the declaration."""
        used = {*self.identity, *self.tie_breakers, *self.fields}
        return {
            n: frozenset(c for c in s.key if c not in s.rename and c not in used)
            for n, s in self.sources.items()
        }

    @cached_property
    def source_order(self) -> Mapping[str, int]:
        """Each source's position in the declared order (0 first)."""
        return {s: n for n, s in enumerate(self.sources)}


def reconciliation(
    name: str,
    *,
    sources: Mapping[str, str | Source],
    identity: str | Sequence[str],
    tie_breakers: Sequence[str] = (),
    fields: Mapping[str, Rule] | None = None,
    aliases: Mapping[str, Mapping[str, str]] | None = None,
    fuzzy: Fuzzy | None = None,
    required: Iterable[str] = (),
    key: str = "id",
) -> Reconciliation:
    """Declare a reconciliation (``pipe.reconcile`` calls this with the tables' keys).

    Raises PipelineError, in one line, for what cannot work: no sources, a source that
    is not a table name or :func:`source`, one whose key columns are unknown, a field
    named twice among the identity, tie-breakers and key, a rule that is not one or
    names an undeclared source, a required source that is not declared, every source
    required (nothing could make an entity), bad aliases."""
    what = f"reconcile {name!r}"
    if not isinstance(name, str) or not name:
        raise PipelineError(f"reconcile() needs a name, not {name!r}")
    if not isinstance(sources, Mapping) or not sources:
        raise PipelineError(f"{what}: sources= maps source names to tables, and names one or more")
    declared: dict[str, Source] = {}
    for label, given in sources.items():
        if not isinstance(label, str) or not _NAME.fullmatch(label):
            raise PipelineError(f"{what}: source name {label!r} must be letters, digits or _")
        src = Source(given) if isinstance(given, str) and given else given
        if not isinstance(src, Source):
            raise PipelineError(
                f"{what}: source {label!r} must be a table name or source(...), not {given!r}"
            )
        if not src.key:
            raise PipelineError(
                f"{what}: source {label!r}: the key columns of table {src.table!r} are unknown; "
                "declare the table with pipe.table(...) or give source(..., key=...)"
            )
        declared[label] = src
    ident = (identity,) if isinstance(identity, str) else tuple(identity)
    ties = (tie_breakers,) if isinstance(tie_breakers, str) else tuple(tie_breakers)
    if not ident or not all(isinstance(f, str) and f for f in ident):
        raise PipelineError(f"{what}: identity= names one or more fields: identity='name'")
    if not all(isinstance(f, str) and f for f in ties):
        raise PipelineError(f"{what}: tie_breakers= names fields: ('college', 'position')")
    if not isinstance(key, str) or not key:
        raise PipelineError(f"{what}: key= names the entity table's key column")
    named = [*ident, *ties, key]
    twice = sorted({f for f in named if named.count(f) > 1})
    if twice:
        raise PipelineError(
            f"{what}: field {twice[0]!r} is named twice among identity, tie_breakers and key"
        )
    rules = dict(fields or {})
    for field_name, rule in rules.items():
        if not isinstance(rule, RULE_TYPES):
            raise PipelineError(
                f"{what}: field {field_name!r} takes prefer(), latest(), most_frequent() or "
                f"custom(), not {rule!r}"
            )
        if field_name == key:
            raise PipelineError(f"{what}: field {field_name!r} is the key; it takes no rule")
        unknown = [s for s in rule.sources_named() if s not in declared]
        if unknown:
            raise PipelineError(
                f"{what}: field {field_name!r}: {rule.describe()} names source {unknown[0]!r}, "
                f"which is not declared (sources: {', '.join(declared)})"
            )
    needed = {required} if isinstance(required, str) else set(required)
    unknown = sorted(needed - set(declared))
    if unknown:
        raise PipelineError(f"{what}: required= names source {unknown[0]!r}, which is not declared")
    if needed == set(declared):
        raise PipelineError(
            f"{what}: every source is required=, so no record could make an entity; "
            "leave at least one source out of required="
        )
    if fuzzy is not None and not isinstance(fuzzy, Fuzzy):
        raise PipelineError(f"{what}: fuzzy= takes fuzzy(threshold=...), not {fuzzy!r}")
    return Reconciliation(
        name=name,
        sources=MappingProxyType(declared),
        identity=ident,
        tie_breakers=ties,
        fields=MappingProxyType(rules),
        aliases=Aliases.of(aliases),
        fuzzy=fuzzy,
        required=frozenset(needed),
        key=key,
    )


@dataclass(frozen=True, kw_only=True)
class Result:
    """What a reconciliation gives, or what an update changed.

    From :func:`reconcile` (or :meth:`Reconciler.result`), everything: every entity,
    every conflict, every unresolved record, nothing removed or settled. From
    :meth:`Reconciler.update`, the change: ``entities`` new or changed (whole rows, to
    upsert), ``removed`` the ids of entities gone, ``conflicts`` every conflict of the
    entities in ``entities`` (replacing all conflicts of those and of ``removed``),
    ``unresolved`` the unresolved rows new or changed, ``settled`` the (source, key) of
    records no longer unresolved. All sorted: entities by id, conflicts by (entity,
    field), unresolved by (declared source order, key)."""

    entities: dict[str, dict[str, Any]]
    """Entity id → its row: the key column, then every field, by name."""
    sources: dict[str, dict[str, Any]]
    """Entity id → {source: that source's record key}: where each entity came from."""
    conflicts: list[dict[str, Any]]
    unresolved: list[dict[str, Any]]
    removed: tuple[str, ...] = ()
    settled: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class _Settled:
    row: dict[str, Any]
    sources: dict[str, Any]
    conflicts: list[dict[str, Any]]


class Reconciler:
    """The state of one reconciliation: every source record by (source, key), indexed by
    block, and the entities, conflicts and unresolved rows of each block.

    :meth:`update` recomputes only the blocks its changes touch (a changed record's old
    and new block, a removed record's block); the result equals a full
    :func:`reconcile` of the records as they now are."""

    def __init__(self, decl: Reconciliation) -> None:
        self.decl = decl
        self._given: dict[tuple[str, str], Mapping[str, Any] | str] = {}
        """Every source record by (source, key text), as it was given (or, restored
        from a state, its JSON text: decoded only when its block is recomputed)."""
        self._block_of: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._prepared: dict[tuple[str, str], SourceRecord] = {}
        """The records prepared for matching so far (a restored state prepares only
        the records of the blocks an update touches)."""
        self._blocks: dict[tuple[Any, ...], set[tuple[str, str]]] = {}
        self._block_entities: dict[tuple[Any, ...], list[str]] = {}
        self._block_unresolved: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        self._entities: dict[str, _Settled] = {}
        self._unresolved: dict[tuple[str, str], dict[str, Any]] = {}

    def update(
        self,
        changed: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
        removed: Mapping[str, Iterable[Any]] | None = None,
    ) -> Result:
        """Take new or changed source records (upserted by their key) and removed keys
        (one value, or a list for a compound key; an unknown key is ignored), and return
        what changed (:class:`Result`). Raises ReconcileError, changing nothing, for an
        unknown source, a record without its key, or one key given twice in the call."""
        prepared: dict[tuple[str, str], SourceRecord] = {}
        for name, records in (changed or {}).items():
            for record in records:
                row = self.decl.prepare(name, record)
                ident = (name, row.key_text)
                if ident in prepared:
                    raise ReconcileError(
                        f"{self.decl.name}: {name} record {row.key!r} is given twice"
                    )
                prepared[ident] = row
        gone: list[tuple[str, str]] = []
        for name, keys in (removed or {}).items():
            if name not in self.decl.sources:
                self.decl.prepare(name, {})  # raises: no such source
            for k in keys:
                values = list(k) if isinstance(k, (list, tuple)) else [k]
                ident = (name, orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode())
                if ident in prepared:
                    raise ReconcileError(
                        f"{self.decl.name}: {name} record {k!r} is both changed and removed"
                    )
                gone.append(ident)

        touched: set[tuple[Any, ...]] = set()
        for ident in gone:
            self._given.pop(ident, None)
            self._prepared.pop(ident, None)
            block = self._block_of.pop(ident, None)
            if block is not None:
                self._blocks[block].discard(ident)
                touched.add(block)
        for ident, row in prepared.items():
            block = self._block_of.get(ident)
            if block is not None:
                self._blocks[block].discard(ident)
                touched.add(block)
            self._given[ident] = row.given
            self._prepared[ident] = row
            self._block_of[ident] = row.block
            self._blocks.setdefault(row.block, set()).add(ident)
            touched.add(row.block)
        return self._recompute(touched)

    def state(self) -> dict[str, Any]:
        """Everything this reconciler holds, as plain JSON values: what
        :meth:`restore` takes back. It names the declaration it was computed for
        (:func:`declaration_hash`), and keeps the source records as they were given,
        the blocks, and each block's entities, conflicts and unresolved rows, so a
        restored reconciler answers the next :meth:`update` without recomputing the
        blocks it does not touch."""
        blocks = set(self._block_entities) | set(self._block_unresolved)
        return {
            "format": STATE_FORMAT,
            "declaration": declaration_hash(self.decl),
            "records": [
                [source, key, _text(given), list(self._block_of[(source, key)])]
                for (source, key), given in self._given.items()
            ],
            "blocks": [
                [
                    list(block),
                    self._block_entities.get(block, []),
                    [list(i) for i in self._block_unresolved.get(block, [])],
                ]
                for block in blocks
            ],
            "entities": [
                [eid, settled.row, settled.sources, settled.conflicts]
                for eid, settled in self._entities.items()
            ],
            "unresolved": [[s, k, row] for (s, k), row in self._unresolved.items()],
        }

    @classmethod
    def restore(cls, decl: Reconciliation, state: Mapping[str, Any]) -> Reconciler:
        """A reconciler holding ``state`` (from :meth:`state`), for ``decl``.

        Raises ReconcileError when the state is of another format, was computed for
        another declaration (a changed identity, rule, alias, source...), or is not
        one (a damaged file): the caller starts again from a full reconcile."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ReconcileError(f"{decl.name}: the saved state is not of format {STATE_FORMAT}")
        if state.get("declaration") != declaration_hash(decl):
            raise ReconcileError(f"{decl.name}: the saved state is of another declaration")
        out = cls(decl)
        try:
            for source, key, given, block in state["records"]:
                ident = (str(source), str(key))
                if source not in decl.sources or not isinstance(given, str):
                    raise ValueError(f"a record of source {source!r}")
                out._given[ident] = given
                out._block_of[ident] = tuple(block)
                out._blocks.setdefault(tuple(block), set()).add(ident)
            for block, ids, unresolved in state["blocks"]:
                if ids:
                    out._block_entities[tuple(block)] = [str(i) for i in ids]
                if unresolved:
                    out._block_unresolved[tuple(block)] = [(str(s), str(k)) for s, k in unresolved]
            for eid, row, sources, conflicts in state["entities"]:
                out._entities[str(eid)] = _Settled(dict(row), dict(sources), list(conflicts))
            for source, key, row in state["unresolved"]:
                out._unresolved[(str(source), str(key))] = dict(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise ReconcileError(f"{decl.name}: the saved state is damaged: {exc}") from None
        listed = {e for ids in out._block_entities.values() for e in ids}
        idents = {i for rows in out._block_unresolved.values() for i in rows}
        if listed != set(out._entities) or idents != set(out._unresolved):
            raise ReconcileError(f"{decl.name}: the saved state is damaged: its blocks disagree")
        return out

    def _record(self, ident: tuple[str, str]) -> SourceRecord:
        row = self._prepared.get(ident)
        if row is None:
            given = self._given[ident]
            if isinstance(given, str):
                try:
                    given = orjson.loads(given)
                except orjson.JSONDecodeError as exc:
                    raise ReconcileError(f"{self.decl.name}: a saved record is damaged") from exc
            row = self._prepared[ident] = self.decl.prepare(ident[0], given)
        return row

    def __len__(self) -> int:
        """How many source records the state holds."""
        return len(self._given)

    def result(self) -> Result:
        """Everything as it now is: every entity, conflict and unresolved record."""
        ids = sorted(self._entities)
        return Result(
            entities={i: self._entities[i].row for i in ids},
            sources={i: self._entities[i].sources for i in ids},
            conflicts=[c for i in ids for c in self._entities[i].conflicts],
            unresolved=self._sorted_unresolved(self._unresolved),
        )

    def _recompute(self, touched: set[tuple[Any, ...]]) -> Result:
        before_entities: dict[str, _Settled] = {}
        before_unresolved: dict[tuple[str, str], dict[str, Any]] = {}
        for block in touched:
            for eid in self._block_entities.pop(block, []):
                before_entities[eid] = self._entities.pop(eid)
            for ident in self._block_unresolved.pop(block, []):
                before_unresolved[ident] = self._unresolved.pop(ident)
        after_entities: dict[str, _Settled] = {}
        after_unresolved: dict[tuple[str, str], dict[str, Any]] = {}
        threshold = None if self.decl.fuzzy is None else self.decl.fuzzy.threshold
        for block in sorted(touched, key=repr):
            members = self._blocks.get(block)
            if not members:
                self._blocks.pop(block, None)
                continue
            entities, unresolved = settle_block(
                (self._record(i) for i in members),
                required=self.decl.required,
                threshold=threshold,
            )
            for entity in entities:
                if entity.id in self._entities or entity.id in after_entities:
                    raise ReconcileError(
                        f"{self.decl.name}: two entities hash to the id {entity.id} "
                        f"({' | '.join(entity.identity)}); a 64-bit collision: please report it"
                    )
                after_entities[entity.id] = self._settle(entity)
            self._block_entities[block] = [e.id for e in entities]
            idents = [(row["source"], self._key_text(row["key"])) for row in unresolved]
            self._block_unresolved[block] = idents
            after_unresolved.update(zip(idents, unresolved, strict=True))
        self._entities.update(after_entities)
        self._unresolved.update(after_unresolved)

        changed_ids = sorted(
            eid for eid, now in after_entities.items() if before_entities.get(eid) != now
        )
        return Result(
            entities={i: after_entities[i].row for i in changed_ids},
            sources={i: after_entities[i].sources for i in changed_ids},
            conflicts=[c for i in changed_ids for c in after_entities[i].conflicts],
            unresolved=self._sorted_unresolved(
                {k: v for k, v in after_unresolved.items() if before_unresolved.get(k) != v}
            ),
            removed=tuple(sorted(set(before_entities) - set(after_entities))),
            settled=tuple(
                (source, self._key_of(source, text))
                for source, text in sorted(
                    set(before_unresolved) - set(after_unresolved),
                    key=lambda st: (self.decl.source_order[st[0]], st[1]),
                )
            ),
        )

    def _settle(self, entity: Entity) -> _Settled:
        """The entity's row by the authority rules, and its conflicts."""
        decl = self.decl
        members = list(entity.members.values())
        names: set[str] = set()
        for m in members:
            names.update(m.data)
        names.discard(decl.key)
        row: dict[str, Any] = {decl.key: entity.id}
        conflicts: list[dict[str, Any]] = []
        for name in sorted(names):
            candidates = []
            for m in members:
                normal = m.normals.get(name)
                if normal is not None:
                    candidates.append(Candidate(m.source, m.data[name], normal, m.data))
            if not candidates:
                row[name] = None
                continue
            rule = decl.rule_for(name)
            if len(candidates) == 1 and not isinstance(rule, Custom):
                only = candidates[0]
                row[name] = decl.aliases.canonical(name, only.normal, only.value)
                continue
            winner = rule.choose(name, candidates)
            for c in candidates:  # an aliased winner shows its canonical spelling
                if c.value is winner or c.value == winner:
                    winner = decl.aliases.canonical(name, c.normal, winner)
                    break
            row[name] = winner
            if _disagree(name in decl.identity, [c.normal for c in candidates]):
                conflicts.append(
                    {
                        "entity": entity.id,
                        "field": name,
                        "values": {c.source: c.value for c in candidates},
                        "winner": winner,
                        "rule": rule.describe(),
                    }
                )
        return _Settled(row, {m.source: m.key for m in members}, conflicts)

    @staticmethod
    def _key_text(key: Any) -> str:
        values = list(key) if isinstance(key, (list, tuple)) else [key]
        return orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()

    def _key_of(self, source: str, text: str) -> Any:
        values = orjson.loads(text)
        return values[0] if len(values) == 1 else values

    def _sorted_unresolved(
        self, rows: Mapping[tuple[str, str], dict[str, Any]]
    ) -> list[dict[str, Any]]:
        order = self.decl.source_order
        return [rows[k] for k in sorted(rows, key=lambda st: (order[st[0]], st[1]))]


def _text(given: Mapping[str, Any] | str) -> str:
    return given if isinstance(given, str) else orjson.dumps(given, default=str).decode()


def _disagree(identity: bool, normals: Sequence[Any]) -> bool:
    """Whether sources disagree on a field: two normalised values differ. For an
    identity field, a name in initial form (``j nunez``) agrees with the full names
    it abbreviates (``jose nunez``): matching took it for them, so it is no conflict."""
    first = normals[0]
    if all(n == first for n in normals[1:]):
        return False
    if not identity:
        return True
    full = {n for n in normals if not (isinstance(n, str) and is_initial_form(n))}
    if len(full) > 1:
        return True
    if not full:
        return True  # only initials, and they differ
    (name,) = full
    short = initial_form(name) if isinstance(name, str) else name
    return any(n != name and n != short for n in normals)


STATE_FORMAT = 1
"""The version of :meth:`Reconciler.state`'s layout."""

ENGINE = 2
"""The version of the matching and authority code: a saved state computed by an
older engine is of another declaration (:func:`declaration_hash`)."""


def declaration_hash(decl: Reconciliation) -> str:
    """16 hex digits that change with anything that changes what ``decl`` computes:
    its sources (tables, renames, keys, order), identity, tie-breakers, rules, aliases,
    fuzzy threshold, required sources, key column, and :data:`ENGINE`. A ``custom``
    rule counts by its function's qualified name and compiled code."""
    fields: dict[str, Any] = {}
    for name, rule in decl.fields.items():
        described: Any = rule.describe()
        if isinstance(rule, Custom):
            code = getattr(rule.fn, "__code__", None)
            described = [
                described,
                getattr(rule.fn, "__qualname__", ""),
                None if code is None else hashlib.blake2b(code.co_code).hexdigest(),
                None if code is None else repr(code.co_consts),
            ]
        fields[name] = described
    parts = {
        "engine": ENGINE,
        "name": decl.name,
        "sources": [[n, s.table, dict(s.rename), list(s.key)] for n, s in decl.sources.items()],
        "identity": list(decl.identity),
        "tie_breakers": list(decl.tie_breakers),
        "fields": fields,
        "aliases": {f: dict(m) for f, m in decl.aliases.by_field.items()},
        "fuzzy": None if decl.fuzzy is None else decl.fuzzy.threshold,
        "required": sorted(decl.required),
        "key": decl.key,
    }
    text = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def reconcile(decl: Reconciliation, records: Mapping[str, Iterable[Mapping[str, Any]]]) -> Result:
    """Reconcile the sources' records (``{source name: [record, ...]}``, the stored
    records of each source table) into entities, conflicts and unresolved rows: the same
    code as :meth:`Reconciler.update` from an empty state. Raises ReconcileError as it."""
    return Reconciler(decl).update(records)


__all__ = [
    "Fuzzy",
    "Reconciler",
    "Reconciliation",
    "Result",
    "Source",
    "declaration_hash",
    "fuzzy",
    "reconcile",
    "reconciliation",
    "source",
]
