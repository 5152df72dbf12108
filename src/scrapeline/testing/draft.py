"""The draft class behind :class:`~scrapeline.testing.prospects.ProspectsSite`: the
prospects and the records of the three sources about them, generated.

:func:`draft_class` generates everything from ``(size, seed)`` with one seeded
random source, so the same arguments give equal values, and computes its
:class:`~scrapeline.testing.draft_truth.Truth` from the generated records with
:func:`~scrapeline.testing.draft_truth.truth_of`. The generation rules are set out
in :mod:`scrapeline.testing.prospects`.

    >>> draft = draft_class(60, seed=3)
    >>> draft == draft_class(60, seed=3), draft == draft_class(60, seed=4)
    (True, False)
    >>> len(draft.prospects), len(draft.truth.quarantined), len(draft.injury_report) > 0
    (60, 6, True)
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from scrapeline.testing.draft_truth import (
    COLLEGE_ALIASES,
    COLLEGE_STATS,
    COMBINE,
    INJURY_REPORT,
    CombineRecord,
    InjuryLine,
    Missing,
    Prospect,
    Source,
    StatsRecord,
    Truth,
    Variant,
    broken_rules,
    college_key,
    name_key,
    truth_of,
)

__all__ = ["DraftClass", "Injected", "draft_class"]


@dataclass(frozen=True, kw_only=True)
class Injected:
    """How many of each fault the generation put in (the truth lists them)."""

    quarantined: Mapping[tuple[Source, str], int]
    """``(source, rule)`` → records made to break it."""
    conflicts: Mapping[str, int]
    """field → entities given two values of it."""
    ambiguous: int
    """Injury lines made ambiguous on purpose (a namesake at another college)."""
    no_match: int
    """Injury lines about nobody in the draft class."""


@dataclass(frozen=True, kw_only=True)
class DraftClass:
    """Everything generated for one ``(size, seed)``."""

    size: int
    seed: int
    prospects: tuple[Prospect, ...]
    combine: tuple[CombineRecord, ...]
    """By ``combine_id``."""
    college_stats: tuple[StatsRecord, ...]
    """By ``player_id``."""
    injury_report: tuple[InjuryLine, ...]
    """In report order (by ``report_id``)."""
    links: Mapping[tuple[Source, str], str]
    """``(source, key)`` → the prospect a record is about (absent: nobody)."""
    injected: Injected
    truth: Truth = field(compare=False)


# -- generation --------------------------------------------------------------------------

_FIRST = (
    "Chris", "James", "Michael", "Jalen", "Marcus", "Tyler", "Jordan", "Caleb", "Bryce",
    "Travis", "Malik", "Xavier", "Brandon", "Cameron", "Darius", "Elijah", "Isaiah",
    "Jaylen", "Kobe", "Quinn", "Trey", "Will", "Zach", "Nico", "Mateo", "Luis", "Devin",
    "José", "Ángel", "Andrés", "Raúl", "Sebastián", "Joël", "François",
    "D'Andre", "Ja'Marr", "De'Von", "A.J.", "T.J.", "C.J.", "Amon-Ra", "Jean-Luc",
)  # fmt: skip
_LAST = (
    "Johnson", "Williams", "Brown", "Jones", "Davis", "Miller", "Wilson", "Moore", "Taylor",
    "Anderson", "Thomas", "Jackson", "White", "Harris", "Martin", "Thompson", "Robinson",
    "Clark", "Lewis", "Walker", "Hall", "Allen", "Young", "King", "Wright", "Scott", "Green",
    "Baker", "Adams", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips",
    "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris", "Reed", "Cook",
    "Bell", "Murphy", "Bailey", "Cooper", "Howard", "Ward", "Richardson", "Watson", "Brooks",
    "Bennett", "Gray", "Hughes", "Price", "Sanders", "Myers", "Ross", "Foster", "Powell",
    "Jenkins", "Perry", "Russell", "Coleman", "Butler", "Barnes", "Fisher", "Henderson",
    "Simmons", "Patterson", "Hamilton", "Graham", "Wallace", "Woods", "Owens", "Washington",
    "McCarthy", "Van Dyke",
    "Núñez", "Peña", "Muñoz", "García", "Hernández", "Rodríguez", "Gómez", "Ibáñez", "Müller",
    "O'Neil", "O'Brien", "D'Amico", "St. Brown", "Smith-Jones", "Ward-Hill",
)  # fmt: skip
_COLLEGES = (
    "Alabama", "Georgia", "Ohio State", "Michigan", "Oregon", "Clemson", "Texas",
    "Penn State", "Notre Dame", "Florida State", "Iowa", "Wisconsin", "Auburn", "Tennessee",
    "Washington", "Utah", "Southern California", "Louisiana State", "Mississippi",
    "Central Florida", "Brigham Young", "Texas Christian", "Southern Methodist",
    "North Carolina", "Pittsburgh", "Miami",
)  # fmt: skip
_ALIAS_OF = {full: alias for alias, full in COLLEGE_ALIASES.items()}
_SUFFIX_CHOICES = ("Jr.", "Jr.", "Jr.", "II", "III")
_STATUSES = ("out", "doubtful", "questionable", "probable", "cleared")

# position: height (inches), weight (lb), forty (s), yards per game, touchdowns a season
_BODY: Mapping[str, tuple[tuple[int, int], tuple[int, int], tuple[float, float], int, int]] = {
    "QB": ((72, 78), (205, 240), (4.55, 5.0), 260, 30),
    "RB": ((68, 73), (195, 230), (4.35, 4.65), 95, 15),
    "WR": ((69, 76), (175, 215), (4.30, 4.60), 80, 10),
    "TE": ((75, 79), (235, 260), (4.55, 4.85), 45, 6),
    "OT": ((76, 80), (300, 335), (4.95, 5.40), 0, 0),
    "IOL": ((74, 77), (295, 330), (5.00, 5.45), 0, 0),
    "EDGE": ((74, 78), (240, 275), (4.50, 4.85), 0, 1),
    "DL": ((73, 77), (285, 325), (4.80, 5.20), 0, 0),
    "LB": ((72, 76), (225, 250), (4.50, 4.80), 0, 1),
    "CB": ((69, 74), (180, 200), (4.30, 4.55), 0, 1),
    "S": ((70, 74), (195, 215), (4.40, 4.65), 0, 1),
}
_POSITIONS = tuple(_BODY)

_COMBINE_DAY = date(2026, 2, 26)  # combine week: 5 days; pro days follow, to 2026-04-05
_SEASON_DAY = date(2025, 8, 25)  # an in-season weight: up to 2025-12-06
_SPRING_DAY = date(2026, 4, 8)  # a spring weight update: up to 2026-04-20, after every pro day
_INJURY_DAY = date(2026, 3, 1)  # injury report updates: up to 2026-04-25

# shares of the generation (documented in scrapeline.testing.prospects)
_IN_COMBINE = 0.85
_IN_STATS = 0.85
_INJURED = 0.22


def _day(rng: random.Random, first: date, days: int) -> str:
    return (first + timedelta(days=rng.randrange(days))).isoformat()


def _drop_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _drop_punctuation(text: str) -> str:
    """Apostrophes dropped, a hyphen or ``". "`` a space; initials (``A.J.``) kept."""
    return text.replace("'", "").replace(". ", " ").replace("-", " ")


def _has_accents(text: str) -> bool:
    return _drop_accents(text) != text


def _has_punctuation(text: str) -> bool:
    return _drop_punctuation(text) != text


@dataclass
class _Plan:
    """What the generation decided for one prospect (mutable while generating)."""

    prospect: Prospect
    in_combine: bool
    in_stats: bool
    plain: bool = False  # no variants or conflicts: a record of it breaks a rule
    corrupt: tuple[Source, str] | None = None  # (source, rule) it is made to break
    injured: bool = False
    namesake: bool = False  # its injury line is made ambiguous


def _prospect(rng: random.Random, number: int) -> Prospect:
    position = rng.choice(_POSITIONS)
    (h_lo, h_hi), (w_lo, w_hi), (f_lo, f_hi), yards_pg, tds = _BODY[position]
    games = rng.randrange(8, 15)
    yards = 0 if yards_pg == 0 else rng.randrange(yards_pg // 2, yards_pg * 3 // 2) * games
    return Prospect(
        id=f"P{number:05d}",
        first=rng.choice(_FIRST),
        last=rng.choice(_LAST),
        suffix=rng.choice(_SUFFIX_CHOICES) if rng.random() < 0.08 else None,
        college=rng.choice(_COLLEGES),
        position=position,
        height_in=rng.randrange(h_lo, h_hi + 1),
        weight_lb=rng.randrange(w_lo, w_hi + 1),
        forty=round(rng.uniform(f_lo, f_hi), 2),
        games=games,
        yards=yards,
        touchdowns=rng.randrange(0, tds + 1),
    )


def _identity(p: Prospect) -> tuple[str, str]:
    return name_key(f"{p.first} {p.last}"), college_key(p.college)


def _prospects(rng: random.Random, size: int, namesakes: int) -> list[Prospect]:
    """``size`` prospects, unique by folded name and college; the last ``namesakes`` of
    them take the name of an earlier one at another college."""
    taken: set[tuple[str, str]] = set()
    found: list[Prospect] = []
    while len(found) < size:
        p = _prospect(rng, len(found) + 1)
        if len(found) >= size - namesakes:
            twin = found[(len(found) - (size - namesakes)) * 7 % (size - namesakes)]
            p = replace(p, first=twin.first, last=twin.last, suffix=None)
            if college_key(p.college) == college_key(twin.college):
                continue
        if _identity(p) in taken:
            continue
        taken.add(_identity(p))
        found.append(p)
    return found


_CORRUPTIONS: tuple[tuple[Source, str], ...] = (
    (COMBINE, "weight_positive"),
    (COMBINE, "forty_positive"),
    (COMBINE, "name_present"),
    (COLLEGE_STATS, "name_present"),
    (COLLEGE_STATS, "weight_positive"),
    (INJURY_REPORT, "name_present"),
)


def draft_class(size: int = 1000, *, seed: int = 0) -> DraftClass:
    """Generate the draft class of ``size`` prospects (at least 40) for ``seed``.

    Raises ValueError for a smaller size."""
    if size < 40:
        raise ValueError(f"a draft class needs at least 40 prospects, not {size}")
    rng = random.Random(f"scrapeline-prospects:{seed}")
    per_fault = max(1, size // 200)
    namesakes = max(1, size // 250)
    people = _prospects(rng, size, namesakes)
    plans = [
        _Plan(p, in_combine=rng.random() < _IN_COMBINE, in_stats=rng.random() < _IN_STATS)
        for p in people
    ]
    for plan in plans:
        if not (plan.in_combine or plan.in_stats):
            plan.in_stats = True

    # roles, on distinct prospects: the namesake pairs, then the rule breakers
    order = list(range(size - namesakes))
    rng.shuffle(order)
    twins = {
        (i - (size - namesakes)) * 7 % (size - namesakes) for i in range(size - namesakes, size)
    }
    for i in twins:
        plans[i].namesake = plans[i].injured = True
    free = [i for i in order if i not in twins]
    for source, rule in _CORRUPTIONS:
        for _ in range(per_fault):
            plan = plans[free.pop()]
            plan.plain, plan.corrupt = True, (source, rule)
            if source == COMBINE:
                plan.in_combine = True
            elif source == COLLEGE_STATS:
                plan.in_stats = True
            else:
                plan.injured = True
    for i in range(size - namesakes, size):
        plans[i].plain = True  # the namesake keeps a clean record
    return _Generation(rng, plans, size, seed, per_fault, namesakes).build()


class _Generation:
    """Writes the records of every plan, noting variants, missing fields and conflicts."""

    def __init__(
        self,
        rng: random.Random,
        plans: list[_Plan],
        size: int,
        seed: int,
        per_fault: int,
        namesakes: int,
    ) -> None:
        self.rng = rng
        self.plans = plans
        self.size = size
        self.seed = seed
        self.per_fault = per_fault
        self.namesakes = namesakes
        self.variants: list[Variant] = []
        self.missing: list[Missing] = []
        self.conflicts: Counter[str] = Counter()
        self.links: dict[tuple[Source, str], str] = {}

    def build(self) -> DraftClass:
        rng = self.rng
        combine_ids = rng.sample(range(1001, 1001 + 3 * self.size), self.size)
        stats_ids = rng.sample(range(16**5, 16**6), self.size)
        combine: list[CombineRecord] = []
        stats: list[StatsRecord] = []
        for plan, cid, sid in zip(self.plans, combine_ids, stats_ids, strict=True):
            c = self._combine(plan, cid) if plan.in_combine else None
            s = None
            if plan.in_stats:
                s, c = self._stats(plan, f"{sid:06x}", c)
            if c is not None:
                combine.append(_corrupt(plan, c))
                self.links[(COMBINE, str(cid))] = plan.prospect.id
            if s is not None:
                stats.append(_corrupt(plan, s))
                self.links[(COLLEGE_STATS, s.player_id)] = plan.prospect.id
        combine.sort(key=lambda r: r.combine_id)
        stats.sort(key=lambda r: r.player_id)
        injuries = self._injuries(combine, stats)
        injected = Injected(
            quarantined=MappingProxyType(dict.fromkeys(_CORRUPTIONS, self.per_fault)),
            conflicts=MappingProxyType(dict(sorted(self.conflicts.items()))),
            ambiguous=self.namesakes,
            no_match=self.per_fault,
        )
        prospects = tuple(p.prospect for p in self.plans)
        links = MappingProxyType(dict(self.links))
        return DraftClass(
            size=self.size,
            seed=self.seed,
            prospects=prospects,
            combine=tuple(combine),
            college_stats=tuple(stats),
            injury_report=injuries,
            links=links,
            injected=injected,
            truth=truth_of(prospects, combine, stats, injuries, links, self.variants, self.missing),
        )

    def _missing(self, plan: _Plan, source: Source, key: str, name: str, share: float) -> bool:
        """Whether to leave ``name`` empty in this record (never in a plain one)."""
        if not plan.plain and self.rng.random() < share:
            self.missing.append(Missing(source=source, key=key, field=name))
            return True
        return False

    def _combine(self, plan: _Plan, cid: int) -> CombineRecord:
        p, rng, key = plan.prospect, self.rng, str(cid)
        pro_day = rng.random() < 0.15
        return CombineRecord(
            combine_id=cid,
            name=p.full_name,
            college=p.college,
            position=p.position,
            height_in=None if self._missing(plan, COMBINE, key, "height_in", 0.02) else p.height_in,
            weight_lb=None if self._missing(plan, COMBINE, key, "weight_lb", 0.03) else p.weight_lb,
            forty=None if self._missing(plan, COMBINE, key, "forty", 0.06) else p.forty,
            measured_on=_day(rng, _COMBINE_DAY + timedelta(days=12), 27)
            if pro_day
            else _day(rng, _COMBINE_DAY, 5),
        )

    def _stats(
        self, plan: _Plan, sid: str, c: CombineRecord | None
    ) -> tuple[StatsRecord, CombineRecord | None]:
        """The API's record, and the combine's (its weight made stale when the API's
        is the later and the two conflict)."""
        p, rng = plan.prospect, self.rng
        vary = c is not None and not plan.plain  # the combine's spelling wins the name
        name = self._stats_name(plan, sid, vary)
        college = p.college
        alias = _ALIAS_OF.get(p.college)
        if alias is not None and rng.random() < 0.7:
            college = alias
            self._variant(plan, COLLEGE_STATS, sid, "college", alias, p.college, ("alias",))

        position = p.position
        if vary and rng.random() < 0.03:
            position = rng.choice([x for x in _POSITIONS if x != p.position])
            self.conflicts["position"] += 1

        height: int | None = p.height_in
        if self._missing(plan, COLLEGE_STATS, sid, "height_in", 0.25):
            height = None
        elif vary and c is not None and c.height_in is not None and rng.random() < 0.12:
            height = p.height_in + rng.choice((-1, 1))
            self.conflicts["height_in"] += 1

        spring = rng.random() < 0.3
        as_of = _day(rng, _SPRING_DAY, 13) if spring else _day(rng, _SEASON_DAY, 104)
        weight = p.weight_lb
        if vary and c is not None and c.weight_lb is not None and rng.random() < 0.4:
            # the older of the two weights is stale: a conflict the later date wins
            stale = p.weight_lb + rng.choice((-1, 1)) * rng.randrange(3, 13)
            if spring:
                c = replace(c, weight_lb=stale)
            else:
                weight = stale
            self.conflicts["weight_lb"] += 1

        yards = None if self._missing(plan, COLLEGE_STATS, sid, "yards", 0.04) else p.yards
        record = StatsRecord(
            player_id=sid,
            name=name,
            college=college,
            position=position,
            height_in=height,
            weight_lb=weight,
            weight_as_of=as_of,
            games=p.games,
            yards=yards,
            touchdowns=p.touchdowns,
        )
        return record, c

    def _stats_name(self, plan: _Plan, sid: str, vary: bool) -> str:
        p, rng = plan.prospect, self.rng
        first, last, suffix = p.first, p.last, p.suffix
        kinds = ["order"]
        if vary:
            if _has_accents(first + last) and rng.random() < 0.5:
                first, last = _drop_accents(first), _drop_accents(last)
                kinds.append("accents")
            if _has_punctuation(first + last) and rng.random() < 0.5:
                first, last = _drop_punctuation(first), _drop_punctuation(last)
                kinds.append("punctuation")
            if suffix is not None and rng.random() < 0.5:
                suffix = None if suffix.rstrip(".") == suffix or rng.random() < 0.5 else "Jr"
                kinds.append("suffix")
            if rng.random() < 0.03:
                first, last = first.upper(), last.upper()
                kinds.append("case")
        name = f"{last}, {first}" + (f" {suffix}" if suffix else "")
        if len(kinds) > 1:
            self._variant(plan, COLLEGE_STATS, sid, "name", name, p.full_name, tuple(kinds))
        return name

    def _injuries(
        self, combine: Sequence[CombineRecord], stats: Sequence[StatsRecord]
    ) -> tuple[InjuryLine, ...]:
        """The report: a line for some entities (always for a namesake pair's first and
        for the lines made to break a rule), and lines about nobody in the class."""
        rng = self.rng
        founded = {
            self.links[(COMBINE, str(r.combine_id))] for r in combine if not broken_rules(r)
        } | {self.links[(COLLEGE_STATS, r.player_id)] for r in stats if not broken_rules(r)}
        drafts: list[tuple[_Plan | None, str, str | None, tuple[str, ...]]] = []
        for plan in self.plans:
            p = plan.prospect
            if p.id not in founded or not (plan.injured or rng.random() < _INJURED):
                continue
            if plan.namesake:
                drafts.append((plan, f"{p.first[0]}. {p.last}", None, ("initial",)))
                continue
            name, kinds = self._injury_name(plan)
            if plan.corrupt == (INJURY_REPORT, "name_present"):
                name, kinds = "", ()
            drafts.append((plan, name, self._injury_college(p), kinds))
        people = [p.prospect for p in self.plans if p.prospect.id in founded]
        for _ in range(self.per_fault):
            drafts.append((None, *self._nobody(people), ()))
        rng.shuffle(drafts)

        lines: list[InjuryLine] = []
        for number, (about, name, college, kinds) in enumerate(drafts, start=1):
            key = f"INJ-{number:04d}"
            line = InjuryLine(
                report_id=key,
                name=name,
                college=college,
                status=rng.choice(_STATUSES),
                updated=_day(rng, _INJURY_DAY, 56),
            )
            lines.append(line)
            if about is None:
                continue
            self.links[(INJURY_REPORT, key)] = about.prospect.id
            if kinds:
                self._variant(
                    about, INJURY_REPORT, key, "name", name, about.prospect.full_name, kinds
                )
            if college is None:
                self.missing.append(Missing(source=INJURY_REPORT, key=key, field="college"))
            elif college != about.prospect.college:
                self._variant(
                    about,
                    INJURY_REPORT,
                    key,
                    "college",
                    college,
                    about.prospect.college,
                    ("alias",),
                )
        return tuple(lines)

    def _injury_name(self, plan: _Plan) -> tuple[str, tuple[str, ...]]:
        p, rng = plan.prospect, self.rng
        if rng.random() < 0.4:
            last = p.last.upper() if rng.random() < 0.1 else p.last
            kinds = ("initial", "case") if last != p.last else ("initial",)
            return f"{p.first[0]}. {last}", kinds
        first, last, suffix = p.first, p.last, p.suffix
        found: list[str] = []
        if _has_accents(first + last) and rng.random() < 0.6:
            first, last = _drop_accents(first), _drop_accents(last)
            found.append("accents")
        if suffix is not None and rng.random() < 0.5:
            suffix = None
            found.append("suffix")
        if rng.random() < 0.15:
            first, last = first.upper(), last.upper()
            found.append("case")
        return f"{first} {last}" + (f" {suffix}" if suffix else ""), tuple(found)

    def _injury_college(self, p: Prospect) -> str | None:
        rng = self.rng
        if rng.random() < 0.12:
            return None
        alias = _ALIAS_OF.get(p.college)
        return alias if alias is not None and rng.random() < 0.5 else p.college

    def _nobody(self, people: Sequence[Prospect]) -> tuple[str, str]:
        """A name and college that match no prospect of the class."""
        known = {_identity(p) for p in people}
        while True:
            name = f"{self.rng.choice(_FIRST)} {self.rng.choice(_LAST)}"
            college = self.rng.choice(_COLLEGES)
            if (name_key(name), college_key(college)) not in known:
                return name, college

    def _variant(
        self,
        plan: _Plan,
        source: Source,
        key: str,
        name: Literal["name", "college"],
        shown: str,
        true: str,
        kinds: tuple[str, ...],
    ) -> None:
        self.variants.append(
            Variant(
                entity=plan.prospect.id,
                source=source,
                key=key,
                field=name,
                shown=shown,
                true=true,
                kinds=kinds,
            )
        )


_Base = TypeVar("_Base", CombineRecord, StatsRecord)


def _corrupt(plan: _Plan, record: _Base) -> _Base:
    """The record made to break its plan's rule, if it is that source's."""
    if plan.corrupt is None:
        return record
    source, rule = plan.corrupt
    is_combine = isinstance(record, CombineRecord)
    if source != (COMBINE if is_combine else COLLEGE_STATS):
        return record
    if rule == "name_present":
        return replace(record, name="")
    if rule == "weight_positive":
        return replace(record, weight_lb=-plan.prospect.weight_lb)
    changes: dict[str, Any] = {"forty": 0.0}  # forty_positive: the combine's rule
    return replace(record, **changes)
