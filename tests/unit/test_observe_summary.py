from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping, Sequence

import pytest
from rich.console import Console

from scrapeline.ledger.base import FailedTask, RunInfo, RunReport, RunStatus
from scrapeline.observe.summary import (
    CategoryCount,
    StageRow,
    StageTiming,
    render_summary,
    summarize,
    summary_dict,
)


def make_report(
    *,
    status: RunStatus = RunStatus.DONE,
    counts: Mapping[str, Mapping[str, int]] | None = None,
    done_this_run: Mapping[str, int] | None = None,
    failed_this_run: Mapping[str, int] | None = None,
    durations: Mapping[str, Sequence[float]] | None = None,
    categories: Mapping[str, int] | None = None,
    failures: Sequence[FailedTask] = (),
    items_settled: int = 0,
    stored: Mapping[str, object] | None = None,
) -> RunReport:
    run = RunInfo(
        id=12,
        pipeline="football",
        started_at=1_000.0,
        ended_at=1_192.0,
        status=status,
        pid=4242,
        options={},
        summary=stored or {},
    )
    return RunReport(
        run=run,
        counts=counts or {},
        done_this_run=done_this_run or {},
        failed_this_run=failed_this_run or {},
        durations=durations or {},
        categories=categories or {},
        failures=failures,
        items_settled=items_settled,
        items_total=sum(sum(c.values()) for c in (counts or {}).values()),
    )


def failure(
    key: int, category: str = "parse", message: str = "no element matches 'h1'"
) -> FailedTask:
    return FailedTask(
        stage="overview", kind="match", key=key, category=category, message=message, attempts=1
    )


FOOTBALL = make_report(
    status=RunStatus.HALTED,
    counts={
        "overview": {"done": 442, "failed": 3, "pending": 50, "running": 2, "waiting": 0},
        "half_stats": {"done": 80, "waiting": 800, "pending": 4},
    },
    done_this_run={"overview": 142, "half_stats": 80},
    failed_this_run={"overview": 3},
    durations={"overview": [1.0, 2.0, 3.0, 4.0, 5.0], "half_stats": [0.5, 0.5]},
    categories={"http_5xx": 1, "parse": 2},
    failures=[failure(2389952), failure(2389953), failure(2389954, "http_5xx", "HTTP 503")],
    # 145 matches settled their overview and 80 halves their half_stats
    items_settled=225,
)


def render(
    report: RunReport, *, wall: float = 192.0, reason: str | None = None, exit_code: int = 0
) -> str:
    out = io.StringIO()
    summary = summarize(report, wall=wall, reason=reason, exit_code=exit_code)
    render_summary(summary, Console(file=out, width=120))
    return out.getvalue()


def test_stage_rows_split_done_into_this_run_and_before() -> None:
    summary = summarize(FOOTBALL, wall=192.0, reason=None, exit_code=3)
    assert summary.stages == (
        StageRow(stage="overview", discovered=497, done=142, skipped=300, failed=3, pending=52),
        StageRow(stage="half_stats", discovered=884, done=80, skipped=0, failed=0, pending=804),
    )


@pytest.mark.parametrize(
    ("done_now", "done_this_run", "skipped"),
    [
        (10, 0, 10),  # all from earlier runs
        (10, 10, 0),  # all from this run
        (10, 4, 6),
        (3, 5, 0),  # rescraped during the run: never negative
    ],
)
def test_skipped_is_done_before_this_run(done_now: int, done_this_run: int, skipped: int) -> None:
    report = make_report(counts={"s": {"done": done_now}}, done_this_run={"s": done_this_run})
    (row,) = summarize(report, wall=1.0, reason=None, exit_code=0).stages
    assert row.skipped == skipped


def test_stages_only_in_this_runs_numbers_still_get_a_row() -> None:
    report = make_report(counts={"a": {"done": 1}}, done_this_run={"b": 2}, durations={"c": [1.0]})
    summary = summarize(report, wall=1.0, reason=None, exit_code=0)
    assert [row.stage for row in summary.stages] == ["a", "b", "c"]


