from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

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
from scrapeline.ledger.base import FailedTask, RunInfo, RunReport, RunStatus
from scrapeline.observe.logfile import (
    LogReporter,
    RedactingFilter,
    close_run_log,
    open_run_log,
)
from scrapeline.secrets import redact

STARTED = datetime(2026, 5, 1, 14, 3, 7)
LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) "
    r"(?P<level>[A-Z]+) (?P<name>[\w.]+): (?P<message>.*)$"
)


@pytest.fixture
def run_log(tmp_path: Path) -> Iterator[tuple[Path, logging.Handler]]:
    path, handler = open_run_log(tmp_path, 12, STARTED, secrets=["s3cr3t-token"])
    try:
        yield path, handler
    finally:
        close_run_log(handler)


def records(path: Path) -> list[dict[str, str]]:
    result = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        assert match is not None, line
        result.append(match.groupdict())
    return result


def test_log_file_is_named_after_start_time_and_run(tmp_path: Path) -> None:
    path, handler = open_run_log(tmp_path, 12, STARTED)
    close_run_log(handler)
    assert path == tmp_path / "logs" / "run-20260501-140307-12.log"
    assert path.is_file()


def test_file_gets_debug_from_any_scrapeline_logger_before_close(
    run_log: tuple[Path, logging.Handler],
) -> None:
    path, _ = run_log
    logging.getLogger("scrapeline.fetch").debug("GET %s -> %d", "/matches/1", 200)
    logging.getLogger("scrapeline").warning("breaker open for %s", "example.org")
    logging.getLogger("elsewhere").warning("not ours")
    # Read while the handler is still open: each record is already on disk,
    # so nothing is lost if the process is interrupted now.
    got = records(path)
    assert [(r["level"], r["name"], r["message"]) for r in got] == [
        ("DEBUG", "scrapeline.fetch", "GET /matches/1 -> 200"),
        ("WARNING", "scrapeline", "breaker open for example.org"),
    ]
    assert datetime.fromisoformat(got[0]["time"]).tzinfo is not None


def test_debug_lines_are_batched_but_never_lost(tmp_path: Path) -> None:
    path, handler = open_run_log(tmp_path, 1, STARTED)
    log = logging.getLogger("scrapeline.run")
    log.debug("item 1 done")
    log.debug("item 2 done")
    log.info("page 2 discovered")  # an INFO line takes the DEBUG lines with it
    assert [r["message"] for r in records(path)] == [
        "item 1 done",
        "item 2 done",
        "page 2 discovered",
    ]
    log.debug("item 3 done")
    close_run_log(handler)  # closing flushes whatever is left
    assert records(path)[-1]["message"] == "item 3 done"


def test_close_detaches_and_restores_the_logger_level(tmp_path: Path) -> None:
    logger = logging.getLogger("scrapeline")
    before = logger.level
    path, handler = open_run_log(tmp_path, 1, STARTED)
    assert logger.level == logging.DEBUG
    close_run_log(handler)
    close_run_log(handler)  # twice is harmless
    assert handler not in logger.handlers
    assert logger.level == before
    logger.warning("after close")
    assert path.read_text(encoding="utf-8") == ""


def test_reopening_the_same_run_appends(tmp_path: Path) -> None:
    for message in ("first", "second"):
        path, handler = open_run_log(tmp_path, 1, STARTED)
        logging.getLogger("scrapeline").info(message)
        close_run_log(handler)
    assert [r["message"] for r in records(path)] == ["first", "second"]


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("GET /api?token=abc123", ["abc123"], "GET /api?token=***"),
        ("abc123 and abc123", ["abc123"], "*** and ***"),
        ("nothing here", ["abc123"], "nothing here"),
        ("no secrets", [], "no secrets"),
        ("empty secret ignored", [""], "empty secret ignored"),
        ("user bob pass hunter2", ["bob", "hunter2"], "user *** pass ***"),
        # a secret containing another is hidden whole, not in pieces
        ("key=abcdef", ["abc", "abcdef"], "key=***"),
        ("key=abcdef", ["abcdef", "abc"], "key=***"),
    ],
)
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


def test_redacting_filter_hides_secrets_in_arguments_and_tracebacks() -> None:
    record = logging.LogRecord(
        "scrapeline.fetch", logging.ERROR, __file__, 1, "GET %s failed", ("/a?k=hunter2",), None
    )
    assert RedactingFilter(["hunter2"]).filter(record) is True
    assert record.getMessage() == "GET /a?k=*** failed"

    try:
        raise ValueError("bad token hunter2")
    except ValueError:
        record = logging.LogRecord(
            "scrapeline", logging.ERROR, __file__, 1, "boom", None, sys.exc_info()
        )
    RedactingFilter(["hunter2"]).filter(record)
    formatted = logging.Formatter().format(record)
    assert "hunter2" not in formatted
    assert "ValueError: bad token ***" in formatted


