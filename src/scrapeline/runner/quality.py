"""What a run's records broke, counted: ``warn`` rules per (table, rule), and records
quarantined per table with the rules they broke.

Counted in the runner as outcomes are committed (a few dict additions per task that
broke something; nothing per record that broke nothing, and no event per warning),
and stored with the run's summary when it ends (``warnings``, ``quarantined``), which
``runs ID --json`` shows and the end-of-run summary prints. A run that dies without
ending (SIGKILL, power loss) stores no counts: its quarantined records are still in
the quarantine, its warnings are not kept anywhere else.

    >>> tally = QualityTally()
    >>> tally.warned([("matches", "not_a_rout"), ("matches", "not_a_rout")])
    >>> tally.refused([("matches", ("greater_than_equal",)), ("matches", ("ge", "x"))])
    >>> tally.as_summary()
    {'warnings': {'matches': {'not_a_rout': 2}}, 'quarantined': {'matches': \
{'records': 2, 'rules': {'greater_than_equal': 1, 'ge': 1, 'x': 1}}}}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class QualityTally:
    """Counts of the rules a run's committed records broke."""

    def __init__(self) -> None:
        self._warnings: dict[str, dict[str, int]] = {}
        self._quarantined: dict[str, dict[str, Any]] = {}

    def warned(self, broken: Iterable[tuple[str, str]]) -> None:
        """Count ``warn`` rules broken by stored records: (table, rule) each."""
        for table, rule in broken:
            rules = self._warnings.setdefault(table, {})
            rules[rule] = rules.get(rule, 0) + 1

    def refused(self, records: Iterable[tuple[str, Sequence[str]]]) -> None:
        """Count quarantined records: (table, the rules it broke) each."""
        for table, rules in records:
            entry = self._quarantined.setdefault(table, {"records": 0, "rules": {}})
            entry["records"] += 1
            for rule in rules:
                entry["rules"][rule] = entry["rules"].get(rule, 0) + 1

    def __bool__(self) -> bool:
        return bool(self._warnings or self._quarantined)

    def as_summary(self) -> dict[str, Any]:
        """The counts as the run's summary stores them (tables and rules in name order
        for tables, in the order first met for rules); empty when nothing was broken."""
        out: dict[str, Any] = {}
        if self._warnings:
            out["warnings"] = {t: dict(r) for t, r in sorted(self._warnings.items())}
        if self._quarantined:
            out["quarantined"] = {
                t: {"records": e["records"], "rules": dict(e["rules"])}
                for t, e in sorted(self._quarantined.items())
            }
        return out
