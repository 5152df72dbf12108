"""Matching: which source records are one entity, within one *block* of records whose
identities could be the same. Pure; :mod:`scrapeline.quality.reconcile` prepares the
records, cuts them into blocks and turns the entities into rows.

Within a block, in this order:

1. Records are grouped by their exact normalised identity (a *name group*).
2. Fuzzy (only when declared): a name group seen in one source only joins the earlier
   name group (seen in more sources first, then of the source declared first, then with
   more records, then by name) whose name scores
   highest against its own (``rapidfuzz.fuzz.ratio`` at or above the threshold), whose
   other identity fields are equal and which holds no record of that source. Two or more
   such groups at the same best score: its records are unresolved (``ambiguous``).
3. Seeds: in each name group the records of one source are the entities, one each: the
   source (not a ``required`` one) with the most records of that identity, the first
   declared on a tie. A name group with records of required sources only is
   unresolved (``no_match``).
4. The group's other records join a seed: the only one, or, when there are several,
   the one their tie-breakers pick (below); none picked: ``ambiguous``. Two records of
   one source picking the same entity are both unresolved (``contested``): a source
   lists an entity once.
5. Initials: a name in initial form (``"j nunez"``) for which the block holds full names
   of that initial form (``"jose nunez"``) is matched against those entities only, and
   only when its tie-breakers pick one; one candidate is not enough (``unconfirmed``),
   several tied are ``ambiguous``. An initial-form name with no such full name is an
   identity like any other (step 1).

Tie-breakers pick a candidate by a score: the tie-breakers on which the record and the
candidate agree, less those on which both have a value and differ (a candidate's
values are those of its seed in step 4, of all its records in step 5). The unique
highest score picks, provided it agrees on at least one tie-breaker.

Entity ids: a stable hash (16 hex digits, BLAKE2b) of the normalised identity; when a
name group has several entities, of the identity and the seed's tie-breaker values; when
even those are equal, of those and the seed's source and key. Input order never matters:
records are sorted by (declared source order, key) before anything is decided.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from scrapeline.quality.normalise import initial_form, is_initial_form

Identity = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One source record, prepared for matching (fields renamed, identity normalised)."""

    source: str
    order: int
    """The source's position among the declared sources."""
    key: Any
    """The record's key in its source table: one value, or a list for a compound key."""
    key_text: str
    """The key as canonical JSON text: what sorts and identifies the record."""
    data: Mapping[str, Any]
    normals: Mapping[str, Any]
    """The fields with a value, normalised for comparison (missing ones left out)."""
    identity: Identity | None
    """None: an identity field is missing or empty."""
    ties: tuple[Any, ...]
    """The tie-breakers, normalised and aliased (None: missing)."""
    block: tuple[Any, ...]
    given: Mapping[str, Any]
    """The record as its source table holds it (what a saved state keeps)."""

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.order, self.key_text)


@dataclass(slots=True)
class Entity:
    """One matched entity: its id, its identity and one record per source."""

    id: str
    identity: Identity
    seed: SourceRecord
    members: dict[str, SourceRecord] = field(default_factory=dict)

    def tie_values(self) -> list[set[Any]]:
        """Per tie-breaker, the values its records give."""
        out: list[set[Any]] = [set() for _ in self.seed.ties]
        for member in self.members.values():
            for n, value in enumerate(member.ties):
                if value is not None:
                    out[n].add(value)
        return out


def unresolved_row(
    record: SourceRecord, reason: str, candidates: Iterable[str] = ()
) -> dict[str, Any]:
    """A row of the unresolved table: the record, why, and the entities it could be."""
    identity = record.identity
    return {
        "source": record.source,
        "key": record.key,
        "identity": None if identity is None else " | ".join(identity),
        "reason": reason,
        "candidates": sorted(set(candidates)),
    }


def entity_id(*parts: Any) -> str:
    """16 hex digits of BLAKE2b over the parts' JSON: the same parts, the same id."""
    return hashlib.blake2b(orjson.dumps(parts), digest_size=8).hexdigest()


