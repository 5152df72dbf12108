"""Authority rules: which source's value an entity takes for a field when sources give
several. Pure: candidates in, the winning value out.

    fields={
        "height": prefer("combine", "stats"),   # source priority
        "weight": latest("measured_on"),        # the newest by a date of the source record
        "position": most_frequent(),            # the value most sources give
        "status": custom(pick_status),          # your function of {source: value}
    }

A field no rule names takes ``prefer()`` over the sources in their declared order.
Candidates reach a rule in the declared order of their sources, missing values
(None, empty text) left out; a rule is only asked when there is at least one.
Every rule is deterministic: ties are broken by that source order, then by value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from scrapeline.errors import PipelineError, ReconcileError


class Candidate(NamedTuple):
    """One source's value for a field of an entity (a tuple: made for every field of
    every entity, so cheap to build)."""

    source: str
    value: Any
    """As the source gave it."""
    normal: Any
    """Normalised (and aliased) for comparison; values equal here are no conflict."""
    record: Mapping[str, Any]
    """The whole source record (its fields renamed): where ``latest`` reads its date."""


class Rule(Protocol):
    """Chooses the winning value among a field's candidates."""

    def choose(self, field: str, candidates: Sequence[Candidate]) -> Any: ...

    def describe(self) -> str:
        """The rule as declared, for the conflicts table: ``prefer(combine, stats)``."""
        ...

    def sources_named(self) -> tuple[str, ...]:
        """The sources the rule names (checked against the declared ones)."""
        ...


@dataclass(frozen=True, slots=True)
class Prefer:
    sources: tuple[str, ...]

    def choose(self, field: str, candidates: Sequence[Candidate]) -> Any:
        rank = {s: n for n, s in enumerate(self.sources)}
        # stable: sources the rule does not name keep their declared order, after the named
        best = min(range(len(candidates)), key=lambda i: rank.get(candidates[i].source, len(rank)))
        return candidates[best].value

    def describe(self) -> str:
        return f"prefer({', '.join(self.sources)})"

    def sources_named(self) -> tuple[str, ...]:
        return self.sources


@dataclass(frozen=True, slots=True)
class Latest:
    date_field: str
    by_source: tuple[tuple[str, str], ...] = ()
    """(source, its date field) where a source dates its records in another field."""

    def choose(self, field: str, candidates: Sequence[Candidate]) -> Any:
        fields = dict(self.by_source)
        default = self.date_field
        # max keeps the first of equals: the earliest source among the newest dates
        best = max(
            range(len(candidates)),
            key=lambda i: (
                _date_key(candidates[i].record.get(fields.get(candidates[i].source, default))),
                -i,
            ),
        )
        return candidates[best].value

    def describe(self) -> str:
        others = "".join(f", {s}={f}" for s, f in self.by_source)
        return f"latest({self.date_field}{others})"

    def sources_named(self) -> tuple[str, ...]:
        return tuple(s for s, _ in self.by_source)


def _date_key(value: Any) -> tuple[int, float, str]:
    """Orders dates: missing first, numbers (timestamps) by value, text (ISO) as text."""
    if value is None or value == "":
        return (0, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value), "")
    return (2, 0.0, value.isoformat() if hasattr(value, "isoformat") else str(value))


@dataclass(frozen=True, slots=True)
class MostFrequent:
    def choose(self, field: str, candidates: Sequence[Candidate]) -> Any:
        counts: dict[Any, int] = {}
        first: dict[Any, int] = {}
        for n, c in enumerate(candidates):
            counts[c.normal] = counts.get(c.normal, 0) + 1
            first.setdefault(c.normal, n)
        best = min(counts, key=lambda v: (-counts[v], first[v], repr(v)))
        return candidates[first[best]].value

    def describe(self) -> str:
        return "most_frequent()"

    def sources_named(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class Custom:
    fn: Callable[[dict[str, Any]], Any]

    def choose(self, field: str, candidates: Sequence[Candidate]) -> Any:
        try:
            return self.fn({c.source: c.value for c in candidates})
        except Exception as exc:
            raise ReconcileError(
                f"the rule {self.describe()} of field {field!r} raised {type(exc).__name__}: {exc}"
            ) from exc

    def describe(self) -> str:
        return f"custom({getattr(self.fn, '__name__', 'fn')})"

    def sources_named(self) -> tuple[str, ...]:
        return ()


def prefer(*sources: str) -> Prefer:
    """The value of the first of ``sources`` that has one (then the other sources, in
    their declared order)."""
    if not sources or not all(isinstance(s, str) and s for s in sources):
        raise PipelineError("prefer() names one or more sources: prefer('combine', 'stats')")
    if len(set(sources)) != len(sources):
        raise PipelineError(f"prefer{sources!r} names a source twice")
    return Prefer(tuple(sources))


def latest(date_field: str, /, **by_source: str) -> Latest:
    """The value of the source record with the newest ``date_field`` (ISO dates or
    datetimes as text, or numbers); a record without one is the oldest; equal dates go
    to the source declared first. A source that dates its records in another field
    names it: ``latest("measured_on", stats="weight_as_of")``."""
    if not isinstance(date_field, str) or not date_field:
        raise PipelineError("latest() names the date field: latest('measured_on')")
    for source, name in by_source.items():
        if not isinstance(name, str) or not name:
            raise PipelineError(
                f"latest({date_field!r}, {source}=...) names that source's date field, not {name!r}"
            )
    return Latest(date_field, tuple(by_source.items()))


def most_frequent() -> MostFrequent:
    """The value most sources give (equal after normalisation); a tie goes to the value
    of the source declared first, then to the smaller value."""
    return MostFrequent()


def custom(fn: Callable[[dict[str, Any]], Any]) -> Custom:
    """``fn({source: value, ...})`` returns the winner (any value). An exception it
    raises stops the reconciliation with a ReconcileError naming the field."""
    if not callable(fn):
        raise PipelineError(f"custom() takes a function of {{source: value}}, not {fn!r}")
    return Custom(fn)


RULE_TYPES = (Prefer, Latest, MostFrequent, Custom)
