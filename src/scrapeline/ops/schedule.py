"""Schedules: run a pipeline at the times of a cron expression, in the foreground or
through the OS's own scheduler.

The decisions are pure, taking the time as an argument::

    >>> from datetime import datetime
    >>> daily = Cron.parse("0 6 * * *")
    >>> daily.next_after(datetime(2024, 5, 1, 6, 0))
    datetime.datetime(2024, 5, 2, 6, 0)
    >>> missed(daily, last=datetime(2024, 5, 1, 6, 0), now=datetime(2024, 5, 3, 9, 0))
    datetime.datetime(2024, 5, 3, 6, 0)
    >>> on_calendar(Cron.parse("*/15 9-17 * * mon-fri"))
    'Mon..Fri *-*-* 09..17:00/15:00'

:class:`Scheduler` is the foreground loop (``scrapeline schedule``): each trigger runs
the pipeline as a child process (``python -m scrapeline run ...``), never two at once
(a trigger while a run is going is skipped, and logged); a run that fails is logged
and the schedule goes on; after downtime it catches up at most one missed run (the
time of the last trigger is kept in DATA_DIR/state/schedule.json); the first Ctrl+C
or SIGTERM stops it: a running child gets one SIGTERM (it drains, as a run does) and
is waited for, a second signal gives it a second SIGTERM (it cancels what is left).

Times are the machine's local time, as cron's are. A sixth field counts seconds
(``*/10 * * * * *``: every ten seconds); the OS schedulers' forms are made from five
fields (crontab) or translated where systemd can say the same (``OnCalendar``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from croniter import croniter

from scrapeline.errors import ConfigError

__all__ = [
    "Cron",
    "Scheduler",
    "crontab_line",
    "exit_words",
    "missed",
    "on_calendar",
    "read_last_trigger",
    "say_to_stderr",
    "systemd_units",
    "write_last_trigger",
]

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True, slots=True)
class Cron:
    """A checked cron expression: five fields (minute hour day month weekday), a sixth
    for seconds, or an alias (``@daily``, ``@hourly``, ...)."""

    expr: str

    @classmethod
    def parse(cls, expr: str) -> Cron:
        """Raises ConfigError, in one line, for anything croniter does not take or
        that has other than five or six fields."""
        text = " ".join(expr.split())
        fields = _ALIASES.get(text.lower(), text).split()
        if len(fields) not in (5, 6) or not croniter.is_valid(" ".join(fields)):
            raise ConfigError(
                f"--cron {expr!r} is not a cron expression: five fields (minute hour "
                "day month weekday, e.g. '0 6 * * *'), a sixth for seconds, or @daily, @hourly"
            )
        return cls(text)

    @property
    def fields(self) -> list[str]:
        return _ALIASES.get(self.expr.lower(), self.expr).split()

    @property
    def has_seconds(self) -> bool:
        return len(self.fields) == 6

    def next_after(self, when: datetime) -> datetime:
        """The first fire time strictly after ``when``."""
        found: datetime = croniter(" ".join(self.fields), when).get_next(datetime)
        return found

    def last_until(self, when: datetime) -> datetime:
        """The latest fire time at or before ``when`` (fire times are whole seconds)."""
        base = when.replace(microsecond=0) + timedelta(seconds=1)
        found: datetime = croniter(" ".join(self.fields), base).get_prev(datetime)
        return found


def missed(cron: Cron, *, last: datetime | None, now: datetime) -> datetime | None:
    """The one fire time to catch up on at start-up: the latest at or before ``now``
    that came after ``last``, the last trigger before the scheduler stopped. None when
    nothing was missed, or when there is no last trigger (a first start runs at the
    next fire time, not at once). However many were missed, one is caught up."""
    if last is None:
        return None
    latest = cron.last_until(now)
    return latest if latest > last else None


# -- the OS schedulers' forms ---------------------------------------------------------

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_NAMES = {name.lower(): i for i, name in enumerate(_DAYS[:7])}
_MONTH_NAMES = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}


def on_calendar(cron: Cron) -> str:
    """The systemd ``OnCalendar=`` value that fires when ``cron`` does.

    Raises ConfigError, in one line, for what systemd cannot say the same way: a day of
    the month and a weekday both set (cron fires when either matches, systemd when both
    do), a step over a range (``1-30/5``), a step of weekdays, or croniter's own
    extensions (``L``, ``W``, ``#``, ``?``)."""
    fields = cron.fields
    minute, hour, dom, month, dow = fields[:5]
    second = fields[5] if len(fields) == 6 else "0"
    if dom != "*" and dow != "*":
        raise _untranslatable(
            cron, "it sets both a day of the month and a weekday (cron fires on either)"
        )
    date = f"*-{_field(cron, month, 1, _MONTH_NAMES)}-{_field(cron, dom, 1, {})}"
    clock = ":".join(_field(cron, f, 0, {}) for f in (hour, minute, second))
    days = "" if dow == "*" else _weekdays(cron, dow) + " "
    return f"{days}{date} {clock}"


def _untranslatable(cron: Cron, why: str) -> ConfigError:
    return ConfigError(f"--cron {cron.expr!r} has no systemd OnCalendar form: {why}")


def _field(cron: Cron, text: str, first: int, names: dict[str, int]) -> str:
    if text == "*":
        return "*"
    out = []
    for token in text.split(","):
        if any(c in token for c in "LW#?"):
            raise _untranslatable(cron, f"{token!r} is not something systemd has")
        span, _, step = token.partition("/")
        if step and "-" in span:
            raise _untranslatable(cron, f"{token!r} steps over a range")
        if span == "*":
            span = str(first)
        low, _, high = span.partition("-")
        words = [f"{_number(low, names):02d}"]
        if high:
            words.append(f"..{_number(high, names):02d}")
        out.append("".join(words) + (f"/{int(step)}" if step else ""))
    return ",".join(out)


def _number(text: str, names: dict[str, int]) -> int:
    return names[text.lower()] if text.lower() in names else int(text)


def _weekdays(cron: Cron, text: str) -> str:
    out = []
    for token in text.split(","):
        if any(c in token for c in "/LW#?"):
            raise _untranslatable(cron, f"weekdays {token!r} are not something systemd has")
        low, _, high = token.partition("-")
        first, last = _number(low, _DAY_NAMES), _number(high or low, _DAY_NAMES)
        if last == 0 and first > 0:
            last = 7  # "5-0": Friday to Sunday
        if first > last:
            raise _untranslatable(cron, f"weekdays {token!r} run backwards")
        out.append(_DAYS[first] if first == last else f"{_DAYS[first]}..{_DAYS[last]}")
    return ",".join(out)


def crontab_line(cron: Cron, command: Sequence[str], workdir: Path) -> str:
    """The crontab entry that runs ``command`` in ``workdir`` when ``cron`` fires.

    Raises ConfigError for a seconds field (crontab counts minutes)."""
    if cron.has_seconds:
        raise ConfigError(
            f"--cron {cron.expr!r} has a seconds field: crontab counts minutes "
            "(use five fields, or the foreground scheduler)"
        )
    line = f"cd {shlex.quote(str(workdir))} && {shlex.join(command)}"
    return f"{cron.expr} {line.replace('%', chr(92) + '%')}"  # % ends a crontab command


def systemd_units(
    name: str, cron: Cron, command: Sequence[str], workdir: Path
) -> tuple[tuple[str, str], tuple[str, str]]:
    """The service and the timer (file name, text) that run ``command`` in ``workdir``
    when ``cron`` fires; ``Persistent=true`` runs a time missed while the machine was
    off once it is back. Raises ConfigError when systemd has no form for ``cron``."""
    calendar = on_calendar(cron)
    unit = f"scrapeline-{name}"
    exec_start = shlex.join(command).replace("%", "%%").replace("$", "$$")
    service = "\n".join(
        [
            "[Unit]",
            f"Description=scrapeline: run the {name} pipeline",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"WorkingDirectory={workdir}",
            f"ExecStart={exec_start}",
            "# SIGTERM drains the run, as Ctrl+C does; its exit code says how it ended",
            "KillSignal=SIGTERM",
            "TimeoutStopSec=120",
            "",
        ]
    )
    timer = "\n".join(
        [
            "[Unit]",
            f"Description=scrapeline: the {name} pipeline's schedule ({cron.expr})",
            "",
            "[Timer]",
            f"OnCalendar={calendar}",
            "Persistent=true",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    return (f"{unit}.service", service), (f"{unit}.timer", timer)


# -- what the foreground scheduler keeps ----------------------------------------------


def read_last_trigger(path: Path) -> datetime | None:
    """The time of the last trigger kept in ``path`` (local, naive), or None when
    there is none or it cannot be read (the schedule then starts afresh)."""
    try:
        saved = orjson.loads(path.read_bytes())
        when = datetime.fromisoformat(saved["last_trigger"])
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return when.astimezone().replace(tzinfo=None) if when.tzinfo else when


def write_last_trigger(path: Path, when: datetime, **extra: Any) -> None:
    """Keep ``when`` (with its UTC offset) in ``path``, atomically: a kill leaves the
    old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"last_trigger": when.astimezone().isoformat(timespec="seconds"), **extra}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def exit_words(code: int) -> str:
    """A run's exit code in words (cli/exits.py's table; a negative code is a signal).

    >>> exit_words(0), exit_words(3), exit_words(-9)
    ('done', 'halted', 'killed by SIGKILL')
    """
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return {
        0: "done",
        1: "finished with failed items",
        2: "usage or configuration error",
        3: "halted",
        130: "interrupted",
    }.get(code, "failed")


# -- the foreground loop ----------------------------------------------------------------


class Scheduler:
    """Runs ``command`` at each fire time of ``cron`` until stopped (see the module
    doc). ``say`` gets one line per thing that happens (a trigger, a skip, a run's
    exit, the stop); ``now`` is the local time."""

    def __init__(
        self,
        cron: Cron,
        command: Sequence[str],
        state_path: Path,
        *,
        say: Callable[[str], None],
        now: Callable[[], datetime] = datetime.now,
        cwd: Path | None = None,
    ) -> None:
        self.cron = cron
        self.command = list(command)
        self.state_path = state_path
        self.say = say
        self.now = now
        self.cwd = cwd
        self._child: subprocess.Popen[bytes] | None = None
        self._started: datetime | None = None
        self._signals = 0
        self._forwarded = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    # signals and the child's exit wake the loop through a socket pair (select works
    # on sockets everywhere); a handler only counts and writes one byte
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _sleep(self, seconds: float | None) -> None:
        """Until ``seconds`` pass, a signal arrives or the child exits."""
        import select

        if seconds is not None and seconds <= 0:
            return
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select([self._wake_r], [], [], seconds)
            if ready:
                with contextlib.suppress(BlockingIOError, OSError):
                    self._wake_r.recv(4096)

    def run(self) -> int:
        """Loop until the first SIGINT or SIGTERM, then wait for the running child.
        Returns 0: a schedule that was asked to stop, stopped."""
        previous = {s: signal.signal(s, self._on_signal) for s in _stop_signals()}
        try:
            self._loop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self._wake_r.close()
            self._wake_w.close()
        return 0

    def _loop(self) -> None:
        last = read_last_trigger(self.state_path)
        started = self.now()
        late = missed(self.cron, last=last, now=started)
        self.say(f"schedule {self.cron.expr!r}: {shlex.join(self.command)}")
        if late is not None:
            self.say(f"catching up the run due at {late:%Y-%m-%d %H:%M:%S} (missed while stopped)")
            self._trigger(late)
        due = self.cron.next_after(started)
        self.say(f"next run at {due:%Y-%m-%d %H:%M:%S}")
        while not self._signals:
            self._reap()
            wait = due.timestamp() - self.now().timestamp()
            if wait > 0:
                self._sleep(wait)
                continue
            self._trigger(due)
            # at most one run for a time already past (the machine slept, a clock jump)
            due = self.cron.next_after(max(due, self.now()))
        self.say("stopping" + (": waiting for the run to end" if self._running() else ""))
        while self._running():
            self._forward()
            self._sleep(None)
        self._reap()
        self.say("stopped")

    def _running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def _trigger(self, at: datetime) -> None:
        self._reap()
        if self._running():
            assert self._child is not None and self._started is not None
            self.say(
                f"trigger {at:%Y-%m-%d %H:%M:%S} skipped: the run started at "
                f"{self._started:%H:%M:%S} (pid {self._child.pid}) is still going"
            )
            write_last_trigger(self.state_path, at, skipped=True)
            return
        write_last_trigger(self.state_path, at, skipped=False)
        try:
            # its own session: a Ctrl+C in the terminal reaches the scheduler only,
            # which forwards one SIGTERM (two signals would cancel the run's drain)
            child = subprocess.Popen(self.command, cwd=self.cwd, start_new_session=True)
        except OSError as exc:
            self.say(f"trigger {at:%Y-%m-%d %H:%M:%S}: the run could not start: {exc}")
            return
        self._child, self._started = child, self.now()
        threading.Thread(target=self._watch, args=(child,), daemon=True).start()
        self.say(f"trigger {at:%Y-%m-%d %H:%M:%S}: run started (pid {child.pid})")

    def _watch(self, child: subprocess.Popen[bytes]) -> None:
        child.wait()
        self._wake()

    def _reap(self) -> None:
        child = self._child
        if child is None or child.poll() is None:
            return
        self._child = None
        code = child.returncode
        self.say(f"run (pid {child.pid}) exited {code}: {exit_words(code)}")

    def _forward(self) -> None:
        """One SIGTERM to the child for each stop signal not yet passed on."""
        while self._forwarded < self._signals and self._child is not None:
            self._forwarded += 1
            with contextlib.suppress(ProcessLookupError):
                self._child.terminate()  # SIGTERM (on Windows, TerminateProcess)


def _stop_signals() -> tuple[int, ...]:
    found = [signal.SIGINT]
    if hasattr(signal, "SIGTERM"):
        found.append(signal.SIGTERM)
    return tuple(found)


def say_to_stderr(message: str) -> None:
    """``say`` for the command line: one line on stderr per event, stamped with the
    local time and its UTC offset."""
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    sys.stderr.write(f"{stamp} schedule: {message}\n")
    sys.stderr.flush()
