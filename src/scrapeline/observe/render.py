"""What each event of a run says, in words: the one place that turns an event into text.

Both reporters print what :func:`render` returns: the console shows ``line.text``
(styled for a terminal, ``.plain`` for a pipe), the log file writes ``line.log`` at
``line.level``. Run events and fetch events go through the same function, so a
host that is paused or a breaker that opens reads the same wherever it is seen.

    >>> from datetime import datetime
    >>> from scrapeline.fetch.events import HostPaused
    >>> line = render(
    ...     HostPaused(host="127.0.0.1:8123", seconds=30.0, reason="HTTP 429 Too Many Requests"),
    ...     now=datetime(2026, 5, 1, 4, 12, 1),
    ... )
    >>> line.text.plain
    'host 127.0.0.1:8123 paused 30s (HTTP 429 Too Many Requests), resumes at 04:12:31'
    >>> line.shown, line.level == logging.WARNING
    (True, True)

Everything here is pure: the wall clock is passed in. Text that may carry a URL
(fetch events' reasons and addresses) loses its credentials on the way
(:func:`scrapeline.secrets.redact`); the declared secrets are hidden further on,
by the CLI's output writers and the log file's filter.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.text import Text

from scrapeline.events import (
    DiscoveryFinished,
    Event,
    Log,
    PageDiscovered,
    RunFinished,
    RunHalted,
    RunStarted,
    ShutdownRequested,
    TaskDone,
    TaskFailed,
    WorkQueued,
)
from scrapeline.fetch.events import (
    BreakerClosed,
    BreakerOpened,
    Fetched,
    HostPaused,
    HostRecovered,
    HostSlowed,
    RetryScheduled,
)
from scrapeline.observe.stats import format_duration
from scrapeline.observe.summary import Summary, first_line, reason_line, summarize, summary_dict
from scrapeline.secrets import redact

__all__ = [
    "Line",
    "done_log",
    "done_text",
    "hold_status",
    "render",
    "summary_of",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One event, as the console and the log file put it.

    ``shown`` says whether a person watching sees it at the default verbosity
    (retries and engine debug messages are log-only unless asked for). An item
    line's ``text`` lacks the ``[settled/total]`` counter and the time left,
    which only the console knows."""

    level: int
    text: Text
    log: str
    shown: bool = True


def render(event: Event, *, now: datetime) -> Line | None:
    """The line an event reads as, or None for one that says nothing (a request
    that simply succeeded). ``now`` is the wall clock, for "resumes at"."""
    match event:
        case TaskDone():
            return Line(level=logging.DEBUG, text=_item(event, ok=True), log=done_log(event))
        case TaskFailed():
            return Line(
                level=logging.WARNING,
                text=_item(event, ok=False),
                log=(
                    f"failed {event.stage} {event.kind} {event.key} in {event.duration:.3f}s "
                    f"after {event.attempts} attempts: {event.category}: {event.message}"
                ),
            )
        case WorkQueued():
            return Line(
                level=logging.DEBUG,
                text=Text(f"{event.remaining} tasks left to settle"),
                log=f"{event.remaining} tasks left to settle",
                shown=False,
            )
        case PageDiscovered():
            counts = f"{event.keys} keys, {event.new} new"
            where = event.position if event.style == "offset" else event.page
            return Line(
                level=logging.INFO,
                text=Text(f"discover {event.discovery} {event.page}: {counts}"),
                # an offset is logged as a bare number, as it always was
                log=f"discover {event.discovery} at {where}: {counts}",
            )
        case DiscoveryFinished():
            pages = _plural(event.pages, "page")
            return Line(
                level=logging.INFO,
                text=Text(f"discover {event.discovery}: {pages}, {event.new} new ({event.reason})"),
                log=(
                    f"discover {event.discovery} finished: {event.pages} pages, "
                    f"{event.new} new ({event.reason})"
                ),
            )
        case ShutdownRequested():
            items = _plural(event.in_flight, "in-flight item")
            if event.forced:
                text = f"Cancelling {items}; they go back to pending"
            else:
                text = f"Stopping: finishing {items} (Ctrl+C again to cancel them)"
            doing = "cancelling" if event.forced else "draining"
            return Line(
                level=logging.WARNING,
                text=Text(text, style="yellow"),
                log=f"{event.signal} received: {doing} {event.in_flight} in-flight items",
            )
        case RunHalted():
            return Line(
                level=logging.ERROR,
                text=Text(reason_line("halted", event.reason), style="bold red"),
                log=f"halted: {event.reason}",
            )
        case RunStarted():
            text = f"run {event.run_id} of {event.pipeline} · data in {event.data_dir}"
            if event.log_path is not None:
                text += f" · log {event.log_path}"
            options = json.dumps(dict(event.options), default=str, sort_keys=True)
            return Line(
                level=logging.INFO,
                text=Text(text, style="bold"),
                log=(
                    f"run {event.run_id} of {event.pipeline} started; "
                    f"data in {event.data_dir}; options {options}"
                ),
            )
        case RunFinished():
            summary = summary_of(event)
            data = json.dumps(summary_dict(summary), default=str, ensure_ascii=False)
            return Line(
                level=logging.INFO,
                text=Text(f"run {summary.run_id} of {summary.pipeline}: {summary.status}"),
                log=f"run finished: {data}",
            )
        case Log():
            return Line(
                level=event.level,
                text=Text(event.message, style=_LEVEL_STYLES.get(event.level, "")),
                log=event.message,
                shown=event.level >= logging.INFO,
            )
        case HostPaused():
            text = redact(
                f"host {event.host} paused {_span(event.seconds)} ({event.reason}), "
                f"resumes at {_clock_time(now, event.seconds)}"
            )
            return Line(level=logging.WARNING, text=Text(text, style="yellow"), log=text)
        case HostSlowed():
            text = redact(f"host {event.host} slowed to {_rate(event.rate)} after {event.reason}")
            return Line(level=logging.WARNING, text=Text(text, style="yellow"), log=text)
        case HostRecovered():
            speed = "no rate limit" if event.rate is None else _rate(event.rate)
            text = redact(f"host {event.host} back to {speed}")
            return Line(level=logging.INFO, text=Text(text, style="green"), log=text)
        case BreakerOpened():
            last = f"; last error: {event.last_errors[-1]}" if event.last_errors else ""
            text = redact(
                f"host {event.host} keeps failing: breaker open"
                f" (trip {event.trips}), one trial request in {_span(event.cooldown)}"
                f" at {_clock_time(now, event.cooldown)}{last}"
            )
            return Line(level=logging.WARNING, text=Text(text, style="yellow"), log=text)
        case BreakerClosed():
            text = redact(f"host {event.host} answers again: breaker closed")
            return Line(level=logging.INFO, text=Text(text, style="green"), log=text)
        case RetryScheduled():
            text = redact(
                f"retry {event.url} in {format_duration(event.delay)}: "
                f"attempt {event.attempt} failed ({first_line(event.reason)})"
            )
            return Line(level=logging.DEBUG, text=Text(text, style="dim"), log=text, shown=False)
        case Fetched():
            return None
    return None


