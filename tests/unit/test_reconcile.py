"""Reconciliation: several source tables about overlapping prospects, in their own
spellings, become one entity table with a conflicts and an unresolved table; the same
inputs in any order give the same outputs, and an update equals a full recompute."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapeline import Pipeline, Record
from scrapeline.errors import PipelineError, ReconcileError
from scrapeline.quality.authority import custom, latest, most_frequent, prefer
from scrapeline.quality.reconcile import (
    Reconciler,
    Reconciliation,
    Result,
    fuzzy,
    reconcile,
    reconciliation,
    source,
)
from scrapeline.quality.schema import RecordInvalid


def worst_status(values: dict[str, Any]) -> Any:
    order = ["out", "doubtful", "questionable", "healthy"]
    return min(values.values(), key=lambda v: order.index(v) if v in order else len(order))


def declare(**overrides: Any) -> Reconciliation:
    pipe = Pipeline("draft")
    pipe.table("combine_players", key="combine_id")
    pipe.table("college_stats", key="stats_id")
    pipe.table("injury_report", key=("team", "number"))
    spec: dict[str, Any] = {
        "sources": {
            "combine": "combine_players",
            "stats": source("college_stats", rename={"full_name": "name", "school": "college"}),
            "injuries": "injury_report",
        },
        "identity": "name",
        "tie_breakers": ("college", "position"),
        "fields": {
            "weight": latest("measured_on"),
            "height": prefer("combine", "stats"),
            "position": most_frequent(),
            "status": custom(worst_status),
        },
        "aliases": {"college": {"USC": "Southern California", "Bama": "Alabama"}},
        "required": {"injuries"},
        "key": "prospect_id",
    }
    spec.update(overrides)
    return pipe.reconcile("prospects", **spec)


def only(result: Result) -> dict[str, Any]:
    assert len(result.entities) == 1, result.entities
    return next(iter(result.entities.values()))


# -- declaration -----------------------------------------------------------------------


def test_pipe_reconcile_declares_it_with_the_tables_keys() -> None:
    decl = declare()
    assert decl.name == "prospects"
    assert list(decl.sources) == ["combine", "stats", "injuries"]
    assert decl.sources["combine"].table == "combine_players"
    assert decl.sources["combine"].key == ("combine_id",)
    assert decl.sources["injuries"].key == ("team", "number")
    assert decl.sources["stats"].rename == {"full_name": "name", "school": "college"}
    assert decl.identity == ("name",) and decl.tie_breakers == ("college", "position")
    assert decl.required == frozenset({"injuries"}) and decl.key == "prospect_id"
    assert decl.fuzzy is None


def test_the_pipeline_keeps_its_reconciliations_by_name() -> None:
    pipe = Pipeline("draft")
    pipe.table("a", key="id")
    decl = pipe.reconcile("people", sources={"a": "a"}, identity="name")
    assert pipe.reconciliations == {"people": decl}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sources": {"combine": "nowhere"}}, "table 'nowhere', which is not declared"),
        ({"sources": {}}, "names one or more"),
        ({"sources": {"bad name": "combine_players"}}, "letters, digits"),
        ({"sources": {"combine": 7}}, "table name or source"),
        ({"fields": {"height": prefer("combine", "scouts")}}, "source 'scouts'"),
        ({"fields": {"height": "combine"}}, "takes prefer"),
        ({"fields": {"prospect_id": most_frequent()}}, "is the key"),
        ({"required": {"scouts"}}, "required= names source 'scouts'"),
        ({"required": {"combine", "stats", "injuries"}}, "every source is required"),
        ({"identity": ()}, "identity= names"),
        ({"tie_breakers": ("name",)}, "'name' is named twice"),
        ({"key": "college"}, "'college' is named twice"),
        ({"fuzzy": 90}, "fuzzy= takes fuzzy"),
        ({"aliases": {"college": {"a": "b", "b": "c"}}}, "chain"),
    ],
)
def test_what_cannot_work_is_refused_at_declaration_in_one_line(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(PipelineError, match=message) as caught:
        declare(**overrides)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: fuzzy(threshold=0), "above 0"),
        (lambda: fuzzy(threshold=101), "at most 100"),
        (lambda: fuzzy(threshold="high"), "takes a number"),
        (lambda: source("t", rename={"a": "x", "b": "x"}), "two columns the name 'x'"),
        (lambda: source(""), "names a table"),
        (
            lambda: reconciliation("p", sources={"a": "t"}, identity="name"),
            "key columns of table 't' are unknown",
        ),
    ],
)
def test_parts_that_cannot_work_are_refused(make: Any, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        make()


def test_a_name_already_taken_is_refused() -> None:
    pipe = Pipeline("draft")
    pipe.table("a", key="id")
    pipe.reconcile("people", sources={"a": "a"}, identity="name")
    for name in ("people", "a", "records"):
        with pytest.raises(PipelineError, match=repr(name)):
            pipe.reconcile(name, sources={"a": "a"}, identity="name")


# -- normalisation and matching ----------------------------------------------------------

NUNEZ = {
    "combine": [
        {
            "combine_id": 1,
            "name": "José Núñez Jr.",
            "college": "USC",
            "position": "QB",
            "weight": 220,
            "measured_on": "2024-02-01",
            "height": 74,
        }
    ],
    "stats": [
        {
            "stats_id": "s1",
            "full_name": "Nunez, Jose",
            "school": "Southern California",
            "position": "qb",
            "weight": 225,
            "measured_on": "2024-03-01",
            "height": 75,
        }
    ],
    "injuries": [
        {"team": "LAR", "number": 9, "name": "JOSE NUNEZ", "status": "questionable"},
    ],
}


def test_spellings_of_one_prospect_across_sources_make_one_entity() -> None:
    result = reconcile(declare(), NUNEZ)
    entity = only(result)
    assert entity["prospect_id"] in result.entities
    assert result.sources[entity["prospect_id"]] == {
        "combine": 1,
        "stats": "s1",
        "injuries": ["LAR", 9],
    }
    assert entity["name"] == "José Núñez Jr."  # the first source's spelling (prefer)
    assert entity["college"] == "Southern California"  # an alias shows its canonical spelling
    assert entity["weight"] == 225  # latest(measured_on)
    assert entity["height"] == 74  # prefer(combine, stats)
    assert entity["status"] == "questionable"  # custom, with one candidate too
    assert "combine_id" not in entity and "stats_id" not in entity  # in .sources instead
    assert result.unresolved == []


def test_conflicts_are_the_fields_sources_disagree_on_after_normalisation() -> None:
    result = reconcile(declare(), NUNEZ)
    eid = only(result)["prospect_id"]
    # name, college (an alias) and position (case) normalise equal: no conflicts
    assert result.conflicts == [
        {
            "entity": eid,
            "field": "height",
            "values": {"combine": 74, "stats": 75},
            "winner": 74,
            "rule": "prefer(combine, stats)",
        },
        {
            "entity": eid,
            "field": "measured_on",
            "values": {"combine": "2024-02-01", "stats": "2024-03-01"},
            "winner": "2024-02-01",
            "rule": "prefer(combine, stats, injuries)",
        },
        {
            "entity": eid,
            "field": "weight",
            "values": {"combine": 220, "stats": 225},
            "winner": 225,
            "rule": "latest(measured_on)",
        },
    ]


def test_a_missing_value_is_no_candidate_and_no_conflict() -> None:
    records = {
        "combine": [{"combine_id": 1, "name": "Ann Lee", "height": None, "college": ""}],
        "stats": [{"stats_id": 2, "full_name": "Ann Lee", "height": 70, "school": "Iowa"}],
    }
    result = reconcile(declare(), records)
    assert only(result)["height"] == 70
    assert only(result)["college"] == "Iowa"
    assert result.conflicts == []


def smiths() -> dict[str, list[dict[str, Any]]]:
    return {
        "combine": [
            {"combine_id": 1, "name": "John Smith", "college": "Alabama", "position": "LB"},
            {"combine_id": 2, "name": "John Smith", "college": "Ohio State", "position": "DE"},
        ],
        "stats": [
            {"stats_id": "a", "full_name": "Smith, John", "school": "Bama", "position": "OLB"},
            {"stats_id": "b", "full_name": "John Smith", "school": "Ohio St", "position": "DE"},
        ],
        "injuries": [
            {"team": "X", "number": 1, "name": "John Smith", "status": "out"},
            {"team": "X", "number": 2, "name": "John Smith", "college": "Ohio State"},
        ],
    }


def test_tie_breakers_tell_apart_entities_that_share_a_name() -> None:
    result = reconcile(declare(), smiths())
    by_college = {e["college"]: e for e in result.entities.values()}
    assert set(by_college) == {"Alabama", "Ohio State"}
    alabama, ohio = by_college["Alabama"]["prospect_id"], by_college["Ohio State"]["prospect_id"]
    assert result.sources[alabama] == {"combine": 1, "stats": "a"}  # college by alias
    # "Ohio St" is not "Ohio State": position alone picks
    assert result.sources[ohio] == {"combine": 2, "stats": "b", "injuries": ["X", 2]}
    assert result.unresolved == [
        {
            "source": "injuries",
            "key": ["X", 1],
            "identity": "john smith",
            "reason": "ambiguous",
            "candidates": sorted([alabama, ohio]),
        }
    ]


def test_two_records_of_one_source_for_one_entity_are_contested_not_merged() -> None:
    records = smiths()
    records["stats"][1].update(school="Alabama", position="LB")  # both stats records pick Alabama
    records["injuries"] = []
    result = reconcile(declare(), records)
    assert sorted(result.sources.values(), key=str) == [{"combine": 1}, {"combine": 2}]
    alabama = next(i for i, e in result.entities.items() if e["college"] == "Alabama")
    assert [(u["source"], u["key"], u["reason"], u["candidates"]) for u in result.unresolved] == [
        ("stats", "a", "contested", [alabama]),
        ("stats", "b", "contested", [alabama]),
    ]


def test_the_source_with_the_most_records_of_a_name_makes_its_entities() -> None:
    records = {
        "combine": [{"combine_id": 1, "name": "Ann Lee"}],
        "stats": [
            {"stats_id": "a", "full_name": "Ann Lee", "school": "Iowa"},
            {"stats_id": "b", "full_name": "Lee, Ann"},
        ],
    }
    result = reconcile(declare(), records)
    assert sorted(result.sources.values(), key=str) == [{"stats": "a"}, {"stats": "b"}]
    # combine's Ann Lee has no tie-breaker to choose between them
    assert [(u["source"], u["reason"], len(u["candidates"])) for u in result.unresolved] == [
        ("combine", "ambiguous", 2)
    ]


def test_a_record_of_a_required_source_that_matches_nothing_is_unresolved() -> None:
    records = {
        "combine": [{"combine_id": 1, "name": "Ann Lee"}],
        "injuries": [{"team": "T", "number": 5, "name": "Nobody Known", "status": "out"}],
    }
    result = reconcile(declare(), records)
    assert [e["name"] for e in result.entities.values()] == ["Ann Lee"]
    assert result.unresolved == [
        {
            "source": "injuries",
            "key": ["T", 5],
            "identity": "nobody known",
            "reason": "no_match",
            "candidates": [],
        }
    ]


def test_a_record_without_its_identity_is_unresolved() -> None:
    result = reconcile(declare(), {"combine": [{"combine_id": 1, "name": " . "}]})
    assert result.entities == {}
    assert result.unresolved == [
        {"source": "combine", "key": 1, "identity": None, "reason": "no_identity", "candidates": []}
    ]


def test_initials_match_a_full_name_only_when_a_tie_breaker_confirms_it() -> None:
    records = {
        "combine": [{"combine_id": 1, "name": "Jose Nunez", "college": "USC", "position": "QB"}],
        "stats": [{"stats_id": "s", "full_name": "J. Nunez", "school": "Southern California"}],
    }
    result = reconcile(declare(), records)
    assert result.sources[only(result)["prospect_id"]] == {"combine": 1, "stats": "s"}
    assert result.unresolved == []
    # the same initials with no tie-breaker: one candidate is not enough
    records["stats"][0].pop("school")
    result = reconcile(declare(), records)
    eid = only(result)["prospect_id"]
    assert result.sources[eid] == {"combine": 1}
    assert [(u["reason"], u["candidates"]) for u in result.unresolved] == [("unconfirmed", [eid])]
    # a tie-breaker that differs does not confirm either
    records["stats"][0]["school"] = "Alabama"
    assert reconcile(declare(), records).unresolved[0]["reason"] == "unconfirmed"


def test_initials_that_fit_two_full_names_equally_are_ambiguous() -> None:
    records = {
        "combine": [
            {"combine_id": 1, "name": "Jose Nunez", "college": "USC"},
            {"combine_id": 2, "name": "Juan Nunez", "college": "USC"},
        ],
        "stats": [{"stats_id": "s", "full_name": "J. Nunez", "school": "USC"}],
    }
    result = reconcile(declare(), records)
    assert len(result.entities) == 2
    assert [(u["reason"], len(u["candidates"])) for u in result.unresolved] == [("ambiguous", 2)]


def test_initials_with_no_full_name_are_an_identity_of_their_own() -> None:
    records = {
        "combine": [{"combine_id": 1, "name": "J. Nunez"}],
        "stats": [{"stats_id": "s", "full_name": "Nunez, J."}],
    }
    result = reconcile(declare(), records)
    assert result.sources[only(result)["prospect_id"]] == {"combine": 1, "stats": "s"}


def test_fuzzy_matching_is_off_by_default_and_matches_close_spellings_when_declared() -> None:
    records = {
        "combine": [{"combine_id": 1, "name": "Jose Nunez", "college": "USC"}],
        "stats": [{"stats_id": "s", "full_name": "Jose Nunes", "school": "USC"}],
    }
    assert len(reconcile(declare(), records).entities) == 2
    result = reconcile(declare(fuzzy=fuzzy(threshold=85)), records)
    entity = only(result)
    assert result.sources[entity["prospect_id"]] == {"combine": 1, "stats": "s"}
    assert [c["field"] for c in result.conflicts] == ["name"]  # the spellings differ
    # below the threshold: apart
    assert len(reconcile(declare(fuzzy=fuzzy(threshold=95)), records).entities) == 2


def test_fuzzy_never_joins_a_name_to_a_source_that_already_has_it() -> None:
    records = {
        "combine": [
            {"combine_id": 1, "name": "Jose Nunez"},
            {"combine_id": 2, "name": "Jose Nunes"},
        ]
    }
    assert len(reconcile(declare(fuzzy=fuzzy()), records).entities) == 2


def test_fuzzy_with_two_equally_close_names_is_ambiguous() -> None:
    records = {
        "combine": [
            {"combine_id": 1, "name": "Jose Nunez"},
            {"combine_id": 2, "name": "Jose Nunex"},
        ],
        "stats": [{"stats_id": "s", "full_name": "Jose Nunes"}],
    }
    result = reconcile(declare(fuzzy=fuzzy(threshold=85)), records)
    assert len(result.entities) == 2
    assert [(u["source"], u["reason"], len(u["candidates"])) for u in result.unresolved] == [
        ("stats", "ambiguous", 2)
    ]


def test_identity_may_be_several_fields() -> None:
    pipe = Pipeline("p")
    pipe.table("a", key="id")
    pipe.table("b", key="id")
    decl = pipe.reconcile("people", sources={"a": "a", "b": "b"}, identity=("name", "born"))
    records = {
        "a": [
            {"id": 1, "name": "Ann Lee", "born": 2001},
            {"id": 2, "name": "Ann Lee", "born": 2003},
        ],
        "b": [{"id": 1, "name": "Lee, Ann", "born": 2003}],
    }
    result = reconcile(decl, records)
    assert sorted(result.sources.values(), key=str) == [{"a": 1}, {"a": 2, "b": 1}]


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ({"scouts": [{"id": 1}]}, "no source 'scouts'"),
        ({"combine": [{"name": "Ann"}]}, "no key column 'combine_id'"),
        ({"combine": [{"combine_id": None}]}, "empty key"),
        ({"combine": [{"combine_id": 1}, {"combine_id": 1}]}, "given twice"),
        ({"combine": ["Ann"]}, "must be a dict"),
    ],
)
def test_records_a_reconciliation_cannot_take_are_refused(
    records: dict[str, Any], message: str
) -> None:
    with pytest.raises(ReconcileError, match=message):
        reconcile(declare(), records)


def test_a_refused_update_changes_nothing() -> None:
    reconciler = Reconciler(declare())
    reconciler.update(NUNEZ)
    before = reconciler.result()
    with pytest.raises(ReconcileError, match="both changed and removed"):
        reconciler.update({"combine": [{"combine_id": 7, "name": "X Y"}]}, {"combine": [7]})
    assert reconciler.result() == before


# -- determinism and increments -----------------------------------------------------------

FIRST = ["José", "Jose", "Juan", "Ann", "Marcus", "DeShawn", "Li", "Zoë"]
LAST = ["Núñez", "Smith", "O'Brien", "Lee", "García", "Johnson", "Wu"]
COLLEGES = ["USC", "Southern California", "Alabama", "Bama", "Ohio State", "Iowa", None]
POSITIONS = ["QB", "qb", "LB", "OLB", "DE", None]


def spell(rng: random.Random, first: str, last: str) -> str:
    form = rng.randrange(5)
    if form == 0:
        return f"{last}, {first}"
    if form == 1:
        return f"{first} {last} Jr."
    if form == 2:
        return f"{first[0]}. {last}"
    if form == 3:
        return f"{first.upper()} {last.upper()}"
    return f"{first} {last}"


def generate(seed: int, people: int = 25) -> dict[str, list[dict[str, Any]]]:
    """Sources with overlapping people, spelling variants, aliases, gaps, conflicts and
    shared names."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {"combine": [], "stats": [], "injuries": []}
    for n in range(people):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        college, position = rng.choice(COLLEGES), rng.choice(POSITIONS)
        if rng.random() < 0.7:
            out["combine"].append(
                {
                    "combine_id": n,
                    "name": spell(rng, first, last),
                    "college": college,
                    "position": position,
                    "weight": rng.choice([200, 210, None]),
                    "measured_on": rng.choice(["2024-01-01", "2024-02-01", None]),
                    "height": rng.choice([70, 72]),
                }
            )
        if rng.random() < 0.7:
            out["stats"].append(
                {
                    "stats_id": f"s{n}",
                    "full_name": spell(rng, first, last),
                    "school": rng.choice([college, rng.choice(COLLEGES)]),
                    "position": rng.choice([position, rng.choice(POSITIONS)]),
                    "weight": rng.choice([205, 210]),
                    "measured_on": rng.choice(["2024-01-15", "2024-03-01"]),
                }
            )
        if rng.random() < 0.3:
            out["injuries"].append(
                {
                    "team": rng.choice(["A", "B"]),
                    "number": n,
                    "name": spell(rng, first, last),
                    "status": rng.choice(["out", "healthy", "doubtful"]),
                }
            )
    return out


