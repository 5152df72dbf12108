"""Ctrl+C and SIGTERM, the same on every platform.

The first signal asks the run to drain: stop taking work, let in-flight items
finish within a grace period. The second cancels in-flight items, which go back
to pending. Handlers are installed with ``signal.signal`` (``loop.add_signal_handler``
does not exist on Windows) and only set state and wake the loop: all cleanup is
awaited by the runner before the loop closes.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class Shutdown:
    """Counts stop requests and tells the runner about each one, in its loop."""

    def __init__(self) -> None:
        self.requests = 0
        self.signal_name = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: Callable[[int], None] | None = None
        self._previous: dict[int, Any] = {}

    @property
    def draining(self) -> bool:
        return self.requests >= 1

    @property
    def forced(self) -> bool:
        return self.requests >= 2

    def listen(self, loop: asyncio.AbstractEventLoop, listener: Callable[[int], None]) -> None:
        """Call ``listener(requests)`` in ``loop`` after each request."""
        self._loop, self._listener = loop, listener

    def request(self, name: str = "request") -> None:
        """Ask the run to stop (what a signal does; usable from any thread)."""
        self.requests += 1
        self.signal_name = name
        if self._loop is not None and self._listener is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._listener, self.requests)

    def install(self) -> None:
        """Route SIGINT/SIGTERM here. Only from the main thread; elsewhere a no-op."""
        try:
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread: the caller stops us by request()
            self._previous.clear()

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request(signal.Signals(signum).name)
