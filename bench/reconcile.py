"""Benchmark 10: reconciliation. How fast are 100,000 source records from three sources
made into about 40,000 entities, and how fast is a 1 % change taken in?

The records are generated with a fixed seed (:func:`generate`): ``people`` prospects,
each in the combine source (80 %), the college-stats source (90 %, its columns named
``full_name`` and ``school``) and the injury report (80 %, a required source), with
their names spelt in each source's own way (accents dropped or not, "Last, First",
"Jr."/"III" suffixes, upper case, initials), colleges under aliases ("USC" for
"Southern California"), missing fields, values that disagree (weights re-measured,
positions named differently), about 2 % of names shared by two prospects (the
tie-breakers tell most apart, some stay ambiguous) and injury reports for people no
other source knows (unresolved).

Measured, in this process, for ``rounds`` rounds: ``reconcile`` of all of them
(target ≤ 10 s), then :meth:`Reconciler.update` with 1 % of the source records changed
(corrections and removals; target ≤ 1 s). Wall and CPU time are both kept (the machine
is shared: CPU time shows what the wall time lost to other work). Checked: the
reconciler's state after the update equals a full reconcile of the changed inputs, and
the outputs of every round are identical. One more full run with fuzzy matching on is
reported beside it (no target).
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from typing import Any

from bench.common import Mode, Result, say, spread

SEED = 20_250_601
SYLLABLES = [
    "ba", "be", "bo", "da", "de", "di", "ka", "ke", "ko", "la", "le", "li", "lo", "ma",
    "me", "mi", "na", "ne", "no", "ra", "re", "ri", "ro", "sa", "se", "si", "ta", "te",
    "to", "va", "vi", "za", "zo", "mar", "son", "ton", "ley", "ner", "kin", "vin",
]  # fmt: skip
ACCENTED = {"a": "á", "e": "é", "i": "í", "o": "ó", "n": "ñ"}
COLLEGES = [
    ("Southern California", "USC"),
    ("Alabama", "Bama"),
    ("Ohio State", "OSU"),
    ("Louisiana State", "LSU"),
    ("Texas A&M", "TAMU"),
    ("Brigham Young", "BYU"),
    ("Central Florida", "UCF"),
    ("Georgia", None),
    ("Iowa", None),
    ("Oregon", None),
    ("Clemson", None),
    ("Michigan", None),
]
POSITIONS = [("QB", "QB"), ("LB", "OLB"), ("DE", "EDGE"), ("WR", "WR"), ("CB", "DB")]
SUFFIXES = ["Jr.", "III", "II", "Sr."]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


def _accent(rng: random.Random, word: str) -> str:
    if rng.random() < 0.5:
        return word
    return "".join(ACCENTED.get(ch, ch) if rng.random() < 0.3 else ch for ch in word)


def _spell(rng: random.Random, first: str, last: str, suffix: str | None) -> str:
    """One source's spelling of a name."""
    first, last = _accent(rng, first), _accent(rng, last)
    tail = f" {suffix}" if suffix and rng.random() < 0.6 else ""
    form = rng.random()
    if form < 0.25:
        return f"{last}, {first}{tail}"
    if form < 0.35:
        return f"{first} {last}{tail}".upper()
    if form < 0.38:
        return f"{first[0]}. {last}"
    return f"{first}  {last}{tail}" if form < 0.45 else f"{first} {last}{tail}"


