"""``freshness``: the published data's age against the configuration's limits, and the
"stale data" alert when it is too old.

    rules = freshness_rules(effective.resolved.freshness, max_age="24h")
    checked = await check_and_alert("football", Path("data/football"), rules,
                                    notifiers, now=datetime.now(UTC))
    checked.report.stale      # True: a "stale" alert went to every notifier that wants it

The limits come from ``[freshness]`` of scrapeline.toml (its profiles too)::

    [freshness]
    max_age = "24h"                                    # the latest snapshot itself
    matches = { column = "date", max_age = "3d" }      # the newest match

and the command line over them (:func:`freshness_rules`). The clock is the caller's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scrapeline.durations import parse_duration
from scrapeline.errors import ConfigError
from scrapeline.ops.config_file import FreshnessSettings
from scrapeline.ops.notify import Alert, Delivery, Notifier, deliver
from scrapeline.quality.freshness import FreshnessReport, TableRule, check_freshness

__all__ = ["Checked", "Rules", "check_and_alert", "freshness_rules", "stale_alert"]


@dataclass(frozen=True, kw_only=True)
class Rules:
    """What ``freshness`` checks: the snapshot's allowed age (None: not checked) and
    each table's rule."""

    max_age: float | None
    tables: dict[str, TableRule]


def _seconds(value: str | float) -> float:
    return parse_duration(value) if isinstance(value, str) else float(value)


def freshness_rules(
    configured: FreshnessSettings | None,
    *,
    max_age: str | None = None,
    table: str | None = None,
    column: str | None = None,
) -> Rules:
    """The checks of one ``freshness`` command: ``--max-age`` over the file's
    ``max_age`` for the snapshot; with ``--table``, that table alone (``--column``, else
    the file's column for it), allowed ``--max-age`` (else the file's age for it);
    otherwise every table of the file. Raises ConfigError for ``--column`` without
    ``--table``, a table with no column, or nothing to check.

    >>> freshness_rules(None, max_age="24h", table="matches", column="date")
    Rules(max_age=86400.0, tables={'matches': TableRule(column='date', max_age=86400.0)})
    """
    if column is not None and table is None:
        raise ConfigError("--column goes with --table")
    file_tables = configured.tables() if configured is not None else {}
    snapshot_age = _seconds(max_age) if max_age is not None else None
    if snapshot_age is None and configured is not None and configured.max_age is not None:
        snapshot_age = _seconds(configured.max_age)
    tables: dict[str, TableRule] = {}
    if table is not None:
        known = file_tables.get(table)
        chosen = column or (known.column if known else None)
        if chosen is None:
            raise ConfigError(
                f"--table {table}: which column holds its dates? --column NAME, or "
                f'[freshness] {table} = {{ column = "...", max_age = "..." }} in scrapeline.toml'
            )
        age = snapshot_age if max_age is not None else None
        if age is None and known is not None:
            age = _seconds(known.max_age)
        if age is None:
            raise ConfigError(f"--table {table}: how old may it be? --max-age, e.g. 3d")
        tables[table] = TableRule(column=chosen, max_age=age)
    else:
        tables = {
            name: TableRule(column=rule.column, max_age=_seconds(rule.max_age))
            for name, rule in file_tables.items()
        }
    if snapshot_age is None and not tables:
        raise ConfigError(
            "nothing to check: --max-age 24h, or a [freshness] table in scrapeline.toml"
        )
    return Rules(max_age=snapshot_age, tables=tables)


@dataclass(frozen=True, kw_only=True)
class Checked:
    report: FreshnessReport
    deliveries: tuple[Delivery, ...] = ()


def stale_alert(pipeline: str, report: FreshnessReport, *, profile: str | None) -> Alert:
    """The "stale data" alert: the pipeline, the profile, the snapshot, each check."""
    where = f" ({profile})" if profile else ""
    body = [
        f"pipeline {pipeline}{where}: the published data are older than allowed",
        f"snapshot {report.snapshot} at {report.path}",
        *(("STALE " if c.stale else "ok    ") + c.line() for c in report.checks),
        f"check again: scrapeline freshness {pipeline}",
    ]
    return Alert(
        event="stale",
        title=f"scrapeline {pipeline}{where}: stale data",
        body="\n".join(body),
        level="warning",
    )


async def check_and_alert(
    pipeline: str,
    data_dir: Path,
    rules: Rules,
    notifiers: Sequence[Notifier],
    *,
    now: datetime,
    profile: str | None = None,
    secrets: Sequence[str] = (),
) -> Checked:
    """Check the latest snapshot of ``data_dir`` against ``rules`` at ``now`` and,
    when it is stale, send the "stale" alert to each notifier that wants it (a
    notifier that fails is logged and changes nothing). Raises what
    :func:`~scrapeline.quality.freshness.check_freshness` raises."""
    report = check_freshness(data_dir, max_age=rules.max_age, tables=rules.tables, now=now)
    if not report.stale:
        return Checked(report=report)
    alert = stale_alert(pipeline, report, profile=profile)
    deliveries = [
        await deliver(n, alert, secrets=secrets) for n in notifiers if n.wants(alert.event)
    ]
    return Checked(report=report, deliveries=tuple(deliveries))
