"""One error tree for scrapeline.

Everything scrapeline raises on purpose derives from :class:`ScrapelineError`.
Third-party exceptions (aiohttp, sqlite3, ...) are translated once, at the
adapter that sees them, and kept as ``__cause__``.

::

    ScrapelineError
    ├── UsageError            exit_code 2: bad flags, config, pipeline file
    │   ├── ConfigError
    │   ├── PipelineError     declaration or graph problems, file that won't import
    │   ├── DataDirError      not writable, or in use by another run (DataDirBusy)
    │   └── SnapshotNotFound  no published snapshot has that id
    ├── LedgerError           the ledger could not be read or written (disk full, corrupt)
    │   └── DiskFull            no space left on the data dir's device; exit_code 3
    ├── ArchiveError          the raw archive could not be read or written
    ├── PublishError          a snapshot could not be written; ``latest`` did not move
    │   └── RulesFailed       an error-severity table rule failed on the snapshot
    ├── ReconcileError        source records a reconciliation cannot take (a key twice,
    │                         no key, an unknown source) or a custom rule that raised
    ├── RunHalted             the run stopped itself; exit_code 3 (HostDown: the
    │                         breaker gave up on a host; HostUnreachable: a host down
    │                         from the first request; BrowserUnavailable)
    └── ItemError             one item failed; carries category, retryable, url, host, status
        ├── FetchError
        │   ├── NetworkError        network      (retryable)
        │   │   └── ProxyError      network      (the proxy, not the site: unreachable,
        │   │                                     refused our credentials, all benched)
        │   ├── FetchTimeout        timeout      (retryable)
        │   ├── HTTPError           http_4xx / http_5xx (5xx and 408/425 retryable)
        │   │   ├── RateLimited     rate_limited (429, retryable, retry_after)
        │   │   └── Blocked         blocked      (403 or an anti-bot page)
        │   ├── HostNotAllowed      forbidden_host
        │   ├── RobotsDisallowed    robots       (robots.txt disallows the URL; not retried)
        │   ├── ContractError       contract     (the response is not what the stage declared)
    │   ├── ResponseTooLarge    too_large    (the body passed max_body; not retried)
    │   ├── BadEncoding         bad_encoding (a body that does not decompress; not retried)
        │   └── ArchiveMiss         archive_miss (a re-parse found no archived response)
        ├── ParseError              parse
        ├── ValidationError         validation
        └── ItemTimeout             timeout      (the whole item took longer than --item-timeout)

Not an error, and outside the tree: :class:`Unchanged` (a ``BaseException``), the
signal by which a refreshed stage's first fetch says the site's page has not changed.
"""

from __future__ import annotations

from enum import StrEnum

from scrapeline.secrets import strip_credentials


class Category(StrEnum):
    """Why an item failed. Stored in the ledger and counted in the summary."""

    NETWORK = "network"
    TIMEOUT = "timeout"
    HTTP_4XX = "http_4xx"
    RATE_LIMITED = "rate_limited"
    HTTP_5XX = "http_5xx"
    BLOCKED = "blocked"
    FORBIDDEN_HOST = "forbidden_host"
    ROBOTS = "robots"
    """robots.txt disallows the URL for our user agent."""
    PARSE = "parse"
    VALIDATION = "validation"
    CONTRACT = "contract"
    TOO_LARGE = "too_large"
    """The response body (or what it decompresses to) passed the pipeline's ``max_body``."""
    BAD_ENCODING = "bad_encoding"
    """The body claims a content encoding (gzip, deflate, ...) it does not decode as."""
    ARCHIVE_MISS = "archive_miss"
    """A re-parse found no usable archived response for the URL (nothing is fetched)."""
    ERROR = "error"
    """An exception the stage did not expect (a bug in the stage)."""


class ScrapelineError(Exception):
    """Root of every error scrapeline raises on purpose."""

    exit_code: int = 1


class UsageError(ScrapelineError):
    """The user asked for something that cannot work: reported in one line, exit 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value or flag is invalid."""


class PipelineError(UsageError):
    """A pipeline file is missing, does not import, or declares an invalid graph."""


class DataDirError(UsageError):
    """The data dir cannot be used (not writable, not a directory)."""


class DataDirBusy(DataDirError):
    """Another process is running on this data dir."""


class SnapshotNotFound(UsageError):
    """``rollback`` was given an id no published snapshot has."""


class LedgerError(ScrapelineError):
    """The ledger could not be read or written."""


class DiskFull(LedgerError):
    """The data dir's device has no space left: the run halts, nothing done is lost."""

    exit_code = 3


class ArchiveError(ScrapelineError):
    """The raw archive could not be read or written (disk full, missing or corrupt body)."""


