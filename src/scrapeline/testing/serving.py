"""What the rehearsal sites share: latency, faults as a client sees them, lifecycle, threads.

:class:`LocalSite` is the base of :class:`~scrapeline.testing.site.RehearsalSite`
(HTML pages) and :class:`~scrapeline.testing.api.ApiSite` (a JSON API). It owns
what must behave the same on both, so a test written against one site's faults
reads the same against the other:

- ``hits`` counts every request by its target (path and query as requested),
  faulted ones included; ``served`` counts only 200 answers.
- Latency is a pseudo-random delay drawn from ``(seed, target, nth)``, slept
  with :func:`asyncio.sleep`, so the site stays concurrent and replays the
  same delays for the same seed.
- Faults follow :func:`scrapeline.testing.faults.decide`: 500 for
  ``fail_paths``, 503, 429 with ``Retry-After``, 403 (an anti-bot answer), a
  dropped connection, or the normal answer ``slow_seconds`` late. Each site
  words its error answers in its own format (:class:`ErrorAnswers`); a
  handler reads the request's fault with :func:`fault_of` (e.g. ``BROKEN``).
- A site binds 127.0.0.1 unless told otherwise.

:func:`serve_in_thread` and :func:`serve_forever` run any of them (and the
test proxy) from synchronous code or from a shell.

Example::

    from scrapeline.testing import ApiSite, RehearsalSite, serve_in_thread

    with serve_in_thread(RehearsalSite(latency=None)) as html, serve_in_thread(ApiSite()) as api:
        ...  # scrape f"{html}/results" and f"{api}/api/events"
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol, Self

from aiohttp import web

from scrapeline.testing.faults import Fault, Faults, decide, uniform

__all__ = [
    "DEFAULT_LATENCY",
    "ErrorAnswers",
    "Latency",
    "LocalSite",
    "Servable",
    "fault_of",
    "serve_forever",
    "serve_in_thread",
]

DEFAULT_LATENCY = (0.03, 0.09)
"""Seconds: a realistic spread for a small site, used unless ``latency`` is given."""

_SHUTDOWN_TIMEOUT = 0.5  # seconds in-flight requests get when the site stops
_THREAD_START_TIMEOUT = 30.0
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FAULT_KEY = web.RequestKey("scrapeline_fault", Fault)


@dataclass(frozen=True, kw_only=True)
class Latency:
    """A delay range in seconds, drawn per request from ``(seed, target, nth)``.

    >>> Latency.parse(None) is None, Latency.parse(0) is None
    (True, True)
    >>> lat = Latency.parse((0.1, 0.2))
    >>> lat.delay(7, "/x", 0) == lat.delay(7, "/x", 0) and 0.1 <= lat.delay(7, "/x", 0) <= 0.2
    True
    """

    low: float
    high: float

    @classmethod
    def parse(cls, latency: tuple[float, float] | float | None) -> Latency | None:
        """``(low, high)``, a fixed delay, or ``None``/``0`` for none (then ``None``).

        Raises :class:`ValueError` unless ``0 <= low <= high``.
        """
        if latency is None:
            return None
        low, high = latency if isinstance(latency, tuple) else (latency, latency)
        if low < 0 or high < low:
            raise ValueError(f"latency must be 0 <= low <= high, got {latency!r}")
        return None if high == 0 else cls(low=low, high=high)

    def delay(self, seed: int, target: str, nth: int) -> float:
        return self.low + (self.high - self.low) * uniform(seed, target, nth, salt="latency")


@dataclass(frozen=True, kw_only=True)
class ErrorAnswers:
    """How a site words the answers that faults replace its pages with."""

    error: Callable[[int, str], web.Response]
    """``error(status, reason)``: the 500, 503 and 429 answers."""
    blocked: Callable[[], web.Response]
    """The 403 anti-bot answer."""


def fault_of(request: web.Request) -> Fault:
    """The fault decided for ``request`` (``Fault.NONE`` outside a :class:`LocalSite`)."""
    fault: Fault = request.get(_FAULT_KEY, Fault.NONE)
    return fault


class LocalSite:
    """A site on 127.0.0.1 with ``hits``, ``served``, latency and faults; see the module doc.

    Subclasses build their routes in :meth:`routes` and may count requests
    in :meth:`arrived` (called before latency and faults).
    """

    kind = "site"
    """How error messages name the site ("the rehearsal site is not running")."""

    def __init__(
        self,
        *,
        latency: tuple[float, float] | float | None,
        faults: Faults | None,
        seed: int,
        answers: ErrorAnswers,
    ) -> None:
        self._latency = Latency.parse(latency)
        self._answers = answers
        self.faults = faults or Faults()
        self.seed = seed
        self.hits: Counter[str] = Counter()
        """Requests per target (path and query as requested), faulted ones included."""
        self.served: Counter[str] = Counter()
        """200 answers per target."""
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    def routes(self, app: web.Application) -> None:
        """Add the site's routes to ``app``."""
        raise NotImplementedError

    def arrived(self, request: web.Request) -> None:
        """Called for every request once it is counted, before latency and faults."""

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``. Raises :class:`RuntimeError` if not started."""
        if self._url is None:
            raise RuntimeError(f"the {self.kind} is not running; call start() first")
        return self._url

    # -- lifecycle ---------------------------------------------------------------------

    def app(self) -> web.Application:
        """A fresh aiohttp application serving this site (for custom runners)."""
        app = web.Application(middlewares=[self._middleware])
        self.routes(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError(f"the {self.kind} is already running")
        runner = web.AppRunner(
            self.app(),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            tcp = web.TCPSite(runner, host, port)
            await tcp.start()
            bound_port = runner.addresses[0][1]
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        shown_host = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown_host}:{bound_port}"
        return self._url

    async def stop(self) -> None:
        """Stop listening and close connections. Idempotent."""
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- request handling ---------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        target = request.raw_path
        nth = self.hits[target]
        self.hits[target] += 1
        self.arrived(request)
        if self._latency is not None:
            await asyncio.sleep(self._latency.delay(self.seed, target, nth))

        fault = decide(self.faults, self.seed, target, nth)
        if fault is Fault.FAILING_PATH:
            return self._answers.error(500, "Internal Server Error")
        if fault is Fault.SERVER_ERROR:
            return self._answers.error(503, "Service Unavailable")
        if fault is Fault.RATE_LIMIT:
            limited = self._answers.error(429, "Too Many Requests")
            limited.headers["Retry-After"] = str(self.faults.retry_after)
            return limited
        if fault is Fault.BLOCKED:
            return self._answers.blocked()
        if fault is Fault.DROP:
            return _drop(request)
        if fault is Fault.SLOW:
            await asyncio.sleep(self.faults.slow_seconds)
        request[_FAULT_KEY] = fault

        response = await handler(request)
        if response.status == 200:
            self.served[target] += 1
        return response


def _drop(request: web.Request) -> web.StreamResponse:
    # Closing the transport before anything is written makes the client see
    # a disconnect (aiohttp: ServerDisconnectedError); the response returned
    # to aiohttp afterwards goes nowhere.
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)


# -- running it outside an event loop ---------------------------------------------------


class Servable(Protocol):
    """What :func:`serve_in_thread` runs: a site, or a :class:`ForwardProxy`."""

    @property
    def url(self) -> str: ...

    async def start(self, host: str = ..., port: int = ...) -> str: ...

    async def stop(self) -> None: ...


@contextmanager
def serve_in_thread(site: Servable, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``site`` in a background thread with its own event loop; yield its base URL.

    For synchronous code (the CLI demo, subprocess-based tests, benchmarks). Works for
    anything :class:`Servable`: the rehearsal site, the API site, the test proxy.
    Start-up errors (e.g. the port is taken) are raised here; on exit the site
    is stopped and the thread joined.
    """
    ready: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = (
        concurrent.futures.Future()
    )
    failures: list[BaseException] = []

    async def run() -> None:
        stop = asyncio.Event()
        try:
            await site.start(host, port)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result((asyncio.get_running_loop(), stop))
        try:
            await stop.wait()
        finally:
            await site.stop()

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # handed to the caller's thread on exit
            failures.append(exc)

    thread = threading.Thread(target=main, name="rehearsal-site", daemon=True)
    thread.start()
    try:
        loop, stop = ready.result(timeout=_THREAD_START_TIMEOUT)
    except BaseException:
        thread.join(_THREAD_START_TIMEOUT)
        raise
    try:
        yield site.url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(_THREAD_START_TIMEOUT)
        if failures:
            raise failures[0]


def serve_forever(
    site: Servable,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``site`` until Ctrl+C (SIGINT) or SIGTERM, then stop it and return.

    Prints nothing; ``on_ready`` receives the base URL once the site listens.
    """

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        installed: list[signal.Signals] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Not available off the main thread or on Windows: Ctrl+C then
            # arrives as KeyboardInterrupt, handled below.
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
        try:
            url = await site.start(host, port)
            if on_ready is not None:
                on_ready(url)
            await stop.wait()
        finally:
            await site.stop()
            for signum in installed:
                loop.remove_signal_handler(signum)

    with suppress(KeyboardInterrupt):
        asyncio.run(run())