def as_data(result: Result) -> dict[str, Any]:
    return {
        "entities": result.entities,
        "order": list(result.entities),
        "sources": result.sources,
        "conflicts": result.conflicts,
        "unresolved": result.unresolved,
    }


DECLARATIONS = {"exact": declare(), "fuzzy": declare(fuzzy=fuzzy(threshold=85))}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shuffle=st.randoms(use_true_random=False))
@pytest.mark.parametrize("kind", list(DECLARATIONS))
def test_shuffled_inputs_give_identical_outputs(
    kind: str, seed: int, shuffle: random.Random
) -> None:
    decl = DECLARATIONS[kind]
    records = generate(seed)
    expected = as_data(reconcile(decl, records))
    sources = list(records.items())
    shuffle.shuffle(sources)
    shuffled = {name: shuffle.sample(rows, len(rows)) for name, rows in sources}
    assert as_data(reconcile(decl, shuffled)) == expected


def test_the_generated_inputs_hold_every_case() -> None:
    # the property above means little if the inputs never conflict or stay unresolved
    result = reconcile(declare(), generate(3, people=200))
    assert len(result.entities) > 50 and len(result.conflicts) > 20
    assert {u["reason"] for u in result.unresolved} >= {"ambiguous", "no_match", "unconfirmed"}


