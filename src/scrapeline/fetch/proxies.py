"""Proxies: rotation over the healthy ones, and a bench for those that keep failing.

    pool = ProxyPool(["http://bob:s3cret@10.0.0.1:3128", "http://10.0.0.2:3128"])
    proxy = pool.pick()              # round-robin over proxies not on the bench
    ...                              # send the request through proxy.url
    pool.report(proxy, ok=False)     # a connection error or timeout through it

Rules (the decisions are the pure functions :func:`record`, :func:`usable` and
:func:`choose`, tested with tables; the pool only keeps the state):

- :meth:`ProxyPool.pick` goes round-robin over the proxies that are not benched.
- A proxy *fails* when a request through it ends in a connection error or a timeout,
  or the proxy refuses our credentials (407). Any answer from the site, 5xx
  included, is a success of the proxy: the site's trouble is the host breaker's.
- ``max_failures`` failures in a row bench a proxy for ``cooldown`` seconds.
- After its cooldown it is back on probation: one more failure benches it again,
  for twice as long each time (up to ``max_cooldown``); one success clears it.
- When every proxy is benched, ``pick`` raises :class:`ProxyError` saying when the
  first one returns; the item's retry may find it back.

Credentials stay in :attr:`Proxy.url` (what the transport needs); :attr:`Proxy.label`
is the URL without them, the only form logs and errors show.

    >>> pool = ProxyPool(["http://a:3128", "http://u:pw@b:3128"], clock=lambda: 0.0)
    >>> [pool.pick().label for _ in range(3)]
    ['http://a:3128', 'http://***@b:3128', 'http://a:3128']
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from scrapeline.errors import ConfigError, ProxyError
from scrapeline.fetch.limits import Clock
from scrapeline.secrets import strip_credentials

_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True, kw_only=True)
class Proxy:
    """One proxy. ``url`` may carry ``user:password@``; ``label`` never does."""

    url: str
    label: str

    def __repr__(self) -> str:  # never show the credentials, even in a traceback
        return f"Proxy({self.label!r})"


def parse_proxy(text: str) -> Proxy:
    """A :class:`Proxy` from ``http://[user:password@]host:port``.

    Raises :class:`ConfigError` (credentials left out of the message) for anything
    else: another scheme (SOCKS is not supported), no host, a bad port.
    """
    url = text.strip()
    label = strip_credentials(url)
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError:
        raise ConfigError(
            f"invalid proxy {label!r}: expected http://[user:pass@]host:port"
        ) from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"invalid proxy {label!r}: only http:// and https:// proxies are supported"
        )
    if not host:
        raise ConfigError(f"invalid proxy {label!r}: expected http://[user:pass@]host:port")
    return Proxy(url=url, label=label)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyPolicy:
    """When a proxy is benched and for how long (seconds)."""

    max_failures: int = 3
    cooldown: float = 30.0
    max_cooldown: float = 600.0

    def __post_init__(self) -> None:
        if isinstance(self.max_failures, bool) or self.max_failures < 1:
            raise ConfigError(f"invalid max_failures {self.max_failures!r}: expected at least 1")
        if not (0 <= self.cooldown <= self.max_cooldown and math.isfinite(self.max_cooldown)):
            raise ConfigError(
                f"invalid proxy cooldown {self.cooldown!r}..{self.max_cooldown!r}: "
                "expected 0 ≤ cooldown ≤ max_cooldown"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyHealth:
    """What the pool knows of one proxy.

    ``failures``: failures in a row. ``benches``: times benched with no success since
    (> 0 means on probation once back). ``benched_until``: when the last bench ends.
    """

    failures: int = 0
    benches: int = 0
    benched_until: float | None = None


HEALTHY = ProxyHealth()


def usable(health: ProxyHealth, now: float) -> bool:
    """Whether a proxy may be picked at ``now`` (not on the bench)."""
    return health.benched_until is None or now >= health.benched_until


def record(health: ProxyHealth, *, ok: bool, now: float, policy: ProxyPolicy) -> ProxyHealth:
    """The health after one request through the proxy ended at ``now``.

    A failure reported while the proxy is already benched (a request that started
    before) changes nothing.
    """
    if ok:
        return HEALTHY
    if not usable(health, now):
        return health
    failures = health.failures + 1
    if failures < policy.max_failures and health.benches == 0:
        return replace(health, failures=failures)
    benches = health.benches + 1
    cooldown = min(policy.cooldown * 2 ** (benches - 1), policy.max_cooldown)
    return ProxyHealth(failures=failures, benches=benches, benched_until=now + cooldown)


def choose(healths: Sequence[ProxyHealth], start: int, now: float) -> int | None:
    """The index of the first usable proxy from ``start`` on (wrapping), or None."""
    count = len(healths)
    for step in range(count):
        index = (start + step) % count
        if usable(healths[index], now):
            return index
    return None


class ProxyPool:
    """Round-robin over healthy proxies; see the module docstring for the rules.

    ``proxies`` are URLs (or :class:`Proxy` values); an empty list is a
    :class:`ConfigError`. ``clock`` is monotonic seconds. Not thread-safe: one pool
    per event loop, like the client that owns it.
    """

    def __init__(
        self,
        proxies: Sequence[str | Proxy],
        *,
        policy: ProxyPolicy | None = None,
        clock: Clock = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        parsed = [p if isinstance(p, Proxy) else parse_proxy(p) for p in proxies]
        if not parsed:
            raise ConfigError("a proxy pool needs at least one proxy")
        self.proxies: tuple[Proxy, ...] = tuple(parsed)
        self.policy = policy or ProxyPolicy()
        self._clock = clock
        self._log = logger or logging.getLogger("scrapeline.fetch")
        self._health = [HEALTHY] * len(parsed)
        self._index = {p.url: i for i, p in enumerate(parsed)}
        self._next = 0
        self._last_error = ""

    def health(self, proxy: Proxy) -> ProxyHealth:
        return self._health[self._index[proxy.url]]

    def pick(self) -> Proxy:
        """The next proxy in turn that is not benched; ProxyError when all are."""
        now = self._clock()
        index = choose(self._health, self._next, now)
        if index is None:
            back = min(h.benched_until or now for h in self._health)
            count = len(self.proxies)
            last = f" (last: {self._last_error})" if self._last_error else ""
            raise ProxyError(
                f"all {count} {'proxy is' if count == 1 else 'proxies are'} benched after "
                f"repeated failures; the first is back in {max(back - now, 0):.0f} s{last}"
            )
        self._next = index + 1
        return self.proxies[index]

    def report(self, proxy: Proxy, *, ok: bool, reason: str = "") -> None:
        """Record how a request through ``proxy`` ended (see the module docstring)."""
        i = self._index[proxy.url]
        before = self._health[i]
        if ok and before is HEALTHY:
            return
        if not ok and reason:
            self._last_error = strip_credentials(reason)
        now = self._clock()
        after = record(before, ok=ok, now=now, policy=self.policy)
        self._health[i] = after
        if after.benched_until is not None and after.benched_until != before.benched_until:
            self._log.warning(
                "proxy %s benched for %.0f s after %d failures in a row%s",
                proxy.label,
                after.benched_until - now,
                after.failures,
                f" (last: {self._last_error})" if reason else "",
            )
        elif ok and before.benches:
            self._log.info("proxy %s works again", proxy.label)
