"""The schedule's pure decisions, as tables with a fake clock: the next fire time,
whether to catch up after downtime, cron → systemd OnCalendar (checked against
systemd's own reading where ``systemd-analyze`` is installed), the crontab line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from scrapeline.errors import ConfigError
from scrapeline.ops.schedule import (
    Cron,
    crontab_line,
    exit_words,
    missed,
    on_calendar,
    read_last_trigger,
    systemd_units,
    write_last_trigger,
)

T = datetime(2024, 5, 1, 12, 0, 0)  # a Wednesday


@pytest.mark.parametrize(
    ("expr", "after", "fires"),
    [
        ("0 6 * * *", T, datetime(2024, 5, 2, 6, 0)),
        ("0 6 * * *", datetime(2024, 5, 1, 5, 59, 59), datetime(2024, 5, 1, 6, 0)),
        ("0 6 * * *", datetime(2024, 5, 1, 6, 0), datetime(2024, 5, 2, 6, 0)),  # strictly after
        ("*/15 * * * *", datetime(2024, 5, 1, 12, 7), datetime(2024, 5, 1, 12, 15)),
        ("0 9 * * mon-fri", datetime(2024, 5, 3, 10, 0), datetime(2024, 5, 6, 9, 0)),  # Fri → Mon
        ("@daily", T, datetime(2024, 5, 2, 0, 0)),
        ("@hourly", T, datetime(2024, 5, 1, 13, 0)),
        ("* * * * * *", T, T + timedelta(seconds=1)),  # a sixth field: seconds
        ("* * * * * */10", datetime(2024, 5, 1, 12, 0, 3), datetime(2024, 5, 1, 12, 0, 10)),
    ],
)
def test_the_next_fire_time(expr: str, after: datetime, fires: datetime) -> None:
    assert Cron.parse(expr).next_after(after) == fires


@pytest.mark.parametrize(
    ("expr", "last", "now", "catch_up"),
    [
        # never triggered: a first start waits for the next fire time
        ("0 6 * * *", None, T, None),
        # nothing missed: the last trigger was the latest fire time
        ("0 6 * * *", datetime(2024, 5, 1, 6, 0), T, None),
        # down over one fire time: it is caught up
        ("0 6 * * *", datetime(2024, 4, 30, 6, 0), T, datetime(2024, 5, 1, 6, 0)),
        # down for a week: one run, for the latest
        ("0 6 * * *", datetime(2024, 4, 24, 6, 0), T, datetime(2024, 5, 1, 6, 0)),
        # started exactly at a fire time that was not triggered
        ("0 12 * * *", datetime(2024, 4, 30, 12, 0), T, T),
        ("* * * * * *", T - timedelta(seconds=5), T, T),
        ("* * * * * *", T, T + timedelta(milliseconds=400), None),
    ],
)
def test_whether_to_catch_up_after_downtime(
    expr: str, last: datetime | None, now: datetime, catch_up: datetime | None
) -> None:
    assert missed(Cron.parse(expr), last=last, now=now) == catch_up


@pytest.mark.parametrize(
    "expr", ["", "bad", "0 6 * *", "0 6 * * * * 2024", "61 * * * *", "@reboot"]
)
def test_a_bad_cron_expression_is_refused_in_one_line(expr: str) -> None:
    with pytest.raises(ConfigError, match=r"is not a cron expression") as bad:
        Cron.parse(expr)
    assert "\n" not in str(bad.value)


CALENDARS = [
    ("0 6 * * *", "*-*-* 06:00:00"),
    ("30 2 * * 0", "Sun *-*-* 02:30:00"),
    ("30 2 * * 7", "Sun *-*-* 02:30:00"),
    ("*/15 9-17 * * mon-fri", "Mon..Fri *-*-* 09..17:00/15:00"),
    ("0 0 1 */3 *", "*-01/3-01 00:00:00"),
    ("5,35 * * * *", "*-*-* *:05,35:00"),
    ("0 8 * * 1,3,5", "Mon,Wed,Fri *-*-* 08:00:00"),
    ("0 22 * * 5-0", "Fri..Sun *-*-* 22:00:00"),
    ("0 0 1 jan *", "*-01-01 00:00:00"),
    ("@weekly", "Sun *-*-* 00:00:00"),
    ("@monthly", "*-*-01 00:00:00"),
    ("* * * * * */10", "*-*-* *:*:00/10"),
    ("0 12 15 * *", "*-*-15 12:00:00"),
]


@pytest.mark.parametrize(("expr", "calendar"), CALENDARS)
def test_cron_becomes_systemd_on_calendar(expr: str, calendar: str) -> None:
    assert on_calendar(Cron.parse(expr)) == calendar


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("0 6 1 * mon", "both a day of the month and a weekday"),
        ("0 1-20/5 * * *", "steps over a range"),
        ("0 6 * * */2", "weekdays"),
        ("0 6 L * *", "not something systemd has"),
    ],
)
def test_what_systemd_cannot_say_is_refused_in_one_line(expr: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as bad:
        on_calendar(Cron.parse(expr))
    assert str(bad.value).startswith(f"--cron {expr!r} has no systemd OnCalendar form: ")


_ELAPSE = re.compile(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize(("expr", "calendar"), CALENDARS)
def test_systemd_fires_when_cron_does(expr: str, calendar: str) -> None:
    base = datetime(2024, 5, 1, 12, 0, 7)
    done = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=6", f"--base-time={base} UTC", calendar],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "UTC"},
    )
    systemd = [datetime.fromisoformat(t) for t in _ELAPSE.findall(done.stdout)]
    cron, when, ours = Cron.parse(expr), base, []
    for _ in range(6):
        when = cron.next_after(when)
        ours.append(when)
    assert systemd == ours


def test_the_crontab_line_runs_in_the_directory_and_keeps_percent_signs(tmp_path: Path) -> None:
    command = ["/usr/bin/python3", "-m", "scrapeline", "run", "p.py", "--set", "fmt=%Y"]
    line = crontab_line(Cron.parse("0 6 * * *"), command, tmp_path)
    assert line == (
        f"0 6 * * * cd {tmp_path} && /usr/bin/python3 -m scrapeline run p.py --set fmt=\\%Y"
    )
    with pytest.raises(ConfigError, match="crontab counts minutes"):
        crontab_line(Cron.parse("* * * * * *"), command, tmp_path)


def test_the_systemd_units_are_a_oneshot_service_and_a_persistent_timer(tmp_path: Path) -> None:
    command = ["/usr/bin/python3", "-m", "scrapeline", "run", "/srv/p.py", "--set", "k=%h"]
    (service_name, service), (timer_name, timer) = systemd_units(
        "football", Cron.parse("0 6 * * *"), command, tmp_path
    )
    assert (service_name, timer_name) == (
        "scrapeline-football.service",
        "scrapeline-football.timer",
    )
    assert "Type=oneshot" in service and f"WorkingDirectory={tmp_path}" in service
    assert "ExecStart=/usr/bin/python3 -m scrapeline run /srv/p.py --set k=%%h" in service
    assert "OnCalendar=*-*-* 06:00:00" in timer and "Persistent=true" in timer
    assert "WantedBy=timers.target" in timer


def test_the_last_trigger_is_kept_with_its_offset_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "schedule.json"
    assert read_last_trigger(path) is None
    write_last_trigger(path, T, skipped=False)
    assert read_last_trigger(path) == T
    assert "+" in path.read_text() or "-" in path.read_text().split("T", 1)[1]
    path.write_text("{not json")
    assert read_last_trigger(path) is None  # a broken file starts the schedule afresh
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (0, "done"),
        (1, "finished with failed items"),
        (2, "usage or configuration error"),
        (3, "halted"),
        (130, "interrupted"),
        (-15, "killed by SIGTERM"),
        (7, "failed"),
    ],
)
def test_a_runs_exit_in_words(code: int, words: str) -> None:
    assert exit_words(code) == words
