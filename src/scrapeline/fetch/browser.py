"""BrowserFetcher: pages rendered by headless Chromium, for JavaScript-built or guarded sites.

The same :class:`~scrapeline.fetch.transport.Fetcher` interface as the HTTP fetcher,
so the client's allow-list, politeness, retries, breaker, status handling and
contracts hold unchanged. Needs the ``browser`` extra (Playwright) and a Chromium on
the machine; Playwright never downloads a browser here::

    pip install 'scrapeline[browser]'    # Playwright, which brings its own driver
    apt-get install chromium             # or set SCRAPELINE_CHROMIUM=/path/to/chrome

    pipe = Pipeline("football", base_url="https://example.org",
                    fetcher="browser", ready_selector="#match, table#results")

Or on its own::

    fetcher = BrowserFetcher(ready_selector="#match")
    try:
        response = await fetcher.fetch(Request(url="http://127.0.0.1:8000/js/matches/1"))
        print(response.one("#match h1").text())
    finally:
        await fetcher.close()

Contract (where it differs from the HTTP fetcher, it says so):

- ``fetch`` opens a page, navigates to the URL and waits for the ``load`` event, then
  for ``ready_selector`` when one is given (on HTML answers with a 2xx status, or the
  403/503 behind which anti-bot challenges sit and then navigate on to the real page;
  not on a 404, nor on robots.txt or JSON).
  It returns the **rendered** document (``page.content()``, UTF-8, ``Content-Type:
  text/html; charset=utf-8``) for HTML, or the raw body for anything else, with the
  status and headers of the last main-frame navigation, and ``url`` equal to the
  request's. Unlike the HTTP fetcher, the browser follows redirects itself.
- **Origins.** With ``hosts`` or ``base_url`` given, the allow-list is one of origins
  (scheme, host, port), read as the HTTP client reads it
  (:mod:`~scrapeline.fetch.origins`): ``"example.org"`` is its http and https origins
  on ports 80 and 443, ``"example.org:8080"`` both schemes on that port,
  ``"https://example.org:8443"`` that one origin; ``base_url``'s (and ``cookie_url``'s)
  origin is declared too. Every request the page makes to another origin (navigation,
  each redirect hop, script, XHR, frame) is aborted before anything is sent, and a
  main-frame navigation so aborted raises :class:`HostNotAllowed` (forbidden_host).
  Redirect hops are checked through the page's DevTools session (Playwright's routes
  do not see them); frames and workers running in processes of their own are held
  to the allow-list by a route as well, redirects of theirs excepted.
- **Credentials.** ``headers`` and the request's own headers are added to requests for
  declared origins only (with no allow-list: for the requested URL's origin only),
  never to the context as a whole. Cookies are set for ``cookie_url`` (else
  ``base_url``, else each declared host); the browser scopes them by host, not port,
  which the allow-list makes safe: a request to another port is never sent.
- **max_body.** A main document whose Content-Length passes ``max_body`` is refused
  before its body is read, and one whose body (as rendered, or raw for non-HTML)
  passes it once loaded is refused too: :class:`ResponseTooLarge` (too_large, not
  retried).
- It raises :class:`NetworkError` (connection refused, aborted navigation) or
  :class:`FetchTimeout` (no load within ``timeout`` seconds, or the ready selector
  never appeared), translated from Playwright's errors here and nowhere else.
  Chromium that cannot start raises :class:`BrowserUnavailable`, which halts a run.
- Construction fails at once with a :class:`ConfigError` when Playwright or Chromium is
  missing: "install scrapeline[browser] for the browser fetcher".
- The browser starts on the first fetch, in a fresh temporary profile, and at most
  ``max_pages`` pages are open at once.
- **Every exit path kills it.** Chromium runs in its own process group (Playwright
  starts it detached) and every process it starts carries a marker in its
  environment. :meth:`close` closes the browser, stops the Playwright driver, then
  kills whatever still carries the marker and removes the profile; it does so even
  when cancelled. An ``atexit`` hook does the same for a fetcher never closed. The
  driver ignores Ctrl+C (so a draining run keeps its browser) and closes the browser
  when its parent dies, even by SIGKILL; if the driver is SIGKILLed as well, the
  next BrowserFetcher to start on the machine kills the orphaned browser and removes
  its profile. Finding processes by marker needs ``/proc`` (Linux); elsewhere only
  the orderly paths apply. Keep ``TMPDIR`` short (Chromium puts a Unix socket in it,
  and socket paths are limited to about 100 characters).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapeline.errors import (
    ConfigError,
    FetchTimeout,
    HostNotAllowed,
    NetworkError,
    ResponseTooLarge,
    RunHalted,
)
from scrapeline.fetch.http1 import DEFAULT_MAX_BODY
from scrapeline.fetch.origins import (
    Origin,
    authority_origin,
    declared_origins,
    show_origin,
)
from scrapeline.fetch.response import Request, Response
from scrapeline.fetch.settings import FetchSettings

if TYPE_CHECKING:
    from playwright._impl._api_structures import SetCookieParam
    from playwright.async_api import BrowserContext, CDPSession, Page, Playwright, Route
    from playwright.async_api import Response as PageResponse

CHROMIUM_ENV = "SCRAPELINE_CHROMIUM"
"""Environment variable naming the Chromium (or Chrome) executable to use."""

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Executables looked for on PATH when neither ``executable`` nor SCRAPELINE_CHROMIUM is set."""

