"""The console reporter: one line per settled item, a live progress bar, the summary.

Subscribe it to the runner; it only observes. The CLI closes it in ``finally``
so the live display is stopped (and the cursor restored) on every exit path.

    reporter = ConsoleReporter()
    try:
        await run(pipeline, ledger, subscribers=[reporter])
    finally:
        reporter.close()

Output, one line per event::

    run 12 of football · data in data/football · log data/football/logs/run-…log
    discover results offset 200: 100 keys, 37 new
    discover results: 3 pages, 237 new (known page)
    [142/500] match 2389951 ✓ overview (4.2s)  eta 3m12s
    [143/500] match 2389952 ✗ overview (0.3s)  parse: no element matches 'h1'
    host 127.0.0.1:8123 paused 30s (HTTP 429 Too Many Requests), resumes at 04:12:31

The words come from :func:`scrapeline.observe.render.render`, the same as the log
file's. Fetch events count too: a paused host, a breaker that opens or closes;
retries only with ``verbose``.

With ``progress`` (the default when the console is a terminal) a bar with
settled/total, rate, time left and the hosts held back (paused or with an open
breaker, and for how much longer) stays below those lines until the run ends.
Otherwise the lines are plain text with no control codes, fit for a log or a pipe.

For cron and other unattended runs, ``quiet`` prints only what needs a person: the
summary and the errors (failed items, a halt, a discovery that failed, warnings such
as a paused host or a stop requested); no item done, no progress bar, no info line.
``items=False`` turns off only the lines of items done (the config's way to keep a
log short when stdout is not a terminal); failed items, the bar and the rest stay.
The summary's first line says why the exit code is not 0
(:func:`scrapeline.observe.summary.verdict`)::

    run 7 of football: FAILED (exit 1) — 3 items failed: overview ×2, lineups ×1
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.text import Text

from scrapeline.events import Event, RunFinished, RunStarted, TaskDone, TaskFailed, WorkQueued
from scrapeline.fetch.events import BreakerClosed, BreakerOpened, Fetched, HostPaused
from scrapeline.observe.render import done_text, hold_status, render, summary_of
from scrapeline.observe.stats import eta, format_duration
from scrapeline.observe.summary import render_summary

_FLUSH_EVERY = 0.5
"""Seconds item lines may wait in a pipe's buffer before it is flushed."""


class RateColumn(ProgressColumn):
    """Settled items per second, as rich estimates it over its recent window."""

    def render(self, task: ProgressTask) -> Text:
        speed = task.speed
        if speed is None:
            return Text("-/s", style="progress.data.speed")
        return Text(f"{speed:.1f}/s", style="progress.data.speed")


class HoldsColumn(ProgressColumn):
    """The hosts nothing is sent to right now, with the time left, redrawn with the bar."""

    def __init__(self, status: Callable[[], str]) -> None:
        super().__init__()
        self._status = status

    def render(self, task: ProgressTask) -> Text:
        return Text(self._status(), style="yellow")


