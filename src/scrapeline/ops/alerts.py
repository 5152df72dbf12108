"""Alerts: telling someone when a run breaks, recovers, or a host stays unavailable.

After a run, :func:`alert_run_end` turns its end into a :class:`RunEnd`, calls the
pipeline's ``@pipe.on_run_end`` hooks with it, and sends the alert the end calls for
(:func:`run_alert`) to every notifier that wants that event. During a run,
:class:`HostWatch` (a subscriber) sends ``host_paused`` when a host stays paused (429)
or behind an open breaker for longer than a notifier's ``host_paused_minutes``, once
per host and notifier per run. :func:`run_and_alert` does all of it around one run.

Which alert a run's end calls for, given the run before it::

    >>> run_alert("halted", previous="done"), run_alert("failed", previous="done")
    ('halted', 'failures')
    >>> run_alert("done", previous="halted"), run_alert("done", previous="done")
    ('recovered', None)
    >>> run_alert("interrupted", previous=None), run_alert("error", previous=None)
    ('failed', 'failed')

Each alert says the pipeline, the profile, the run id, its status and reason, its
counts and the command that shows more. A notifier or a hook that fails is logged
(without the notifier's tokens or the pipeline's secrets) and changes nothing else:
the run's status and exit code are the run's.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shlex
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapeline.errors import ScrapelineError
from scrapeline.events import Event, RunStarted, TaskDone, TaskFailed
from scrapeline.fetch.events import BreakerClosed, BreakerOpened, Fetched, HostPaused
from scrapeline.ledger.base import RunInfo, RunStatus
from scrapeline.ops.notify import ALERT_EVENTS, Alert, AlertEvent, Delivery, Notifier, deliver
from scrapeline.secrets import redact

if TYPE_CHECKING:
    from scrapeline.pipeline import Pipeline
    from scrapeline.runner.run import Outcome, RunOptions
    from scrapeline.runner.shutdown import Shutdown
    from scrapeline.workspace.invocation import Invocation
    from scrapeline.workspace.run import FetchOptions

__all__ = [
    "ALERT_EVENTS",
    "Delivery",
    "HostTrouble",
    "HostWatch",
    "Notifier",
    "RunEnd",
    "alert_run_end",
    "run_alert",
    "run_and_alert",
    "run_end",
]

log = logging.getLogger("scrapeline.alerts")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEnd:
    """How a run ended, as hooks and alerts are told: plain values only.

    ``status`` is the run's (done, failed, halted, interrupted, crashed) or ``error``
    when an error stopped the command before the run could record its end (then
    ``run_id`` may be None: the run never began)."""

    pipeline: str
    run_id: int | None
    status: str
    exit_code: int
    reason: str | None
    counts: Mapping[str, int]
    """What the run settled: ``done`` and ``failed`` tasks, ``items_changed``."""
    profile: str | None
    data_dir: Path
    previous_status: str | None = None
    """The status of the run before this one (None: this is the first)."""
    log_path: Path | None = None
    target: str | None = None
    """The pipeline as the user named it (a file or a module); None: by its name."""

    @property
    def command(self) -> str:
        """The command that shows this run in full (the runs, when it never began)."""
        target = self.target or self.pipeline
        words = ["scrapeline", "runs", target]
        if self.run_id is not None:
            words = ["scrapeline", "runs", "show", target, str(self.run_id)]
        return shlex.join([*words, "--data-dir", str(self.data_dir)])


def run_alert(status: str, *, previous: str | None) -> AlertEvent | None:
    """The alert a run's end calls for: ``failures`` (finished with failed items),
    ``halted``, ``failed`` (did not finish: interrupted, crashed, an error),
    ``recovered`` (done after a run that was not), or None (done, as before)."""
    if status == RunStatus.DONE:
        return "recovered" if previous not in (None, RunStatus.DONE) else None
    if status == RunStatus.FAILED:
        return "failures"
    if status == RunStatus.HALTED:
        return "halted"
    return "failed"


def run_end(
    pipeline: str,
    outcome: Outcome | None,
    runs: Sequence[RunInfo],
    *,
    profile: str | None,
    data_dir: Path,
    target: str | None = None,
    error: ScrapelineError | None = None,
    began_after: float | None = None,
) -> RunEnd:
    """The :class:`RunEnd` of a run from what the command has: its ``outcome`` (None
    when ``error`` stopped it) and ``runs``, the ledger's newest runs (``ledger.runs(2)``:
    this run, then the one before). Without an outcome, the newest run is this one when
    this process began it after ``began_after`` (a time.time()) and it has ended: an
    error's end takes the status the run recorded (a full disk is recorded as halted
    before it is raised), else it is ``error``."""
    this = _this_run(outcome, runs, began_after)
    before = [r for r in runs if this is None or r.id < this.id]
    summary: Mapping[str, Any] = this.summary if this is not None else {}
    if outcome is not None:
        status, code, reason = outcome.status.value, outcome.exit_code, outcome.reason
        run_id: int | None = outcome.run_id
    elif this is not None:
        status, run_id = this.status.value, this.id
        code = int(summary.get("exit_code", error.exit_code if error else 1))
        reason = summary.get("reason") or (str(error) if error else None)
    else:
        status, run_id = "error", None
        code = error.exit_code if error is not None else 1
        reason = str(error) if error is not None else None
    counts = {k: int(summary[k]) for k in ("done", "failed", "items_changed") if k in summary}
    return RunEnd(
        pipeline=pipeline,
        run_id=run_id,
        status=status,
        exit_code=code,
        reason=reason,
        counts=counts,
        profile=profile,
        data_dir=data_dir,
        previous_status=before[0].status.value if before else None,
        log_path=_run_log(data_dir, run_id),
        target=target,
    )


def _this_run(
    outcome: Outcome | None, runs: Sequence[RunInfo], began_after: float | None
) -> RunInfo | None:
    if outcome is not None:
        return next((r for r in runs if r.id == outcome.run_id), None)
    newest = runs[0] if runs else None
    if (
        newest is None
        or began_after is None
        or newest.pid != os.getpid()
        or newest.started_at < began_after
        or newest.status is RunStatus.RUNNING
    ):
        return None
    return newest


def _run_log(data_dir: Path, run_id: int | None) -> Path | None:
    if run_id is None:
        return None
    found = sorted((data_dir / "logs").glob(f"run-*-{run_id}.log"))
    return found[-1] if found else None


# -- the words of an alert ------------------------------------------------------------


def _counts(counts: Mapping[str, int]) -> str:
    words = [f"{counts[k]} {k.replace('_', ' ')}" for k in ("done", "failed") if k in counts]
    if counts.get("items_changed"):
        words.append(f"{counts['items_changed']} items changed")
    return ", ".join(words) or "none"


def _body(end: RunEnd, status: str, reason: str | None, *, so_far: bool = False) -> str:
    return "\n".join(
        [
            f"pipeline: {end.pipeline}",
            f"profile: {end.profile or 'default'}",
            f"run: {end.run_id if end.run_id is not None else 'not begun'}",
            f"status: {status}",
            f"reason: {reason or 'none'}",
            f"counts: {_counts(end.counts)}{' so far' if so_far else ''}",
            f"see more: {end.command}",
        ]
    )


def run_alert_text(event: AlertEvent, end: RunEnd) -> Alert:
    """The alert for ``event`` at the end of a run: a title in words, then one
    ``field: value`` line each for pipeline, profile, run, status, reason, counts and
    the command that shows more."""
    run = f"run {end.run_id}" if end.run_id is not None else "a run"
    if event == "failures":
        failed = end.counts.get("failed")
        title = f"{end.pipeline}: {run} finished with {failed or 'some'} failed items"
        level = "warning"
    elif event == "halted":
        title, level = f"{end.pipeline}: {run} halted", "failure"
    elif event == "recovered":
        title = f"{end.pipeline}: {run} done, after a run that was {end.previous_status}"
        level = "success"
    else:
        title, level = f"{end.pipeline}: {run} did not finish ({end.status})", "failure"
    return Alert(
        event=event,
        title=title,
        body=_body(end, end.status, end.reason),
        level=level,  # type: ignore[arg-type]
        log_path=end.log_path,
    )


# -- after a run ----------------------------------------------------------------------


async def alert_run_end(
    end: RunEnd,
    notifiers: Sequence[Notifier],
    *,
    hooks: Iterable[Callable[[RunEnd], Any]] = (),
    secrets: Sequence[str] = (),
) -> list[Delivery]:
    """Call each hook with ``end`` (awaiting those that return an awaitable), then send
    the alert it calls for (:func:`run_alert`) to every notifier that wants it, all at
    once. Returns what became of each delivery. Never raises (but for cancellation): a
    failing hook or notifier is logged, with ``secrets`` and the notifiers' tokens
    redacted."""
    for hook in hooks:
        await _call_hook(hook, end, secrets)
    event = run_alert(end.status, previous=end.previous_status)
    if event is None:
        return []
    alert = run_alert_text(event, end)
    wanted = [n for n in notifiers if n.wants(event)]
    return list(await asyncio.gather(*(deliver(n, alert, secrets=secrets) for n in wanted)))


async def _call_hook(hook: Callable[[RunEnd], Any], end: RunEnd, secrets: Sequence[str]) -> None:
    name = getattr(hook, "__qualname__", repr(hook))
    try:
        result = hook(end)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:  # a hook never fails the run
        text = "".join(traceback.format_exception(exc)).rstrip()
        log.warning("on_run_end hook %s failed: %s", name, redact(text, secrets))


async def run_and_alert(
    pipe: Pipeline,
    data_dir: Path,
    options: RunOptions,
    notifiers: Sequence[Notifier],
    *,
    profile: str | None = None,
    target: str | None = None,
    fetch_options: FetchOptions | None = None,
    subscribers: Sequence[Any] = (),
    shutdown: Shutdown | None = None,
    invocation: Invocation | None = None,
) -> tuple[Outcome, list[Delivery]]:
    """Run ``pipe`` on ``data_dir`` (:func:`scrapeline.workspace.run.run`) with a
    :class:`HostWatch` among its subscribers, then :func:`alert_run_end`. An error
    that stops the run (a busy data dir, a full disk) is alerted as ``failed`` (or as
    the status the run recorded) and raised again."""
    from scrapeline.workspace.run import run

    secrets = pipe.secret_values()
    watch = HostWatch(
        notifiers,
        pipeline=pipe.name,
        profile=profile,
        data_dir=data_dir,
        target=target,
        secrets=secrets,
    )
    began = time.time()
    try:
        outcome = await run(
            pipe,
            data_dir,
            options,
            fetch_options=fetch_options,
            subscribers=[*subscribers, watch],
            shutdown=shutdown,
            invocation=invocation,
        )
    except ScrapelineError as error:
        await watch.drain()
        end = run_end(
            pipe.name,
            None,
            _newest_runs(data_dir),
            profile=profile,
            data_dir=data_dir,
            target=target,
            error=error,
            began_after=began,
        )
        await alert_run_end(end, notifiers, hooks=pipe.run_end_hooks, secrets=secrets)
        raise
    await watch.drain()
    end = run_end(
        pipe.name,
        outcome,
        _newest_runs(data_dir),
        profile=profile,
        data_dir=data_dir,
        target=target,
    )
    sent = await alert_run_end(end, notifiers, hooks=pipe.run_end_hooks, secrets=secrets)
    return outcome, [*watch.deliveries, *sent]


def _newest_runs(data_dir: Path) -> list[RunInfo]:
    """The ledger's two newest runs, or none when it cannot be read."""
    from scrapeline.workspace.opened import Workspace

    try:
        with Workspace.read(data_dir) as ws:
            return ws.ledger.runs(2)
    except ScrapelineError:
        return []


