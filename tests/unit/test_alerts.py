"""The pure parts of alerting: which alert a run's end calls for, notifier settings
and their names in logs, how long a host has been unavailable, the watch's once per
host and notifier."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pydantic
import pytest

from scrapeline.fetch.events import BreakerClosed, BreakerOpened, Fetched, HostPaused
from scrapeline.ledger.base import RunInfo, RunStatus
from scrapeline.ops.alerts import HostTrouble, HostWatch, Notifier, run_alert, run_end
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import Outcome


@pytest.mark.parametrize(
    ("status", "previous", "alert"),
    [
        ("done", None, None),
        ("done", "done", None),
        ("done", "failed", "recovered"),
        ("done", "halted", "recovered"),
        ("done", "crashed", "recovered"),
        ("done", "interrupted", "recovered"),
        ("failed", "done", "failures"),
        ("failed", "failed", "failures"),
        ("halted", None, "halted"),
        ("interrupted", "done", "failed"),
        ("crashed", "done", "failed"),
        ("error", None, "failed"),
    ],
)
def test_which_alert_a_runs_end_calls_for(status: str, previous: str | None, alert: str) -> None:
    assert run_alert(status, previous=previous) == alert


@pytest.mark.parametrize(
    ("url", "label", "hidden"),
    [
        ("json://127.0.0.1:8080/hooks/abcdef123", "json://127.0.0.1:8080", ["abcdef123"]),
        (
            "mailto://bob:pa55word@mail.example.com?to=ops@example.com",
            "mailto://mail.example.com",
            ["pa55word", "ops@example.com"],
        ),
        ("tgram://123456:AAE-bot-token/4242", "tgram://***", ["123456:AAE-bot-token"]),
        (
            "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
            "slack://***",
            ["T1JJ3T3L2", "TIiajkdnlazkcOXrIdevi7FQ"],
        ),
        ("ntfy://my-private-topic", "ntfy://***", ["my-private-topic"]),
    ],
)
def test_a_notifier_is_named_in_logs_without_its_tokens(
    url: str, label: str, hidden: list[str]
) -> None:
    notifier = Notifier(url=url)
    assert notifier.label == label
    assert not any(token in label for token in hidden)
    assert set(hidden) <= set(notifier.secret_values())


def test_notifier_settings_are_checked_without_repeating_the_url() -> None:
    with pytest.raises(pydantic.ValidationError) as bad:
        Notifier(url="nosuchservice://secret-token-value")
    assert "Apprise" in str(bad.value) and "secret-token-value" not in str(bad.value)
    with pytest.raises(pydantic.ValidationError, match="exactly one of url"):
        Notifier()
    with pytest.raises(pydantic.ValidationError, match="exactly one of url"):
        Notifier(url="json://127.0.0.1/x", file=Path("f.log"))
    with pytest.raises(pydantic.ValidationError):
        Notifier(file=Path("f.log"), events=["sometimes"])  # type: ignore[list-item]
    with pytest.raises(pydantic.ValidationError):
        Notifier(file=Path("f.log"), colour="red")  # type: ignore[call-arg]
    assert Notifier(file=Path("f.log")).events == [
        "failed",
        "halted",
        "failures",
        "recovered",
        "host_paused",
        "stale",
    ]


def paused(seconds: float) -> HostPaused:
    return HostPaused(host="h", seconds=seconds, reason="HTTP 429")


def opened(cooldown: float) -> BreakerOpened:
    return BreakerOpened(host="h", trips=2, cooldown=cooldown, last_errors=("refused",))


ANSWER = Fetched(url="http://h/x", host="h", status=200, elapsed=0.1, attempts=1, size=1)


@pytest.mark.parametrize(
    ("events", "minutes"),
    [
        ([(0, paused(30))], 0.5),
        ([(0, paused(30)), (30, paused(30))], 1.0),  # paused again at once: one stretch
        ([(0, paused(600)), (10, paused(5))], 10.0),  # a short pause inside a long one
        ([(0, opened(60)), (60, opened(120))], 3.0),  # the breaker, opened again
        ([(0, paused(60)), (60, opened(60))], 2.0),  # a pause, then the breaker
        ([(0, paused(60)), (60, ANSWER), (61, paused(30))], 0.5),  # an answer ends it
        ([(0, opened(60)), (30, BreakerClosed(host="h")), (31, paused(6))], 0.1),
        ([(0, paused(60)), (60, ANSWER)], None),
    ],
)
def test_how_long_a_host_has_been_unavailable(
    events: list[tuple[float, object]], minutes: float | None
) -> None:
    trouble: HostTrouble | None = None
    for now, event in events:
        trouble = HostTrouble.of(event, trouble, now=now)  # type: ignore[arg-type]
    assert (trouble.minutes if trouble else None) == minutes


async def test_the_watch_alerts_each_notifier_once_per_host_when_its_limit_is_reached(
    tmp_path: Path,
) -> None:
    now = [0.0]
    soon = Notifier(file=tmp_path / "soon.log", host_paused_minutes=1)
    late = Notifier(file=tmp_path / "late.log", host_paused_minutes=5)
    deaf = Notifier(file=tmp_path / "deaf.log", events=["halted"], host_paused_minutes=1)
    watch = HostWatch(
        [soon, late, deaf], pipeline="p", profile=None, data_dir=tmp_path, clock=lambda: now[0]
    )
    for t, event in [
        (0, paused(30)),
        (30, paused(40)),  # 70 s: past soon's minute
        (70, paused(60)),
        (130, paused(200)),  # 330 s: past late's five
        (330, paused(60)),
        (331, HostPaused(host="other", seconds=90, reason="HTTP 429")),
    ]:
        now[0] = t
        watch(event)
    await watch.drain()
    sent = sorted((d.notifier, d.event) for d in watch.deliveries)
    assert sent == [
        (f"file {tmp_path / 'late.log'}", "host_paused"),
        (f"file {tmp_path / 'soon.log'}", "host_paused"),
        (f"file {tmp_path / 'soon.log'}", "host_paused"),  # the other host
    ]
    assert not (tmp_path / "deaf.log").exists()
    titles = [
        line for line in (tmp_path / "soon.log").read_text().splitlines() if line[:3] == "== "
    ]
    assert sorted(t.split(" ", 2)[2] for t in titles) == [
        "p: h unavailable for 70 s in a run",
        "p: other unavailable for 90 s in a run",
    ]


def test_a_run_end_without_an_outcome_is_the_newest_run_only_if_this_process_began_it(
    tmp_path: Path,
) -> None:
    import os

    from scrapeline.errors import DataDirBusy, DiskFull

    def info(run_id: int, status: RunStatus, started: float, pid: int) -> RunInfo:
        return RunInfo(
            id=run_id,
            pipeline="p",
            started_at=started,
            ended_at=started + 1,
            status=status,
            pid=pid,
            options={},
            summary={"done": 3, "failed": 0, "exit_code": 3, "reason": "disk full"},
        )

    earlier = info(4, RunStatus.DONE, 100.0, os.getpid())
    busy = run_end(
        "p",
        None,
        [earlier],
        profile=None,
        data_dir=tmp_path,
        error=DataDirBusy("another run holds it"),
        began_after=200.0,
    )
    assert busy.command == f"scrapeline runs p --data-dir {tmp_path}"  # no run to show
    assert (busy.run_id, busy.status, busy.exit_code, busy.previous_status) == (
        None,
        "error",
        2,
        "done",
    )
    halted = info(5, RunStatus.HALTED, 210.0, os.getpid())
    full = run_end(
        "p",
        None,
        [halted, earlier],
        profile=None,
        data_dir=tmp_path,
        error=DiskFull("disk full"),
        began_after=200.0,
    )
    assert (full.run_id, full.status, full.exit_code, full.previous_status) == (
        5,
        "halted",
        3,
        "done",
    )
    done = run_end(
        "p",
        Outcome(run_id=5, status=RunStatus.DONE, exit_code=0, reason=None),
        [halted, earlier],
        profile="prod",
        data_dir=tmp_path,
        target="p.py",
    )
    assert done.command == f"scrapeline runs show p.py 5 --data-dir {tmp_path}"


def test_on_run_end_registers_hooks_in_order_and_refuses_what_is_not_callable() -> None:
    pipe = Pipeline("p")

    @pipe.on_run_end
    def first(end: object) -> None: ...

    @pipe.on_run_end
    async def second(end: object) -> None: ...

    assert pipe.run_end_hooks == [first, second]
    from scrapeline.errors import PipelineError

    with pytest.raises(PipelineError, match="takes a function"):
        pipe.on_run_end("not a function")  # type: ignore[arg-type]
    assert asyncio.iscoroutinefunction(second)
