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

With ``progress`` (the default when the console is a terminal) a bar with
settled/total, rate and time left stays below those lines until the run ends. Otherwise the lines
are plain text with no control codes, fit for a log or a pipe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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
from scrapeline.observe.stats import eta, format_duration
from scrapeline.observe.summary import first_line, reason_line, render_summary, summarize

_LEVEL_STYLES = {logging.WARNING: "yellow", logging.ERROR: "red", logging.CRITICAL: "bold red"}


class RateColumn(ProgressColumn):
    """Settled items per second, as rich estimates it over its recent window."""

    def render(self, task: ProgressTask) -> Text:
        speed = task.speed
        if speed is None:
            return Text("-/s", style="progress.data.speed")
        return Text(f"{speed:.1f}/s", style="progress.data.speed")


class ConsoleReporter:
    """Prints what happens in a run for a person watching it.

    The counter ``[settled/total]`` counts tasks settled (done or failed) by this
    run; ``total`` is set from each :class:`WorkQueued` as settled-so-far plus
    remaining, and never falls below settled. The time left is the average rate
    since work was first queued (discovery time does not count).

    ``clock`` (seconds, monotonic) is passed in for tests; it also drives the
    bar's rate and time-left estimates.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        progress: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._console = console if console is not None else Console()
        self._use_progress = self._console.is_terminal if progress is None else progress
        self._plain = not self._use_progress and not self._console.is_terminal
        self._clock = clock
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._description = "items"
        self._settled = 0
        self._total: int | None = None
        self._work_started: float | None = None
        self._closed = False

    @property
    def console(self) -> Console:
        return self._console

    def __call__(self, event: Event) -> None:
        match event:
            case TaskDone() if self._plain:  # the common case, kept cheap: no styling
                self._settle()
                total = "?" if self._total is None else str(self._total)
                text = (
                    f"[{self._settled:>{len(total)}}/{total}] {event.kind} {event.key} "
                    f"✓ {event.stage} ({format_duration(event.duration)})"
                )
                left = self._eta()
                if left is not None:
                    text += f"  eta {format_duration(left)}"
                self._console.file.write(text + "\n")
            case TaskDone():
                self._settle()
                line = self._item_line(event.kind, event.key, "✓", "green", event.stage)
                line.append(f" ({format_duration(event.duration)})")
                left = self._eta()
                if left is not None:
                    line.append(f"  eta {format_duration(left)}", style="dim")
                self._print(line)
            case TaskFailed():
                self._settle()
                line = self._item_line(event.kind, event.key, "✗", "red", event.stage)
                line.append(f" ({format_duration(event.duration)})  ")
                line.append(f"{event.category}: ", style="red")
                line.append(first_line(event.message))
                self._print(line)
            case WorkQueued():
                self._start_work()
                self._total = max(self._settled + event.remaining, self._settled)
                self._update_bar()
            case PageDiscovered():
                self._print(
                    Text(
                        f"discover {event.discovery} offset {event.position}: "
                        f"{event.keys} keys, {event.new} new"
                    )
                )
            case DiscoveryFinished():
                self._print(
                    Text(
                        f"discover {event.discovery}: {_plural(event.pages, 'page')}, "
                        f"{event.new} new ({event.reason})"
                    )
                )
            case ShutdownRequested():
                items = f"{_plural(event.in_flight, 'in-flight item')}"
                if event.forced:
                    text = f"Cancelling {items}; they go back to pending"
                else:
                    text = f"Stopping: finishing {items} (Ctrl+C again to cancel them)"
                self._print(Text(text, style="yellow"))
            case RunHalted():
                self._print(Text(reason_line("halted", event.reason), style="bold red"))
            case RunStarted():
                self._description = event.pipeline
                text = f"run {event.run_id} of {event.pipeline} · data in {event.data_dir}"
                if event.log_path is not None:
                    text += f" · log {event.log_path}"
                self._print(Text(text, style="bold"))
            case RunFinished():
                self.close()
                summary = summarize(
                    event.report,
                    wall=event.wall,
                    reason=event.reason,
                    exit_code=event.exit_code,
                    status=event.status,
                )
                render_summary(summary, self._console)
            case Log():
                if event.level >= logging.INFO:
                    style = _LEVEL_STYLES.get(event.level, "")
                    self._print(Text(event.message, style=style))

    def close(self) -> None:
        """Stop the live display for good; later events print plain lines.

        Safe to call more than once, and at any point of a run."""
        self._closed = True
        progress, self._progress, self._task = self._progress, None, None
        if progress is not None:
            progress.stop()

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

    def _item_line(self, kind: str, key: object, mark: str, style: str, stage: str) -> Text:
        total = "?" if self._total is None else str(self._total)
        line = Text(f"[{self._settled:>{len(total)}}/{total}] {kind} {key} ")
        line.append(mark, style=style)
        line.append(f" {stage}")
        return line

    def _print(self, text: Text) -> None:
        self._ensure_bar()
        if self._plain:
            # A pipe or a file: no styles to render, so skip rich's layout work
            # (it is most of the cost of a line, and there is a line per item).
            self._console.file.write(text.plain + "\n")
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


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
