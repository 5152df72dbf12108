"""A host that is down from the first request: the run halts at once, naming it.

A host that answered nothing yet in this run, and whose request then failed for want
of an answer (refused, reset, DNS, timed out) after every retry, is down: going on
would only fail every item after it, one by one, and a run whose listing never loaded
must not end as "discovery failed" (exit 1) as if the pipeline were wrong. It raises
:class:`HostUnreachable`, a :class:`~scrapeline.errors.RunHalted` (exit 3).

A host that answers, even with a 5xx or a 404, is not down: those stay the item's or
the page's failure (a 404 on the first listing page is a wrong URL, exit 1). Nor is
a host behind proxies that all failed (the proxies are, not the host), nor an error
that a retry would not change (an invalid URL, too many redirects).

    >>> from scrapeline.errors import NetworkError
    >>> refused = NetworkError("[Errno 111] Connect call failed", url="http://h:1/")
    >>> refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    >>> down_from_start(refused, responses=0), down_from_start(refused, responses=1)
    (True, False)
    >>> halt = str(HostUnreachable("h:1", refused, attempts=4))
    >>> halt.partition(" (")[0]
    'h:1 is down: connection refused'
    >>> halt.partition(" (")[2]
    '4 attempts, no answer from it in this run; last: [Errno 111] Connect call failed)'
"""

from __future__ import annotations

import errno
import socket

from scrapeline.errors import Category, FetchError, ProxyError, RunHalted

__all__ = ["HostUnreachable", "down_from_start", "what_failed"]

NO_ANSWER = frozenset({Category.NETWORK, Category.TIMEOUT})
"""Failures that mean the host gave no answer at all."""


def down_from_start(error: FetchError, *, responses: int) -> bool:
    """Whether ``error``, the last attempt of a request given up on, shows its host
    down from the start: no answer at all, a retry could have changed that, not a
    proxy's fault, and the host answered nothing (``responses``) in this run."""
    return (
        responses == 0
        and error.category in NO_ANSWER
        and error.retryable
        and not isinstance(error, ProxyError)
    )


_BY_ERRNO = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "no route to the host",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connection timed out",
}


def what_failed(error: FetchError) -> str:
    """The failure in a few words, from the error the transport translated:

    >>> from scrapeline.errors import FetchTimeout, NetworkError
    >>> what_failed(FetchTimeout("no complete response within 30 s"))
    'no answer in time'
    >>> what_failed(NetworkError("Server disconnected"))
    'no answer'
    """
    if error.category is Category.TIMEOUT:
        return "no answer in time"
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        said = _BY_ERRNO.get(getattr(cause, "errno", None) or -1)
        if said is not None:
            return said
        cause = cause.__cause__
    return "no answer"


class HostUnreachable(RunHalted):
    """``host`` (``host:port``) answered nothing in this run and its request failed
    for want of an answer after every retry: the run halts (exit 3)."""

    def __init__(self, host: str, error: FetchError, *, attempts: int | None) -> None:
        self.host = host
        self.error = error
        tries = "" if attempts is None else f"{attempts} attempt{'s' if attempts != 1 else ''}, "
        super().__init__(
            f"{host} is down: {what_failed(error)} ({tries}no answer from it in this run; "
            f"last: {error.message})"
        )
