from __future__ import annotations

import logging
from datetime import datetime

import pytest

from scrapeline.events import (
    DiscoveryFinished,
    Event,
    Log,
    PageDiscovered,
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
    RetryScheduled,
)
from scrapeline.ledger.base import RunInfo, RunReport, RunStatus
from scrapeline.observe.render import hold_status, render
from scrapeline.observe.summary import headline, summarize

NOW = datetime(2026, 5, 1, 4, 12, 1)
HOST = "127.0.0.1:8123"

WARN, INFO, DEBUG = logging.WARNING, logging.INFO, logging.DEBUG


@pytest.mark.parametrize(
    ("event", "level", "console", "log", "shown"),
    [
        (
            HostPaused(host=HOST, seconds=30.0, reason="HTTP 429 Too Many Requests"),
            WARN,
            "host 127.0.0.1:8123 paused 30s (HTTP 429 Too Many Requests), resumes at 04:12:31",
            "host 127.0.0.1:8123 paused 30s (HTTP 429 Too Many Requests), resumes at 04:12:31",
            True,
        ),
        (
            # past midnight, and a pause longer than a minute
            HostPaused(host="h", seconds=90.0, reason="429"),
            WARN,
            "host h paused 1m30s (429), resumes at 04:13:31",
            "host h paused 1m30s (429), resumes at 04:13:31",
            True,
        ),
        (
            HostPaused(host="h", seconds=2.5, reason="429"),
            WARN,
            "host h paused 2.5s (429), resumes at 04:12:03",
            "host h paused 2.5s (429), resumes at 04:12:03",
            True,
        ),
        (
            BreakerOpened(host=HOST, trips=1, cooldown=30.0, last_errors=("HTTP 503", "timeout")),
            WARN,
            "host 127.0.0.1:8123 keeps failing: breaker open (trip 1), "
            "one trial request in 30s at 04:12:31; last error: timeout",
            "host 127.0.0.1:8123 keeps failing: breaker open (trip 1), "
            "one trial request in 30s at 04:12:31; last error: timeout",
            True,
        ),
        (
            BreakerOpened(host="h", trips=2, cooldown=120.0, last_errors=()),
            WARN,
            "host h keeps failing: breaker open (trip 2), one trial request in 2m00s at 04:14:01",
            "host h keeps failing: breaker open (trip 2), one trial request in 2m00s at 04:14:01",
            True,
        ),
        (
            BreakerClosed(host=HOST),
            INFO,
            "host 127.0.0.1:8123 answers again: breaker closed",
            "host 127.0.0.1:8123 answers again: breaker closed",
            True,
        ),
        (
            RetryScheduled(
                url="http://h/m/1", host="h", attempt=1, delay=0.5, reason="http_5xx: HTTP 503"
            ),
            DEBUG,
            "retry http://h/m/1 in 0.5s: attempt 1 failed (http_5xx: HTTP 503)",
            "retry http://h/m/1 in 0.5s: attempt 1 failed (http_5xx: HTTP 503)",
            False,
        ),
        (
            # credentials in a URL never reach the screen or the file
            RetryScheduled(
                url="http://bob:hunter22@h/x",
                host="h",
                attempt=2,
                delay=1.0,
                reason="network: refused by http://bob:hunter22@h/x\ntraceback",
            ),
            DEBUG,
            "retry http://***@h/x in 1.0s: attempt 2 failed (network: refused by http://***@h/x)",
            "retry http://***@h/x in 1.0s: attempt 2 failed (network: refused by http://***@h/x)",
            False,
        ),
        (
            TaskDone(stage="overview", kind="match", key=7, duration=4.2, records=1, children=2),
            DEBUG,
            "match 7 ✓ overview (4.2s)",
            "done overview match 7 in 4.200s: 1 records, 2 children",
            True,
        ),
        (
            TaskFailed(
                stage="overview",
                kind="match",
                key=8,
                duration=0.3,
                category="parse",
                message="no h1\nTraceback",
                attempts=3,
            ),
            WARN,
            "match 8 ✗ overview (0.3s)  parse: no h1",
            "failed overview match 8 in 0.300s after 3 attempts: parse: no h1\nTraceback",
            True,
        ),
        (
            WorkQueued(remaining=5),
            DEBUG,
            "5 tasks left to settle",
            "5 tasks left to settle",
            False,
        ),
        (
            PageDiscovered(discovery="results", position=200, keys=100, new=37),
            INFO,
            "discover results offset 200: 100 keys, 37 new",
            "discover results at 200: 100 keys, 37 new",
            True,
        ),
        (
            DiscoveryFinished(discovery="results", pages=1, new=0, reason="end of listing"),
            INFO,
            "discover results: 1 page, 0 new (end of listing)",
            "discover results finished: 1 pages, 0 new (end of listing)",
            True,
        ),
        (
            ShutdownRequested(signal="SIGTERM", forced=True, in_flight=1),
            WARN,
            "Cancelling 1 in-flight item; they go back to pending",
            "SIGTERM received: cancelling 1 in-flight items",
            True,
        ),
        (
            RunHalted(reason="host h is down"),
            logging.ERROR,
            "Halted: host h is down",
            "halted: host h is down",
            True,
        ),
        (
            RunStarted(run_id=3, pipeline="p", data_dir="d", options={"b": 1, "a": 2}),
            INFO,
            "run 3 of p · data in d",
            'run 3 of p started; data in d; options {"a": 2, "b": 1}',
            True,
        ),
        (Log(level=DEBUG, message="claimed 8"), DEBUG, "claimed 8", "claimed 8", False),
        (Log(level=WARN, message="slow disk"), WARN, "slow disk", "slow disk", True),
    ],
)
def test_each_event_reads_as(event: Event, level: int, console: str, log: str, shown: bool) -> None:
    line = render(event, now=NOW)
    assert line is not None
    assert (line.level, line.text.plain, line.log, line.shown) == (level, console, log, shown)


