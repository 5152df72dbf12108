"""Authority rules: given one field's candidates, in declared source order, which value
wins; ties are broken the same way every time."""

from __future__ import annotations

from typing import Any

import pytest

from scrapeline.errors import PipelineError, ReconcileError
from scrapeline.quality.authority import Candidate, custom, latest, most_frequent, prefer
from scrapeline.quality.normalise import normalise_text


def cands(*given: tuple[str, Any] | tuple[str, Any, dict[str, Any]]) -> list[Candidate]:
    out = []
    for g in given:
        source, value = g[0], g[1]
        record = g[2] if len(g) == 3 else {}
        normal = normalise_text(value) if isinstance(value, str) else value
        out.append(Candidate(source, value, normal, record))
    return out


@pytest.mark.parametrize(
    ("rule_sources", "given", "winner"),
    [
        (("combine", "stats"), [("combine", 74), ("stats", 75)], 74),
        (("stats", "combine"), [("combine", 74), ("stats", 75)], 75),
        (("stats",), [("combine", 74), ("injuries", 76)], 74),  # unnamed: declared order
        (("injuries",), [("combine", 74), ("injuries", 76)], 76),
    ],
)
def test_prefer(rule_sources: tuple[str, ...], given: list[tuple[str, Any]], winner: Any) -> None:
    assert prefer(*rule_sources).choose("height", cands(*given)) == winner


@pytest.mark.parametrize(
    ("given", "winner"),
    [
        ([("a", 1, {"on": "2024-01-01"}), ("b", 2, {"on": "2024-03-01"})], 2),
        ([("a", 1, {"on": "2024-05-01"}), ("b", 2, {"on": "2024-03-01"})], 1),
        ([("a", 1, {"on": "2024-03-01"}), ("b", 2, {"on": "2024-03-01"})], 1),  # tie: first
        ([("a", 1, {}), ("b", 2, {"on": "2020-01-01"})], 2),  # no date is the oldest
        ([("a", 1, {"on": None}), ("b", 2, {})], 1),
        ([("a", 1, {"on": 10}), ("b", 2, {"on": 9})], 1),  # numbers by value, not as text
        ([("a", 1, {"on": "2024-03-01T10:00"}), ("b", 2, {"on": "2024-03-01T09:00"})], 1),
    ],
)
def test_latest(given: list[Any], winner: Any) -> None:
    assert latest("on").choose("weight", cands(*given)) == winner


@pytest.mark.parametrize(
    ("given", "winner"),
    [
        ([("a", "LB"), ("b", "OLB"), ("c", "OLB")], "OLB"),
        ([("a", "LB"), ("b", "OLB")], "LB"),  # tie: the first declared source's value
        ([("a", "OLB"), ("b", "LB")], "OLB"),
        ([("a", "lb"), ("b", "OLB"), ("c", "LB")], "lb"),  # equal after normalising count as one
        ([("a", 1), ("b", 2), ("c", 2), ("d", 1)], 1),
    ],
)
def test_most_frequent(given: list[tuple[str, Any]], winner: Any) -> None:
    assert most_frequent().choose("position", cands(*given)) == winner


def test_custom_is_given_the_values_per_source_and_returns_the_winner() -> None:
    seen: list[dict[str, Any]] = []

    def worst(values: dict[str, Any]) -> Any:
        seen.append(values)
        order = ["out", "doubtful", "ok"]
        return min(values.values(), key=order.index)

    rule = custom(worst)
    assert rule.choose("status", cands(("combine", "ok"), ("injuries", "out"))) == "out"
    assert seen == [{"combine": "ok", "injuries": "out"}]
    assert rule.describe() == "custom(worst)"


def test_a_custom_rule_that_raises_is_a_reconcile_error_naming_the_field() -> None:
    rule = custom(lambda values: 1 / 0)
    with pytest.raises(ReconcileError, match=r"field 'status'.*ZeroDivisionError"):
        rule.choose("status", cands(("a", 1)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: prefer(), "one or more sources"),
        (lambda: prefer("a", "a"), "twice"),
        (lambda: prefer(""), "one or more sources"),
        (lambda: latest(""), "date field"),
        (lambda: custom("status"), "takes a function"),
    ],
)
def test_rules_that_cannot_work_are_refused(make: Any, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        make()


def test_rules_describe_themselves_as_declared() -> None:
    assert prefer("combine", "stats").describe() == "prefer(combine, stats)"
    assert latest("measured_on").describe() == "latest(measured_on)"
    assert most_frequent().describe() == "most_frequent()"
