from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from scrapeline.errors import (
    Blocked,
    Category,
    ConfigError,
    ContractError,
    FetchError,
    FetchTimeout,
    HostNotAllowed,
    HTTPError,
    ItemTimeout,
    NetworkError,
    ParseError,
    RateLimited,
)
from scrapeline.fetch.retry import (
    RETRY_STATUSES,
    RetryPolicy,
    backoff,
    host_pause,
    parse_retry_after,
    rate_limited_delay,
    retry_delay,
    should_retry,
    should_wait_out,
)

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=60.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 09:28:30 +0200", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: go now
        ("Wednesday, 21-Oct-15 07:29:00 GMT", 60.0),  # RFC 850
        ("Wed Oct 21 07:28:10 2015", 10.0),  # asctime, no zone: UTC
        ("soon", None),
        ("12 o'clock", None),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ("1e3", None),
        ("nan", None),
        ("9" * 400, None),  # delta-seconds too large for a float: unreadable, not "forever"
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_naive_now_is_utc() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", NOW.replace(tzinfo=None)) == 30.0


@pytest.mark.parametrize(
    ("error", "attempt", "expected"),
    [
        (NetworkError("connection reset"), 1, True),
        (FetchTimeout("timed out"), 1, True),
        (RateLimited("slow down"), 1, True),
        (RateLimited("slow down", retry_after=60.0), 1, True),
        (RateLimited("slow down", retry_after=61.0), 1, False),  # longer than max_delay
        (HTTPError("x", status=408), 1, True),
        (HTTPError("x", status=425), 1, True),
        (HTTPError("x", status=500), 1, True),
        (HTTPError("x", status=502), 2, True),
        (HTTPError("x", status=503), 3, True),
        (HTTPError("x", status=504), 1, True),
        (HTTPError("x", status=503), 4, False),  # attempts used up
        (HTTPError("x", status=503), 9, False),
        (HTTPError("x", status=501), 1, False),
        (HTTPError("x", status=505), 1, False),
        (HTTPError("x", status=400), 1, False),
        (HTTPError("x", status=401), 1, False),
        (HTTPError("x", status=404), 1, False),
        (HTTPError("x", status=410), 1, False),
        (Blocked("captcha", status=403), 1, False),
        (Blocked("challenge page", status=503), 1, False),
        (ContractError("no table"), 1, False),
        (ParseError("no element"), 1, False),
        (HostNotAllowed("not declared"), 1, False),
        (ItemTimeout("item took too long"), 1, False),
        (NetworkError("bad url", retryable=False), 1, False),
        (NetworkError("odd", category=Category.BLOCKED), 1, False),  # a ban, however raised
        (FetchTimeout("odd", category=Category.CONTRACT), 1, False),
        (ContractError("no table", retryable=True), 1, False),  # only transport-level kinds
        (FetchError("something", retryable=True), 1, False),
        (ValueError("a bug"), 1, False),
    ],
)
def test_should_retry(error: BaseException, attempt: int, expected: bool) -> None:
    assert should_retry(error, attempt, POLICY) is expected


def test_single_attempt_policy_never_retries() -> None:
    assert not should_retry(NetworkError("x"), 1, RetryPolicy(max_attempts=1))


class Extremes(random.Random):
    """A random source that always returns the top (or bottom) of the range."""

    def __init__(self, top: bool) -> None:
        super().__init__(0)
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


@pytest.mark.parametrize(
    ("attempt", "policy", "cap"),
    [
        (1, POLICY, 0.5),
        (2, POLICY, 1.0),
        (3, POLICY, 2.0),
        (4, POLICY, 4.0),
        (8, POLICY, 60.0),  # 0.5 * 128 capped at max_delay
        (10_000, POLICY, 60.0),  # no overflow
        (0, POLICY, 0.5),
        (3, RetryPolicy(base_delay=0.0), 0.0),
        (3, RetryPolicy(base_delay=1.0, max_delay=3.0), 3.0),
    ],
)
def test_backoff_range(attempt: int, policy: RetryPolicy, cap: float) -> None:
    assert backoff(policy, attempt, Extremes(top=True)) == cap
    assert backoff(policy, attempt, Extremes(top=False)) == 0.0