def test_timings_per_stage() -> None:
    summary = summarize(FOOTBALL, wall=192.0, reason=None, exit_code=0)
    overview, half_stats = summary.timings
    assert (overview.stage, overview.count, overview.p50, overview.total) == ("overview", 5, 3, 15)
    assert overview.p95 == pytest.approx(4.8)
    assert half_stats == StageTiming(stage="half_stats", count=2, p50=0.5, p95=0.5, total=1.0)


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        ({}, ()),
        (
            {"parse": 2, "http_5xx": 7, "timeout": 2},
            (("http_5xx", 7), ("parse", 2), ("timeout", 2)),
        ),
        ({"parse": 0, "network": 1}, (("network", 1),)),
    ],
)
def test_categories_most_frequent_first(
    categories: dict[str, int], expected: tuple[tuple[str, int], ...]
) -> None:
    summary = summarize(make_report(categories=categories), wall=1.0, reason=None, exit_code=0)
    assert summary.categories == tuple(CategoryCount(category=c, count=n) for c, n in expected)


@pytest.mark.parametrize(
    ("wall", "rate"),
    [(192.0, 225 / 192.0), (0.0, 0.0), (-1.0, 0.0)],
)
def test_tasks_per_second_counts_done_and_failed_this_run(wall: float, rate: float) -> None:
    summary = summarize(FOOTBALL, wall=wall, reason=None, exit_code=0)
    assert summary.settled == 225
    assert summary.tasks_per_second == pytest.approx(rate)
    assert summary.items == 225
    assert summary.items_per_second == pytest.approx(rate)


def test_items_are_the_ledgers_distinct_items_not_its_tasks() -> None:
    # four matches, each settling two stages: eight tasks, four items
    report = make_report(
        counts={"overview": {"done": 4}, "lineups": {"done": 3, "failed": 1}},
        done_this_run={"overview": 4, "lineups": 3},
        failed_this_run={"lineups": 1},
        items_settled=4,
    )
    summary = summarize(report, wall=2.0, reason=None, exit_code=1)
    assert (summary.settled, summary.tasks_per_second) == (8, 4.0)
    assert (summary.items, summary.items_per_second) == (4, 2.0)
    data = json.loads(json.dumps(summary_dict(summary)))
    assert (data["items"], data["items_per_second"]) == (4, 2.0)
    # line 0 says why the exit code is 1 (the failed lineups); the headline follows
    assert render(report, wall=2.0, exit_code=1).splitlines()[1] == (
        "run 12 of football: done · 2.0s wall · 4 items · 8 tasks settled · 4.0 tasks/s · exit 1"
    )


@pytest.mark.parametrize(("listed", "shown", "left_out"), [(0, 0, 0), (20, 20, 0), (57, 20, 37)])
def test_failed_items_are_capped(listed: int, shown: int, left_out: int) -> None:
    report = make_report(failures=[failure(i) for i in range(listed)])
    summary = summarize(report, wall=1.0, reason=None, exit_code=1)
    assert len(summary.failures) == shown
    assert summary.failures_left_out == left_out


def test_left_out_counts_failures_beyond_what_the_ledger_listed() -> None:
    # the ledger lists at most 1,000 failed tasks; its category counts cover them all
    listed = [failure(i) for i in range(1000)]
    report = make_report(failures=listed, categories={"parse": 2500, "http_5xx": 500})
    summary = summarize(report, wall=1.0, reason=None, exit_code=1)
    assert summary.failures_left_out == 3000 - 20


def test_status_comes_from_the_report_unless_given() -> None:
    report = make_report(status=RunStatus.RUNNING)
    assert summarize(report, wall=1.0, reason=None, exit_code=0).status == "running"
    given = summarize(report, wall=1.0, reason=None, exit_code=0, status="interrupted")
    assert given.status == "interrupted"


