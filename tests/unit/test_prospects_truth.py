"""The truth of the prospects rehearsal site holds against its generation, at any size:
what was injected is what the truth lists, every listed fault is in the records, and
the winners the rules pick are the prospects' true values."""

from __future__ import annotations

from collections import Counter
from functools import cache

import pytest

from scrapeline.testing.draft import DraftClass, draft_class
from scrapeline.testing.draft_truth import (
    COLLEGE_ALIASES,
    COLLEGE_STATS,
    COMBINE,
    INJURY_REPORT,
    QUALITY_RULES,
    CombineRecord,
    InjuryLine,
    Matcher,
    StatsRecord,
    college_key,
    name_key,
)

SIZES = [(40, 0), (250, 1), (1000, 0), (1500, 7)]


@cache
def draft(size: int, seed: int) -> DraftClass:
    return draft_class(size, seed=seed)


def records(d: DraftClass) -> dict[tuple[str, str], CombineRecord | StatsRecord | InjuryLine]:
    found: dict[tuple[str, str], CombineRecord | StatsRecord | InjuryLine] = {}
    found.update({(COMBINE, str(r.combine_id)): r for r in d.combine})
    found.update({(COLLEGE_STATS, r.player_id): r for r in d.college_stats})
    found.update({(INJURY_REPORT, r.report_id): r for r in d.injury_report})
    return found