CHROMIUM_ARGS = (
    "--no-sandbox",  # root in containers and CI; the profile is throwaway
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls home: only the pages we ask for
    "--disable-component-update",
    "--disable-sync",
    "--disable-crash-reporter",
)

DEFAULT_BLOCKED = ("image", "media", "font")
"""Resource types not loaded by default: a scraper reads the DOM, not the pictures."""

INSTALL_HINT = "install scrapeline[browser] for the browser fetcher"

PROFILE_PREFIX = "scrapeline-browser-"
_OWNER_VAR = "SCRAPELINE_BROWSER_OWNER"
_PROFILE_VAR = "SCRAPELINE_BROWSER_PROFILE"
_CLOSE_GRACE = 10.0  # seconds an orderly close may take before the kill
_PAGE_CLOSE_GRACE = 5.0
_CHALLENGE_STATUSES = frozenset({403, 503})
_HTML_TYPES = frozenset({"", "text/html", "application/xhtml+xml"})


class BrowserUnavailable(RunHalted):
    """Chromium would not start: every item would fail the same way, so the run stops."""


def find_chromium(executable: str | None = None) -> str:
    """The Chromium to run: ``executable``, else ``$SCRAPELINE_CHROMIUM``, else the first
    of :data:`CHROMIUM_NAMES` on PATH. Raises ConfigError naming what to install."""
    chosen = executable or os.environ.get(CHROMIUM_ENV)
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise ConfigError(
                f"Chromium not found at {chosen!r} (from {CHROMIUM_ENV} or executable=)"
            )
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise ConfigError(
        "no Chromium found for the browser fetcher: install it (apt-get install chromium) "
        f"or set {CHROMIUM_ENV} to its path"
    )


def playwright_installed() -> bool:
    return importlib.util.find_spec("playwright") is not None