# -- during a run: hosts that stay unavailable ----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HostTrouble:
    """A host no request could reach from ``since`` until at least ``until`` (monotonic
    seconds): paused after 429s, or behind its open breaker, without an answer between.

    >>> t = HostTrouble.of(HostPaused(host="h", seconds=30, reason="429"), None, now=100)
    >>> t = HostTrouble.of(HostPaused(host="h", seconds=600, reason="429"), t, now=130)
    >>> t.minutes
    10.5
    >>> HostTrouble.of(Fetched(url="u", host="h", status=200, elapsed=0, attempts=1, size=0),
    ...                t, now=800) is None
    True
    """

    host: str
    since: float
    until: float
    why: str

    @property
    def minutes(self) -> float:
        return (self.until - self.since) / 60

    @staticmethod
    def of(event: Event, before: HostTrouble | None, *, now: float) -> HostTrouble | None:
        """The host's trouble after ``event`` (one about that host): a pause or an
        opened breaker extends it, an answer or a closed breaker ends it."""
        if isinstance(event, HostPaused | BreakerOpened):
            wait = event.seconds if isinstance(event, HostPaused) else event.cooldown
            why = (
                f"paused: {event.reason}"
                if isinstance(event, HostPaused)
                else f"breaker open after {event.trips} trips"
                + (f": {event.last_errors[-1]}" if event.last_errors else "")
            )
            since = before.since if before is not None else now
            until = max(before.until if before is not None else now, now + wait)
            return HostTrouble(host=event.host, since=since, until=until, why=why)
        if isinstance(event, Fetched | BreakerClosed):
            return None
        return before


