"""What a fetch client sent to each host in a run, and what came back, as counts.

The client adds to one :class:`HostRequests` per authority (``scheme://host:port``, as
the request URL has it) on every request it sends: a few integer additions on counts
it finds with the host's other state (one lookup it does anyway), so counting costs
the crawl nothing it would notice. :meth:`Tally.by_host` gives
them per ``host:port`` for the run's summary, without credentials or query strings.

Every request that reached the wire counts: each attempt of a retried request, each
hop of a redirect, robots.txt. A request cancelled before its answer does not.

    >>> tally = Tally()
    >>> tally.of("http://127.0.0.1:8000/results?offset=0").answered(200)
    >>> sent = tally.of("http://127.0.0.1:8000/matches/7")
    >>> sent.answered(503)
    >>> sent.retries += 1
    >>> sent.answered(200)
    >>> tally.by_host()["127.0.0.1:8000"]
    {'requests': 3, 'retries': 1, 'rate_limited': 0, 'server_errors': 1, 'network_errors': 0}
"""

from __future__ import annotations

from scrapeline.fetch.http1 import split_authority
from scrapeline.fetch.origins import host_port

__all__ = ["FIELDS", "HostRequests", "Tally"]

FIELDS = ("requests", "retries", "rate_limited", "server_errors", "network_errors")
"""The counts kept per host, in the order they are shown."""


class HostRequests:
    """Counts for one authority. Mutable, and only ever added to."""

    __slots__ = ("network_errors", "rate_limited", "requests", "retries", "server_errors")

    def __init__(self) -> None:
        self.requests = 0
        """Requests sent: answered, or failed on the way (refused, reset, timed out)."""
        self.retries = 0
        """Requests sent again after a failure or a 429."""
        self.rate_limited = 0
        """429 answers."""
        self.server_errors = 0
        """5xx answers."""
        self.network_errors = 0
        """Requests that got no answer: refused, reset, dropped, timed out."""

    @property
    def responses(self) -> int:
        """Requests that got an HTTP answer, whatever its status."""
        return self.requests - self.network_errors

    def answered(self, status: int) -> None:
        self.requests += 1
        if status >= 429:
            if status >= 500:
                self.server_errors += 1
            elif status == 429:
                self.rate_limited += 1

    def failed(self, *, answered: bool) -> None:
        """The transport raised: no answer at all (refused, reset, timed out), or
        ``answered`` with a body it could not take (too large, undecodable)."""
        self.requests += 1
        if not answered:
            self.network_errors += 1

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FIELDS}


class Tally:
    """One :class:`HostRequests` per authority a client sent to."""

    __slots__ = ("_hosts",)

    def __init__(self) -> None:
        self._hosts: dict[str, HostRequests] = {}

    def of(self, url: str) -> HostRequests:
        """The counts of ``url``'s authority (created at its first request)."""
        parts = split_authority(url)
        return self.at(parts[0] if parts is not None else url)

    def at(self, authority: str) -> HostRequests:
        """The counts of ``authority`` (``"http://host:port"``, as a URL begins)."""
        counts = self._hosts.get(authority)
        if counts is None:
            counts = self._hosts[authority] = HostRequests()
        return counts

    def by_host(self) -> dict[str, dict[str, int]]:
        """Counts per ``host:port``, in host order (authorities that differ only in
        their credentials, or name the default port or not, add up)."""
        merged: dict[str, dict[str, int]] = {}
        for authority, counts in list(self._hosts.items()):
            name = host_port(authority)
            into = merged.setdefault(name, dict.fromkeys(FIELDS, 0))
            for field, n in counts.counts().items():
                into[field] += n
        return {name: merged[name] for name in sorted(merged)}