class BrowserFetcher:
    """Fetches pages with headless Chromium through Playwright; see the module docstring.

    ``ready_selector`` is a CSS selector the page must contain before it is returned
    (a comma list matches any: ``"#match, table#results"``). ``timeout`` bounds the
    navigation and the wait together. ``hosts`` and ``base_url`` declare the origins
    every request the browser makes is limited to (neither: no limit); ``block`` lists
    Playwright resource types not loaded. ``user_agent`` (default: the browser's own)
    goes with every request, ``headers`` with requests for declared origins only;
    ``cookies`` are set for ``cookie_url`` (else ``base_url``), or for every host in
    ``hosts``. ``max_body`` bounds the main document's body, in bytes.
    """

    def __init__(
        self,
        *,
        ready_selector: str | None = None,
        executable: str | None = None,
        timeout: float = 30.0,
        headless: bool = True,
        hosts: Collection[str] | None = None,
        block: Collection[str] = DEFAULT_BLOCKED,
        user_agent: str | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        cookie_url: str | None = None,
        max_pages: int = 4,
        launch_timeout: float = 60.0,
        base_url: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if not playwright_installed():
            raise ConfigError(INSTALL_HINT)
        if timeout <= 0 or launch_timeout <= 0:
            raise ConfigError("browser timeouts must be positive")
        if max_pages < 1:
            raise ConfigError(f"max_pages must be at least 1, got {max_pages}")
        if isinstance(max_body, bool) or max_body < 1:
            raise ConfigError(f"max_body must be a positive number of bytes, got {max_body}")
        self.max_body = max_body
        self.base_url = base_url
        self.origins: frozenset[Origin] | None = None
        """The declared origins (None: no allow-list)."""
        if hosts is not None or base_url is not None:
            origins: set[Origin] = set()
            for entry in hosts or ():
                origins |= declared_origins(entry)
            for url in (base_url, cookie_url):
                if url is not None:
                    origin = authority_origin(url)
                    if origin is None:
                        raise ConfigError(
                            f"invalid URL {url!r}: expected e.g. 'https://example.com'"
                        )
                    origins.add(origin)
            self.origins = frozenset(origins)
        self.ready_selector = ready_selector
        self.executable = find_chromium(executable)
        self.timeout = timeout
        self.headless = headless
        self.hosts = None if self.origins is None else frozenset(o[1] for o in self.origins)
        self.block = frozenset(block)
        self.user_agent = user_agent
        self.headers = dict(headers or {})
        self.cookies = dict(cookies or {})
        self.cookie_url = cookie_url
        self.launch_timeout = launch_timeout
        self._pages = asyncio.Semaphore(max_pages)
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._manager: object = None
        self._context: BrowserContext | None = None
        self._owned: _Owned | None = None
        self._closing: set[asyncio.Future[None]] = set()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: FetchSettings) -> BrowserFetcher:
        """The browser for ``Pipeline(fetcher="browser")``: its ready selector, declared
        hosts and ``base_url`` origin (cookies go there), identity and body limit.
        Raises ConfigError (exit 2) when Playwright or Chromium is missing."""
        return cls(
            ready_selector=settings.ready_selector,
            hosts=settings.hosts,
            user_agent=settings.user_agent,
            headers=settings.headers,
            cookies=settings.cookies,
            cookie_url=settings.base_url,
            base_url=settings.base_url,
            max_body=settings.max_body,
        )

    @property
    def profile(self) -> Path | None:
        """The temporary directory of the running browser (None before the first fetch)."""
        return None if self._owned is None else self._owned.root

    # -- fetching ----------------------------------------------------------------------

    async def fetch(self, request: Request) -> Response:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        context = await self._open()
        async with self._pages:
            started = time.perf_counter()
            navigations: list[PageResponse] = []
            guard = _Guard(self, request)
            page: Page | None = None
            try:
                page = opened = await context.new_page()
                opened.on("response", lambda r: _note_navigation(opened, r, navigations))
                await guard.attach(context, opened)
                if self.origins is not None or self.block:
                    await opened.route("**/*", lambda route: self._route(route))
                return await self._load(opened, request, navigations, started)
            except PlaywrightTimeout as exc:
                raise FetchTimeout(
                    f"no page within {self.timeout:g} s: {_first_line(exc)}", url=request.url
                ) from exc
            except PlaywrightError as exc:
                guard.raise_refusal(exc)
                raise NetworkError(_first_line(exc), url=request.url) from exc
            except asyncio.CancelledError:
                # Closing a page whose navigation was just cut short can take a while
                # (or never answer): do it in the background, the browser's close
                # settles it at the latest.
                if page is not None:
                    closing = asyncio.ensure_future(_close_page(page))
                    self._closing.add(closing)
                    closing.add_done_callback(self._closing.discard)
                    page = None
                raise
            finally:
                guard.detach()
                if page is not None:
                    await _close_page(page)

    async def _load(
        self,
        page: Page,
        request: Request,
        navigations: list[PageResponse],
        started: float,
    ) -> Response:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        deadline = started + self.timeout
        first = await page.goto(request.url, wait_until="load", timeout=self.timeout * 1000)
        if first is None:
            raise NetworkError("the browser got no response", url=request.url, retryable=False)
        selector = self.ready_selector
        waits = 200 <= first.status < 300 or first.status in _CHALLENGE_STATUSES
        if selector and waits and _media_type(await first.all_headers()) in _HTML_TYPES:
            left = max(deadline - time.perf_counter(), 0.001)
            try:
                await page.wait_for_selector(selector, state="attached", timeout=left * 1000)
            except PlaywrightTimeout as exc:
                raise FetchTimeout(
                    f"ready selector {selector!r} did not appear within {self.timeout:g} s",
                    url=request.url,
                ) from exc
        last = navigations[-1] if navigations else first
        headers = await last.all_headers()
        if _media_type(headers) in _HTML_TYPES:
            body = (await page.content()).encode("utf-8")
            headers["content-type"] = "text/html; charset=utf-8"
        else:
            body = await last.body()
        if len(body) > self.max_body:
            raise _too_large(self.max_body, request.url)
        headers.pop("content-length", None)
        headers.pop("content-encoding", None)
        return Response(
            url=request.url,
            status=last.status,
            headers=headers,
            body=body,
            elapsed=time.perf_counter() - started,
        )

    def _blocked(self, resource_type: str, url: str) -> bool:
        """A resource type not loaded (the favicon counts as an image: newer Chromium
        asks for it as resource type "other")."""
        return resource_type in self.block or (
            "image" in self.block and urlsplit(url).path == "/favicon.ico"
        )

    def _allowed(self, url: str) -> bool:
        if self.origins is None:
            return True
        if not url.startswith(("http:", "https:")):
            return True  # data:, blob:, about: never reach the network
        return authority_origin(url) in self.origins

    async def _route(self, route: Route) -> None:
        """Every frame's and worker's requests, wherever they run: the allow-list and
        the blocked types (the page's own requests were checked by its _Guard already;
        this is what holds for frames in processes of their own)."""
        from playwright.async_api import Error

        wanted = route.request
        with contextlib.suppress(Error):  # the page may be closing
            if self._blocked(wanted.resource_type, wanted.url) or not self._allowed(wanted.url):
                await route.abort("blockedbyclient")
            else:
                await route.continue_()

    # -- the browser's life ------------------------------------------------------------

    async def _open(self) -> BrowserContext:
        if self._closed:
            raise RuntimeError("BrowserFetcher is closed")
        if self._context is not None:
            return self._context
        async with self._lock:
            if self._closed:
                raise RuntimeError("BrowserFetcher is closed")
            if self._context is None:
                self._context = await self._launch()
            return self._context

    async def _launch(self) -> BrowserContext:
        from playwright.async_api import Error, async_playwright

        reap_orphans()
        root = Path(tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{_owner_tag()}-"))
        owned = self._owned = _Owned(root=root)
        _track(owned)
        try:
            manager = self._manager = async_playwright()
            self._playwright = await manager.start()
            owned.drivers = _driver_pids(manager)
            context = await self._playwright.chromium.launch_persistent_context(
                str(root),
                executable_path=self.executable,
                headless=self.headless,
                args=list(CHROMIUM_ARGS),
                env={**os.environ, **owned.environment()},
                handle_sigint=False,  # a draining run keeps its browser; we close it
                timeout=self.launch_timeout * 1000,
                user_agent=self.user_agent,
                service_workers="block",  # headers are added per request, by origin
            )
            if self.cookies:
                await context.add_cookies(self._cookie_list())
            return context
        except Error as exc:
            await self._shutdown()
            raise BrowserUnavailable(
                f"Chromium ({self.executable}) did not start: {_first_line(exc)}"
            ) from exc
        except BaseException:
            await self._shutdown()
            raise

    def _cookie_list(self) -> list[SetCookieParam]:
        url = self.cookie_url or self.base_url
        if url is not None:
            return [{"name": k, "value": v, "url": url} for k, v in self.cookies.items()]
        return [
            {"name": k, "value": v, "domain": host, "path": "/"}
            for host in sorted(self.hosts or ())
            for k, v in self.cookies.items()
        ]

    async def close(self) -> None:
        """Close the browser and the driver, then kill what is left. Idempotent; the
        kill happens even if this coroutine is cancelled."""
        self._closed = True
        await self._shutdown()

    async def _shutdown(self) -> None:
        context, self._context = self._context, None
        playwright, self._playwright = self._playwright, None
        manager, self._manager = self._manager, None
        owned, self._owned = self._owned, None
        closing, self._closing = self._closing, set()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            if context is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_CLOSE_GRACE):
                        await context.close()
            if closing:  # settled by the context's close
                await asyncio.wait(closing, timeout=_PAGE_CLOSE_GRACE)
            if playwright is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_CLOSE_GRACE):
                        await playwright.stop()
                playwright = None
        finally:
            for task in closing:
                task.cancel()
            if playwright is not None:  # the stop was cut short: the kill ends the driver
                _expect_driver_loss(manager)
            if owned is not None:
                owned.kill()


