from __future__ import annotations

import io
import logging
from datetime import datetime

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
from scrapeline.fetch.events import (
    BreakerClosed,
    BreakerOpened,
    Fetched,
    HostPaused,
    RetryScheduled,
)
from scrapeline.ledger.base import RunInfo, RunReport, RunStatus
from scrapeline.observe.console import ConsoleReporter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain() -> tuple[ConsoleReporter, io.StringIO, FakeClock]:
    out = io.StringIO()
    clock = FakeClock()
    console = Console(file=out, force_terminal=False, width=80)
    return ConsoleReporter(console, clock=clock), out, clock


def done(key: int = 2389951, duration: float = 4.2) -> TaskDone:
    return TaskDone(
        stage="overview", kind="match", key=key, duration=duration, records=1, children=2
    )


def failed(key: int = 2389952, message: str = "no element matches 'h1'") -> TaskFailed:
    return TaskFailed(
        stage="overview",
        kind="match",
        key=key,
        duration=0.3,
        category="parse",
        message=message,
        attempts=1,
    )


def report(status: RunStatus = RunStatus.DONE) -> RunReport:
    run = RunInfo(
        id=12,
        pipeline="football",
        started_at=0.0,
        ended_at=None,
        status=RunStatus.RUNNING,
        pid=1,
        options={},
        summary={},
    )
    return RunReport(
        run=run,
        counts={"overview": {"done": 2, "failed": 1}},
        done_this_run={"overview": 2},
        failed_this_run={"overview": 1},
        durations={"overview": [4.2, 1.0, 0.3]},
        categories={"parse": 1},
        failures=[],
        items_settled=3,
        items_total=3,
    )


def feed(reporter: ConsoleReporter, events: list[Event]) -> None:
    for event in events:
        reporter(event)


def test_item_lines_count_settled_against_queued_with_eta() -> None:
    reporter, out, clock = plain()
    reporter(WorkQueued(remaining=500))
    for i in range(141):
        clock.now += 1.0
        reporter(done(key=i))
    out.truncate(0)
    out.seek(0)
    clock.now += 1.0
    reporter(done())
    clock.now += 0.5
    reporter(failed())
    # 142 settled in 142 s: 358 left at 1/s is 5m58s.
    assert out.getvalue().splitlines() == [
        "[142/500] match 2389951 ✓ overview (4.2s)  eta 5m58s",
        "[143/500] match 2389952 ✗ overview (0.3s)  parse: no element matches 'h1'",
    ]


@pytest.mark.parametrize(
    ("events", "counter"),
    [
        # no WorkQueued yet: total unknown
        ([done()], "[1/?]"),
        ([WorkQueued(remaining=3), done()], "[1/3]"),
        # total fixed when queued, not recomputed from each settle
        ([WorkQueued(remaining=3), done(), done()], "[2/3]"),
        # grows with newly queued work: settled so far + remaining
        ([WorkQueued(remaining=3), done(), done(), WorkQueued(remaining=5), done()], "[3/7]"),
        # never below settled
        ([WorkQueued(remaining=1), done(), done()], "[2/2]"),
        ([done(), done(), WorkQueued(remaining=0), done()], "[3/3]"),
        # padded to the width of the total
        ([WorkQueued(remaining=120), done()], "[  1/120]"),
    ],
)
def test_counter(events: list[Event], counter: str) -> None:
    reporter, out, _ = plain()
    feed(reporter, events)
    assert out.getvalue().splitlines()[-1].startswith(counter + " match ")


def test_no_eta_until_total_known_or_when_nothing_left() -> None:
    reporter, out, clock = plain()
    clock.now += 5
    reporter(done())
    reporter(WorkQueued(remaining=1))
    clock.now += 5
    reporter(done())
    assert "eta" not in out.getvalue()


def test_failure_shows_first_line_of_message_literally() -> None:
    reporter, out, _ = plain()
    reporter(failed(message="[bold]bad[/bold] markup\nTraceback ..."))
    assert out.getvalue() == (
        "[1/?] match 2389952 ✗ overview (0.3s)  parse: [bold]bad[/bold] markup\n"
    )


def test_long_lines_are_not_wrapped() -> None:
    reporter, out, _ = plain()
    reporter(failed(message="x" * 300))
    assert len(out.getvalue().splitlines()) == 1