def _span(seconds: float) -> str:
    """A host's unavailable time for people: "40 s", "12 minutes".

    >>> _span(40.2), _span(721)
    ('40 s', '12 minutes')
    """
    if seconds < 120:
        return f"{round(seconds)} s"
    return f"{round(seconds / 60)} minutes"


class HostWatch:
    """A subscriber that sends ``host_paused`` to each notifier that wants it when a
    host stays paused or behind its open breaker for ``host_paused_minutes`` or longer
    (counting the pause or cooldown just announced), once per host and notifier per
    run. Sending runs in the background; :meth:`drain` awaits it after the run, and
    :attr:`deliveries` says what became of each."""

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        pipeline: str,
        profile: str | None,
        data_dir: Path,
        target: str | None = None,
        secrets: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifiers = tuple(notifiers)
        self.pipeline = pipeline
        self.profile = profile
        self.data_dir = data_dir
        self.target = target
        self.secrets = tuple(secrets)
        self.clock = clock
        self.deliveries: list[Delivery] = []
        self._run_id: int | None = None
        self._log_path: Path | None = None
        self._counts = {"done": 0, "failed": 0}
        self._trouble: dict[str, HostTrouble] = {}
        self._alerted: set[tuple[int, str]] = set()
        self._sending: set[asyncio.Task[None]] = set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._run_id = event.run_id
            self._log_path = Path(event.log_path) if event.log_path else None
        elif isinstance(event, TaskDone):
            self._counts["done"] += 1
        elif isinstance(event, TaskFailed):
            self._counts["failed"] += 1
        elif isinstance(event, HostPaused | BreakerOpened | Fetched | BreakerClosed):
            trouble = HostTrouble.of(event, self._trouble.get(event.host), now=self.clock())
            if trouble is None:
                self._trouble.pop(event.host, None)
            else:
                self._trouble[event.host] = trouble
                self._check(trouble)

    def _check(self, trouble: HostTrouble) -> None:
        due = [
            (i, n)
            for i, n in enumerate(self.notifiers)
            if n.wants("host_paused")
            and trouble.minutes >= n.host_paused_minutes
            and (i, trouble.host) not in self._alerted
        ]
        if not due:
            return
        self._alerted.update((i, trouble.host) for i, _ in due)
        alert = self._alert(trouble)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # emitted outside a loop: nothing can be sent from here
            log.warning("alert host_paused for %s not sent: no event loop", trouble.host)
            return
        for _, notifier in due:
            task = loop.create_task(self._send(notifier, alert))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, notifier: Notifier, alert: Alert) -> None:
        self.deliveries.append(await deliver(notifier, alert, secrets=self.secrets))

    def _alert(self, trouble: HostTrouble) -> Alert:
        end = RunEnd(
            pipeline=self.pipeline,
            run_id=self._run_id,
            status="running",
            exit_code=0,
            reason=None,
            counts=dict(self._counts),
            profile=self.profile,
            data_dir=self.data_dir,
            target=self.target,
        )
        span = _span(trouble.until - trouble.since)
        reason = f"{trouble.host} unavailable for {span} ({trouble.why})"
        run = f"run {self._run_id}" if self._run_id is not None else "a run"
        return Alert(
            event="host_paused",
            title=f"{self.pipeline}: {trouble.host} unavailable for {span} in {run}",
            body=_body(end, "running", reason, so_far=True),
            level="warning",
            log_path=self._log_path,
        )

    async def drain(self) -> None:
        """Wait for the alerts being sent (each is bounded by its own timeout)."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)