class _Guard:
    """One page's requests, seen through its DevTools session, where (unlike with
    Playwright's routes) every redirect hop is paused too: a request for an undeclared
    origin is failed before it is sent, the credentials are added for declared
    origins only, and the main document's Content-Length is held to ``max_body``."""

    def __init__(self, fetcher: BrowserFetcher, request: Request) -> None:
        self.fetcher = fetcher
        self.url = request.url
        self.extra = {**fetcher.headers, **request.headers}
        own = authority_origin(request.url)
        self.credentialled = fetcher.origins or frozenset(() if own is None else (own,))
        self.session: CDPSession | None = None
        self.main_frame = ""
        self.refused: Origin | str | None = None
        self.too_large: int | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def attach(self, context: BrowserContext, page: Page) -> None:
        session = self.session = await context.new_cdp_session(page)
        tree = await session.send("Page.getFrameTree")
        self.main_frame = tree["frameTree"]["frame"]["id"]
        session.on("Fetch.requestPaused", self._paused)
        patterns = [
            {"urlPattern": "*", "requestStage": "Request"},
            {"urlPattern": "*", "resourceType": "Document", "requestStage": "Response"},
        ]
        await session.send("Fetch.enable", {"patterns": patterns})

    def detach(self) -> None:
        for task in self.tasks:
            task.cancel()

    def raise_refusal(self, exc: BaseException) -> None:
        """Raise what a failed navigation was, if this guard failed it."""
        if self.too_large is not None:
            raise ResponseTooLarge(
                f"response body of {self.too_large} bytes (Content-Length) is larger than "
                f"max_body ({self.fetcher.max_body} bytes); Pipeline(max_body=...) raises "
                "the limit",
                url=self.url,
            ) from exc
        refused = self.refused
        if refused is None:
            return
        if isinstance(refused, str):
            what = f"undeclared host {refused!r}"
        elif refused[1] in (self.fetcher.hosts or ()):
            what = f"undeclared origin {show_origin(refused)!r} (host {refused[1]!r} is declared "
            what += f"for other ports only; add '{refused[1]}:{refused[2]}' to the hosts)"
        else:
            what = f"undeclared host {refused[1]!r} (origin {show_origin(refused)!r})"
        raise HostNotAllowed(f"the browser was sent to {what}", url=self.url) from exc

    def _paused(self, event: dict[str, object]) -> None:
        task = asyncio.ensure_future(self._decide(event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _decide(self, event: dict[str, object]) -> None:
        from playwright.async_api import Error

        session = self.session
        assert session is not None
        wanted = event["request"]
        assert isinstance(wanted, dict)
        url = str(wanted["url"])
        request_id = event["requestId"]
        resource = str(event.get("resourceType", "")).lower()
        main = resource == "document" and event.get("frameId") == self.main_frame
        fetcher = self.fetcher
        with contextlib.suppress(Error):  # the page may be closing
            if "responseStatusCode" in event:  # the response stage: documents only
                length = _content_length(event.get("responseHeaders"))
                if main and length is not None and length > fetcher.max_body:
                    self.too_large = length
                    await session.send(
                        "Fetch.failRequest",
                        {"requestId": request_id, "errorReason": "BlockedByClient"},
                    )
                else:
                    await session.send("Fetch.continueResponse", {"requestId": request_id})
                return
            if fetcher._blocked(resource, url) or not fetcher._allowed(url):
                if main and self.refused is None and not fetcher._blocked(resource, url):
                    origin = authority_origin(url)
                    self.refused = origin if origin is not None else urlsplit(url).hostname or url
                await session.send(
                    "Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"}
                )
                return
            continued: dict[str, object] = {"requestId": request_id}
            if self.extra and authority_origin(url) in self.credentialled:
                headers = dict(wanted.get("headers") or {})
                present = {name.lower(): name for name in headers}
                for name, value in self.extra.items():
                    headers.pop(present.get(name.lower(), name), None)
                    headers[name] = value
                continued["headers"] = [{"name": k, "value": str(v)} for k, v in headers.items()]
            await session.send("Fetch.continueRequest", continued)


def _content_length(headers: object) -> int | None:
    if not isinstance(headers, list):
        return None
    for entry in headers:
        if isinstance(entry, dict) and str(entry.get("name", "")).lower() == "content-length":
            value = str(entry.get("value", "")).strip()
            return int(value) if value.isdigit() else None
    return None


def _too_large(limit: int, url: str) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"response body larger than max_body ({limit} bytes); "
        "Pipeline(max_body=...) raises the limit",
        url=url,
    )


