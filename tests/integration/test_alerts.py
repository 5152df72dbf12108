"""Alerts from real runs on the rehearsal site, delivered through Apprise to a real
SMTP server (aiosmtpd) and a real JSON webhook receiver (aiohttp), both on 127.0.0.1,
and to a failures log file."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.ops.alerts import Notifier, RunEnd, alert_run_end, run_and_alert, run_end
from scrapeline.runner.run import RunOptions
from scrapeline.runner.shutdown import Shutdown
from scrapeline.testing import Faults, Match
from scrapeline.workspace.run import FetchOptions
from scrapeline.workspace.run import run as run_pipeline

from ..servers import serve
from .test_run_football import football


@dataclass
class Mailbox:
    """What the local SMTP server received: one parsed message per mail."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def texts(self) -> list[str]:
        found = []
        for message in self.messages:
            part = message.get_body(preferencelist=("plain",))
            assert part is not None
            found.append(f"{message['Subject']}\n{part.get_content()}")
        return found


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[Mailbox, int]]:
    import asyncio

    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(box), "127.0.0.1", 0)
    try:
        yield box, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def webhook(
    on_post: Callable[[], None] | None = None,
) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        if on_post is not None:
            on_post()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app) as url:
        yield received, url.replace("http://", "json://") + "/hook"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mail_url(port: int) -> str:
    return f"mailto://127.0.0.1:{port}?from=scrapeline@example.com&to=ops@example.com"


