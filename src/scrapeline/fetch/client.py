"""FetchClient: the one way a pipeline reaches the network.

A stage's ``ctx.fetch(url)`` lands in :meth:`FetchClient.get`. Every request goes
through the same fixed steps, with state per host (created on first use):

1. **Allow-list.** The URL is resolved against ``base_url``; an origin (scheme, host,
   port) that was not declared raises :class:`HostNotAllowed` and nothing is sent.
   ``base_url``'s origin is declared; a ``hosts`` entry ``"example.org"`` declares
   its http and https origins on the default ports (80, 443), ``"example.org:8080"``
   both schemes on that port, ``"https://example.org:8443"`` that one origin.
   Redirects are followed here, hop by hop, so each hop passes this check and the
   steps below: a redirect to another port of a declared host is refused, and
   nothing (headers, cookies) is sent there. With ``robots=True``, the host's ``/robots.txt``
   is fetched once (through the steps below) and a URL it disallows raises
   :class:`RobotsDisallowed` before anything is sent; its ``Crawl-delay`` becomes
   the least gap between the host's request starts (:mod:`~scrapeline.fetch.robots`).
2. **Breaker.** If the host's breaker is open, wait for the cooldown (one trial
   request goes first); a host that is down raises :class:`HostDown` (a
   :class:`RunHalted`: the run stops, naming the host and its last errors).
3. **Limiter.** Take a slot of the host's :class:`HostLimiter` (rate, delay,
   concurrency, pauses). After a pause or a cooldown, requests resume spaced at the
   host's current rate, never all at once.
4. **Transport.** ``fetcher.fetch(request)``; it raises only NetworkError/FetchTimeout,
   or ResponseTooLarge/BadEncoding (not retried). No body passes ``max_body`` bytes:
   the HTTP fetcher stops reading (and decompressing) there; whatever the fetcher, a
   larger body is refused here too.
   With ``proxies``, each request goes through the next healthy proxy of a
   :class:`~scrapeline.fetch.proxies.ProxyPool`, which hears how it went; a
   :class:`ProxyError` (the proxy, not the host) moves on to the next proxy at once
   and does not count against the host's breaker.
5. **Status.** :func:`~scrapeline.fetch.status.classify`: 2xx/3xx are usable; 429 is
   :class:`RateLimited`: it pauses the whole host (Retry-After, or a pause growing
   with the host's consecutive 429s) and slows it (its effective rate drops and grows
   back slowly: :class:`HostSlowed`, then :class:`HostRecovered`); a 429 does
   not count toward the breaker, since a host that answers is not down.
   403 or an anti-bot page is :class:`Blocked`; other 4xx/5xx are :class:`HTTPError`.
   Statuses the stage declared in ``expect.status`` are handed back, not raised.
   The outcome feeds the host's breaker; a breaker that opens slows the host too.
6. **Retry.** Transient failures (:func:`~scrapeline.fetch.retry.should_retry`) are
   retried after :func:`~scrapeline.fetch.retry.retry_delay`, each retry reported as
   a :class:`RetryScheduled` event. A 429 does not use up one of ``max_attempts``:
   it is waited out (:func:`~scrapeline.fetch.retry.should_wait_out`) up to
   ``rate_limited_waits`` times, then the item fails as ``rate_limited``. The error
   finally raised carries ``attempts`` (every request sent), ``url`` and ``status``.
   A request given up on for want of any answer (refused, reset, timed out) to a host
   that answered nothing yet in this run raises :class:`HostUnreachable` instead (a
   :class:`RunHalted`: the host is down from the start; :mod:`~scrapeline.fetch.down`).
7. **Archive.** With an ``archive``, a 2xx response is handed to it (before the
   contract check, so that a page breaking it is kept too: a re-parse may still
   use it); :class:`~scrapeline.fetch.archive.Archive` writes it off the event loop.
   A ``conditional`` request first asks the archive for the URL's validators and
   sends them (``If-None-Match``, ``If-Modified-Since``); a ``304 Not Modified``
   to it is answered from the archive: the stored response, marked ``unchanged``,
   not stored again. A 304 to a request that sent no validators (nothing archived,
   or no archive) is handed back as it came, like any 3xx that is not a redirect.
8. **Contract.** With ``expect``, :func:`check_contract` runs on the usable response;
   a :class:`ContractError` is not retried.

What happens to a host — a retry scheduled, a pause after a 429, a slowdown and
its recovery, a breaker opening or closing — goes to ``on_event`` as an event
(:mod:`scrapeline.fetch.events`), which a run renders once for the console and the
log file alike; with nobody listening, the client logs it itself under ``scrapeline.fetch``.
Every request sent is counted per host (:meth:`FetchClient.requests_by_host`): the
run's summary shows requests, retries, 429s, 5xx and unanswered requests per host.

Waits for the host's sake — a retry's backoff, a 429 waited out, the breaker's
cooldown or trial, a politeness slot not free at once, robots.txt being fetched by
another request — go through :func:`~scrapeline.fetch.waiting.waited`, which tells the
current task's waiter: a run gives the item's worker slot to another item meanwhile
and leaves the wait out of the item's time limit. A request that does not wait tells
nobody anything.

::

    client = FetchClient(
        base_url="https://stats.example.org",
        hosts=["stats.example.org", "cdn.example.org"],
        politeness={"stats.example.org": Politeness(rate="2/s", concurrency=2)},
        retry=RetryPolicy(max_attempts=5),
    )
    async with client:
        page = await client.get("/matches/1", expect=Expect(selectors=("table.stats",)))
        print(page.one("h1").text())
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

from scrapeline.errors import (
    ArchiveError,
    ConfigError,
    FetchError,
    HostNotAllowed,
    NetworkError,
    ProxyError,
    RateLimited,
    ResponseTooLarge,
    RobotsDisallowed,
)
from scrapeline.fetch.breaker import (
    Breaker,
    BreakerPolicy,
    BreakerState,
    HostDown,
    admit,
    record_failure,
    record_success,
    release_trial,
)
from scrapeline.fetch.contract import Expect, check_contract
from scrapeline.fetch.down import NO_ANSWER, HostUnreachable, down_from_start
from scrapeline.fetch.events import (
    BreakerClosed,
    BreakerOpened,
    Fetched,
    FetchEvent,
    HostPaused,
    HostRecovered,
    HostSlowed,
    RetryScheduled,
)
from scrapeline.fetch.http1 import DEFAULT_MAX_BODY, split_authority
from scrapeline.fetch.limits import Clock, HostLimiter, Politeness, Sleep
from scrapeline.fetch.origins import authority_origin as _authority_origin
from scrapeline.fetch.origins import declared_origins, host_name, host_port
from scrapeline.fetch.proxies import ProxyPool
from scrapeline.fetch.response import Request, Response
from scrapeline.fetch.retry import (
    RetryPolicy,
    host_pause,
    rate_limited_delay,
    retry_delay,
    should_retry,
    should_wait_out,
)
from scrapeline.fetch.robots import RobotsRules, agent_token, robots_url, rules_for_status
from scrapeline.fetch.settings import FetchSettings
from scrapeline.fetch.status import (
    DEFAULT_BLOCK_MARKERS,
    REDIRECT_STATUSES,
    BlockMarkers,
    classify,
    header,
    is_host_failure,
)
from scrapeline.fetch.tally import HostRequests, Tally
from scrapeline.fetch.transport import DEFAULT_USER_AGENT, Fetcher, HttpFetcher
from scrapeline.fetch.waiting import waited

if TYPE_CHECKING:
    from scrapeline.fetch.archive import Validators

DEFAULT_HOST = "*"
"""Key of a ``politeness`` mapping that applies to declared hosts not named in it."""

_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# robots.txt: every answer is handed back except redirects (followed) and 429 (pauses
# the host and is retried, like any 429).
_ROBOTS_ANSWERS = frozenset(range(200, 600)) - REDIRECT_STATUSES - {429}
_NOT_NEEDED = datetime(1970, 1, 1, tzinfo=UTC)
_ERROR_CHARS = 200
_MAX_AUTHORITIES = 4096  # authorities remembered (a crawl sees a handful)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ResponseArchive(Protocol):
    """Where usable responses are kept: :class:`~scrapeline.fetch.archive.Archive`."""

    def store(
        self,
        response: Response,
        *,
        url: str | None = None,
        stage: str | None = None,
        item_key: str | None = None,
        request_headers: Mapping[str, str] | None = None,
    ) -> None: ...

    def validators(self, url: str, *, item_key: str | None = None) -> Validators | None: ...

    def response(self, validators: Validators, *, url: str) -> Response | None: ...


class _Host:
    """Everything the client keeps about one host."""

    __slots__ = ("breaker", "changed", "limited", "limiter", "name", "robots", "robots_lock")

    def __init__(self, name: str, limiter: HostLimiter) -> None:
        self.name = name
        self.limiter = limiter
        self.breaker = Breaker(host=name)
        self.limited = 0
        """429s in a row (the pause without a Retry-After grows with them)."""
        self.changed = asyncio.Event()
        """Set (and replaced) whenever the breaker's state or trial changes."""
        self.robots: RobotsRules | None = None
        """The host's robots.txt rules once fetched (None: not yet)."""
        self.robots_lock = asyncio.Lock()