class ConsoleReporter:
    """Prints what happens in a run for a person watching it.

    The counter ``[settled/total]`` counts tasks settled (done or failed) by this
    run; ``total`` is set from each :class:`WorkQueued` as settled-so-far plus
    remaining, and never falls below settled. The time left is the average rate
    since work was first queued (discovery time does not count).

    ``clock`` (seconds, monotonic) is passed in for tests; it also drives the
    bar's rate and time-left estimates and how long a host stays held. ``wall``
    gives the time of day a paused host resumes at. ``verbose`` also prints what
    is log-only by default: retries, engine debug messages, the work queued.
    ``quiet`` prints the summary and lines of warning level and up only (it wins
    over ``verbose`` and ``progress``); ``items`` False leaves out the lines of
    items done (None and True: printed).
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        progress: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = datetime.now,
        verbose: bool = False,
        quiet: bool = False,
        items: bool | None = None,
    ) -> None:
        self._console = console if console is not None else Console()
        self._quiet = quiet
        self._done_lines = items is not False and not quiet
        use_progress = self._console.is_terminal if progress is None else progress
        self._use_progress = use_progress and not quiet
        self._plain = not self._use_progress and not self._console.is_terminal
        self._clock = clock
        self._wall = wall
        self._verbose = verbose
        self._holds: dict[str, tuple[str, float]] = {}
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._description = "items"
        self._settled = 0
        self._total: int | None = None
        self._work_started: float | None = None
        self._closed = False
        self._flushed = clock()

    @property
    def console(self) -> Console:
        return self._console

    def __call__(self, event: Event) -> None:
        if type(event) is TaskDone and not self._done_lines:
            self._settle()  # the counter on a failed item's line still counts it
            return
        if type(event) is TaskDone and self._plain:
            # the common case, kept cheap: no styling, no Line
            self._settle()
            plain = f"{self._counter()} {done_text(event)}"
            left = self._eta()
            if left is not None:
                plain += f"  eta {format_duration(left)}"
            file = self._console.file
            file.write(plain + "\n")
            # A pipe is block-buffered: without a flush now and then, `| tee` would
            # show nothing for minutes. One flush per item would cost more than the line.
            now = self._clock()
            if now - self._flushed >= _FLUSH_EVERY:
                self._flushed = now
                file.flush()
            return
        if type(event) is Fetched:  # one per request, and nothing to say
            return
        self._track(event)
        if isinstance(event, RunFinished):
            self.close()
            render_summary(summary_of(event), self._console)
            return
        line = render(event, now=self._wall())
        if line is None or not (line.shown or self._verbose):
            return
        if self._quiet and line.level < logging.WARNING:
            return
        if isinstance(event, (TaskDone, TaskFailed)):
            self._settle()
            text = Text(f"{self._counter()} ").append_text(line.text)
            left = self._eta() if isinstance(event, TaskDone) else None
            if left is not None:
                text.append(f"  eta {format_duration(left)}", style="dim")
            self._print(text)
            return
        self._print(line.text)

    def close(self) -> None:
        """Stop the live display for good; later events print plain lines.

        Safe to call more than once, and at any point of a run."""
        self._closed = True
        progress, self._progress, self._task = self._progress, None, None
        if progress is not None:
            progress.stop()
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe
            self._console.file.flush()

    def __enter__(self) -> ConsoleReporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # internals

    def _settle(self) -> None:
        self._start_work()
        self._settled += 1
        if self._total is not None:
            self._total = max(self._total, self._settled)
        self._update_bar()

    def _start_work(self) -> None:
        if self._work_started is None:
            self._work_started = self._clock()

    def _eta(self) -> float | None:
        if self._total is None or self._work_started is None or self._settled >= self._total:
            return None
        return eta(self._settled, self._total, self._clock() - self._work_started)

    def _counter(self) -> str:
        total = "?" if self._total is None else str(self._total)
        return f"[{self._settled:>{len(total)}}/{total}]"

    def _track(self, event: Event) -> None:
        """Keep what the progress line shows besides the counts: the run's name and
        the hosts that are held back."""
        match event:
            case WorkQueued():
                self._start_work()
                self._total = max(self._settled + event.remaining, self._settled)
                self._update_bar()
            case RunStarted():
                self._description = event.pipeline
            case HostPaused():
                self._holds[event.host] = ("paused", self._clock() + event.seconds)
            case BreakerOpened():
                self._holds[event.host] = ("breaker open", self._clock() + event.cooldown)
            case BreakerClosed():
                self._holds.pop(event.host, None)

    def holds(self) -> str:
        """The hosts held back right now, with the time left ("" when none)."""
        return hold_status(self._holds, self._clock())

    def _print(self, text: Text) -> None:
        self._ensure_bar()
        if self._plain:
            # A pipe or a file: no styles to render, so skip rich's layout work
            # (it is most of the cost of a line, and there is a line per item).
            file = self._console.file
            file.write(text.plain + "\n")
            # Every line but a done item's is rare and may be what the watcher waits
            # for (a failure, a paused host): out at once, even down a buffered pipe.
            file.flush()
            self._flushed = self._clock()
            return
        # soft_wrap: a long line stays one line in a log or a pipe.
        self._console.print(text, soft_wrap=True, highlight=False)

    def _ensure_bar(self) -> None:
        if not self._use_progress or self._closed or self._progress is not None:
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            HoldsColumn(self.holds),
            console=self._console,
            get_time=self._clock,
            refresh_per_second=4,
            # The bar goes when the run ends: the summary below it is the final word.
            transient=True,
        )
        self._task = progress.add_task(self._description, total=self._total)
        self._progress = progress
        progress.start()

    def _update_bar(self) -> None:
        self._ensure_bar()
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                description=self._description,
                total=self._total,
                completed=self._settled,
            )