def test_run_lines() -> None:
    reporter, out, _ = plain()
    feed(
        reporter,
        [
            RunStarted(
                run_id=12,
                pipeline="football",
                data_dir="data/football",
                options={},
                log_path="data/football/logs/run-20260501-140307-12.log",
            ),
            PageDiscovered(discovery="results", position=200, keys=100, new=37),
            DiscoveryFinished(discovery="results", pages=3, new=237, reason="known page"),
            DiscoveryFinished(discovery="archive", pages=1, new=0, reason="end of listing"),
            ShutdownRequested(signal="SIGINT", forced=False, in_flight=4),
            ShutdownRequested(signal="SIGINT", forced=True, in_flight=4),
            ShutdownRequested(signal="SIGTERM", forced=False, in_flight=1),
            RunHalted(reason="3 consecutive failures: likely banned or site down"),
        ],
    )
    assert out.getvalue().splitlines() == [
        "run 12 of football · data in data/football"
        " · log data/football/logs/run-20260501-140307-12.log",
        "discover results offset 200: 100 keys, 37 new",
        "discover results: 3 pages, 237 new (known page)",
        "discover archive: 1 page, 0 new (end of listing)",
        "Stopping: finishing 4 in-flight items (Ctrl+C again to cancel them)",
        "Cancelling 4 in-flight items; they go back to pending",
        "Stopping: finishing 1 in-flight item (Ctrl+C again to cancel them)",
        "Halted: 3 consecutive failures: likely banned or site down",
    ]


def test_run_started_without_log_path() -> None:
    reporter, out, _ = plain()
    reporter(RunStarted(run_id=1, pipeline="p", data_dir="d", options={}))
    assert out.getvalue() == "run 1 of p · data in d\n"


@pytest.mark.parametrize(
    ("level", "shown"),
    [(logging.DEBUG, False), (logging.INFO, True), (logging.WARNING, True), (logging.ERROR, True)],
)
def test_log_messages_from_info_up(level: int, shown: bool) -> None:
    reporter, out, _ = plain()
    reporter(Log(level=level, message="released 3 expired leases"))
    assert (out.getvalue() == "released 3 expired leases\n") is shown
    assert bool(out.getvalue()) is shown


def test_work_queued_alone_prints_nothing() -> None:
    reporter, out, _ = plain()
    reporter(WorkQueued(remaining=10))
    assert out.getvalue() == ""


def test_run_finished_prints_the_summary_with_the_final_status() -> None:
    reporter, out, _ = plain()
    reporter(
        RunFinished(
            status="halted",
            exit_code=3,
            report=report(),
            reason="3 consecutive failures: likely banned or site down",
            wall=10.0,
        )
    )
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "run 12 of football: HALTED (exit 3) — 3 consecutive failures: likely banned or site"
        " down; 1 item failed: overview ×1"
    )
    assert lines[1].startswith(
        "run 12 of football: halted · 10.0s wall · 3 items · 3 tasks settled"
    )
    assert any(line.split()[:3] == ["overview", "3", "2"] for line in lines)


def test_plain_output_has_no_control_codes() -> None:
    reporter, out, _ = plain()
    feed(
        reporter,
        [
            RunStarted(run_id=1, pipeline="p", data_dir="d", options={}),
            WorkQueued(remaining=2),
            done(),
            failed(),
            ShutdownRequested(signal="SIGINT", forced=False, in_flight=0),
            RunFinished(status="failed", exit_code=1, report=report(), reason=None, wall=2.0),
        ],
    )
    reporter.close()
    assert "\x1b" not in out.getvalue()
    assert "\r" not in out.getvalue()


HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


def live_display_stopped(text: str) -> bool:
    """The live display hid the cursor and showed it again when it stopped."""
    return HIDE_CURSOR in text and text.rfind(SHOW_CURSOR) > text.rfind(HIDE_CURSOR)