def settle_block(
    records: Iterable[SourceRecord], *, required: frozenset[str], threshold: float | None
) -> tuple[list[Entity], list[dict[str, Any]]]:
    """The entities and unresolved rows of one block (see the module's docstring)."""
    ordered = sorted(records, key=lambda r: r.sort_key)
    unresolved: list[dict[str, Any]] = []
    groups: dict[Identity, list[SourceRecord]] = {}
    for record in ordered:
        if record.identity is None:
            unresolved.append(unresolved_row(record, "no_identity"))
        else:
            groups.setdefault(record.identity, []).append(record)

    by_initials: dict[Identity, list[Identity]] = {}
    for identity in groups:
        if not is_initial_form(identity[0]):
            by_initials.setdefault(_initial_key(identity), []).append(identity)
    initials = {i: rs for i, rs in groups.items() if is_initial_form(i[0]) and i in by_initials}
    named = {i: rs for i, rs in groups.items() if i not in initials}

    roots: dict[Identity, list[SourceRecord]]
    attached: dict[Identity, Identity] = {}
    undecided: dict[Identity, list[Identity]] = {}
    if threshold is None or len(named) < 2:
        roots = named
    else:
        roots, attached, undecided = _attach_fuzzy(named, threshold)

    entities_of: dict[Identity, list[Entity]] = {}
    for identity in sorted(roots):
        found, left = _seed(identity, roots[identity], required)
        entities_of[identity] = found
        unresolved += left
    for identity, root in attached.items():
        entities_of[identity] = entities_of[root]
    for identity, tops in undecided.items():
        ids = [e.id for top in tops for e in entities_of[top]]
        unresolved += [unresolved_row(r, "ambiguous", ids) for r in named[identity]]

    proposals: dict[str, list[SourceRecord]] = {}
    entities = {e.id: e for found in entities_of.values() for e in found}
    for identity in sorted(initials):
        candidates = [e for full in by_initials[identity] for e in entities_of.get(full, [])]
        candidates = list({e.id: e for e in candidates}.values())
        for record in initials[identity]:
            if not candidates:
                unresolved.append(unresolved_row(record, "no_match"))
                continue
            picked, tied = _pick(record, [e.tie_values() for e in candidates], confirm=True)
            if picked is None:
                reason = "ambiguous" if len(tied) > 1 else "unconfirmed"
                unresolved.append(unresolved_row(record, reason, (candidates[i].id for i in tied)))
            else:
                proposals.setdefault(candidates[picked].id, []).append(record)
    for eid in sorted(proposals):
        unresolved += _join(entities[eid], proposals[eid])
    return sorted(entities.values(), key=lambda e: e.id), unresolved


def _initial_key(identity: Identity) -> Identity:
    return (initial_form(identity[0]), *identity[1:])


def _sources(records: Sequence[SourceRecord]) -> set[str]:
    return {r.source for r in records}


def _attach_fuzzy(
    named: dict[Identity, list[SourceRecord]], threshold: float
) -> tuple[
    dict[Identity, list[SourceRecord]], dict[Identity, Identity], dict[Identity, list[Identity]]
]:
    """Step 2: the name groups that stay (with those joined to them), which joined which,
    and which could join several equally."""
    from rapidfuzz import fuzz

    ranked = sorted(
        named,
        key=lambda i: (-len(_sources(named[i])), min(r.order for r in named[i]), -len(named[i]), i),
    )
    roots: dict[Identity, list[SourceRecord]] = {}
    root_sources: dict[Identity, set[str]] = {}
    attached: dict[Identity, Identity] = {}
    undecided: dict[Identity, list[Identity]] = {}
    for identity in ranked:
        own = _sources(named[identity])
        if len(own) == 1 and roots:
            scored = [
                (fuzz.ratio(identity[0], root[0]), root)
                for root in roots
                if root[1:] == identity[1:] and not own & root_sources[root]
            ]
            scored = [(score, root) for score, root in scored if score >= threshold]
            if scored:
                best = max(score for score, _ in scored)
                tops = [root for score, root in scored if score == best]
                if len(tops) == 1:
                    roots[tops[0]].extend(named[identity])
                    root_sources[tops[0]] |= own
                    attached[identity] = tops[0]
                else:
                    undecided[identity] = tops
                continue
        roots[identity] = list(named[identity])
        root_sources[identity] = set(own)
    return roots, attached, undecided