def test_backoff_is_full_jitter() -> None:
    rng = random.Random(42)
    delays = [backoff(POLICY, 4, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert min(delays) < 0.2 and max(delays) > 3.8  # spread over the whole range
    assert 1.8 < sum(delays) / len(delays) < 2.2


def test_backoff_is_reproducible_with_a_seed() -> None:
    assert backoff(POLICY, 3, random.Random(1)) == backoff(POLICY, 3, random.Random(1))


@pytest.mark.parametrize(
    ("error", "attempt", "top", "expected"),
    [
        (HTTPError("x", status=503), 2, True, 1.0),
        (HTTPError("x", status=503), 2, False, 0.0),
        (RateLimited("x", retry_after=30.0), 2, True, 30.0),  # server asks for more
        (RateLimited("x", retry_after=0.2), 3, True, 2.0),  # backoff is longer
        (RateLimited("x", retry_after=0.2), 3, False, 0.2),
        (RateLimited("x"), 1, True, 0.5),  # no Retry-After: plain backoff
    ],
)
def test_retry_delay(error: BaseException, attempt: int, top: bool, expected: float) -> None:
    assert retry_delay(error, attempt, POLICY, Extremes(top=top)) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "retry max_attempts must be at least 1, got 0"),
        ({"max_attempts": -3}, "retry max_attempts must be at least 1, got -3"),
        ({"base_delay": -1.0}, "retry base_delay must be a finite number ≥ 0, got -1.0"),
        ({"max_delay": -0.1}, "retry max_delay must be a finite number ≥ 0, got -0.1"),
        ({"max_delay": float("inf")}, "retry max_delay must be a finite number ≥ 0, got inf"),
        ({"base_delay": float("nan")}, "retry base_delay must be a finite number ≥ 0, got nan"),
    ],
)
def test_policy_rejects_nonsense_naming_the_field_and_value(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 1},
        {"base_delay": 0.0},  # retry at once
        {"max_delay": 0.0},
        {"base_delay": 0.0, "max_delay": 0.0},
    ],
)
def test_policy_accepts_the_edges(kwargs: dict[str, float]) -> None:
    policy = RetryPolicy(**kwargs)  # type: ignore[arg-type]
    for name, value in kwargs.items():
        assert getattr(policy, name) == value


def test_the_defaults_users_rely_on() -> None:
    """One try and three retries, 0.5 s doubling, never more than a minute's wait."""
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (4, 0.5, 60.0)
    assert {408, 425, 429, 500, 502, 503, 504} == RETRY_STATUSES
    top = Extremes(top=True)
    assert [backoff(policy, attempt, top) for attempt in range(1, 10)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0,
    ]  # fmt: skip
    error = HTTPError("x", status=503)
    assert [should_retry(error, attempt, policy) for attempt in (1, 2, 3, 4)] == [
        True, True, True, False,
    ]  # fmt: skip
    assert should_retry(RateLimited("x", retry_after=60.0), 1, policy)
    assert not should_retry(RateLimited("x", retry_after=60.5), 1, policy)
    assert [host_pause(RateLimited("x"), n, policy) for n in (1, 3, 8, 9)] == [
        0.5, 2.0, 60.0, 60.0,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("error", "failures", "expected"),
    [
        (RateLimited("x", retry_after=3.0), 1, 3.0),
        (RateLimited("x", retry_after=3600.0), 1, 3600.0),  # honoured beyond max_delay
        (RateLimited("x", retry_after=0.0), 9, 0.0),
        (RateLimited("x"), 0, 0.5),
        (RateLimited("x"), 1, 0.5),
        (RateLimited("x"), 2, 1.0),
        (RateLimited("x"), 4, 4.0),
        (RateLimited("x"), 50, 60.0),
    ],
)
def test_host_pause(error: RateLimited, failures: int, expected: float) -> None:
    assert host_pause(error, failures, POLICY) == expected


@pytest.mark.parametrize(
    ("error", "waits", "expected"),
    [
        (RateLimited("x", retry_after=1.0), 1, True),
        (RateLimited("x", retry_after=1.0), 20, True),  # max_attempts plays no part
        (RateLimited("x", retry_after=1.0), 21, False),  # the 21st 429 fails the item
        (RateLimited("x"), 5, True),
        (RateLimited("x", retry_after=60.0), 1, True),
        (RateLimited("x", retry_after=60.5), 1, False),  # longer than max_delay
    ],
)
def test_should_wait_out(error: RateLimited, waits: int, expected: bool) -> None:
    policy = RetryPolicy(max_attempts=1, max_delay=60.0)
    assert policy.rate_limited_waits == 20
    assert should_wait_out(error, waits, policy) is expected


@pytest.mark.parametrize(
    ("error", "waits", "high"),
    [
        (RateLimited("x", retry_after=3.0), 9, None),  # exactly what the server asked
        (RateLimited("x", retry_after=0.0), 1, None),
        (RateLimited("x"), 1, 0.5),  # no Retry-After: the backoff for the wait's number
        (RateLimited("x"), 3, 2.0),
    ],
)
def test_rate_limited_delay(error: RateLimited, waits: int, high: float | None) -> None:
    delay = rate_limited_delay(error, waits, RetryPolicy(), random.Random(3))
    if high is None:
        assert delay == error.retry_after
    else:
        assert 0.0 <= delay <= high


def test_rate_limited_waits_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="rate_limited_waits must be at least 0"):
        RetryPolicy(rate_limited_waits=-1)