def terminal() -> tuple[ConsoleReporter, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    return ConsoleReporter(console, clock=FakeClock()), out


def test_progress_defaults_to_whether_the_console_is_a_terminal() -> None:
    reporter, out = terminal()
    reporter(WorkQueued(remaining=2))
    reporter.close()
    assert live_display_stopped(out.getvalue())

    reporter, out, _ = plain()
    reporter(WorkQueued(remaining=2))
    reporter.close()
    assert out.getvalue() == ""


def test_progress_bar_shows_counts_and_lines_above_it() -> None:
    reporter, out = terminal()
    try:
        reporter(RunStarted(run_id=1, pipeline="football", data_dir="d", options={}))
        reporter(WorkQueued(remaining=500))
        for i in range(142):
            reporter(done(key=i))
    finally:
        reporter.close()
    text = out.getvalue()
    assert "[142/500] match 141 ✓ overview (4.2s)" in text
    assert "football" in text
    assert "142/500" in text.rsplit("match 141", 1)[1]  # the bar, drawn after the last line
    assert live_display_stopped(text)


def test_run_finished_stops_the_bar_before_the_summary() -> None:
    reporter, out = terminal()
    reporter(WorkQueued(remaining=3))
    reporter(done())
    reporter(RunFinished(status="done", exit_code=0, report=report(), reason=None, wall=2.0))
    text = out.getvalue()
    assert live_display_stopped(text)
    assert text.index(SHOW_CURSOR) < text.index("run 12 of football: done")
    reporter.close()  # again, from the CLI's finally: harmless
    assert out.getvalue() == text


def test_progress_can_be_turned_off_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    reporter = ConsoleReporter(console, progress=False, clock=FakeClock())
    reporter(WorkQueued(remaining=1))
    reporter(done())
    reporter.close()
    assert out.getvalue() == "[1/1] match 2389951 ✓ overview (4.2s)\n"


def test_close_is_idempotent_and_works_as_context_manager() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with ConsoleReporter(console, clock=FakeClock()) as reporter:
        reporter(WorkQueued(remaining=1))
    assert live_display_stopped(out.getvalue())
    reporter.close()
    reporter.close()


def test_after_close_events_print_plain_lines_without_a_new_bar() -> None:
    reporter, out = terminal()
    reporter(WorkQueued(remaining=2))
    reporter.close()
    before = out.getvalue()
    reporter(done())
    assert out.getvalue()[len(before) :] == "[1/2] match 2389951 ✓ overview (4.2s)\n"


def paused(host: str = "127.0.0.1:8123", seconds: float = 30.0) -> HostPaused:
    return HostPaused(host=host, seconds=seconds, reason="HTTP 429 Too Many Requests")


def at_0412() -> datetime:
    return datetime(2026, 5, 1, 4, 12, 1)


def test_paused_hosts_and_breakers_get_a_line_retries_do_not() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    reporter = ConsoleReporter(console, clock=FakeClock(), wall=at_0412)
    feed(
        reporter,
        [
            Fetched(url="http://h/", host="h", status=200, elapsed=0.1, attempts=1, size=9),
            RetryScheduled(url="http://h/x", host="h", attempt=1, delay=0.5, reason="HTTP 503"),
            paused(),
            BreakerOpened(host="h", trips=1, cooldown=60.0, last_errors=("HTTP 503",)),
            BreakerClosed(host="h"),
        ],
    )
    assert out.getvalue().splitlines() == [
        "host 127.0.0.1:8123 paused 30s (HTTP 429 Too Many Requests), resumes at 04:12:31",
        "host h keeps failing: breaker open (trip 1), one trial request in 1m00s at 04:13:01;"
        " last error: HTTP 503",
        "host h answers again: breaker closed",
    ]


def test_verbose_shows_retries_and_debug_messages() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    reporter = ConsoleReporter(console, clock=FakeClock(), verbose=True)
    reporter(RetryScheduled(url="http://h/x", host="h", attempt=1, delay=0.5, reason="HTTP 503"))
    reporter(Log(level=logging.DEBUG, message="claimed 8"))
    assert out.getvalue().splitlines() == [
        "retry http://h/x in 0.5s: attempt 1 failed (HTTP 503)",
        "claimed 8",
    ]


def test_progress_line_shows_held_hosts_with_the_time_left() -> None:
    clock = FakeClock()
    reporter = ConsoleReporter(Console(file=io.StringIO()), progress=False, clock=clock)
    reporter(paused(seconds=30.0))
    clock.now += 2.0
    reporter(BreakerOpened(host="h", trips=1, cooldown=60.0, last_errors=()))
    clock.now += 0.5
    assert reporter.holds() == "paused 127.0.0.1:8123 28s · breaker open h 1m00s"
    reporter(BreakerClosed(host="h"))
    assert reporter.holds() == "paused 127.0.0.1:8123 28s"
    clock.now += 27.5
    assert reporter.holds() == ""


def test_the_bar_carries_the_held_hosts() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system=None)
    reporter = ConsoleReporter(console, clock=FakeClock(), wall=at_0412)
    try:
        reporter(WorkQueued(remaining=5))
        reporter(paused())
        reporter(done())  # redraws the bar
    finally:
        reporter.close()
    text = out.getvalue()
    assert "paused 30s (HTTP 429 Too Many Requests), resumes at 04:12:31" in text
    assert "paused 127.0.0.1:8123 30s" in text.rsplit("match 2389951", 1)[1]


class FlushCounter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


@pytest.mark.parametrize(
    ("gaps", "flushes"),
    [
        # item lines close together share a flush, so a fast run is not a syscall per item
        ([0.1] * 4, 0),
        ([0.1] * 5, 1),
        ([0.6], 1),
        ([0.6, 0.1, 0.6], 2),
    ],
)
def test_item_lines_reach_a_pipe_at_least_twice_a_second(gaps: list[float], flushes: int) -> None:
    out, clock = FlushCounter(), FakeClock()
    reporter = ConsoleReporter(Console(file=out, force_terminal=False), clock=clock)
    for gap in gaps:
        clock.now += gap
        reporter(done())
    assert out.flushes == flushes


def test_other_lines_reach_a_pipe_at_once() -> None:
    out = FlushCounter()
    reporter = ConsoleReporter(Console(file=out, force_terminal=False), clock=FakeClock())
    reporter(paused())
    assert out.flushes == 1
    reporter.close()
    assert out.flushes == 2
