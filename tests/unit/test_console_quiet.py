"""Cron-friendly console output: ``quiet`` prints the summary and the errors only,
``items=False`` leaves out the lines of items done; the summary's first line says
why a run's exit code is not 0."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

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
from scrapeline.fetch.events import BreakerClosed, BreakerOpened, HostPaused, HostRecovered
from scrapeline.ledger.base import FailedTask, RunInfo, RunReport, RunStatus
from scrapeline.observe.console import ConsoleReporter

HIDE_CURSOR = "\x1b[?25l"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reporter(
    *, terminal: bool = False, quiet: bool = False, items: bool | None = None
) -> tuple[ConsoleReporter, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120, color_system=None)
    return ConsoleReporter(console, clock=FakeClock(), quiet=quiet, items=items), out


def done(key: int) -> TaskDone:
    return TaskDone(stage="overview", kind="match", key=key, duration=1.0, records=1, children=2)


def failed(key: int, stage: str = "overview") -> TaskFailed:
    return TaskFailed(
        stage=stage,
        kind="match",
        key=key,
        duration=0.3,
        category="http_5xx",
        message="HTTP 500 Internal Server Error",
        attempts=1,
    )


def finished(
    status: RunStatus,
    exit_code: int,
    reason: str | None = None,
    failed: dict[str, int] | None = None,
) -> RunFinished:
    failed = failed or {}
    run = RunInfo(
        id=7,
        pipeline="football",
        started_at=0.0,
        ended_at=10.0,
        status=status,
        pid=1,
        options={},
        summary={},
    )
    stages = ("overview", "lineups")
    report = RunReport(
        run=run,
        counts={s: {"done": 5, "failed": failed.get(s, 0)} for s in stages},
        done_this_run=dict.fromkeys(stages, 5),
        failed_this_run=failed,
        durations={s: [1.0] * 5 for s in stages},
        categories={"http_5xx": sum(failed.values())} if failed else {},
        failures=[
            FailedTask(
                stage=s, kind="match", key=i, category="http_5xx", message="HTTP 500", attempts=1
            )
            for s, n in failed.items()
            for i in range(n)
        ],
        items_settled=5,
        items_total=5,
    )
    return RunFinished(
        status=status.value, exit_code=exit_code, report=report, reason=reason, wall=10.0
    )


# What a run with a bit of everything emits, each event with the line it prints when
# not quiet, and whether quiet keeps it.
EVENTS: list[tuple[Event, str, bool]] = [
    (RunStarted(run_id=7, pipeline="football", data_dir="d", options={}), "run 7 of", False),
    (PageDiscovered(discovery="results", position=0, keys=100, new=100), "discover", False),
    (WorkQueued(remaining=4), "", False),
    (done(1), "match 1 ✓ overview", False),
    (failed(2), "match 2 ✗ overview", True),
    (Log(level=logging.ERROR, message="discovery results offset 100: HTTP 503"), "HTTP 503", True),
    (Log(level=logging.INFO, message="resuming where the last run stopped"), "resuming", False),
    (HostPaused(host="127.0.0.1:8000", seconds=30.0, reason="HTTP 429"), "paused 30s", True),
    (HostRecovered(host="127.0.0.1:8000", rate=None), "back to", False),
    (
        BreakerOpened(host="127.0.0.1:8000", trips=1, cooldown=60.0, last_errors=()),
        "breaker open",
        True,
    ),
    (BreakerClosed(host="127.0.0.1:8000"), "breaker closed", False),
    (DiscoveryFinished(discovery="results", pages=1, new=100, reason="error"), "1 page", False),
    (ShutdownRequested(signal="SIGTERM", forced=False, in_flight=2), "Stopping", True),
    (RunHalted(reason="127.0.0.1:8000 is down: connection refused"), "Halted:", True),
]


def feed(target: ConsoleReporter, events: list[Event]) -> None:
    for event in events:
        target(event)


def test_quiet_prints_the_errors_and_warnings_only() -> None:
    quiet, out = reporter(quiet=True)
    feed(quiet, [event for event, _, _ in EVENTS])
    lines = out.getvalue().splitlines()
    expected = [text for event, text, kept in EVENTS if kept]
    assert len(lines) == len(expected), lines
    for line, text in zip(lines, expected, strict=True):
        assert text in line
    # a failed item still says how far the run got
    assert lines[0].startswith("[2/4] match 2 ✗ overview (0.3s)  http_5xx: HTTP 500")


def test_not_quiet_the_same_run_prints_every_line() -> None:
    loud, out = reporter()
    feed(loud, [event for event, _, _ in EVENTS])
    text = out.getvalue()
    for _, line, _ in EVENTS:
        assert line in text


def test_quiet_wins_over_verbose() -> None:
    out = io.StringIO()
    quiet = ConsoleReporter(Console(file=out, width=120), quiet=True, verbose=True)
    feed(quiet, [Log(level=logging.DEBUG, message="claimed 40"), WorkQueued(remaining=3)])
    assert out.getvalue() == ""


def test_quiet_ends_with_the_whole_summary_saying_why_it_failed() -> None:
    quiet, out = reporter(quiet=True)
    feed(quiet, [WorkQueued(remaining=13), *(done(i) for i in range(10)), failed(10)])
    feed(quiet, [failed(11), failed(12, "lineups")])
    quiet(finished(RunStatus.FAILED, 1, failed={"overview": 2, "lineups": 1}))
    lines = out.getvalue().splitlines()
    assert [line.split("] ")[1].split(" (")[0] for line in lines[:3]] == [
        "match 10 ✗ overview",
        "match 11 ✗ overview",
        "match 12 ✗ lineups",
    ]
    assert lines[3] == (
        "run 7 of football: FAILED (exit 1) — 3 items failed: overview ×2, lineups ×1"
    )
    assert lines[4].startswith("run 7 of football: failed · 10.0s wall")
    assert any(line.split()[:2] == ["overview", "7"] for line in lines)  # the stage table
    assert "failed items:" in lines


@pytest.mark.parametrize(
    ("event", "first"),
    [
        (
            finished(RunStatus.HALTED, 3, "host 127.0.0.1:8000 down"),
            "run 7 of football: HALTED (exit 3) — host 127.0.0.1:8000 down",
        ),
        (
            finished(RunStatus.INTERRUPTED, 130, "time limit"),
            "run 7 of football: INTERRUPTED (exit 130) — time limit",
        ),
        (
            finished(RunStatus.HALTED, 3, "disk full", failed={"lineups": 2}),
            "run 7 of football: HALTED (exit 3) — disk full; 2 items failed: lineups ×2",
        ),
        (
            finished(RunStatus.FAILED, 1, "discovery failed: results offset 0: HTTP 503"),
            "run 7 of football: FAILED (exit 1) — discovery failed: results offset 0: HTTP 503",
        ),
        (
            finished(RunStatus.DONE, 0),
            "run 7 of football: done · 10.0s wall · 5 items · 10 tasks settled · 1.0 tasks/s"
            " · exit 0",
        ),
    ],
)
def test_the_summarys_first_line_says_why_the_exit_code_is_not_0(
    event: RunFinished, first: str
) -> None:
    for quiet in (False, True):
        target, out = reporter(quiet=quiet)
        target(event)
        assert out.getvalue().splitlines()[0] == first


def test_quiet_draws_no_progress_bar_on_a_terminal() -> None:
    quiet, out = reporter(terminal=True, quiet=True)
    feed(quiet, [WorkQueued(remaining=3), done(1), done(2), failed(3)])
    quiet.close()
    text = out.getvalue()
    assert HIDE_CURSOR not in text  # no live display was ever started
    assert text.splitlines() == ["[3/3] match 3 ✗ overview (0.3s)  http_5xx: HTTP 500 Internal "
                                 "Server Error"]  # fmt: skip


def test_items_off_drops_only_the_lines_of_items_done() -> None:
    quiet, out = reporter(items=False)
    feed(quiet, [event for event, _, _ in EVENTS])
    text = out.getvalue()
    assert "✓" not in text
    for event, line, _ in EVENTS:
        if not isinstance(event, TaskDone):
            assert line in text
    assert "[2/4] match 2 ✗ overview" in text  # the done item still counts


def test_items_off_keeps_the_bar_on_a_terminal() -> None:
    target, out = reporter(terminal=True, items=False)
    feed(target, [WorkQueued(remaining=2), done(1)])
    target.close()
    text = out.getvalue()
    assert HIDE_CURSOR in text and "match 1 ✓" not in text


@pytest.mark.parametrize("items", [None, True])
def test_items_on_by_default(items: bool | None) -> None:
    target, out = reporter(items=items)
    feed(target, [WorkQueued(remaining=1), done(1)])
    assert out.getvalue() == "[1/1] match 1 ✓ overview (1.0s)\n"