def test_run_log_redacts_secrets(run_log: tuple[Path, logging.Handler]) -> None:
    path, _ = run_log
    logging.getLogger("scrapeline.fetch").info("GET /api?token=%s", "s3cr3t-token")
    text = path.read_text(encoding="utf-8")
    assert "s3cr3t-token" not in text
    assert "GET /api?token=***" in text


def make_report() -> RunReport:
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
        counts={"overview": {"done": 1, "failed": 1}, "lineups": {"done": 1, "pending": 1}},
        done_this_run={"overview": 1, "lineups": 1},
        failed_this_run={"overview": 1},
        durations={"overview": [4.2, 0.3], "lineups": [1.5]},
        categories={"parse": 1},
        failures=[
            FailedTask(
                stage="overview",
                kind="match",
                key=2389952,
                category="parse",
                message="no element matches 'h1'",
                attempts=3,
            )
        ],
        # match 1 settled both stages, match 2389952 failed its overview
        items_settled=2,
        items_total=2,
    )


def test_log_reporter_writes_every_event(run_log: tuple[Path, logging.Handler]) -> None:
    path, _ = run_log
    reporter = LogReporter()
    events: list[Event] = [
        RunStarted(run_id=12, pipeline="football", data_dir="d", options={"workers": 8}),
        PageDiscovered(discovery="results", position=200, keys=100, new=37),
        DiscoveryFinished(discovery="results", pages=3, new=237, reason="known page"),
        WorkQueued(remaining=237),
        TaskDone(stage="overview", kind="match", key=1, duration=4.2, records=1, children=2),
        TaskFailed(
            stage="overview",
            kind="match",
            key=2389952,
            duration=0.3,
            category="parse",
            message="no element matches 'h1'",
            attempts=3,
        ),
        ShutdownRequested(signal="SIGINT", forced=False, in_flight=4),
        RunHalted(reason="3 consecutive failures: likely banned or site down"),
        Log(level=logging.INFO, message="released 2 expired leases"),
        RunFinished(status="halted", exit_code=3, report=make_report(), reason="x", wall=2.0),
    ]
    for event in events:
        reporter(event)
    got = [(r["level"], r["name"], r["message"]) for r in records(path)]
    assert got[:-1] == [
        (
            "INFO",
            "scrapeline.run",
            'run 12 of football started; data in d; options {"workers": 8}',
        ),
        ("INFO", "scrapeline.run", "discover results at 200: 100 keys, 37 new"),
        ("INFO", "scrapeline.run", "discover results finished: 3 pages, 237 new (known page)"),
        ("DEBUG", "scrapeline.run", "237 tasks left to settle"),
        ("DEBUG", "scrapeline.run", "done overview match 1 in 4.200s: 1 records, 2 children"),
        (
            "WARNING",
            "scrapeline.run",
            "failed overview match 2389952 in 0.300s after 3 attempts: "
            "parse: no element matches 'h1'",
        ),
        ("WARNING", "scrapeline.run", "SIGINT received: draining 4 in-flight items"),
        ("ERROR", "scrapeline.run", "halted: 3 consecutive failures: likely banned or site down"),
        ("INFO", "scrapeline.run", "released 2 expired leases"),
    ]
    level, name, message = got[-1]
    assert (level, name) == ("INFO", "scrapeline.run")
    prefix = "run finished: "
    assert message.startswith(prefix)
    summary = json.loads(message[len(prefix) :])
    assert summary["status"] == "halted"
    assert summary["exit_code"] == 3
    assert (summary["settled"], summary["tasks_per_second"]) == (3, 1.5)
    assert (summary["items"], summary["items_per_second"]) == (2, 1.0)
    assert summary["failures"][0]["key"] == 2389952


def test_log_reporter_uses_the_logger_it_is_given(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("scrapeline.test.custom")
    with caplog.at_level(logging.DEBUG, logger="scrapeline.test.custom"):
        LogReporter(logger)(WorkQueued(remaining=3))
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("scrapeline.test.custom", "3 tasks left to settle")
    ]


FETCH_EVENTS: list[Event] = [
    HostPaused(host="127.0.0.1:8123", seconds=30.0, reason="HTTP 429 Too Many Requests"),
    BreakerOpened(host="h", trips=1, cooldown=30.0, last_errors=("HTTP 503",)),
    BreakerClosed(host="h"),
    RetryScheduled(url="http://h/x", host="h", attempt=1, delay=0.5, reason="HTTP 503"),
    Fetched(url="http://h/x", host="h", status=200, elapsed=0.1, attempts=2, size=10),
]


def test_fetch_events_are_written_in_the_renderers_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("scrapeline.test.fetch")
    with caplog.at_level(logging.DEBUG, logger="scrapeline.test.fetch"):
        reporter = LogReporter(logger)
        for event in FETCH_EVENTS:
            reporter(event)
    got = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in got] == ["WARNING", "WARNING", "INFO", "DEBUG"]
    assert got[0][1].startswith(
        "host 127.0.0.1:8123 paused 30s (HTTP 429 Too Many Requests), resumes at "
    )
    assert got[2][1] == "host h answers again: breaker closed"