class FetchClient:
    """Polite, resilient GETs for a pipeline; see the module docstring for the steps.

    ``politeness`` is one :class:`Politeness` for every host, or a mapping from host
    to politeness (the key ``"*"`` covering hosts not named). ``clock`` is monotonic
    seconds, ``wall_clock`` the current UTC time (for Retry-After dates), ``rng`` the
    source of jitter. The client owns ``fetcher`` and closes it in :meth:`close`.

    Identity: ``user_agent``, ``headers`` and ``cookies`` (sent to ``base_url``'s host,
    or to every host without one) configure the HttpFetcher the client builds when no
    ``fetcher`` is given. ``proxies`` (URLs, or a :class:`ProxyPool`) route every request through
    the next healthy proxy. ``robots=True`` honours each host's robots.txt.
    ``max_body`` is the most bytes a response body may have, as sent or decompressed.
    ``robots_agent`` is the product token robots.txt groups are matched against
    (default: ``user_agent``'s; a pipeline passes its ``robots_agent``, its name by default).
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        hosts: Sequence[str] = (),
        politeness: Politeness | Mapping[str, Politeness] | None = None,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        fetcher: Fetcher | None = None,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
        on_event: Callable[[FetchEvent], None] | None = None,
        archive: ResponseArchive | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Callable[[], datetime] = _utcnow,
        sleep: Sleep = asyncio.sleep,
        max_redirects: int = 10,
        block_markers: BlockMarkers | None = DEFAULT_BLOCK_MARKERS,
        user_agent: str = DEFAULT_USER_AGENT,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        proxies: Sequence[str] | ProxyPool = (),
        robots: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        robots_agent: str | None = None,
    ) -> None:
        if max_body < 1:
            raise ConfigError(f"max_body must be a positive number of bytes, got {max_body}")
        self._max_body = max_body
        allowed = {host_name(h) for h in hosts}
        origins: set[tuple[str, str, int]] = set()
        for entry in hosts:
            origins |= declared_origins(entry)
        self._base_url = base_url
        self._origin: str | None = None
        if base_url is not None:
            parts = urlsplit(base_url)
            if parts.scheme not in _SCHEMES or not parts.hostname:
                raise ConfigError(
                    f"invalid base_url {base_url!r}: expected e.g. 'https://example.com'"
                )
            allowed.add(parts.hostname)
            self._origin = f"{parts.scheme}://{parts.netloc}"
            origins |= declared_origins(self._origin.rpartition("@")[2])
        self._allowed = frozenset(allowed)
        self._origins = frozenset(origins)
        self._by_authority: dict[str, tuple[_Host, HostRequests]] = {}
        self._default_politeness, self._politeness = self._split_politeness(politeness)
        self._retry = retry or RetryPolicy()
        self._breaker_policy = breaker or BreakerPolicy()
        self._rng = rng or random.Random()
        self._log = logger or logging.getLogger("scrapeline.fetch")
        self._on_event = on_event
        self._archive = archive
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._max_redirects = max_redirects
        self._markers = block_markers
        self._hosts: dict[str, _Host] = {}
        self._tally = Tally()
        self._robots = robots
        # robots.txt groups name a crawler's product token: a browser-like User-Agent
        # would be matched as "mozilla", and the groups naming the bot ignored.
        self._agent = robots_agent or user_agent
        self._proxies: ProxyPool | None = (
            proxies
            if isinstance(proxies, ProxyPool)
            else ProxyPool(proxies, clock=clock, logger=self._log)
            if proxies
            else None
        )
        if fetcher is None:
            total = sum(self._politeness_of(h).concurrency for h in self._allowed)
            fetcher = HttpFetcher(
                limit=max(total, 1),
                user_agent=user_agent,
                headers=headers,
                cookies=cookies,
                cookie_url=self._origin,
                max_body=max_body,
            )
        self._fetcher = fetcher

    @classmethod
    def from_settings(
        cls,
        settings: FetchSettings,
        *,
        archive: ResponseArchive | None = None,
        on_event: Callable[[FetchEvent], None] | None = None,
        fetcher: Fetcher | None = None,
    ) -> FetchClient:
        """The client a pipeline's stages use: its declared hosts, politeness, retries,
        identity (user agent, headers, cookies), proxies, robots.txt choice and body
        limit, all from ``settings``.

        The transport is ``fetcher`` when given (a re-parse reads the archive), else a
        :class:`~scrapeline.fetch.browser.BrowserFetcher` for ``fetcher="browser"``,
        else the HTTP fetcher. Raises ConfigError for a setting that cannot work, or
        when the browser fetcher's Playwright or Chromium is missing; nothing is sent."""
        if fetcher is None and settings.fetcher == "browser":
            from scrapeline.fetch.browser import BrowserFetcher  # the [browser] extra

            fetcher = BrowserFetcher.from_settings(settings)
        return cls(
            base_url=settings.base_url,
            hosts=settings.hosts,
            politeness=Politeness(
                rate=settings.rate, delay=settings.delay, concurrency=settings.concurrency
            ),
            retry=RetryPolicy(max_attempts=settings.max_attempts),
            archive=archive,
            fetcher=fetcher,
            user_agent=settings.user_agent or DEFAULT_USER_AGENT,
            headers=settings.headers,
            cookies=settings.cookies,
            proxies=settings.proxies,
            robots=settings.robots,
            robots_agent=settings.robots_agent,
            max_body=settings.max_body,
            on_event=on_event,
        )

    def _split_politeness(
        self, politeness: Politeness | Mapping[str, Politeness] | None
    ) -> tuple[Politeness, dict[str, Politeness]]:
        if politeness is None:
            return Politeness(), {}
        if isinstance(politeness, Politeness):
            return politeness, {}
        default = Politeness()
        per_host: dict[str, Politeness] = {}
        for key, value in politeness.items():
            if key == DEFAULT_HOST:
                default = value
                continue
            name = host_name(key)
            if name not in self._allowed:
                raise ConfigError(f"politeness is set for {key!r}, which is not a declared host")
            per_host[name] = value
        return default, per_host

    def _politeness_of(self, name: str) -> Politeness:
        return self._politeness.get(name, self._default_politeness)

    # --- public API ---------------------------------------------------------------------

    @property
    def hosts(self) -> frozenset[str]:
        """The declared hosts: the only ones requests may go to."""
        return self._allowed

    @property
    def proxies(self) -> ProxyPool | None:
        """The proxy pool requests go through (None: direct)."""
        return self._proxies

    def breaker_of(self, host: str) -> Breaker:
        """The current breaker of ``host`` (closed if nothing was sent to it yet)."""
        name = host_name(host)
        known = self._hosts.get(name)
        return known.breaker if known else Breaker(host=name)

    async def get(
        self,
        url: str,
        *,
        stage: str | None = None,
        item_key: str | None = None,
        expect: Expect | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
        unchanged_body: bool = True,
    ) -> Response:
        """GET ``url`` politely, retrying transient failures; see the module docstring.

        With ``conditional``, the validators of the response archived for ``url``
        (for ``item_key`` first) go with the request, and a 304 returns that archived
        response with ``unchanged=True``; see step 7. Without ``unchanged_body`` the
        archived body is not read for it: the 304 itself comes back, marked unchanged
        and held to no contract (a caller that stops at an unchanged page).

        Raises a :class:`FetchError` (HostNotAllowed, NetworkError, FetchTimeout,
        HTTPError, RateLimited, Blocked, ContractError) for this item, or
        :class:`HostDown` when the host is given up on, or :class:`HostUnreachable`
        when it never answered (the run should halt).
        """
        target = self._absolute(url)
        # refuse an undeclared host before anything else
        first_host, first_sent = self._host_for(target)
        sent_headers = dict(headers) if headers else {}
        known = None
        if conditional and self._archive is not None:
            known = self._archive.validators(target, item_key=item_key)
        # the caller's own headers win over the archive's validators
        request_headers = {**known.request_headers(), **sent_headers} if known else sent_headers
        wanted = expect.status if expect is not None else frozenset()
        attempt = 0  # attempts used up: a 429 uses none
        waits = 0  # 429s waited out
        while True:
            attempt += 1
            try:
                response, host = await self._follow(
                    first_host, first_sent, target, request_headers, stage, item_key, wanted
                )
            except RateLimited as error:
                waits += 1
                attempt -= 1
                error.attempts = attempt + waits
                if not should_wait_out(error, waits, self._retry):
                    raise
                delay = rate_limited_delay(error, waits, self._retry, self._rng)
                await self._before_retry(error, attempt + waits, delay, target, stage, item_key)
                continue
            except FetchError as error:
                error.attempts = attempt + waits
                if not should_retry(error, attempt, self._retry):
                    where = error.url or target
                    if down_from_start(error, responses=self._tally.of(where).responses):
                        raise HostUnreachable(
                            host_port(where), error, attempts=error.attempts
                        ) from error
                    raise
                delay = retry_delay(error, attempt, self._retry, self._rng)
                await self._before_retry(error, attempt + waits, delay, target, stage, item_key)
                continue
            attempt += waits
            response.attempts = attempt
            received = response
            if known is not None and response.status == 304:
                if unchanged_body:
                    response = self._unchanged(known, response)
                else:
                    response.unchanged = True
            if (
                self._archive is not None
                and 200 <= response.status < 300
                and not response.unchanged
            ):
                self._archive.store(
                    response,
                    url=target,
                    stage=stage,
                    item_key=item_key,
                    request_headers=sent_headers or None,
                )
            if expect is not None and (unchanged_body or not response.unchanged):
                try:
                    check_contract(expect, response)
                except FetchError as error:
                    error.attempts = attempt
                    raise
            if self._on_event is not None:
                self._on_event(
                    Fetched(
                        url=received.url,
                        host=host.name,
                        status=received.status,
                        elapsed=received.elapsed,
                        attempts=attempt,
                        size=len(received.body),
                        stage=stage,
                        item_key=item_key,
                    )
                )
            return response

    def requests_by_host(self) -> dict[str, dict[str, int]]:
        """What was sent to each ``host:port`` so far and what came back: requests
        (every attempt, redirect hop and robots.txt), retries, 429s, 5xx answers and
        requests with no answer (:mod:`~scrapeline.fetch.tally`)."""
        return self._tally.by_host()

    def _unchanged(self, known: Validators, received: Response) -> Response:
        """The archived response a 304 to a conditional request refers to, marked
        unchanged; ``received`` as it came when that body cannot be served."""
        assert self._archive is not None
        try:
            archived = self._archive.response(known, url=received.url)
        except ArchiveError as exc:
            self._log.warning("%s: answered 304, but %s", received.url, exc)
            return received
        if archived is None:
            return received
        archived.elapsed = received.elapsed
        archived.attempts = received.attempts
        archived.unchanged = True
        return archived

    async def close(self) -> None:
        """Close the fetcher (idempotent)."""
        await self._fetcher.close()

    async def __aenter__(self) -> FetchClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- steps --------------------------------------------------------------------------

    def _absolute(self, url: str, *, base: str | None = None) -> str:
        if base is None:
            if url.startswith(("https://", "http://")):
                return url
            if self._origin is not None and url.startswith("/") and not url.startswith("//"):
                return self._origin + url  # what urljoin gives, a few microseconds sooner
            base = self._base_url
        absolute = urljoin(base, url) if base else url
        scheme = urlsplit(absolute).scheme
        if scheme in _SCHEMES:
            return absolute
        if not scheme:
            raise HostNotAllowed(f"relative URL {url!r} needs a base_url", url=url)
        raise HostNotAllowed(f"cannot fetch {scheme!r} URLs, only http and https", url=absolute)

    def _host_for(
        self, url: str, *, redirected_from: str | None = None
    ) -> tuple[_Host, HostRequests]:
        """The state of ``url``'s host, once its origin passed the allow-list, and the
        counts of what is sent to its authority.

        Remembered per authority (``"http://host:port"``): one dict lookup per request."""
        parts = split_authority(url)
        authority = parts[0] if parts is not None else url
        known = self._by_authority.get(authority)
        if known is not None:
            return known
        origin = _authority_origin(authority)
        name = origin[1] if origin is not None else hostname(url)
        how = f"redirected from {redirected_from} to" if redirected_from else "refusing"
        if name not in self._allowed:
            declared = ", ".join(sorted(self._allowed)) or "none"
            raise HostNotAllowed(
                f"{how} undeclared host {name or '(none)'!r} (declared: {declared}); "
                "add it to the pipeline's hosts to fetch from it",
                url=url,
            )
        if origin not in self._origins:
            shown = f"{origin[0]}://{origin[1]}:{origin[2]}" if origin else authority
            declared = ", ".join(f"{s}://{h}:{p}" for s, h, p in sorted(self._origins) if h == name)
            raise HostNotAllowed(
                f"{how} undeclared origin {shown!r}: host {name!r} is declared for "
                f"{declared} only; add '{name}:{origin[2] if origin else '?'}' to the "
                "pipeline's hosts to fetch from it",
                url=url,
            )
        host = self._hosts.get(name)
        if host is None:
            host = self._new_host(name)
        known = (host, self._tally.at(authority))
        if len(self._by_authority) < _MAX_AUTHORITIES:
            self._by_authority[authority] = known
        return known

    def _new_host(self, name: str) -> _Host:
        limiter = HostLimiter(
            self._politeness_of(name),
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
            on_recovered=lambda rate: self._recovered(name, rate),
        )
        host = self._hosts[name] = _Host(name, limiter)
        return host

    def _recovered(self, name: str, rate: float | None) -> None:
        event = HostRecovered(host=name, rate=rate)
        if rate is None:
            self._tell(event, logging.INFO, "%s is back to full speed (no rate limit)", name)
        else:
            self._tell(event, logging.INFO, "%s is back to %.1f requests/s", name, rate)

    async def _follow(
        self,
        host: _Host,
        sent: HostRequests,
        url: str,
        headers: dict[str, str],
        stage: str | None,
        item_key: str | None,
        wanted: Set[int],
        *,
        robots: bool = True,
    ) -> tuple[Response, _Host]:
        """Send, following redirects hop by hop (each hop through every step), each
        request counted in ``sent`` (its authority's counts)."""
        previous: str | None = None
        for _ in range(self._max_redirects + 1):
            if previous is not None:
                host, sent = self._host_for(url, redirected_from=previous)
            if robots and self._robots:
                await self._check_robots(host, url)
            request = Request(url=url, headers=headers, stage=stage, item_key=item_key)
            response = await self._send(host, sent, request, wanted)
            if response.status not in REDIRECT_STATUSES or response.status in wanted:
                return response, host
            location = header(response.headers, "Location")
            if not location:
                return response, host
            previous, url = url, self._absolute(location, base=url)
        raise NetworkError(f"more than {self._max_redirects} redirects", url=url, retryable=False)

    async def _send(
        self, host: _Host, sent: HostRequests, request: Request, wanted: Set[int]
    ) -> Response:
        """One request to one host: breaker, limiter, transport, status; counted in
        ``sent`` once it was answered or failed."""
        is_trial = await self._admit(host)
        limiter = host.limiter
        try:
            # A slot that is not free at once is waited for as the host's wait; one that
            # waits only for this run's own requests to the host keeps its worker.
            if limiter.ready():
                started = await limiter.acquire()
            else:
                keeps = not limiter.scheduled_wait()
                started = await waited(limiter.acquire(), keeps_worker=keeps)
            try:
                response = await self._transport(request)
            finally:
                limiter.release()
        except ProxyError:
            # The proxies failed, not the host: the breaker hears nothing of it.
            if is_trial:
                self._set_breaker(host, release_trial(host.breaker))
            raise
        except FetchError as error:
            sent.failed(answered=error.category not in NO_ANSWER)
            self._settle(host, error)
            raise
        except BaseException:
            if is_trial:  # cancelled: let another request be the trial
                self._set_breaker(host, release_trial(host.breaker))
            raise
        sent.answered(response.status)
        # The wall clock only matters for a Retry-After date; skip the call otherwise.
        now = self._wall_clock() if response.status == 429 else _NOT_NEEDED
        problem = classify(response, now=now, markers=self._markers, wanted=wanted)
        if isinstance(problem, RateLimited):
            self._rate_limited(host, problem, started, is_trial)
            raise problem
        self._settle(host, problem)
        if problem is not None:
            raise problem
        return response

    def _rate_limited(self, host: _Host, error: RateLimited, started: float, trial: bool) -> None:
        """A 429: pause the host and slow it. The breaker hears nothing of it (a host
        that answers is not down), but a trial that got one lets another request try."""
        host.limited += 1
        if trial:
            self._set_breaker(host, release_trial(host.breaker))
        self._pause(host, error, host.limited)
        rate = host.limiter.slow_down(started=started)
        if rate is not None:
            self._slowed(host, rate, "429")

    def _slowed(self, host: _Host, rate: float, reason: str) -> None:
        self._tell(
            HostSlowed(host=host.name, rate=rate, reason=reason),
            logging.INFO,
            "%s slowed to %.2f requests/s after %s",
            host.name,
            rate,
            reason,
        )

    async def _transport(self, request: Request) -> Response:
        """The fetcher, through the next healthy proxy when there are proxies.

        The pool hears how each request went. A :class:`ProxyError` (the proxy is
        unreachable or refuses us: nothing reached the host) moves on to the next
        proxy at once, at most once per proxy; any other error is the attempt's.
        """
        pool = self._proxies
        if pool is None:
            return self._bounded(await self._fetcher.fetch(request))
        failed: ProxyError | None = None
        for _ in pool.proxies:
            proxy = pool.pick()  # ProxyError when every proxy is benched
            try:
                response = await self._fetcher.fetch(replace(request, proxy=proxy.url))
            except ProxyError as error:
                pool.report(proxy, ok=False, reason=error.message)
                failed = error
                continue
            except FetchError as error:
                pool.report(proxy, ok=False, reason=error.message)
                raise
            pool.report(proxy, ok=True)
            return self._bounded(response)
        assert failed is not None
        raise failed

    def _bounded(self, response: Response) -> Response:
        """``response``, unless its body is past ``max_body`` (a fetcher that cannot stop
        reading early, such as a browser, is held to the limit here)."""
        if len(response.body) > self._max_body:
            raise ResponseTooLarge(
                f"response body larger than max_body ({self._max_body} bytes); "
                "Pipeline(max_body=...) raises the limit",
                url=response.url,
            )
        return response

    async def _check_robots(self, host: _Host, url: str) -> None:
        """Raise RobotsDisallowed when the host's robots.txt disallows ``url``."""
        rules = host.robots
        if rules is None:
            rules = await self._load_robots(host, url)
        if not rules.allows_url(url):
            raise RobotsDisallowed(
                f"robots.txt of {host.name} disallows this URL for {agent_token(self._agent)!r} "
                "(Pipeline(robots=False) turns the check off)",
                url=url,
            )

    async def _load_robots(self, host: _Host, url: str) -> RobotsRules:
        """Fetch and parse the host's robots.txt, once: concurrent callers wait for it.

        A transport error or a 429 propagates and nothing is kept, so the next request
        tries again; any other answer is kept for the client's lifetime.
        """
        lock = host.robots_lock
        # Another request is fetching it: wait for the host's robots.txt as for the host.
        await (waited(lock.acquire()) if lock.locked() else lock.acquire())
        try:
            if host.robots is not None:
                return host.robots
            target = robots_url(url)
            try:
                response, _ = await self._follow(
                    host,
                    self._tally.of(target),
                    target,
                    {},
                    None,
                    None,
                    _ROBOTS_ANSWERS,
                    robots=False,
                )
            except HostNotAllowed as error:
                self._log.warning(
                    "%s: robots.txt is not on a declared host (%s); every path is allowed",
                    host.name,
                    error.message,
                )
                rules = RobotsRules()
            else:
                rules = rules_for_status(response.status, response.text, self._agent)
                if response.status >= 500:
                    self._log.warning(
                        "%s answered %d for robots.txt; every path is allowed",
                        host.name,
                        response.status,
                    )
                else:
                    self._log.debug(
                        "%s: robots.txt answered %d: %d rules for %r, crawl-delay %s",
                        host.name,
                        response.status,
                        len(rules.rules),
                        agent_token(self._agent),
                        rules.crawl_delay,
                    )
            delay = rules.crawl_delay
            if delay and delay > host.limiter.politeness.min_interval:
                host.limiter.at_least(delay)
                self._log.info(
                    "%s asks for %g s between requests (robots.txt Crawl-delay)", host.name, delay
                )
            host.robots = rules
            return rules
        finally:
            lock.release()

    async def _admit(self, host: _Host) -> bool:
        """Wait until the host's breaker lets a request through; True if it is the trial."""
        while True:
            before = host.breaker
            after, wait = admit(before, now=self._clock(), policy=self._breaker_policy)
            if wait == 0.0:
                self._set_breaker(host, after)
                return after.trial and not before.trial
            if wait is None:
                await waited(host.changed.wait())  # the trial request's outcome
            else:
                await waited(self._sleep(wait))  # the cooldown

    def _settle(self, host: _Host, error: FetchError | None) -> None:
        """Feed one outcome (not a 429: see :meth:`_rate_limited`) to the host's breaker."""
        if host.limited:
            host.limited = 0
        if error is None or not is_host_failure(error):
            self._set_breaker(host, record_success(host.breaker))
            return
        failed = record_failure(
            host.breaker,
            now=self._clock(),
            error=error.message[:_ERROR_CHARS],
            policy=self._breaker_policy,
        )
        self._set_breaker(host, failed, cause=error)

    def _pause(self, host: _Host, error: RateLimited, failures: int) -> None:
        seconds = host_pause(error, failures, self._retry)
        if seconds <= 0:
            return
        host.limiter.pause_until(self._clock() + seconds)
        self._tell(
            HostPaused(host=host.name, seconds=seconds, reason=error.message),
            logging.WARNING if seconds > self._retry.max_delay else logging.INFO,
            "%s answered 429: pausing every request to it for %.1f s",
            host.name,
            seconds,
        )

    def _tell(self, event: FetchEvent, level: int, message: str, *args: object) -> None:
        """Report what happened to a host: to ``on_event`` when somebody listens (the
        run renders it for the console and the log file), else to the client's log."""
        if self._on_event is not None:
            self._on_event(event)
        else:
            self._log.log(level, message, *args)

    def _set_breaker(
        self, host: _Host, new: Breaker, *, cause: BaseException | None = None
    ) -> None:
        old = host.breaker
        if new is old:
            return
        host.breaker = new
        if new.state is old.state and new.trial == old.trial:
            return
        host.changed.set()  # wake requests waiting on a trial's outcome
        host.changed = asyncio.Event()
        if new.state is old.state:
            return
        if new.state is BreakerState.OPEN:
            cooldown = self._breaker_policy.cooldown
            # After the cooldown, the waiting requests resume spaced, not all at once.
            now = self._clock()
            rate = host.limiter.slow_down(started=now, until=now + cooldown)
            self._tell(
                BreakerOpened(
                    host=host.name, trips=new.trips, cooldown=cooldown, last_errors=new.last_errors
                ),
                logging.WARNING,
                "%s keeps failing (%d requests in a row, last: %s): pausing it %.0f s "
                "before one trial request",
                host.name,
                new.failures,
                new.last_errors[-1] if new.last_errors else "?",
                cooldown,
            )
            if rate is not None:
                self._slowed(host, rate, "breaker open")
        elif new.state is BreakerState.HALF_OPEN:
            self._log.debug("%s: cooldown over, sending one trial request", host.name)
        elif new.state is BreakerState.CLOSED:
            self._tell(BreakerClosed(host=host.name), logging.INFO, "%s answers again", host.name)
        elif new.state is BreakerState.DEAD:
            # Not logged here: the run reports why it halted, once.
            raise HostDown(host.name, trips=new.trips, last_errors=new.last_errors) from cause

    async def _before_retry(
        self,
        error: FetchError,
        attempt: int,
        delay: float,
        url: str,
        stage: str | None,
        item_key: str | None,
    ) -> None:
        self._tally.of(error.url or url).retries += 1
        reason = f"{error.category}: {error.message}"
        self._tell(
            RetryScheduled(
                url=error.url or url,
                host=urlsplit(error.url or url).hostname or "",
                attempt=attempt,
                delay=delay,
                reason=reason,
                stage=stage,
                item_key=item_key,
            ),
            logging.DEBUG,
            "retrying %s in %.2f s: attempt %d of %d failed (%s)",
            error.url or url,
            delay,
            attempt,
            self._retry.max_attempts,
            reason,
        )
        await waited(self._sleep(delay))


def hostname(url: str) -> str:
    """``urlsplit(url).hostname or ""``, with the authority's answer cached: the
    client asks this for every request, of a handful of distinct hosts.

    >>> hostname("http://User@Example.org:8080/a?b"), hostname("/relative")
    ('example.org', '')
    """
    parts = split_authority(url)
    if parts is None:
        return urlsplit(url).hostname or ""
    return _authority_host(parts[0])


@lru_cache(maxsize=1024)
def _authority_host(prefix: str) -> str:
    return urlsplit(prefix).hostname or ""
