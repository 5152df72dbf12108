"""FetchSettings: everything the fetch layer needs to know about a pipeline, as one value.

A pipeline declares them (``Pipeline(base_url=..., rate=...)``) and holds them as
``pipeline.fetch``; the fetch client is built from them
(:meth:`~scrapeline.fetch.client.FetchClient.from_settings`). The value is checked
once, when it is built, and never changes: pointing it at another copy of the site
gives a new one.

>>> settings = FetchSettings(base_url="https://stats.example.org/", rate="2/s")
>>> settings.base_url, settings.hosts
('https://stats.example.org', ('stats.example.org',))
>>> mirror = settings.with_base_url("http://127.0.0.1:8000")
>>> mirror.hosts, settings.base_url
(('stats.example.org', '127.0.0.1'), 'https://stats.example.org')
>>> FetchSettings(fetcher="curl")
Traceback (most recent call last):
...
scrapeline.errors.PipelineError: fetcher must be one of 'http', 'browser', got 'curl'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from scrapeline.errors import PipelineError
from scrapeline.fetch.http1 import DEFAULT_MAX_BODY
from scrapeline.fetch.proxies import parse_proxy
from scrapeline.secrets import MIN_SECRET_LENGTH, collect_secrets

FETCHERS = ("http", "browser")
"""What ``fetcher=`` accepts: plain HTTP, or headless Chromium."""

FetcherName = Literal["http", "browser"]


def _no_entries() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class FetchSettings:
    """How a pipeline reaches the network; see :class:`~scrapeline.pipeline.Pipeline`
    for what each setting means.

    Built values are normalised: ``base_url`` loses its trailing ``/`` and its host
    joins ``hosts`` (a tuple, no repeats); ``headers`` and ``cookies`` are read-only
    mappings; ``proxies`` and ``secrets`` are tuples (a single str is one entry).
    Raises PipelineError for an unknown ``fetcher``, proxies with the browser
    fetcher, a ``max_body`` that is not a positive int or a secret shorter than
    :data:`~scrapeline.secrets.MIN_SECRET_LENGTH`; ConfigError for a proxy URL that
    cannot work. Rate, delay and concurrency are checked when a client is built.
    """

    base_url: str | None = None
    hosts: tuple[str, ...] = ()
    rate: str | float | None = None
    delay: tuple[float, float] | float | None = None
    concurrency: int = 8
    max_attempts: int = 4
    headers: Mapping[str, str] = field(default_factory=_no_entries, repr=False)
    user_agent: str | None = None
    cookies: Mapping[str, str] = field(default_factory=_no_entries, repr=False)
    proxies: tuple[str, ...] = field(default=(), repr=False)
    robots: bool = True
    robots_agent: str | None = None
    """The product token robots.txt groups are matched against (None: the user agent's)."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    fetcher: FetcherName = "http"
    ready_selector: str | None = None
    max_body: int = DEFAULT_MAX_BODY

    def __post_init__(self) -> None:
        # The order of the checks is the order Pipeline(...) has always reported them in.
        if self.fetcher not in FETCHERS:
            raise PipelineError(
                f"fetcher must be one of {', '.join(map(repr, FETCHERS))}, got {self.fetcher!r}"
            )
        proxies = _strings(self.proxies)
        if self.fetcher == "browser" and proxies:
            raise PipelineError("the browser fetcher does not go through proxies= yet")
        for proxy in proxies:
            parse_proxy(proxy)  # ConfigError now, not at the first request
        max_body = self.max_body
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise PipelineError(f"max_body must be a positive number of bytes, got {max_body!r}")
        secrets = _strings(self.secrets)
        for number, secret in enumerate(secrets, start=1):
            if len(secret) < MIN_SECRET_LENGTH:
                raise PipelineError(
                    f"secret number {number} is shorter than {MIN_SECRET_LENGTH} characters: "
                    "too short to hide from logs without hiding ordinary text"
                )
        base_url = self.base_url.rstrip("/") if self.base_url else None
        # frozen: the normalised values are set once, here, and never again
        object.__setattr__(self, "base_url", base_url)
        object.__setattr__(self, "hosts", _with_host(_strings(self.hosts), base_url))
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        object.__setattr__(self, "cookies", MappingProxyType(dict(self.cookies)))
        object.__setattr__(self, "proxies", proxies)
        object.__setattr__(self, "secrets", secrets)

    def with_base_url(self, base_url: str) -> FetchSettings:
        """The same settings pointed at another site (a rehearsal copy, a mirror):
        ``base_url`` replaced, its host added to ``hosts``. This value is unchanged."""
        return replace(self, base_url=base_url, hosts=_with_host(self.hosts, base_url))

    def secret_values(self) -> tuple[str, ...]:
        """Every value to keep out of logs, the console and the ledger: ``secrets``,
        plus what :func:`~scrapeline.secrets.collect_secrets` finds in sensitive
        headers, cookies and the credentials of proxies and ``base_url``."""
        return collect_secrets(
            headers=self.headers,
            cookies=self.cookies,
            proxies=self.proxies,
            urls=[self.base_url] if self.base_url else [],
            extra=self.secrets,
        )


def _strings(values: str | Sequence[str]) -> tuple[str, ...]:
    """A str given where a sequence is expected is one entry, not its characters."""
    return (values,) if isinstance(values, str) else tuple(values)


def _with_host(hosts: tuple[str, ...], base_url: str | None) -> tuple[str, ...]:
    """``hosts`` without repeats, plus ``base_url``'s host when it is not among them."""
    declared = list(dict.fromkeys(hosts))
    host = urlsplit(base_url.rstrip("/")).hostname if base_url else None
    if host and host not in declared:
        declared.append(host)
    return tuple(declared)