def _driver_pids(manager: object) -> set[int]:
    """The pid of the Playwright driver ``manager`` started (empty if it cannot be told:
    Playwright does not publish it; the driver also exits by itself when we do)."""
    client = getattr(manager, "_client", None)
    pid = getattr(getattr(getattr(client, "_transport", None), "_proc", None), "pid", None)
    return {pid} if isinstance(pid, int) else set()


def _expect_driver_loss(manager: object) -> None:
    """The driver is about to be killed mid-session: Playwright will report its lost
    pipe on a future nobody awaits; read it, so asyncio does not log it as an error.
    (Playwright has no public hook for this; without one, the log line is all we lose.)"""
    client = getattr(manager, "_client", None)
    future = getattr(getattr(client, "_transport", None), "on_error_future", None)
    if isinstance(future, asyncio.Future):
        future.add_done_callback(lambda done: None if done.cancelled() else done.exception())


async def _close_page(page: Page) -> None:
    from playwright.async_api import Error as PlaywrightError

    with contextlib.suppress(PlaywrightError, TimeoutError):
        async with asyncio.timeout(_PAGE_CLOSE_GRACE):
            await page.close()


def _note_navigation(page: Page, response: PageResponse, seen: list[PageResponse]) -> None:
    """Keep the main frame's navigations: a challenge page may navigate on to the real one."""
    if response.frame == page.main_frame and response.request.is_navigation_request():
        seen.append(response)


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# -- processes: what we started, and killing it ------------------------------------------