def test_render_shows_reason_first_then_headline_and_table() -> None:
    text = render(
        FOOTBALL, reason="3 consecutive failures: likely banned or site down", exit_code=3
    )
    lines = text.splitlines()
    # the first line says why the exit code is not 0: the halt, then the items failed
    assert lines[0] == (
        "run 12 of football: HALTED (exit 3) — 3 consecutive failures: likely banned or site"
        " down; 3 items failed: overview ×3"
    )
    assert (
        lines[1] == "run 12 of football: halted · 3m12s wall · 225 items · 225 tasks settled"
        " · 1.2 tasks/s · exit 3"
    )
    header = next(line for line in lines if "discovered" in line)
    assert header.split() == [
        "stage", "discovered", "done", "skipped", "failed", "pending", "p50", "p95", "busy"
    ]  # fmt: skip
    overview = next(line for line in lines if line.startswith("overview"))
    assert overview.split() == ["overview", "497", "142", "300", "3", "52", "3.0s", "4.8s", "15.0s"]
    half = next(line for line in lines if line.startswith("half_stats"))
    assert half.split() == ["half_stats", "884", "80", "0", "0", "804", "0.5s", "0.5s", "1.0s"]
    assert "errors: parse 2 · http_5xx 1" in lines
    assert "  overview match 2389952 parse: no element matches 'h1'" in lines
    assert "  overview match 2389954 http_5xx: HTTP 503" in lines
    assert "\x1b" not in text


def test_render_without_reason_starts_with_headline() -> None:
    report = make_report(
        counts={"overview": {"done": 5}}, done_this_run={"overview": 5}, items_settled=5
    )
    text = render(report, wall=2.0)
    assert text.splitlines()[0] == (
        "run 12 of football: done · 2.0s wall · 5 items · 5 tasks settled · 2.5 tasks/s · exit 0"
    )
    assert "errors:" not in text
    assert "failed items" not in text


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (RunStatus.HALTED, "Halted: site down"),
        (RunStatus.INTERRUPTED, "Interrupted: site down"),
    ],
)
def test_reason_line_names_the_status(status: RunStatus, line: str) -> None:
    assert render(make_report(status=status), reason="site down").splitlines()[0] == line


def test_stage_without_attempts_shows_dashes_for_timings() -> None:
    report = make_report(counts={"overview": {"done": 5}})
    row = next(line for line in render(report).splitlines() if line.startswith("overview"))
    assert row.split() == ["overview", "5", "0", "5", "0", "0", "-", "-", "-"]


def test_render_lists_left_out_failures_and_only_first_message_line() -> None:
    report = make_report(
        failures=[
            failure(i, message="Traceback (most recent call last):\n  boom") for i in range(25)
        ]
    )
    text = render(report)
    assert "  overview match 0 parse: Traceback (most recent call last):" in text.splitlines()
    assert "boom" not in text
    assert "  … and 5 more" in text.splitlines()
    assert "match 20 " not in text


def test_render_prints_user_text_literally() -> None:
    report = make_report(failures=[failure(1, message="[bold]not markup[/bold] [red]")])
    assert "parse: [bold]not markup[/bold] [red]" in render(report)


def test_summary_dict_is_json_and_complete() -> None:
    summary = summarize(FOOTBALL, wall=192.0, reason="site down", exit_code=3)
    data = json.loads(json.dumps(summary_dict(summary)))
    assert data["run"] == 12
    assert data["pipeline"] == "football"
    assert data["status"] == "halted"
    assert data["exit_code"] == 3
    assert data["reason"] == "site down"
    assert data["settled"] == 225
    assert data["tasks_per_second"] == pytest.approx(225 / 192.0)
    assert (data["items"], data["items_per_second"]) == (225, pytest.approx(225 / 192.0))
    assert data["stages"][0] == {
        "stage": "overview",
        "discovered": 497,
        "done": 142,
        "skipped": 300,
        "failed": 3,
        "pending": 52,
    }
    assert data["timings"][1] == {
        "stage": "half_stats",
        "count": 2,
        "p50": 0.5,
        "p95": 0.5,
        "total": 1.0,
    }
    assert data["categories"] == {"parse": 2, "http_5xx": 1}
    assert list(data["categories"]) == ["parse", "http_5xx"]
    assert data["failures"][2] == {
        "stage": "overview",
        "kind": "match",
        "key": 2389954,
        "category": "http_5xx",
        "message": "HTTP 503",
        "attempts": 1,
    }
    assert data["failures_left_out"] == 0