def _seed(
    identity: Identity, records: list[SourceRecord], required: frozenset[str]
) -> tuple[list[Entity], list[dict[str, Any]]]:
    """Steps 3 and 4 for one name group (with the groups fuzzy matching joined to it)."""
    records = sorted(records, key=lambda r: r.sort_key)
    counts: dict[str, tuple[int, int]] = {}
    for r in records:
        if r.source not in required:
            n, order = counts.get(r.source, (0, r.order))
            counts[r.source] = (n + 1, order)
    if not counts:
        return [], [unresolved_row(r, "no_match") for r in records]
    seed_source = min(counts, key=lambda s: (-counts[s][0], counts[s][1]))
    seeds = [r for r in records if r.source == seed_source]
    if len(seeds) == 1:
        ids = [entity_id(list(identity))]
    else:
        ids = [entity_id(list(identity), list(s.ties)) for s in seeds]
        if len(set(ids)) < len(ids):
            ids = [entity_id(list(identity), list(s.ties), s.source, s.key_text) for s in seeds]
    entities = [
        Entity(id=eid, identity=identity, seed=s, members={s.source: s})
        for eid, s in zip(ids, seeds, strict=True)
    ]
    unresolved: list[dict[str, Any]] = []
    proposals: dict[int, list[SourceRecord]] = {}
    seed_values = [[{v} if v is not None else set() for v in s.ties] for s in seeds]
    for r in records:
        if r.source == seed_source:
            continue
        if len(entities) == 1:
            proposals.setdefault(0, []).append(r)
            continue
        picked, tied = _pick(r, seed_values, confirm=True)
        if picked is None:
            unresolved.append(unresolved_row(r, "ambiguous", (entities[i].id for i in tied)))
        else:
            proposals.setdefault(picked, []).append(r)
    for n in sorted(proposals):
        unresolved += _join(entities[n], proposals[n])
    return entities, unresolved


def _join(entity: Entity, records: list[SourceRecord]) -> list[dict[str, Any]]:
    """Add the records to the entity, but none of a source that would be there twice."""
    by_source: dict[str, list[SourceRecord]] = {}
    for r in records:
        by_source.setdefault(r.source, []).append(r)
    unresolved: list[dict[str, Any]] = []
    for source, rs in by_source.items():
        if len(rs) == 1 and source not in entity.members:
            entity.members[source] = rs[0]
        else:
            unresolved += [unresolved_row(r, "contested", [entity.id]) for r in rs]
    entity.members = dict(sorted(entity.members.items(), key=lambda kv: kv[1].order))
    return unresolved


def _pick(
    record: SourceRecord, candidates: Sequence[list[set[Any]]], *, confirm: bool
) -> tuple[int | None, list[int]]:
    """The candidate the record's tie-breakers pick (None when none does) and the
    candidates tied at the best score."""
    scores: list[tuple[int, int]] = []
    for values in candidates:
        agree = differ = 0
        for mine, theirs in zip(record.ties, values, strict=True):
            if mine is None or not theirs:
                continue
            if mine in theirs:
                agree += 1
            else:
                differ += 1
        scores.append((agree - differ, agree))
    best = max(score for score, _ in scores)
    tied = [n for n, (score, _) in enumerate(scores) if score == best]
    if len(tied) == 1 and (scores[tied[0]][1] >= 1 or not confirm):
        return tied[0], tied
    return None, tied
