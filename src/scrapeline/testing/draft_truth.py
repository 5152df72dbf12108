"""The truth of a draft class: the values of the three sources, the rules a
reconciliation of them follows, and :func:`truth_of`, what it must end with.

Everything here is pure. The rules:

- **Quality** (:data:`QUALITY_RULES`): a record with an empty name, a weight not
  above 0 or a 40-yard time not above 0 is quarantined and takes no further part.
- **Entities**: the combine and college-stats records left found one entity per
  prospect they are about; the injury report never founds one.
- **Fields** (:data:`FIELD_RULES`): the combine wins position and height, the later
  date wins the weight, each source alone gives its own fields; two different given
  values of a field are a :class:`Conflict`, naming the winner.
- **Matching** an injury line: its name folded by :func:`name_key` (an initial
  ``J.`` matches every first name it starts) and, when it has one, its college by
  :func:`college_key` (aliases of :data:`COLLEGE_ALIASES` resolved). Exactly one
  entity: its injury fields; none: unresolved ``no_match``; several: unresolved
  ``ambiguous`` with the candidates. An initial is never enough alone: a line
  ``J. Nunez`` without a college that fits one entity is unresolved
  ``unconfirmed``, with that one candidate.

    >>> name_key("José Núñez Jr."), name_key("JOSE NUNEZ"), name_key("D'Andre St. Brown")
    ('jose nunez', 'jose nunez', 'dandre st brown')
    >>> name_key("A.J. O’Brien III")
    'a j obrien'
    >>> college_key("Ole Miss") == college_key("Mississippi"), college_key("USC")
    (True, 'southern california')
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, TypeAlias

__all__ = [
    "COLLEGE_ALIASES",
    "COLLEGE_STATS",
    "COMBINE",
    "FIELD_RULES",
    "INJURY_REPORT",
    "QUALITY_RULES",
    "SOURCES",
    "CombineRecord",
    "Conflict",
    "Entity",
    "InjuryLine",
    "Matcher",
    "Missing",
    "Prospect",
    "Quarantined",
    "Source",
    "StatsRecord",
    "Truth",
    "Unresolved",
    "Value",
    "Variant",
    "broken_rules",
    "college_key",
    "name_key",
    "truth_of",
]

Source: TypeAlias = Literal["combine", "college_stats", "injury_report"]
COMBINE: Source = "combine"
COLLEGE_STATS: Source = "college_stats"
INJURY_REPORT: Source = "injury_report"
SOURCES: tuple[Source, ...] = (COMBINE, COLLEGE_STATS, INJURY_REPORT)
"""The three sources, in the order the name rule prefers them."""

Value: TypeAlias = int | float | str | None

COLLEGE_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "USC": "Southern California",
        "LSU": "Louisiana State",
        "Ole Miss": "Mississippi",
        "UCF": "Central Florida",
        "BYU": "Brigham Young",
        "TCU": "Texas Christian",
        "SMU": "Southern Methodist",
        "UNC": "North Carolina",
        "Pitt": "Pittsburgh",
        "Miami (FL)": "Miami",
        "Penn St.": "Penn State",
        "Ohio St.": "Ohio State",
    }
)
"""How the college-stats API and the injury report may name a college: alias → the
name the combine uses. The pipeline resolves aliases with this map."""

FIELD_RULES: Mapping[str, str] = MappingProxyType(
    {
        "name": "combine, else college_stats (the injury report never founds an entity)",
        "college": "the same college once aliases are resolved: never a conflict",
        "position": "combine wins",
        "height_in": "combine wins",
        "weight_lb": "latest date wins (combine measured_on, college_stats weight_as_of); "
        "a tie goes to the combine",
        "forty": "combine only",
        "games": "college_stats only",
        "yards": "college_stats only",
        "touchdowns": "college_stats only",
        "injury_status": "injury_report only, from a line that matches exactly one entity",
        "injury_updated": "injury_report only, with injury_status",
    }
)
"""Which source wins each field of an entity."""

QUALITY_RULES: Mapping[str, str] = MappingProxyType(
    {
        "name_present": "the name is not empty",
        "weight_positive": "the weight, when given, is above 0",
        "forty_positive": "the 40-yard time, when given, is above 0",
    }
)
"""The error rules every record of a source passes (a record that breaks one is
quarantined): the pipeline's ``@pipe.check`` names."""