def generate(people: int, seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """The three sources' records for ``people`` prospects (see the module docstring)."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {"combine": [], "stats": [], "injuries": []}
    names: list[tuple[str, str]] = []
    for n in range(people):
        if names and rng.random() < 0.02:
            first, last = rng.choice(names)  # a namesake: another prospect of that name
        else:
            first, last = _word(rng, rng.choice([1, 2, 2])), _word(rng, rng.choice([2, 3]))
            names.append((first, last))
        suffix = rng.choice(SUFFIXES) if rng.random() < 0.08 else None
        college, alias = rng.choice(COLLEGES)
        position, other = rng.choice(POSITIONS)
        weight = rng.randrange(170, 330)
        if rng.random() < 0.8:
            out["combine"].append(
                {
                    "combine_id": n,
                    "name": _spell(rng, first, last, suffix),
                    "college": alias if alias and rng.random() < 0.3 else college,
                    "position": position,
                    "weight": weight,
                    "height": rng.randrange(68, 80) if rng.random() < 0.9 else None,
                    "measured_on": f"2025-02-{rng.randrange(1, 28):02d}",
                }
            )
        if rng.random() < 0.9:
            out["stats"].append(
                {
                    "stats_id": f"s{n}",
                    "full_name": _spell(rng, first, last, suffix),
                    "school": (alias if alias and rng.random() < 0.5 else college)
                    if rng.random() < 0.95
                    else None,
                    "position": other if rng.random() < 0.4 else position,
                    "weight": weight + rng.choice([0, 0, 0, -3, 4]),
                    "height": rng.randrange(68, 80) if rng.random() < 0.5 else None,
                    "measured_on": f"2024-{rng.randrange(9, 13):02d}-01",
                    "games": rng.randrange(0, 14),
                }
            )
        if rng.random() < 0.8:
            out["injuries"].append(
                {
                    "team": rng.choice(["draft", "pre", "post"]),
                    "report_id": n,
                    "name": _spell(rng, first, last, suffix),
                    "status": rng.choice(["healthy", "healthy", "questionable", "out"]),
                }
            )
    for n in range(people // 200):  # reports about people no other source knows
        out["injuries"].append(
            {
                "team": "draft",
                "report_id": 10_000_000 + n,
                "name": f"{_word(rng, 2)} {_word(rng, 3)}",
                "status": "out",
            }
        )
    return out


def edits(
    records: dict[str, list[dict[str, Any]]], share: float, seed: int = SEED + 1
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[Any]], dict[str, list[dict[str, Any]]]]:
    """``share`` of the records changed: corrections (weight, college, spelling) and a
    few removals. Returns the changed records, the removed keys, and the new inputs."""
    rng = random.Random(seed)
    changed: dict[str, list[dict[str, Any]]] = {}
    removed: dict[str, list[Any]] = {}
    new: dict[str, list[dict[str, Any]]] = {}
    for name, rows in records.items():
        kept = []
        for row in rows:
            if rng.random() >= share:
                kept.append(row)
                continue
            if rng.random() < 0.1:
                key = row.get("combine_id", row.get("stats_id"))
                removed.setdefault(name, []).append(
                    key if key is not None else [row["team"], row["report_id"]]
                )
                continue
            row = dict(row)
            if "weight" in row:
                row["weight"] = (row["weight"] or 200) + rng.choice([-5, 5])
            if name == "injuries":
                row["status"] = rng.choice(["out", "healthy"])
            elif rng.random() < 0.3:
                college = rng.choice(COLLEGES)[0]
                row["college" if name == "combine" else "school"] = college
            changed.setdefault(name, []).append(row)
            kept.append(row)
        new[name] = kept
    return changed, removed, new


def declare(fuzzy_threshold: float | None = None) -> Any:
    from scrapeline import Pipeline
    from scrapeline.quality.authority import custom, latest, most_frequent, prefer
    from scrapeline.quality.reconcile import fuzzy, source

    def worst(values: dict[str, Any]) -> Any:
        order = ["out", "questionable", "healthy"]
        return min(values.values(), key=lambda v: order.index(v) if v in order else 3)

    pipe = Pipeline("draft")
    pipe.table("combine_players", key="combine_id")
    pipe.table("college_stats", key="stats_id")
    pipe.table("injury_report", key=("team", "report_id"))
    return pipe.reconcile(
        "prospects",
        sources={
            "combine": "combine_players",
            "stats": source("college_stats", rename={"full_name": "name", "school": "college"}),
            "injuries": "injury_report",
        },
        identity="name",
        tie_breakers=("college", "position"),
        fields={
            "weight": latest("measured_on"),
            "height": prefer("combine", "stats"),
            "position": most_frequent(),
            "status": custom(worst),
        },
        aliases={"college": {alias: college for college, alias in COLLEGES if alias}},
        fuzzy=None if fuzzy_threshold is None else fuzzy(threshold=fuzzy_threshold),
        required={"injuries"},
        key="prospect_id",
    )


def _fingerprint(result: Any) -> str:
    """A digest of a result's tables: rounds compared without keeping each one."""
    import hashlib

    import orjson

    tables = [result.entities, result.sources, result.conflicts, result.unresolved]
    return hashlib.sha256(orjson.dumps(tables, default=repr)).hexdigest()


def _same(a: Any, b: Any) -> bool:
    return bool(
        a.entities == b.entities
        and a.sources == b.sources
        and a.conflicts == b.conflicts
        and a.unresolved == b.unresolved
    )


def run(mode: Mode, *, people: int = 40_000, rounds: int = 3, share: float = 0.01) -> Result:
    from scrapeline.quality import normalise
    from scrapeline.quality.reconcile import Reconciler, reconcile

    records = generate(people)
    total = sum(len(rows) for rows in records.values())
    changed, removed, new = edits(records, share)
    touched = sum(len(v) for v in changed.values()) + sum(len(v) for v in removed.values())
    say(f"reconcile: {total:,} source records of {people:,} prospects; {touched:,} changed")
    decl = declare()
    full_times: list[float] = []
    full_cpu: list[float] = []
    update_times: list[float] = []
    update_cpu: list[float] = []
    problems: list[str] = []
    first: Any = None
    first_print = ""
    change: Any = None
    for n in range(rounds):
        normalise.normalise_name.cache_clear()  # every round starts cold
        normalise.normalise_text.cache_clear()
        normalise.initial_form.cache_clear()
        reconciler = None  # the last round's state is garbage before this one starts
        gc.collect()
        reconciler = Reconciler(decl)
        t0, c0 = time.perf_counter(), time.process_time()
        result = reconciler.update(records)
        full_times.append(time.perf_counter() - t0)
        full_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        change = reconciler.update(changed, removed)
        update_times.append(time.perf_counter() - t0)
        update_cpu.append(time.process_time() - c0)
        say(
            f"  round {n + 1}: full {full_times[-1]:.2f} s (CPU {full_cpu[-1]:.2f} s), "
            f"update {update_times[-1]:.3f} s (CPU {update_cpu[-1]:.3f} s)"
        )
        if first is None:
            first, first_print = result, _fingerprint(result)
            recomputed = reconcile(decl, new)
            if not _same(reconciler.result(), recomputed):
                problems.append("the state after the update differs from a full recompute")
            del recomputed
        elif _fingerprint(result) != first_print:
            problems.append(f"round {n + 1} gave other outputs than round 1")
        del result
    assert first is not None and change is not None
    reasons: dict[str, int] = {}
    for row in first.unresolved:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    fields: dict[str, int] = {}
    for row in first.conflicts:
        fields[row["field"]] = fields.get(row["field"], 0) + 1

    reconciler = None
    normalise.normalise_name.cache_clear()
    normalise.normalise_text.cache_clear()
    normalise.initial_form.cache_clear()
    gc.collect()
    t0 = time.perf_counter()
    fuzzy_result = reconcile(declare(fuzzy_threshold=90), records)
    fuzzy_time = time.perf_counter() - t0
    say(f"  fuzzy (threshold 90): {fuzzy_time:.2f} s, {len(fuzzy_result.entities):,} entities")
    for problem in problems:
        say(f"  PROBLEM: {problem}")
    return Result(
        name="reconcile",
        mode=mode,
        data={
            "seed": SEED,
            "people": people,
            "source_records": {name: len(rows) for name, rows in records.items()},
            "records": total,
            "rounds": rounds,
            "entities": len(first.entities),
            "conflicts": len(first.conflicts),
            "conflicts_by_field": dict(sorted(fields.items())),
            "unresolved": len(first.unresolved),
            "unresolved_by_reason": dict(sorted(reasons.items())),
            "full_s": spread(full_times),
            "full_cpu_s": spread(full_cpu),
            "records_per_s": total / statistics.median(full_times),
            "change_share": share,
            "changed_records": touched,
            "update_s": spread(update_times),
            "update_cpu_s": spread(update_cpu),
            "update": {
                "entities_upserted": len(change.entities),
                "entities_removed": len(change.removed),
                "conflicts": len(change.conflicts),
                "unresolved": len(change.unresolved),
                "settled": len(change.settled),
            },
            "fuzzy": {
                "threshold": 90,
                "full_s": fuzzy_time,
                "entities": len(fuzzy_result.entities),
                "unresolved": len(fuzzy_result.unresolved),
            },
            "targets": {"full_s": 10.0, "update_s": 1.0},
            "update_equals_full_recompute": not any("recompute" in p for p in problems),
            "problems": problems,
        },
    )