class PublishError(ScrapelineError):
    """A snapshot could not be published (stored data that do not fit the table's
    columns, a file that cannot be written): nothing was published, ``latest`` is
    where it was."""


class RulesFailed(PublishError):
    """An ``error`` table rule failed on the snapshot: it is not published."""

    def __init__(self, message: str, results: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.results = results
        """Every rule's result, as the manifest would have kept them."""


class ReconcileError(ScrapelineError):
    """A reconciliation cannot be computed from the records given: a source record
    without its key, one key given twice, an unknown source, a custom rule that raised."""


class RunHalted(ScrapelineError):
    """The run stopped taking work on its own (consecutive failures, open breaker)."""

    exit_code = 3


class ItemError(ScrapelineError):
    """One item failed. The run goes on; the item is marked failed with a category."""

    category: Category = Category.ERROR
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        attempts: int | None = None,
        category: Category | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status
        self.attempts = attempts
        if category is not None:
            self.category = category
        if retryable is not None:
            self.retryable = retryable

    @property
    def host(self) -> str | None:
        if not self.url:
            return None
        from urllib.parse import urlsplit

        return urlsplit(self.url).hostname

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None and str(self.status) not in self.message:
            parts.append(f"status {self.status}")
        if self.url and self.url not in self.message:
            parts.append(self.url)
        if self.attempts and self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        # A URL may carry user:password@; no message that is stored or shown does.
        return strip_credentials(" · ".join(parts))


class FetchError(ItemError):
    """A request did not produce a usable response."""


class NetworkError(FetchError):
    category = Category.NETWORK
    retryable = True


class ProxyError(NetworkError):
    """The proxy failed, not the site: unreachable, refused our credentials, or every
    proxy is benched. Counts against the proxy's health, never the host's breaker."""


class FetchTimeout(FetchError):
    category = Category.TIMEOUT
    retryable = True


class HTTPError(FetchError):
    """A response with an error status."""

    def __init__(self, message: str, *, status: int, **kw: object) -> None:
        super().__init__(message, status=status, **kw)  # type: ignore[arg-type]
        if type(self) is HTTPError:
            self.category = Category.HTTP_5XX if status >= 500 else Category.HTTP_4XX
            self.retryable = status >= 500 or status in (408, 425)


class RateLimited(HTTPError):
    category = Category.RATE_LIMITED
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        kw.setdefault("status", 429)
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Blocked(HTTPError):
    category = Category.BLOCKED
    retryable = False


class HostNotAllowed(FetchError):
    category = Category.FORBIDDEN_HOST


class RobotsDisallowed(FetchError):
    """robots.txt disallows the URL for our user agent: nothing was sent."""

    category = Category.ROBOTS
    retryable = False


class ContractError(FetchError):
    category = Category.CONTRACT


class ResponseTooLarge(FetchError):
    """The body, as sent or as decompressed, passed the pipeline's ``max_body``."""

    category = Category.TOO_LARGE
    retryable = False


class BadEncoding(FetchError):
    """The body does not decode with the content encoding the server named."""

    category = Category.BAD_ENCODING
    retryable = False


class ArchiveMiss(FetchError):
    """A re-parse asked for a URL the archive holds no usable response for."""

    category = Category.ARCHIVE_MISS
    retryable = False


class ParseError(ItemError):
    category = Category.PARSE


class ValidationError(ItemError):
    category = Category.VALIDATION


class ItemTimeout(ItemError):
    category = Category.TIMEOUT


class Unchanged(BaseException):
    """Not an error: the first fetch of a stage run again for a refresh was answered
    ``304 Not Modified``, so there is nothing new to parse.

    ``ctx.fetch`` raises it and the runner catches it: the task is done as
    *unchanged*, keeping the records and children of its earlier completion. It
    derives from ``BaseException`` so that a stage's ``except Exception`` lets it
    through; a stage that catches it anyway changes nothing: once its first fetch
    said unchanged, the item is unchanged whatever the stage returns or raises next
    (a halt of the run or its cancellation excepted)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"not modified since it was archived: {url}")
        self.url = url


# Exceptions a stage raises while picking a page apart: a missing key, a number that
# is not a number. They mean "the page did not parse". TypeError and AttributeError
# mean the stage's own code is wrong (None.text, a call with the wrong arguments): ``error``.
_PARSE_SHAPED = (LookupError, ValueError)


def categorize(exc: BaseException) -> tuple[Category, str]:
    """Return the category and a one-line message for an exception raised by a stage."""
    if isinstance(exc, ItemError):
        return exc.category, str(exc)
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, _PARSE_SHAPED):
        return Category.PARSE, text
    return Category.ERROR, text
