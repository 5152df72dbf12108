"""The run's log file: every event and every engine message, at DEBUG, one file per run.

    path, handler = open_run_log(data_dir, run_id, datetime.now(), secrets=[token])
    reporter = LogReporter()          # subscribe it to the runner
    try:
        ...
    finally:
        close_run_log(handler)

The file handler hangs on the ``scrapeline`` logger, so anything the engine
logs under ``scrapeline.*`` lands in the file too. Each record is flushed as
it is written (``logging.FileHandler`` flushes on every emit), so the file is
complete up to the moment of a Ctrl+C or a kill. What a person watching sees
is the :class:`~scrapeline.observe.console.ConsoleReporter`'s job, not this one's.

Secrets (tokens, passwords from the config) and the credentials in any URL are
replaced by ``***`` in every record the file gets, by :class:`RedactingFilter`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from scrapeline.errors import DiskFull
from scrapeline.events import Event, TaskDone
from scrapeline.fetch.events import Fetched
from scrapeline.observe.render import done_log, render
from scrapeline.secrets import redact

LOGGER_NAME = "scrapeline"
_DONE_BATCH = 1000
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class RedactingFilter(logging.Filter):
    """Replaces secrets in a record's formatted message, traceback and stack.

    It rewrites the record itself (message arguments merged in), so attach it
    to a handler and every handler after it sees the redacted text too.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self._secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


class IsoFormatter(logging.Formatter):
    """Times as local ISO 8601 with milliseconds and offset: 2026-05-01T14:03:07.412+02:00."""

    # The local offset, looked up once: astimezone() per record costs more than the record.
    _zone = datetime.now().astimezone().tzinfo

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self._zone)
        return moment.isoformat(timespec="milliseconds")


class RunLogHandler(logging.FileHandler):
    """The file handler of one run; remembers the logger level to restore on close.

    INFO and above reach the file at once. DEBUG lines (one per item) are flushed
    at most every ``flush_every`` seconds, and always by the next INFO line and
    by ``close()``, which every exit path but SIGKILL runs: a flush per item
    would cost more than the item.

    It never raises, on write, flush or close: a log is no reason to lose a run.
    Once a write fails (a full disk, most often) the lines after it are dropped,
    and one line on stderr says so. The file is created 0600 (less if the umask
    says so) and never through a symbolic link.
    """

    def __init__(self, path: Path, previous_level: int, *, flush_every: float = 0.5) -> None:
        self.broken: str | None = None
        """Why the file stopped being written, once it did."""
        super().__init__(path, mode="a", encoding="utf-8")
        self.previous_level = previous_level
        self.flush_every = flush_every
        self._flushed = time.monotonic()
        self._urgent = True

    def _open(self) -> io.TextIOWrapper:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC
        fd = os.open(self.baseFilename, flags, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken is not None:
            return
        self._urgent = record.levelno >= logging.INFO
        super().emit(record)  # failures reach handleError

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        self._give_up(error if isinstance(error, BaseException) else None)

    def flush(self) -> None:
        if self.broken is not None:
            return
        now = time.monotonic()
        if self._urgent or now - self._flushed >= self.flush_every:
            self._flushed = now
            try:
                super().flush()
            except OSError as exc:
                self._give_up(exc)

    def close(self) -> None:
        try:
            super().close()
        except OSError as exc:
            self._give_up(exc)
            # the stream is gone either way: do not let logging try it again
            self.stream = None

    def _give_up(self, error: BaseException | None) -> None:
        if self.broken is not None:
            return
        self.broken = (error.strerror if isinstance(error, OSError) else None) or repr(error)
        # Writing to stderr may fail too (closed, a full pipe): then nobody can be told.
        with contextlib.suppress(Exception):
            sys.stderr.write(
                f"warning: the run log {self.baseFilename} stopped being written "
                f"({self.broken}); later lines are not in it\n"
            )
            sys.stderr.flush()


def run_log_path(data_dir: Path, run_id: int, started: datetime) -> Path:
    """DATA_DIR/logs/run-YYYYMMDD-HHMMSS-<run_id>.log"""
    return data_dir / "logs" / f"run-{started:%Y%m%d-%H%M%S}-{run_id}.log"


def open_run_log(
    data_dir: Path, run_id: int, started: datetime, *, secrets: Sequence[str] = ()
) -> tuple[Path, logging.Handler]:
    """Create the run's log file and attach a DEBUG file handler to ``scrapeline``.

    Sets the ``scrapeline`` logger to DEBUG so the file gets everything (handlers
    elsewhere keep their own levels); :func:`close_run_log` restores the level.
    Appends if the file exists. Raises OSError if the file cannot be created
    (DiskFull when the disk is full).
    """
    path = run_log_path(data_dir, run_id, started)
    logger = logging.getLogger(LOGGER_NAME)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handler = RunLogHandler(path, previous_level=logger.level)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFull(
                f"disk full: no space left for the run log {path}; free space and run again"
            ) from exc
        raise
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(IsoFormatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter(secrets))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return path, handler


def close_run_log(handler: logging.Handler) -> None:
    """Detach and close a handler from :func:`open_run_log`. Safe to call twice."""
    logger = logging.getLogger(LOGGER_NAME)
    attached = handler in logger.handlers
    logger.removeHandler(handler)
    handler.close()
    if attached and isinstance(handler, RunLogHandler):
        logger.setLevel(handler.previous_level)


class LogReporter:
    """Writes every runner event to the log, a line each, in the words of
    :func:`scrapeline.observe.render.render`.

    Item outcomes: done at DEBUG, failed at WARNING. Discovery and the run's
    start and end at INFO; the end carries the summary as one JSON line.

    Fetch events are written in the renderer's words too: a paused host and a
    breaker opening at WARNING, a breaker closing at INFO, retries at DEBUG (the
    fetch client logs them itself only when nobody listens).

    The "done" lines of one commit go out as one record (a line each, each with
    its own prefix), written when the next other event arrives: the runner
    reports a batch's items together, and a record per item would cost more
    than the item.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger if logger is not None else logging.getLogger(f"{LOGGER_NAME}.run")
        self._done: list[str] = []

    def _write_done(self) -> None:
        lines, self._done = self._done, []
        if lines and self._log.isEnabledFor(logging.DEBUG):
            stamp = datetime.now(IsoFormatter._zone).isoformat(timespec="milliseconds")
            self._log.debug("%s", f"\n{stamp} DEBUG {self._log.name}: ".join(lines))

    def __call__(self, event: Event) -> None:
        if type(event) is TaskDone:
            self._done.append(done_log(event))
            if len(self._done) >= _DONE_BATCH:
                self._write_done()
            return
        if type(event) is Fetched:  # one per request, and nothing to say
            return
        if self._done:
            self._write_done()
        line = render(event, now=datetime.now())
        if line is not None:
            self._log.log(line.level, "%s", line.log)