def apply(full: Result, change: Result) -> dict[str, Any]:
    """A full result with an update's change applied, as a store of the tables would."""
    entities = {k: v for k, v in full.entities.items() if k not in change.removed}
    entities.update(change.entities)
    sources = {k: v for k, v in full.sources.items() if k not in change.removed}
    sources.update(change.sources)
    replaced = set(change.entities) | set(change.removed)
    conflicts = [c for c in full.conflicts if c["entity"] not in replaced] + change.conflicts
    gone = {(s, repr(k)) for s, k in change.settled} | {
        (u["source"], repr(u["key"])) for u in change.unresolved
    }
    unresolved = [u for u in full.unresolved if (u["source"], repr(u["key"])) not in gone]
    unresolved += change.unresolved
    return {
        "entities": dict(sorted(entities.items())),
        "sources": dict(sorted(sources.items())),
        "conflicts": sorted(conflicts, key=lambda c: (c["entity"], c["field"])),
        "unresolved": sorted(unresolved, key=repr),
    }


def comparable(result: Result) -> dict[str, Any]:
    return {
        "entities": result.entities,
        "sources": result.sources,
        "conflicts": result.conflicts,
        "unresolved": sorted(result.unresolved, key=repr),
    }


KEYS = {"combine": "combine_id", "stats": "stats_id"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), edit=st.randoms(use_true_random=False))
@pytest.mark.parametrize("kind", list(DECLARATIONS))
def test_an_update_equals_a_full_recompute_of_the_new_inputs(
    kind: str, seed: int, edit: random.Random
) -> None:
    decl = DECLARATIONS[kind]
    old = generate(seed)
    new = {name: [dict(r) for r in rows] for name, rows in old.items()}
    changed: dict[str, list[dict[str, Any]]] = {}
    removed: dict[str, list[Any]] = {}
    for name, rows in new.items():
        for row in list(rows):
            roll = edit.random()
            if roll < 0.1:  # a correction: another spelling, college or weight
                row["college" if name != "stats" else "school"] = edit.choice(COLLEGES)
                row["weight"] = edit.choice([199, 230])
                changed.setdefault(name, []).append(row)
            elif roll < 0.15 and name in KEYS:
                rows.remove(row)
                removed.setdefault(name, []).append(row[KEYS[name]])
            elif roll < 0.18 and name == "injuries":
                rows.remove(row)
                removed.setdefault(name, []).append((row["team"], row["number"]))
    added = generate(seed + 1, people=5)
    for name, rows in added.items():
        for row in rows:
            for k in ("combine_id", "number"):
                if k in row:
                    row[k] += 1000
            if "stats_id" in row:
                row["stats_id"] += "-new"
        new[name] += rows
        changed.setdefault(name, []).extend(rows)

    reconciler = Reconciler(decl)
    before = reconciler.update(old)
    change = reconciler.update(changed, removed)
    full = reconcile(decl, new)
    assert comparable(reconciler.result()) == comparable(full)
    assert apply(before, change) == {
        **comparable(full),
        "unresolved": sorted(full.unresolved, key=repr),
    }


