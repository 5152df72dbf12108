"""The end-of-run summary: what a run did, per stage, with timings and failures, and
what it sent to each host.

Built from a :class:`~scrapeline.ledger.base.RunReport`, which the ledger reads
back from its own tables; nothing here counts events. The per-host counts are the
ones the run stored with its summary (``hosts``), so ``runs`` shows them later too.
:func:`summarize` is pure, :func:`render_summary` draws it for a terminal, :func:`summary_dict`
gives the JSON form (``--json``, and stored with the run).

    report = ledger.report(run_id)
    summary = summarize(report, wall=812.4, reason=None, exit_code=0)
    render_summary(summary, Console())
    json.dumps(summary_dict(summary))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scrapeline.ledger.base import FailedTask, RunReport, Status
from scrapeline.observe.stats import format_duration, percentile

FAILURES_SHOWN = 20
"""How many failed items a summary lists; the rest are only counted."""

_PENDING = (Status.WAITING, Status.PENDING, Status.RUNNING)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRow:
    """Where one stage's tasks stand, and what this run did to them."""

    stage: str
    discovered: int
    """Tasks of this stage in any status: one per item of its kind."""
    done: int
    """Settled as done by this run."""
    skipped: int
    """Done before this run, so not run again."""
    failed: int
    """Failed now (after this run's attempts)."""
    pending: int
    """Not settled yet: waiting, pending or running."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StageTiming:
    """This run's attempt durations for one stage, successful and failed.

    ``total`` is the stage's busy time: its attempts' durations added up. With
    several workers it exceeds the wall time, and it is no part of it."""

    stage: str
    count: int
    p50: float
    p95: float
    total: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryCount:
    category: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HostRow:
    """What a run sent to one ``host:port`` and what came back (every attempt counts)."""

    host: str
    requests: int
    retries: int
    rate_limited: int
    """429 answers."""
    server_errors: int
    """5xx answers."""
    network_errors: int
    """Requests that got no answer: refused, reset, dropped, timed out."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Everything the end-of-run summary shows, as plain values.

    Counts of tasks and of items are kept apart: a task is one stage of one item."""

    run_id: int
    pipeline: str
    status: str
    exit_code: int
    reason: str | None
    """Why the run stopped early (halted, interrupted), if it did."""
    wall: float
    settled: int
    """Tasks this run settled, done or failed: one per (item, stage), so an item with
    three stages counts three times."""
    tasks_per_second: float
    """``settled`` over the wall time."""
    items: int
    """Distinct items, (kind, key), with a task settled (done or failed) by this run:
    the ledger's ``items_settled``."""
    items_per_second: float
    """``items`` over the wall time."""
    stages: tuple[StageRow, ...]
    timings: tuple[StageTiming, ...]
    """Only stages with at least one attempt this run, in stage order."""
    categories: tuple[CategoryCount, ...]
    """Error categories, most frequent first."""
    failures: tuple[FailedTask, ...]
    """At most :data:`FAILURES_SHOWN` failed items."""
    failures_left_out: int
    hosts: tuple[HostRow, ...] = ()
    """Per host, in host order: what the run's fetch client stored with its summary."""
    items_changed: int = 0
    """Values of items already in the ledger that this run changed when it found
    them again (a corrected score in a listing): the ledger's ``items_changed``."""
    refreshed_unchanged: int = 0
    """Tasks run again for a refresh that the site said were unchanged (nothing
    parsed, their records kept)."""
    refreshed_changed: int = 0
    """Tasks run again for a refresh and parsed anew."""
    warnings: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """``warn`` rules the run's stored records broke: table → rule → count (what the
    run stored with its summary)."""
    quarantined: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Records the run quarantined: table → ``{"records": n, "rules": {rule: n}}``."""

    @property
    def refreshed(self) -> int:
        """Tasks this run settled as done because they were within a refresh window."""
        return self.refreshed_unchanged + self.refreshed_changed


def summarize(
    report: RunReport,
    *,
    wall: float,
    reason: str | None,
    exit_code: int,
    status: str | None = None,
) -> Summary:
    """Condense a run report into a :class:`Summary`.

    Stages come in the order the report lists them (``counts`` first). ``status``
    overrides ``report.run.status``, for a report read before the run was closed.
    """
    stages = _stage_order(
        report.counts, report.done_this_run, report.failed_this_run, report.durations
    )
    rows = tuple(_stage_row(report, stage) for stage in stages)
    timings = tuple(
        StageTiming(
            stage=stage,
            count=len(values),
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            total=float(sum(values)),
        )
        for stage in stages
        if (values := report.durations.get(stage, ()))
    )
    categories = tuple(
        CategoryCount(category=category, count=count)
        for category, count in sorted(report.categories.items(), key=lambda kv: (-kv[1], kv[0]))
        if count > 0
    )
    settled = sum(report.done_this_run.values()) + sum(report.failed_this_run.values())
    failures = tuple(report.failures[:FAILURES_SHOWN])
    return Summary(
        run_id=report.run.id,
        pipeline=report.run.pipeline,
        status=status if status is not None else str(report.run.status),
        exit_code=exit_code,
        reason=reason,
        wall=wall,
        settled=settled,
        tasks_per_second=_rate(settled, wall),
        items=report.items_settled,
        items_per_second=_rate(report.items_settled, wall),
        stages=rows,
        timings=timings,
        categories=categories,
        failures=failures,
        # the ledger lists a bounded number of failures; the categories count them all
        failures_left_out=max(len(report.failures), sum(report.categories.values()))
        - len(failures),
        hosts=host_rows(report.run.summary),
        items_changed=report.items_changed,
        refreshed_unchanged=report.refreshed_unchanged,
        refreshed_changed=report.refreshed_changed,
        warnings=_stored_counts(report.run.summary.get("warnings")),
        quarantined=_stored_quarantine(report.run.summary.get("quarantined")),
    )


def _stored_counts(stored: Any) -> dict[str, dict[str, int]]:
    """Table → rule → count as a run stored it; nothing for what is not that."""
    if not isinstance(stored, Mapping):
        return {}
    return {
        str(table): {str(r): n for r, n in rules.items() if isinstance(n, int)}
        for table, rules in stored.items()
        if isinstance(rules, Mapping)
    }


def _stored_quarantine(stored: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(stored, Mapping):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for table, entry in stored.items():
        if isinstance(entry, Mapping) and isinstance(entry.get("records"), int):
            rules = _stored_counts({"": entry.get("rules", {})}).get("", {})
            out[str(table)] = {"records": entry["records"], "rules": rules}
    return out


def quarantined_line(quarantined: Mapping[str, Mapping[str, Any]]) -> str:
    """What a run quarantined, in one line:

    >>> quarantined_line({"matches": {"records": 3, "rules": {"greater_than_equal": 2,
    ...                   "half_time_within_full_time": 1}}})
    'quarantined 3 records (matches 3: greater_than_equal 2, half_time_within_full_time 1)'
    """
    total = sum(int(e["records"]) for e in quarantined.values())
    tables = "; ".join(
        f"{table} {e['records']}: " + ", ".join(f"{r} {n}" for r, n in e["rules"].items())
        for table, e in quarantined.items()
    )
    return f"quarantined {_plural(total, 'record')} ({tables})"


def warnings_line(warnings: Mapping[str, Mapping[str, int]]) -> str:
    """The ``warn`` rules broken, in one line:

    >>> warnings_line({"matches": {"not_a_rout": 12}, "teams": {"a": 1, "b": 2}})
    'warnings: matches not_a_rout 12 · teams a 1, b 2'
    """
    return "warnings: " + " · ".join(
        f"{table} " + ", ".join(f"{rule} {n}" for rule, n in rules.items())
        for table, rules in warnings.items()
    )


def host_rows(stored: Mapping[str, Any]) -> tuple[HostRow, ...]:
    """The per-host counts a run stored with its summary (``{"hosts": {...}}``), in
    host order; none for a run that stored none (an older run, a re-parse).

    >>> [(row.host, row.requests, row.retries, row.rate_limited)
    ...  for row in host_rows({"hosts": {"h:80": {"requests": 3, "retries": 1}}})]
    [('h:80', 3, 1, 0)]
    """
    hosts = stored.get("hosts")
    if not isinstance(hosts, Mapping):
        return ()
    rows = []
    for host, counts in sorted(hosts.items()):
        if not isinstance(counts, Mapping):
            continue

        def count(name: str, counts: Mapping[str, Any] = counts) -> int:
            value = counts.get(name, 0)
            return value if isinstance(value, int) else 0

        rows.append(
            HostRow(
                host=str(host),
                requests=count("requests"),
                retries=count("retries"),
                rate_limited=count("rate_limited"),
                server_errors=count("server_errors"),
                network_errors=count("network_errors"),
            )
        )
    return tuple(rows)


def host_line(row: HostRow) -> str:
    """One host as the summary, ``runs`` and ``status`` show it; requests that got no
    answer only when there were some::

    >>> host_line(HostRow(host="127.0.0.1:8000", requests=20774, retries=12,
    ...                   rate_limited=3, server_errors=9, network_errors=0))
    '127.0.0.1:8000  requests 20,774  retries 12  429s 3  5xx 9'
    >>> host_line(HostRow(host="h:443", requests=4, retries=3,
    ...                   rate_limited=0, server_errors=0, network_errors=4))
    'h:443  requests 4  retries 3  429s 0  5xx 0  no answer 4'
    """
    line = (
        f"{row.host}  requests {row.requests:,}  retries {row.retries:,}"
        f"  429s {row.rate_limited:,}  5xx {row.server_errors:,}"
    )
    if row.network_errors:
        line += f"  no answer {row.network_errors:,}"
    return line


def _rate(count: int, wall: float) -> float:
    return count / wall if wall > 0 else 0.0


def _stage_order(*maps: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for stages in maps:
        for stage in stages:
            seen.setdefault(stage, None)
    return list(seen)


def _stage_row(report: RunReport, stage: str) -> StageRow:
    counts: Mapping[str, int] = report.counts.get(stage, {})
    done_this_run = report.done_this_run.get(stage, 0)
    return StageRow(
        stage=stage,
        discovered=sum(counts.values()),
        done=done_this_run,
        skipped=max(counts.get(Status.DONE, 0) - done_this_run, 0),
        failed=counts.get(Status.FAILED, 0),
        pending=sum(counts.get(status, 0) for status in _PENDING),
    )


def reason_line(status: str, reason: str) -> str:
    """ "Halted: 3 consecutive failures: likely banned or site down"."""
    return f"{status.capitalize()}: {reason}"


def verdict(summary: Summary) -> str | None:
    """Why a run's exit code is not 0, in words: the summary's first line, which is
    all a cron mail's subject or a log's tail may show. None for exit 0.

    The failed items are counted per stage (the tasks failed now, what makes the
    exit code 1); the reason is the run's own (a halt, an interrupt, a discovery
    that failed). A failed run names its failed items first, any other its reason::

    >>> def run(status, code, reason=None, failed=()):
    ...     rows = tuple(StageRow(stage=s, discovered=n, done=0, skipped=0, failed=n,
    ...                           pending=0) for s, n in failed)
    ...     return Summary(run_id=7, pipeline="football", status=status, exit_code=code,
    ...                    reason=reason, wall=1.0, settled=0, tasks_per_second=0.0,
    ...                    items=0, items_per_second=0.0, stages=rows, timings=(),
    ...                    categories=(), failures=(), failures_left_out=0)
    >>> verdict(run("failed", 1, failed=[("overview", 2), ("lineups", 1)]))
    'run 7 of football: FAILED (exit 1) — 3 items failed: overview ×2, lineups ×1'
    >>> verdict(run("halted", 3, "host 127.0.0.1:8000 down"))
    'run 7 of football: HALTED (exit 3) — host 127.0.0.1:8000 down'
    >>> verdict(run("interrupted", 130, "time limit", failed=[("overview", 1)]))
    'run 7 of football: INTERRUPTED (exit 130) — time limit; 1 item failed: overview ×1'
    >>> verdict(run("failed", 1, "discovery failed: results offset 0: HTTP 503"))
    'run 7 of football: FAILED (exit 1) — discovery failed: results offset 0: HTTP 503'
    >>> verdict(run("done", 0)) is None
    True
    """
    if summary.exit_code == 0:
        return None
    failed = [(row.stage, row.failed) for row in summary.stages if row.failed > 0]
    items = ""
    if failed:
        count = sum(n for _, n in failed)
        items = f"{_plural(count, 'item')} failed: " + ", ".join(f"{s} ×{n}" for s, n in failed)
    parts = [items, summary.reason or ""]
    if summary.status != "failed":
        parts.reverse()  # what stopped the run comes first; items failed on the way after
    why = "; ".join(part for part in parts if part)
    line = f"run {summary.run_id} of {summary.pipeline}: {summary.status.upper()}"
    line += f" (exit {summary.exit_code})"
    return f"{line} — {why}" if why else line


def render_summary(summary: Summary, console: Console) -> None:
    """Print the summary: why the exit code is not 0 (:func:`verdict`), headline,
    stage table, error categories, failed items.

    Every piece of user data is printed as plain text, never read as markup.
    """
    first = verdict(summary)
    if first is not None:
        console.print(Text(first, style="bold red"), soft_wrap=True)
    elif summary.reason is not None:
        console.print(
            Text(reason_line(summary.status, summary.reason), style="bold red"), soft_wrap=True
        )
    console.print(_headline(summary), soft_wrap=True)
    if summary.stages:
        console.print(_stage_table(summary))
    if summary.refreshed:
        console.print(Text(refreshed_line(summary)), soft_wrap=True)
    for host in summary.hosts:
        console.print(Text(host_line(host)), soft_wrap=True)
    if summary.items_changed:
        console.print(Text(changed_line(summary.items_changed)), soft_wrap=True)
    if summary.quarantined:
        console.print(Text(quarantined_line(summary.quarantined), style="red"), soft_wrap=True)
    if summary.warnings:
        console.print(Text(warnings_line(summary.warnings), style="yellow"), soft_wrap=True)
    if summary.categories:
        errors = " · ".join(f"{c.category} {c.count}" for c in summary.categories)
        console.print(Text(f"errors: {errors}"), soft_wrap=True)
    if summary.failures:
        console.print(Text("failed items:"))
        for failure in summary.failures:
            line = Text("  ")
            line.append(f"{failure.stage} {failure.kind} {failure.key} ")
            line.append(f"{failure.category}: ", style="red")
            line.append(first_line(failure.message))
            console.print(line, soft_wrap=True)
        if summary.failures_left_out > 0:
            console.print(Text(f"  … and {summary.failures_left_out} more"))


def headline(summary: Summary) -> str:
    """ "run 12 of football: done · 3m12s wall · 180 items · 225 tasks settled · 1.2 tasks/s
    · exit 0": items are distinct (kind, key), tasks one per item and stage."""
    return (
        f"run {summary.run_id} of {summary.pipeline}: {summary.status}"
        f" · {format_duration(summary.wall)} wall"
        f" · {_plural(summary.items, 'item')}"
        f" · {_plural(summary.settled, 'task')} settled"
        f" · {summary.tasks_per_second:.1f} tasks/s"
        f" · exit {summary.exit_code}"
    )