@pytest.mark.parametrize(("size", "seed"), SIZES)
def test_the_quarantined_records_are_those_injected_and_break_their_rule(
    size: int, seed: int
) -> None:
    d = draft(size, seed)
    truth = d.truth
    assert Counter((q.source, q.rule) for q in truth.quarantined) == Counter(d.injected.quarantined)
    assert len(truth.quarantined) == 6 * max(1, size // 200)
    every = records(d)
    for q in truth.quarantined:
        assert q.rule in QUALITY_RULES
        value = getattr(every[(q.source, q.key)], q.field)
        assert (value == "") if q.rule == "name_present" else (value <= 0)
    # and no other record breaks one
    gone = {(q.source, q.key) for q in truth.quarantined}
    for where, r in every.items():
        if where not in gone:
            assert r.name.strip()
            assert getattr(r, "weight_lb", None) is None or getattr(r, "weight_lb", 1) > 0
            assert getattr(r, "forty", None) is None or getattr(r, "forty", 1) > 0


@pytest.mark.parametrize(("size", "seed"), SIZES)
def test_the_conflicts_are_those_injected_and_the_winner_is_the_true_value(
    size: int, seed: int
) -> None:
    d = draft(size, seed)
    truth = d.truth
    assert Counter(c.field for c in truth.conflicts) == Counter(d.injected.conflicts)
    if size >= 250:  # enough prospects for each kind to occur
        assert {c.field for c in truth.conflicts} == {"position", "height_in", "weight_lb"}
    prospect = {p.id: p for p in d.prospects}
    every = records(d)
    for c in truth.conflicts:
        entity = truth.entity(c.entity)
        assert len({v for _, v in c.values}) == 2
        assert getattr(prospect[c.entity], c.field) == c.value == getattr(entity, c.field)
        assert dict(c.values)[c.winner] == c.value
        for source, value in c.values:
            key = next(k for s, k in entity.records if s == source)
            assert getattr(every[(source, key)], c.field) == value
        if c.field == "weight_lb":
            combine = every[(COMBINE, next(k for s, k in entity.records if s == COMBINE))]
            stats = every[(COLLEGE_STATS, next(k for s, k in entity.records if s == COLLEGE_STATS))]
            assert isinstance(combine, CombineRecord) and isinstance(stats, StatsRecord)
            later = COMBINE if combine.measured_on >= stats.weight_as_of else COLLEGE_STATS
            assert c.winner == later
        else:
            assert c.winner == COMBINE


@pytest.mark.parametrize(("size", "seed"), SIZES)
def test_every_entity_holds_its_prospects_true_values(size: int, seed: int) -> None:
    d = draft(size, seed)
    truth = d.truth
    prospect = {p.id: p for p in d.prospects}
    every = records(d)
    founded = set()
    for e in truth.entities:
        p = prospect[e.id]
        assert (e.first, e.last, e.suffix, e.college, e.position) == (
            p.first,
            p.last,
            p.suffix,
            p.college,
            p.position,
        )
        for name in ("height_in", "weight_lb", "forty", "games", "yards", "touchdowns"):
            assert getattr(e, name) in (None, getattr(p, name)), (e.id, name)
        assert all(d.links[where] == e.id for where in e.records)
        base = [every[where] for where in e.records if where[0] != INJURY_REPORT]
        assert base, e.id
        # the name rule: the combine's spelling, else the API's, is the true name
        suffix = f" {p.suffix}" if p.suffix else ""
        winner = base[0]
        if isinstance(winner, CombineRecord):
            assert winner.name == p.full_name
        else:
            assert winner.name == f"{p.last}, {p.first}{suffix}"
        founded.add(e.id)
    assert len(truth.entities) == len(founded) >= size * 0.9


@pytest.mark.parametrize(("size", "seed"), SIZES)
def test_the_unresolved_lines_are_the_ambiguous_and_the_unmatched(size: int, seed: int) -> None:
    d = draft(size, seed)
    truth = d.truth
    reasons = Counter(u.reason for u in truth.unresolved)
    assert reasons["no_match"] == d.injected.no_match == max(1, size // 200)
    assert reasons["ambiguous"] >= d.injected.ambiguous == max(1, size // 250)
    lines = {line.report_id: line for line in d.injury_report}
    matcher = Matcher(truth.entities)
    for u in truth.unresolved:
        assert u.source == INJURY_REPORT
        line = lines[u.key]
        assert u.candidates == matcher.candidates(line.name, line.college)
        if u.reason == "no_match":
            assert u.candidates == () and (INJURY_REPORT, u.key) not in d.links
        elif u.reason == "unconfirmed":  # an initial alone, without a college
            assert u.candidates == (d.links[(INJURY_REPORT, u.key)],)
            assert line.college is None and line.name[1:3] == ". "
        else:
            assert len(u.candidates) >= 2 and d.links[(INJURY_REPORT, u.key)] in u.candidates
    # each namesake pair: the earlier twin's line, "J. Last" without a college, names both
    namesakes = d.prospects[-d.injected.ambiguous :]
    for twin in namesakes:
        earlier = next(
            p for p in d.prospects if (p.first, p.last) == (twin.first, twin.last) and p != twin
        )
        key = next(k for (s, k), pid in d.links.items() if s == INJURY_REPORT and pid == earlier.id)
        u = next(u for u in truth.unresolved if u.key == key)
        assert {earlier.id, twin.id} <= set(u.candidates)
        assert lines[key].college is None and lines[key].name == f"{twin.first[0]}. {twin.last}"
    # a line resolved gives its own prospect's entity its status; no initial resolves alone
    if size >= 1000:
        assert reasons["unconfirmed"] > 0
    for e in truth.entities:
        for source, key in e.records:
            if source == INJURY_REPORT:
                line = lines[key]
                assert (e.injury_status, e.injury_updated) == (line.status, line.updated)
                assert line.college is not None or line.name[1:3] != ". "
    resolved = sum(1 for e in truth.entities if e.injury_status is not None)
    quarantined = sum(1 for q in truth.quarantined if q.source == INJURY_REPORT)
    assert resolved + len(truth.unresolved) + quarantined == len(d.injury_report)


@pytest.mark.parametrize(("size", "seed"), SIZES)
def test_the_variants_and_missing_fields_are_in_the_records(size: int, seed: int) -> None:
    d = draft(size, seed)
    truth = d.truth
    every = records(d)
    kinds = Counter(k for v in truth.variants for k in v.kinds)
    if size >= 1000:  # enough prospects for every kind to occur
        assert set(kinds) == {
            "accents", "case", "punctuation", "suffix", "order", "initial", "alias",
        }  # fmt: skip
    for v in truth.variants:
        r = every[(v.source, v.key)]
        assert getattr(r, v.field) == v.shown != v.true
        if v.field == "college":
            assert COLLEGE_ALIASES[v.shown] == v.true
            assert college_key(v.shown) == college_key(v.true)
        elif "initial" not in v.kinds:
            shown = v.shown
            if "order" in v.kinds:  # "Last, First [Suffix]"
                last, _, first = shown.partition(", ")
                shown = f"{name_key(first)} {name_key(last)}"
            assert name_key(shown) == name_key(v.true)
    for m in truth.missing:
        assert getattr(every[(m.source, m.key)], m.field) is None
    if size >= 1000:
        assert {(m.source, m.field) for m in truth.missing} == {
            (COMBINE, "height_in"),
            (COMBINE, "weight_lb"),
            (COMBINE, "forty"),
            (COLLEGE_STATS, "height_in"),
            (COLLEGE_STATS, "yards"),
            (INJURY_REPORT, "college"),
        }


def test_the_same_size_and_seed_give_the_same_class_and_truth() -> None:
    one, two = draft_class(300, seed=2), draft_class(300, seed=2)
    assert one == two and one.truth == two.truth
    assert draft_class(300, seed=3).injury_report != one.injury_report


def test_a_class_too_small_to_hold_every_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 40"):
        draft_class(39)