_APOSTROPHES = {ord(ch): None for ch in "'’ʼ`´"}
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "v"})

# -- the matching rule ------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    bare = bare.translate(_APOSTROPHES)
    kept = "".join(c if c.isalnum() or c.isspace() else " " for c in bare)
    return " ".join(kept.split())


def name_key(name: str) -> str:
    """A name as the truth matches it: accents dropped, case folded, apostrophes gone,
    any other punctuation a space (``A.J.`` is ``a j``), a trailing suffix (Jr., III,
    ...) dropped."""
    tokens = _fold(name).split()
    while len(tokens) > 1 and tokens[-1] in _SUFFIXES:
        tokens.pop()
    return " ".join(tokens)


def college_key(college: str) -> str:
    """A college as the truth matches it: its alias resolved, then folded."""
    return _fold(COLLEGE_ALIASES.get(college.strip(), college))


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Prospect:
    """One prospect as he truly is: identity and true field values."""

    id: str
    first: str
    last: str
    suffix: str | None
    college: str
    position: str
    height_in: int
    weight_lb: int
    forty: float
    games: int
    yards: int
    touchdowns: int

    @property
    def full_name(self) -> str:
        """``First Last`` with the suffix, as the combine prints it."""
        return f"{self.first} {self.last}" + (f" {self.suffix}" if self.suffix else "")


@dataclass(frozen=True, kw_only=True)
class CombineRecord:
    """A combine detail page (name as ``First Last [Suffix]``)."""

    combine_id: int
    name: str
    college: str
    position: str
    height_in: int | None
    weight_lb: int | None
    forty: float | None
    measured_on: str


@dataclass(frozen=True, kw_only=True)
class StatsRecord:
    """A player of the college-stats API (name as ``Last, First [Suffix]``)."""

    player_id: str
    name: str
    college: str
    position: str
    height_in: int | None
    weight_lb: int | None
    weight_as_of: str
    games: int
    yards: int | None
    touchdowns: int


@dataclass(frozen=True, kw_only=True)
class InjuryLine:
    """A row of the injury report (name in full or as ``J. Nunez``; college optional)."""

    report_id: str
    name: str
    college: str | None
    status: str
    updated: str


@dataclass(frozen=True, kw_only=True)
class Entity:
    """An expected entity of the reconciled table: true identity and winning values."""

    id: str
    """The prospect's id (the truth's own; no source shows it)."""
    first: str
    last: str
    suffix: str | None
    college: str
    position: str
    height_in: int | None
    weight_lb: int | None
    forty: float | None
    games: int | None
    yards: int | None
    touchdowns: int | None
    injury_status: str | None
    injury_updated: str | None
    records: tuple[tuple[Source, str], ...]
    """``(source, key)`` of every record it is built from, keys as text."""


@dataclass(frozen=True, kw_only=True)
class Conflict:
    """Two sources give one entity different values of a field; ``winner`` has ``value``."""

    entity: str
    field: str
    values: tuple[tuple[Source, Value], ...]
    winner: Source
    value: Value
    rule: str


@dataclass(frozen=True, kw_only=True)
class Quarantined:
    """A record that breaks an error rule of :data:`QUALITY_RULES`."""

    source: Source
    key: str
    rule: str
    field: str


@dataclass(frozen=True, kw_only=True)
class Unresolved:
    """An injury line that matches no entity (``no_match``), several (``ambiguous``), or
    one only by an initial, with no college to confirm it (``unconfirmed``)."""

    source: Source
    key: str
    candidates: tuple[str, ...]
    """Entity ids, sorted; empty for ``no_match``."""
    reason: Literal["ambiguous", "no_match", "unconfirmed"]


@dataclass(frozen=True, kw_only=True)
class Variant:
    """A record shows a name or college other than the true one."""

    entity: str
    source: Source
    key: str
    field: Literal["name", "college"]
    shown: str
    true: str
    kinds: tuple[str, ...]
    """Of ``accents``, ``case``, ``punctuation``, ``suffix``, ``order``, ``initial``, ``alias``."""


@dataclass(frozen=True, kw_only=True)
class Missing:
    """A field the source carries is empty in this record."""

    source: Source
    key: str
    field: str


