"""Engine rules the prospects truth needs: a date field per source for ``latest``, an
aliased value shown in its canonical spelling, an initial no name conflict; and a
state saved and restored gives the same update as the reconciler it came from."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from scrapeline.errors import ReconcileError
from scrapeline.pipeline import Pipeline
from scrapeline.quality.authority import latest
from scrapeline.quality.reconcile import Reconciler, Reconciliation, reconcile


def declare() -> Reconciliation:
    pipe = Pipeline("draft")
    pipe.table("combine", key="cid")
    pipe.table("stats", key="sid")
    pipe.table("injuries", key="rid")
    return pipe.reconcile(
        "prospects",
        sources={"combine": "combine", "stats": "stats", "injuries": "injuries"},
        identity="name",
        tie_breakers=("college",),
        fields={"weight": latest("measured_on", stats="as_of")},
        aliases={"college": {"USC": "Southern California"}},
        required={"injuries"},
        key="pid",
    )


RECORDS: dict[str, list[dict[str, Any]]] = {
    "combine": [{"cid": 1, "name": "José Núñez", "college": "southern california",
                 "weight": 230, "measured_on": "2026-03-01"}],
    "stats": [{"sid": "a", "name": "Nunez, Jose", "college": "USC", "weight": 224,
               "as_of": "2026-04-10"}],
    "injuries": [{"rid": "i1", "name": "J. Nunez", "college": "USC", "status": "out"}],
}  # fmt: skip


def test_latest_reads_each_sources_own_date_field() -> None:
    result = reconcile(declare(), RECORDS)
    (row,) = result.entities.values()
    assert row["weight"] == 224  # the API's as_of is later than the combine's measured_on
    (weight,) = [c for c in result.conflicts if c["field"] == "weight"]
    assert weight["rule"] == "latest(measured_on, stats=as_of)"


def test_an_aliased_value_shows_its_canonical_spelling_and_no_conflict() -> None:
    result = reconcile(declare(), RECORDS)
    (row,) = result.entities.values()
    assert row["college"] == "Southern California"
    assert not [c for c in result.conflicts if c["field"] == "college"]


def test_an_initial_that_matched_is_no_name_conflict_but_another_name_is() -> None:
    result = reconcile(declare(), RECORDS)
    assert not [c for c in result.conflicts if c["field"] == "name"]
    assert len(next(iter(result.sources.values()))) == 3


def test_a_restored_state_answers_an_update_as_the_original() -> None:
    decl = declare()
    original = Reconciler(decl)
    original.update(RECORDS)
    saved = orjson.loads(orjson.dumps(original.state()))
    restored = Reconciler.restore(decl, saved)
    change = {"stats": [{**RECORDS["stats"][0], "weight": 260}]}
    assert restored.update(change) == original.update(change)
    assert restored.result() == original.result()


@pytest.mark.parametrize(
    "damage",
    [{"format": 9}, {"declaration": "0" * 16}, {"records": [["nope", "x", "{}", []]]}],
)
def test_a_state_of_another_format_declaration_or_damaged_is_refused(
    damage: dict[str, Any],
) -> None:
    decl = declare()
    original = Reconciler(decl)
    original.update(RECORDS)
    with pytest.raises(ReconcileError):
        Reconciler.restore(decl, {**original.state(), **damage})