HOSTS = {
    "stats.example.org:443": {"requests": 1200, "retries": 0, "rate_limited": 0},
    "127.0.0.1:8000": {
        "requests": 20774,
        "retries": 12,
        "rate_limited": 3,
        "server_errors": 9,
        "network_errors": 0,
    },
}


def test_render_shows_a_line_per_host_the_run_stored() -> None:
    lines = render(make_report(stored={"exit_code": 0, "hosts": HOSTS})).splitlines()
    shown = [line for line in lines if "requests" in line]
    assert shown == [
        "127.0.0.1:8000  requests 20,774  retries 12  429s 3  5xx 9",
        "stats.example.org:443  requests 1,200  retries 0  429s 0  5xx 0",
    ]


def test_a_host_with_unanswered_requests_says_how_many() -> None:
    stored = {"hosts": {"127.0.0.1:9": {"requests": 4, "retries": 3, "network_errors": 4}}}
    assert (
        "127.0.0.1:9  requests 4  retries 3  429s 0  5xx 0  no answer 4"
        in render(make_report(stored=stored)).splitlines()
    )


@pytest.mark.parametrize(
    "stored",
    [{}, {"hosts": None}, {"hosts": "127.0.0.1"}, {"hosts": {"h:80": 3}}],
    ids=["older-run", "none", "not-a-mapping", "counts-not-a-mapping"],
)
def test_a_run_that_stored_no_usable_host_counts_shows_none(stored: Mapping[str, object]) -> None:
    summary = summarize(make_report(stored=stored), wall=1.0, reason=None, exit_code=0)
    assert summary.hosts == ()
    assert "requests" not in render(make_report(stored=stored))
    assert summary_dict(summary)["hosts"] == {}


def test_summary_dict_keeps_the_host_counts_as_stored() -> None:
    summary = summarize(make_report(stored={"hosts": HOSTS}), wall=1.0, reason=None, exit_code=0)
    data = json.loads(json.dumps(summary_dict(summary)))
    assert list(data["hosts"]) == ["127.0.0.1:8000", "stats.example.org:443"]
    assert data["hosts"]["127.0.0.1:8000"] == HOSTS["127.0.0.1:8000"]
    assert data["hosts"]["stats.example.org:443"] == {
        "requests": 1200,
        "retries": 0,
        "rate_limited": 0,
        "server_errors": 0,
        "network_errors": 0,
    }


@pytest.mark.parametrize(
    ("changed", "line"),
    [
        (0, None),
        (1, "1 item value changed since they were last seen (the run log lists them)"),
        (37, "37 item values changed since they were last seen (the run log lists them)"),
    ],
)
def test_values_changed_by_the_run_are_counted_when_there_are_any(
    changed: int, line: str | None
) -> None:
    report = dataclasses.replace(FOOTBALL, items_changed=changed)
    summary = summarize(report, wall=192.0, reason=None, exit_code=3)
    assert summary.items_changed == changed
    assert summary_dict(summary)["items_changed"] == changed
    shown = [text for text in render(report).splitlines() if "changed" in text]
    assert shown == ([] if line is None else [line])


@pytest.mark.parametrize(
    ("unchanged", "changed", "line"),
    [
        (9, 3, "refreshed 12: 9 unchanged, 3 changed"),
        (0, 1, "refreshed 1: 0 unchanged, 1 changed"),
        (2, 0, "refreshed 2: 2 unchanged, 0 changed"),
        (0, 0, None),
    ],
)
def test_a_run_that_refreshed_says_how_many_pages_had_changed(
    unchanged: int, changed: int, line: str | None
) -> None:
    report = dataclasses.replace(
        make_report(counts={"detail": {"done": 12}}, done_this_run={"detail": 12}),
        refreshed_unchanged=unchanged,
        refreshed_changed=changed,
    )
    lines = render(report).splitlines()
    refreshed = [text for text in lines if text.startswith("refreshed")]
    assert refreshed == ([line] if line else [])
    summary = summarize(report, wall=1.0, reason=None, exit_code=0)
    data = json.loads(json.dumps(summary_dict(summary)))
    assert data["refreshed"] == {"unchanged": unchanged, "changed": changed}