@dataclass(slots=True)
class _Owned:
    """What one fetcher started: the profile directory and the driver's pid(s)."""

    root: Path
    drivers: set[int] = field(default_factory=set)

    def environment(self) -> dict[str, str]:
        return {
            _OWNER_VAR: str(os.getpid()),
            _PROFILE_VAR: str(self.root),
            # crash reports and caches under the profile, not in the user's home
            "XDG_CONFIG_HOME": str(self.root / "xdg-config"),
            "XDG_CACHE_HOME": str(self.root / "xdg-cache"),
        }

    def kill(self) -> None:
        """SIGKILL every process group carrying our marker, the driver, remove the profile."""
        _kill_marked(os.fsencode(self.root))
        for pid in self.drivers:
            if _parent_of(pid) == os.getpid():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
        _untrack(self)


_OWNED: dict[Path, _Owned] = {}
_OWNED_LOCK = threading.Lock()
_ATEXIT: list[bool] = []


def _track(owned: _Owned) -> None:
    with _OWNED_LOCK:
        _OWNED[owned.root] = owned
        if not _ATEXIT:
            atexit.register(_kill_all)
            _ATEXIT.append(True)


def _untrack(owned: _Owned) -> None:
    with _OWNED_LOCK:
        _OWNED.pop(owned.root, None)