async def test_a_halted_run_is_mailed_posted_and_logged_with_what_to_do_next(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    # every match page lost its <h1>: the run halts, its layout may have changed
    site = await start_site(
        list(football_sample[:40]), faults=Faults(broken=1.0, only_paths_prefix="/matches/")
    )
    data = tmp_path / "data"
    failures = tmp_path / "alerts" / "failures.log"
    async with smtp_server() as (mailbox, smtp_port), webhook() as (posts, hook_url):
        notifiers = [
            Notifier(url=mail_url(smtp_port)),
            Notifier(url=hook_url),
            Notifier(file=failures),
        ]
        outcome, deliveries = await run_and_alert(
            football(),
            data,
            RunOptions(workers=2),
            notifiers,
            profile="prod",
            target="pipelines/football.py",
            fetch_options=FetchOptions(base_url=site.url),
        )
    assert outcome.status is RunStatus.HALTED and outcome.exit_code == 3
    assert [d.sent for d in deliveries] == [True, True, True]
    ledger = SqliteLedger(data / "ledger.db")
    try:
        failed = ledger.runs(1)[0].summary["failed"]
    finally:
        ledger.close()
    assert failed >= 3
    command = f"scrapeline runs show pipelines/football.py {outcome.run_id} --data-dir {data}"
    (mail,) = mailbox.texts()
    (post,) = posts
    for text in (mail, f"{post['title']}\n{post['message']}", failures.read_text()):
        assert f"football: run {outcome.run_id} halted" in text
        assert "pipeline: football" in text and "profile: prod" in text
        assert f"run: {outcome.run_id}" in text and "status: halted" in text
        assert f"reason: {outcome.reason}" in text
        assert "the site's layout may have changed" in text
        assert f"counts: 0 done, {failed} failed" in text
        assert f"see more: {command}" in text
    assert post["type"] == "failure"
    # the failures log has the end of the run's log, where the halt is told
    log_tail = failures.read_text().split("-- the last ", 1)[1]
    assert log_tail.startswith("20 lines of ") and f"-{outcome.run_id}.log:" in log_tail
    assert "run finished: " in log_tail.strip().splitlines()[-1]  # the log's own last line
    assert '"status": "halted"' in log_tail.strip().splitlines()[-1]


async def test_a_run_that_finishes_with_failures_then_one_done_alert_failures_then_recovery(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[:30])
    broken = await start_site(matches, faults=Faults(fail_paths=(f"/matches/{matches[3].id}",)))
    healthy = await start_site(matches)
    async with webhook() as (posts, hook_url):
        notifiers = [Notifier(url=hook_url, events=["failures", "recovered"])]
        pipe = football()
        pipe.fetch = replace(pipe.fetch, max_attempts=1)
        first, _ = await run_and_alert(
            pipe,
            tmp_path,
            RunOptions(workers=2),
            notifiers,
            fetch_options=FetchOptions(base_url=broken.url),
        )
        second, _ = await run_and_alert(
            football(),
            tmp_path,
            RunOptions(workers=2),
            notifiers,
            fetch_options=FetchOptions(base_url=healthy.url),
        )
    assert (first.status, second.status) == (RunStatus.FAILED, RunStatus.DONE)
    assert [p["title"] for p in posts] == [
        f"football: run {first.run_id} finished with 1 failed items",
        f"football: run {second.run_id} done, after a run that was failed",
    ]
    assert "profile: default" in posts[0]["message"] and "status: failed" in posts[0]["message"]
    assert "status: done" in posts[1]["message"] and posts[1]["type"] == "success"


async def test_the_outcome_and_the_ledgers_runs_are_enough_to_alert(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    # how the command line calls it: the Outcome, ledger.runs(2), the notifiers
    site = await start_site(
        list(football_sample[:40]), faults=Faults(broken=1.0, only_paths_prefix="/matches/")
    )
    outcome = await run_pipeline(
        football(), tmp_path, RunOptions(workers=2), fetch_options=FetchOptions(base_url=site.url)
    )
    ledger = SqliteLedger(tmp_path / "ledger.db")
    try:
        runs = ledger.runs(2)
    finally:
        ledger.close()
    end = run_end("football", outcome, runs, profile="staging", data_dir=tmp_path)
    assert (end.run_id, end.status, end.exit_code, end.previous_status) == (
        outcome.run_id,
        "halted",
        3,
        None,
    )
    assert end.log_path is not None and end.log_path.exists()
    async with smtp_server() as (mailbox, port):
        (delivery,) = await alert_run_end(end, [Notifier(url=mail_url(port))])
    assert delivery.sent
    (mail,) = mailbox.texts()
    assert "profile: staging" in mail and f"scrapeline runs show football {outcome.run_id}" in mail


async def test_a_notifier_that_cannot_be_reached_is_logged_without_its_token_and_fails_nothing(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path, caplog: Any
) -> None:
    site = await start_site(
        list(football_sample[:40]), faults=Faults(broken=1.0, only_paths_prefix="/matches/")
    )
    port = closed_port()
    token = "s3cr3t-hook-token"
    async with webhook() as (posts, hook_url):
        notifiers = [
            Notifier(url=f"json://alerter:{token}@127.0.0.1:{port}/hooks/{token}"),
            Notifier(url=mail_url(closed_port())),
            Notifier(url=hook_url),
        ]
        with caplog.at_level(logging.INFO, logger="scrapeline.alerts"):
            outcome, deliveries = await run_and_alert(
                football(),
                tmp_path,
                RunOptions(workers=2),
                notifiers,
                fetch_options=FetchOptions(base_url=site.url),
            )
    assert outcome.exit_code == 3  # the run's own, whatever became of its alerts
    assert [d.sent for d in deliveries] == [False, False, True]
    assert len(posts) == 1  # the reachable one still got it
    failed = [
        r.getMessage()
        for r in caplog.records
        if r.name == "scrapeline.alerts" and r.levelno == logging.WARNING
    ]
    assert len(failed) == 2
    assert failed[0].startswith(f"alert halted to json://127.0.0.1:{port} failed: ")
    assert failed[1].startswith("alert halted to mailto://127.0.0.1:")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged and "alerter" not in logged


async def test_on_run_end_hooks_get_the_end_and_one_that_raises_changes_nothing(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path, caplog: Any
) -> None:
    site = await start_site(list(football_sample[:20]))
    pipe = football()
    pipe.fetch = replace(pipe.fetch, secrets=("hook-secret-value",))
    seen: list[RunEnd] = []

    @pipe.on_run_end
    def broken(end: RunEnd) -> None:
        raise RuntimeError("the chat said no to hook-secret-value")

    @pipe.on_run_end
    async def record(end: RunEnd) -> None:
        seen.append(end)

    with caplog.at_level(logging.WARNING, logger="scrapeline.alerts"):
        outcome, deliveries = await run_and_alert(
            pipe,
            tmp_path,
            RunOptions(workers=2),
            [],
            profile="dev",
            fetch_options=FetchOptions(base_url=site.url),
        )
    assert outcome.status is RunStatus.DONE and outcome.exit_code == 0 and deliveries == []
    (end,) = seen  # the hook after the failing one still ran
    assert (end.pipeline, end.run_id, end.status, end.exit_code, end.profile) == (
        "football",
        outcome.run_id,
        "done",
        0,
        "dev",
    )
    assert end.counts["done"] > 0 and end.counts["failed"] == 0 and end.data_dir == tmp_path
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "scrapeline.alerts"]
    assert "on_run_end hook" in warning and "broken" in warning and "the chat said no" in warning
    assert "hook-secret-value" not in warning


async def test_a_host_paused_longer_than_the_limit_alerts_once_during_the_run(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    # every match page answers 429 with Retry-After: 1, so the host is paused again
    # and again; a notifier with a limit of half a second hears of it during the run
    # (once: the run is stopped when it has)
    site = await start_site(
        list(football_sample[:6]),
        faults=Faults(rate_limit=1.0, retry_after=1, only_paths_prefix="/matches/"),
    )
    shutdown = Shutdown()
    async with webhook(on_post=shutdown.request) as (posts, hook_url):
        notifiers = [
            Notifier(url=hook_url, events=["host_paused"], host_paused_minutes=0.5 / 60),
            Notifier(url=hook_url, events=["failed"]),  # told of the interrupted run
        ]
        outcome, deliveries = await run_and_alert(
            football(),
            tmp_path,
            RunOptions(workers=2, grace=0.5),
            notifiers,
            fetch_options=FetchOptions(base_url=site.url),
            shutdown=shutdown,
        )
    assert outcome.status is RunStatus.INTERRUPTED
    assert [d.event for d in deliveries] == ["host_paused", "failed"]
    paused, ended = posts
    assert paused["title"] == f"football: 127.0.0.1 unavailable for 1 s in run {outcome.run_id}"
    assert "status: running" in paused["message"] and "paused: " in paused["message"]
    assert "so far" in paused["message"]
    assert ended["title"] == f"football: run {outcome.run_id} did not finish (interrupted)"