@dataclass(frozen=True, kw_only=True)
class Truth:
    """What a correct reconciliation of the three sources ends with, exactly."""

    entities: tuple[Entity, ...]
    conflicts: tuple[Conflict, ...]
    quarantined: tuple[Quarantined, ...]
    unresolved: tuple[Unresolved, ...]
    variants: tuple[Variant, ...]
    missing: tuple[Missing, ...]

    def entity(self, entity_id: str) -> Entity:
        """The entity of that id. Raises KeyError if there is none."""
        for e in self.entities:
            if e.id == entity_id:
                return e
        raise KeyError(entity_id)


def broken_rules(record: CombineRecord | StatsRecord | InjuryLine) -> list[tuple[str, str]]:
    """The ``(rule, field)`` of :data:`QUALITY_RULES` that ``record`` breaks."""
    broken: list[tuple[str, str]] = []
    if not record.name.strip():
        broken.append(("name_present", "name"))
    weight = getattr(record, "weight_lb", None)
    if weight is not None and weight <= 0:
        broken.append(("weight_positive", "weight_lb"))
    forty = getattr(record, "forty", None)
    if forty is not None and forty <= 0:
        broken.append(("forty_positive", "forty"))
    return broken


# -- the truth ----------------------------------------------------------------------------

_INITIAL = re.compile(r"(\w)\.\s+(.+)")


class Matcher:
    """The matching rule over a set of entities: which of them a name and an optional
    college may be about. An initial (``J. Nunez``) matches every first name it starts;
    names and colleges compare by :func:`name_key` and :func:`college_key`.

    >>> e = Entity(id="P1", first="José", last="Núñez", suffix=None, college="Mississippi",
    ...     position="QB", height_in=None, weight_lb=None, forty=None, games=None, yards=None,
    ...     touchdowns=None, injury_status=None, injury_updated=None, records=())
    >>> m = Matcher([e])
    >>> m.candidates("J. NUNEZ", None), m.candidates("Jose Nunez Jr.", "Ole Miss")
    (('P1',), ('P1',))
    >>> m.candidates("J. Nunez", "Alabama"), m.candidates("Jorge Nunez", None)
    ((), ())
    """

    def __init__(self, entities: Sequence[Entity]) -> None:
        self._by_last: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self._by_name: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for e in entities:
            college = college_key(e.college)
            self._by_last[name_key(e.last)].append((_fold(e.first), college, e.id))
            self._by_name[name_key(f"{e.first} {e.last}")].append((college, e.id))

    def candidates(self, name: str, college: str | None) -> tuple[str, ...]:
        """The ids of the entities ``name`` (at ``college``, when given) may be, sorted."""
        initial = _INITIAL.fullmatch(name.strip())
        if initial is not None:
            letter = _fold(initial.group(1))
            found = [
                (c, i)
                for first, c, i in self._by_last.get(name_key(initial.group(2)), ())
                if first.startswith(letter)
            ]
        else:
            found = list(self._by_name.get(name_key(name), ()))
        wanted = None if college is None else college_key(college)
        return tuple(sorted(i for c, i in found if wanted is None or c == wanted))


def _offers(
    name: str, c: CombineRecord | None, s: StatsRecord | None
) -> list[tuple[Source, Value, str]]:
    """What each source left says of field ``name``, with the date of its weight."""
    found: list[tuple[Source, Value, str]] = []
    if c is not None and hasattr(c, name):
        found.append((COMBINE, getattr(c, name), c.measured_on))
    if s is not None and hasattr(s, name):
        found.append((COLLEGE_STATS, getattr(s, name), s.weight_as_of))
    return found


def _winner(
    name: str, offers: Sequence[tuple[Source, Value, str]], conflicts: list[Conflict], entity: str
) -> Value:
    """The winning value of a field among ``(source, value, date)`` offers (in source
    order), noting a conflict when two given values differ."""
    given = [(s, v, d) for s, v, d in offers if v is not None]
    if not given:
        return None
    if name == "weight_lb":
        source, value, _ = max(given, key=lambda o: (o[2], o[0] == COMBINE))
    else:
        source, value, _ = given[0]
    if len({v for _, v, _ in given}) > 1:
        conflicts.append(
            Conflict(
                entity=entity,
                field=name,
                values=tuple((s, v) for s, v, _ in given),
                winner=source,
                value=value,
                rule=FIELD_RULES[name],
            )
        )
    return value