def test_an_update_reports_only_what_changed() -> None:
    reconciler = Reconciler(declare())
    first = reconciler.update(smiths())
    assert len(first.entities) == 2 and first.removed == () and first.settled == ()
    same = reconciler.update({"combine": [smiths()["combine"][0]]})
    assert same.entities == {} and same.conflicts == [] and same.unresolved == []
    # the ambiguous injury report names its college: settled, and it joins Alabama
    fixed = {"team": "X", "number": 1, "name": "John Smith", "college": "Alabama", "status": "out"}
    change = reconciler.update({"injuries": [fixed]})
    assert change.settled == (("injuries", ["X", 1]),)
    (entity,) = change.entities.values()
    assert entity["college"] == "Alabama" and entity["status"] == "out"
    # Ohio State's combine record goes: stats now holds the most John Smiths and makes
    # the entities (their ids follow their seeds' tie-breakers: new ids)
    change = reconciler.update(removed={"combine": [2]})
    assert set(change.removed) == set(first.entities)
    assert sorted(change.sources.values(), key=str) == [
        {"combine": 1, "stats": "a", "injuries": ["X", 1]},
        {"stats": "b"},
    ]
    # stats spells it "Ohio St": the injury report's "Ohio State" now tells nothing apart
    assert [(u["key"], u["reason"]) for u in change.unresolved] == [(["X", 2], "ambiguous")]