def summary_of(event: RunFinished) -> Summary:
    """The run's summary as every reporter shows it: computed the one way, from the
    ledger's report the event carries, with the run's final status."""
    return summarize(
        event.report,
        wall=event.wall,
        reason=event.reason,
        exit_code=event.exit_code,
        status=event.status,
    )


def done_text(event: TaskDone) -> str:
    """A done item as the console shows it (after its counter): "match 7 ✓ overview (4.2s)"."""
    return f"{event.kind} {event.key} ✓ {event.stage} ({format_duration(event.duration)})"


def done_log(event: TaskDone) -> str:
    """A done item as the log file has it."""
    return (
        f"done {event.stage} {event.kind} {event.key} in {event.duration:.3f}s: "
        f"{event.records} records, {event.children} children"
    )


def hold_status(holds: Mapping[str, tuple[str, float]], now: float) -> str:
    """The hosts nothing is sent to right now, for the progress line.

    ``holds`` maps a host to why it is held ("paused" for a 429, "breaker open")
    and until when (same clock as ``now``). Hosts whose time is up are left out;
    the rest come in host order: "paused 127.0.0.1:8123 28s · breaker open h 1m00s".
    Time left is rounded up to the second, so "0s" never shows while still held."""
    parts = [
        f"{why} {host} {_span(float(math.ceil(until - now)))}"
        for host, (why, until) in sorted(holds.items())
        if until > now
    ]
    return " · ".join(parts)


_LEVEL_STYLES = {logging.WARNING: "yellow", logging.ERROR: "red", logging.CRITICAL: "bold red"}


def _item(event: TaskDone | TaskFailed, *, ok: bool) -> Text:
    line = Text(f"{event.kind} {event.key} ")
    line.append("✓" if ok else "✗", style="green" if ok else "red")
    line.append(f" {event.stage} ({format_duration(event.duration)})")
    if isinstance(event, TaskFailed):
        line.append("  ")
        line.append(f"{event.category}: ", style="red")
        line.append(first_line(event.message))
    return line


def _span(seconds: float) -> str:
    """Whole seconds read as such ("30s"); anything else as :func:`format_duration`."""
    if 0 < seconds < 60 and seconds == int(seconds):
        return f"{int(seconds)}s"
    return format_duration(seconds)


def _rate(per_second: float) -> str:
    """Requests per second, as ``--rate`` takes them: "5.0/s", "0.25/s"."""
    return f"{per_second:.1f}/s" if per_second >= 1 else f"{per_second:.2g}/s"


def _clock_time(now: datetime, seconds: float) -> str:
    return (now + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
