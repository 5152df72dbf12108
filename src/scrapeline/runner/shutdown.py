"""Ctrl+C and SIGTERM, the same on every platform.

The first signal asks the run to drain: stop taking work, let in-flight items
finish within a grace period. The second cancels in-flight items, which go back
to pending. Handlers are installed with ``signal.signal`` (``loop.add_signal_handler``
does not exist on Windows) and only set state and wake the loop: all cleanup is
awaited by the runner before the loop closes.

A stage that blocks the event loop (``time.sleep``, a synchronous HTTP call) keeps
the loop from ever seeing the request. The handler itself still runs (Python runs
signal handlers in the main thread between bytecodes, and a blocking sleep or read
is interrupted for it), so it also arms a watchdog thread: if the run has not ended
by a deadline, the watchdog calls the runner's ``abandon`` (which gives the leases
back and records the run's end through the ledger's writer thread) and ends the
process with ``os._exit``. The deadline is the grace period after the second signal,
and the grace period plus :data:`SETTLE` after the first (a drain takes at most the
grace period). The watchdog only exists for real signals: :meth:`Shutdown.request`
from code never ends the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)

SETTLE = 10.0
"""Seconds, past the grace period, that a drain started by one signal may take to
cancel what is left, commit and close before the watchdog ends the process."""

EXIT_INTERRUPTED = 130

log = logging.getLogger("scrapeline.runner")


class Shutdown:
    """Counts stop requests and tells the runner about each one, in its loop."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.requests = 0
        self.signal_name = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: Callable[[int], None] | None = None
        self._previous: dict[int, Any] = {}
        self._clock = clock
        self._abandon: Callable[[], int] | None = None
        self._grace = 30.0
        # reentrant: the handler may interrupt the main thread while it holds the lock
        self._cond = threading.Condition(threading.RLock())
        self._deadline: float | None = None
        self._over = False
        self._watchdog: threading.Thread | None = None

    @property
    def draining(self) -> bool:
        return self.requests >= 1

    @property
    def forced(self) -> bool:
        return self.requests >= 2

    def listen(self, loop: asyncio.AbstractEventLoop, listener: Callable[[int], None]) -> None:
        """Call ``listener(requests)`` in ``loop`` after each request."""
        self._loop, self._listener = loop, listener

    def when_stuck(self, abandon: Callable[[], int], *, grace: float) -> None:
        """After a signal, if the run has not ended (:meth:`restore`) by the deadline,
        call ``abandon()`` in the watchdog thread, then ``os._exit`` with the exit code
        it returns. ``abandon`` must not need the event loop: the loop is stuck."""
        self._abandon, self._grace = abandon, grace

    def request(self, name: str = "request") -> None:
        """Ask the run to stop (what a signal does; usable from any thread)."""
        self.requests += 1
        self.signal_name = name
        if self._loop is not None and self._listener is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._listener, self.requests)

    def install(self) -> None:
        """Route SIGINT/SIGTERM here. Only from the main thread; elsewhere a no-op."""
        with self._cond:
            self._over = False
        try:
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread: the caller stops us by request()
            self._previous.clear()

    def restore(self) -> None:
        """Give the signals back; the run is over, so the watchdog stands down."""
        with self._cond:
            self._over = True
            self._cond.notify_all()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request(signal.Signals(signum).name)
        self._arm()

    # -- the watchdog ----------------------------------------------------------------

    def _arm(self) -> None:
        if self._abandon is None:
            return
        wait = self._grace if self.forced else self._grace + SETTLE
        with self._cond:
            deadline = self._clock() + wait
            if self._deadline is None or deadline < self._deadline:
                self._deadline = deadline
            self._cond.notify_all()
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name="scrapeline-shutdown", daemon=True
                )
                self._watchdog.start()

    def _watch(self) -> None:
        with self._cond:
            while not self._over:
                assert self._deadline is not None
                left = self._deadline - self._clock()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._over:
                return
        code = EXIT_INTERRUPTED
        try:
            assert self._abandon is not None
            code = self._abandon()
        except BaseException:
            log.exception("could not wind the stuck run up; its leases expire on their own")
        finally:
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):  # closed or broken: nothing to tell
                    stream.flush()
            os._exit(code)