def _kill_all() -> None:
    """At interpreter exit: browsers whose fetcher was never closed."""
    with _OWNED_LOCK:
        leftovers = list(_OWNED.values())
    for owned in leftovers:
        owned.kill()


@dataclass(frozen=True, slots=True)
class _Process:
    pid: int
    ppid: int
    pgid: int
    cmdline: bytes
    environ: bytes


def _processes(*, environ: bool = True) -> Iterator[_Process]:
    """Live processes we may read (Linux /proc; nothing elsewhere). Zombies are skipped."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for name in entries:
        if not name.isdigit():
            continue
        base = f"/proc/{name}"
        try:
            with open(f"{base}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2 :].split()
            if fields[0] == b"Z":
                continue
            with open(f"{base}/cmdline", "rb") as f:
                cmdline = f.read()
            env = b""
            if environ:
                with open(f"{base}/environ", "rb") as f:
                    env = f.read()
        except (OSError, ValueError, IndexError):
            continue  # gone, or not ours to read
        yield _Process(int(name), int(fields[1]), int(fields[2]), cmdline, env)


def _parent_of(pid: int) -> int | None:
    return next((p.ppid for p in _processes(environ=False) if p.pid == pid), None)


def _kill_marked(profile: bytes) -> int:
    """SIGKILL the process groups of the processes started for ``profile``: those whose
    environment carries its marker or whose command line uses it as the user data dir.
    Never our own group. Returns how many groups and single processes were signalled."""
    marker = f"{_PROFILE_VAR}=".encode() + profile + b"\0"
    path = b"--user-data-dir=" + profile + b"\0"
    me, own_group = os.getpid(), os.getpgrp()
    groups: set[int] = set()
    singles: set[int] = set()
    for p in _processes():
        if p.pid == me or (marker not in p.environ + b"\0" and path not in p.cmdline + b"\0"):
            continue
        if p.pgid in (own_group, 0, 1):
            singles.add(p.pid)
        else:
            groups.add(p.pgid)
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    for pid in singles:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(groups) + len(singles)


def reap_orphans() -> int:
    """Clean up after scrapeline processes that died without closing their browser.

    A browser whose owner is gone is killed (its processes carry the owner's pid), and
    a profile directory left in the temp dir by a dead owner of this machine's pid
    namespace is removed. Chromium itself exits when its driver dies, so usually only
    the directory is left. Returns how many profiles were reaped. Called whenever a
    BrowserFetcher starts."""
    owner_var, profile_var = _OWNER_VAR.encode(), _PROFILE_VAR.encode()
    orphans: set[bytes] = set()
    for p in _processes():
        if owner_var + b"=" not in p.environ:
            continue
        values = dict(item.split(b"=", 1) for item in p.environ.split(b"\0") if b"=" in item)
        owner, profile = values.get(owner_var, b""), values.get(profile_var)
        if profile is not None and owner.isdigit() and not _alive(int(owner)):
            orphans.add(profile)
    temp = Path(tempfile.gettempdir())
    namespace = _pid_namespace()
    with contextlib.suppress(OSError):
        for entry in temp.iterdir():
            if not entry.name.startswith(PROFILE_PREFIX):
                continue
            pid, _, rest = entry.name[len(PROFILE_PREFIX) :].partition(".")
            ns = rest.partition("-")[0]
            if pid.isdigit() and ns == namespace and not _alive(int(pid)):
                orphans.add(os.fsencode(entry))
    for profile in orphans:
        _kill_marked(profile)
        path = Path(os.fsdecode(profile))
        if path.name.startswith(PROFILE_PREFIX) and path.parent == temp:
            shutil.rmtree(path, ignore_errors=True)
    return len(orphans)


def _pid_namespace() -> str:
    """An id of this pid namespace: pids of other containers sharing /tmp mean nothing here."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def _owner_tag() -> str:
    return f"{os.getpid()}.{_pid_namespace()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