def test_a_request_that_simply_succeeded_says_nothing() -> None:
    fetched = Fetched(url="http://h/", host="h", status=200, elapsed=0.1, attempts=1, size=9)
    assert render(fetched, now=NOW) is None


PAUSED, OPEN = "paused", "breaker open"


@pytest.mark.parametrize(
    ("holds", "now", "status"),
    [
        ({}, 0.0, ""),
        ({HOST: (PAUSED, 130.0)}, 100.0, "paused 127.0.0.1:8123 30s"),
        # rounded up: never "0s" while still held
        ({HOST: (PAUSED, 100.2)}, 100.0, "paused 127.0.0.1:8123 1s"),
        ({HOST: (PAUSED, 100.0)}, 100.0, ""),
        ({HOST: (PAUSED, 90.0)}, 100.0, ""),
        ({"b": (OPEN, 190.0), "a": (PAUSED, 105.0)}, 100.0, "paused a 5s · breaker open b 1m30s"),
        ({"b": (OPEN, 190.0), "a": (PAUSED, 99.0)}, 100.0, "breaker open b 1m30s"),
    ],
)
def test_hold_status(holds: dict[str, tuple[str, float]], now: float, status: str) -> None:
    assert hold_status(holds, now) == status


def test_headline_counts_items_apart_from_tasks() -> None:
    run = RunInfo(
        id=4,
        pipeline="cs2",
        started_at=0.0,
        ended_at=10.0,
        status=RunStatus.DONE,
        pid=1,
        options={},
        summary={},
    )
    # three matches, each settling three stages: nine tasks, three items
    stages = ("overview", "lineups", "stats")
    report = RunReport(
        run=run,
        counts={stage: {"done": 3} for stage in stages},
        done_this_run=dict.fromkeys(stages, 3),
        failed_this_run={},
        durations={stage: [1.0] * 3 for stage in stages},
        categories={},
        failures=[],
        items_settled=3,
        items_total=3,
    )
    summary = summarize(report, wall=2.0, reason=None, exit_code=0)
    assert (summary.items, summary.items_per_second) == (3, 1.5)
    assert headline(summary) == (
        "run 4 of cs2: done · 2.0s wall · 3 items · 9 tasks settled · 4.5 tasks/s · exit 0"
    )