def truth_of(
    prospects: Sequence[Prospect],
    combine: Sequence[CombineRecord],
    stats: Sequence[StatsRecord],
    injuries: Sequence[InjuryLine],
    links: Mapping[tuple[Source, str], str],
    variants: Sequence[Variant] = (),
    missing: Sequence[Missing] = (),
) -> Truth:
    """The truth of a draft class, by the rules: records breaking a rule of
    :data:`QUALITY_RULES` are quarantined; the combine and stats records left found
    an entity per prospect they are about (``links``); each field's value follows
    :data:`FIELD_RULES`; each injury line left is matched by :class:`Matcher` and
    fills its entity's injury fields when it matches exactly one (confirmed by its
    college when it names the player by an initial), else is unresolved."""
    quarantined: list[Quarantined] = []
    kept_combine: dict[str, CombineRecord] = {}
    kept_stats: dict[str, StatsRecord] = {}

    def screen(source: Source, key: str, record: CombineRecord | StatsRecord | InjuryLine) -> bool:
        broken = broken_rules(record)
        quarantined.extend(Quarantined(source=source, key=key, rule=r, field=f) for r, f in broken)
        return not broken

    for record in combine:
        if screen(COMBINE, str(record.combine_id), record):
            kept_combine[links[(COMBINE, str(record.combine_id))]] = record
    for player in stats:
        if screen(COLLEGE_STATS, player.player_id, player):
            kept_stats[links[(COLLEGE_STATS, player.player_id)]] = player
    kept_lines = [line for line in injuries if screen(INJURY_REPORT, line.report_id, line)]

    conflicts: list[Conflict] = []
    entities: list[Entity] = []
    for p in prospects:
        c: CombineRecord | None = kept_combine.get(p.id)
        s: StatsRecord | None = kept_stats.get(p.id)
        if c is None and s is None:
            continue
        records: list[tuple[Source, str]] = []
        if c is not None:
            records.append((COMBINE, str(c.combine_id)))
        if s is not None:
            records.append((COLLEGE_STATS, s.player_id))

        def win(name: str) -> Value:
            return _winner(name, _offers(name, c, s), conflicts, p.id)  # noqa: B023 (called at once)

        position = win("position")
        height, weight, forty = win("height_in"), win("weight_lb"), win("forty")
        games, yards, touchdowns = win("games"), win("yards"), win("touchdowns")
        entities.append(
            Entity(
                id=p.id,
                first=p.first,
                last=p.last,
                suffix=p.suffix,
                college=p.college,
                position=str(position),
                height_in=_int(height),
                weight_lb=_int(weight),
                forty=None if forty is None else float(forty),
                games=_int(games),
                yards=_int(yards),
                touchdowns=_int(touchdowns),
                injury_status=None,
                injury_updated=None,
                records=tuple(records),
            )
        )

    unresolved: list[Unresolved] = []
    by_id = {e.id: i for i, e in enumerate(entities)}
    matcher = Matcher(entities)
    for line in kept_lines:
        found = matcher.candidates(line.name, line.college)
        unconfirmed = line.college is None and _INITIAL.fullmatch(line.name.strip()) is not None
        if len(found) == 1 and not unconfirmed:
            i = by_id[found[0]]
            e = entities[i]
            entities[i] = replace(
                e,
                injury_status=line.status,
                injury_updated=line.updated,
                records=(*e.records, (INJURY_REPORT, line.report_id)),
            )
        else:
            unresolved.append(
                Unresolved(
                    source=INJURY_REPORT,
                    key=line.report_id,
                    candidates=found,
                    reason="no_match"
                    if not found
                    else "ambiguous"
                    if len(found) > 1
                    else "unconfirmed",
                )
            )

    gone = {(q.source, q.key) for q in quarantined}
    return Truth(
        entities=tuple(entities),
        conflicts=tuple(sorted(conflicts, key=lambda x: (x.entity, x.field))),
        quarantined=tuple(sorted(quarantined, key=lambda q: (SOURCES.index(q.source), q.key))),
        unresolved=tuple(sorted(unresolved, key=lambda u: u.key)),
        variants=tuple(
            sorted(
                (v for v in variants if (v.source, v.key) not in gone),
                key=lambda v: (SOURCES.index(v.source), v.key, v.field),
            )
        ),
        missing=tuple(sorted(missing, key=lambda m: (SOURCES.index(m.source), m.key, m.field))),
    )


def _int(value: Value) -> int | None:
    return None if value is None else int(value)