def test_an_update_touches_only_the_blocks_of_its_records() -> None:
    reconciler = Reconciler(declare())
    reconciler.update(generate(1, people=200))
    change = reconciler.update({"combine": [{"combine_id": 5000, "name": "Totally New"}]})
    assert [e["name"] for e in change.entities.values()] == ["Totally New"]
    assert change.removed == () and change.settled == ()


def test_removing_an_unknown_key_changes_nothing() -> None:
    reconciler = Reconciler(declare())
    reconciler.update(NUNEZ)
    change = reconciler.update(removed={"combine": [999], "injuries": [("Z", 1)]})
    assert change == Result(entities={}, sources={}, conflicts=[], unresolved=[])


# -- quarantine ------------------------------------------------------------------------


def test_quarantined_records_contribute_nothing_the_caller_passes_only_stored_ones() -> None:
    pipe = Pipeline("draft")
    pipe.table(
        "combine_players", key="combine_id", schema={"combine_id": int, "name": str, "weight": int}
    )
    pipe.table("college_stats", key="stats_id")
    decl = pipe.reconcile(
        "prospects",
        sources={"combine": "combine_players", "stats": "college_stats"},
        identity="name",
    )
    given_records = [
        Record("combine_players", {"combine_id": 1, "name": "Ann Lee", "weight": 150}),
        Record("combine_players", {"combine_id": 2, "name": "Bo Diaz", "weight": "heavy"}),
    ]
    stored = []
    for record in given_records:  # what the ledger keeps: the records that pass
        try:
            pipe.check_record(record)
        except RecordInvalid:
            continue
        stored.append(record.data)
    stats = [{"stats_id": "b", "name": "Bo Diaz", "weight": 200}]
    result = reconcile(decl, {"combine": stored, "stats": stats})
    by_name = {e["name"]: e for e in result.entities.values()}
    assert by_name["Bo Diaz"]["weight"] == 200  # the quarantined 'heavy' is nowhere
    assert result.conflicts == [] and result.unresolved == []
    assert "heavy" not in repr(as_data(result))