def changed_line(count: int) -> str:
    """ "3 item values changed since they were last seen (the run log lists them)"."""
    values = "item value" if count == 1 else "item values"
    return f"{count} {values} changed since they were last seen (the run log lists them)"


def refreshed_line(summary: Summary) -> str:
    """ "refreshed 12: 9 unchanged, 3 changed": the tasks run again for a refresh,
    those the site said had not changed and those parsed anew."""
    return (
        f"refreshed {summary.refreshed}: {summary.refreshed_unchanged} unchanged, "
        f"{summary.refreshed_changed} changed"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _headline(summary: Summary) -> Text:
    return Text(headline(summary), style="bold")


def _stage_table(summary: Summary) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("stage", no_wrap=True)
    # Counts are tasks (one per item of the stage's kind); p50/p95 are one task's
    # time; "busy" is the stage's task times added up, which workers overlap.
    for name in ("discovered", "done", "skipped", "failed", "pending", "p50", "p95", "busy"):
        # no_wrap: a header cut to "discover…" on an 80-column console reads as noise
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    timings = {timing.stage: timing for timing in summary.timings}
    for row in summary.stages:
        timing = timings.get(row.stage)
        times = (
            [format_duration(t) for t in (timing.p50, timing.p95, timing.total)]
            if timing is not None
            else ["-", "-", "-"]
        )
        table.add_row(
            Text(row.stage),
            str(row.discovered),
            str(row.done),
            str(row.skipped),
            Text(str(row.failed), style="red" if row.failed else ""),
            str(row.pending),
            *times,
        )
    return table


def first_line(message: str) -> str:
    """The first non-blank line of a message (tracebacks stay in the log file)."""
    lines = message.strip().splitlines()
    return lines[0] if lines else ""


def summary_dict(summary: Summary) -> dict[str, Any]:
    """The summary as JSON-able values (``--json``, and stored with the run)."""
    return {
        "run": summary.run_id,
        "pipeline": summary.pipeline,
        "status": summary.status,
        "exit_code": summary.exit_code,
        "reason": summary.reason,
        "wall": summary.wall,
        "settled": summary.settled,
        "tasks_per_second": summary.tasks_per_second,
        "items": summary.items,
        "items_per_second": summary.items_per_second,
        "stages": [
            {
                "stage": row.stage,
                "discovered": row.discovered,
                "done": row.done,
                "skipped": row.skipped,
                "failed": row.failed,
                "pending": row.pending,
            }
            for row in summary.stages
        ],
        "timings": [
            {
                "stage": timing.stage,
                "count": timing.count,
                "p50": timing.p50,
                "p95": timing.p95,
                "total": timing.total,
            }
            for timing in summary.timings
        ],
        "categories": {c.category: c.count for c in summary.categories},
        "failures": [
            {
                "stage": failure.stage,
                "kind": failure.kind,
                "key": failure.key,
                "category": failure.category,
                "message": failure.message,
                "attempts": failure.attempts,
            }
            for failure in summary.failures
        ],
        "failures_left_out": summary.failures_left_out,
        "hosts": hosts_dict(summary.hosts),
        "items_changed": summary.items_changed,
        "refreshed": {
            "unchanged": summary.refreshed_unchanged,
            "changed": summary.refreshed_changed,
        },
        "warnings": {t: dict(r) for t, r in summary.warnings.items()},
        "quarantined": {
            t: {"records": e["records"], "rules": dict(e["rules"])}
            for t, e in summary.quarantined.items()
        },
    }


def hosts_dict(rows: Iterable[HostRow]) -> dict[str, dict[str, int]]:
    """Per-host counts as JSON-able values, the form a run stores them in."""
    return {
        row.host: {
            "requests": row.requests,
            "retries": row.retries,
            "rate_limited": row.rate_limited,
            "server_errors": row.server_errors,
            "network_errors": row.network_errors,
        }
        for row in rows
    }
