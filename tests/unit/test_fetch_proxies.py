"""Proxy rotation and health: pure decisions in tables, the pool with a fake clock."""

from __future__ import annotations

import math

import pytest

from scrapeline.errors import ConfigError, PipelineError, ProxyError
from scrapeline.fetch.proxies import (
    HEALTHY,
    ProxyHealth,
    ProxyPolicy,
    ProxyPool,
    choose,
    parse_proxy,
    record,
    usable,
)
from scrapeline.pipeline import Pipeline

POLICY = ProxyPolicy(max_failures=3, cooldown=10.0, max_cooldown=35.0)


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
        ("http://bob:s3cret@127.0.0.1:3128", "http://***@127.0.0.1:3128"),
        (" https://proxy.example.org:8443 ", "https://proxy.example.org:8443"),
        ("http://proxy.example.org", "http://proxy.example.org"),
    ],
)
def test_parse_proxy(text: str, label: str) -> None:
    proxy = parse_proxy(text)
    assert proxy.url == text.strip() and proxy.label == label
    assert "s3cret" not in repr(proxy)


@pytest.mark.parametrize(
    "text",
    [
        "socks5://bob:s3cret@127.0.0.1:1080",
        "127.0.0.1:3128",
        "http://bob:s3cret@",
        "http://bob:s3cret@127.0.0.1:99999",
        "ftp://h:21",
    ],
)
def test_parse_proxy_refuses_garbage_without_showing_credentials(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_proxy(text)
    assert "s3cret" not in str(info.value)


def test_pipeline_checks_its_proxies_when_declared() -> None:
    with pytest.raises(ConfigError, match="only http"):
        Pipeline("p", proxies=["socks5://127.0.0.1:1080"])
    with pytest.raises(PipelineError):  # not a proxy problem: still a usage error
        Pipeline("bad name!")


@pytest.mark.parametrize(
    ("before", "ok", "now", "after"),
    [
        (HEALTHY, True, 0.0, HEALTHY),
        (HEALTHY, False, 0.0, ProxyHealth(failures=1)),
        (ProxyHealth(failures=2), True, 0.0, HEALTHY),  # a success clears the streak
        # the third failure in a row benches for the cooldown
        (
            ProxyHealth(failures=2),
            False,
            5.0,
            ProxyHealth(failures=3, benches=1, benched_until=15.0),
        ),
        # a late failure of a request sent before the bench changes nothing
        (
            ProxyHealth(failures=3, benches=1, benched_until=15.0),
            False,
            12.0,
            ProxyHealth(failures=3, benches=1, benched_until=15.0),
        ),
        # back on probation: one failure benches again, twice as long
        (
            ProxyHealth(failures=3, benches=1, benched_until=15.0),
            False,
            20.0,
            ProxyHealth(failures=4, benches=2, benched_until=40.0),
        ),
        # ... up to max_cooldown
        (
            ProxyHealth(failures=5, benches=3, benched_until=80.0),
            False,
            100.0,
            ProxyHealth(failures=6, benches=4, benched_until=135.0),
        ),
        # a success on probation clears everything
        (ProxyHealth(failures=4, benches=2, benched_until=40.0), True, 41.0, HEALTHY),
    ],
)
def test_record(before: ProxyHealth, ok: bool, now: float, after: ProxyHealth) -> None:
    assert record(before, ok=ok, now=now, policy=POLICY) == after


@pytest.mark.parametrize(
    ("health", "now", "expected"),
    [
        (HEALTHY, 0.0, True),
        (ProxyHealth(failures=2), 0.0, True),
        (ProxyHealth(benches=1, benched_until=15.0), 14.9, False),
        (ProxyHealth(benches=1, benched_until=15.0), 15.0, True),
    ],
)
def test_usable(health: ProxyHealth, now: float, expected: bool) -> None:
    assert usable(health, now) is expected


BENCHED = ProxyHealth(benches=1, benched_until=math.inf)


@pytest.mark.parametrize(
    ("healths", "start", "expected"),
    [
        ([HEALTHY, HEALTHY, HEALTHY], 0, 0),
        ([HEALTHY, HEALTHY, HEALTHY], 2, 2),
        ([HEALTHY, HEALTHY, HEALTHY], 3, 0),  # wraps
        ([HEALTHY, BENCHED, HEALTHY], 1, 2),  # skips the benched one
        ([HEALTHY, BENCHED, BENCHED], 1, 0),
        ([BENCHED, BENCHED], 0, None),
    ],
)
def test_choose(healths: list[ProxyHealth], start: int, expected: int | None) -> None:
    assert choose(healths, start, 0.0) == expected


def pool_of(n: int, clock: Clock) -> ProxyPool:
    return ProxyPool([f"http://u:pw@10.0.0.{i}:3128" for i in range(n)], policy=POLICY, clock=clock)


def test_pool_rotates_round_robin() -> None:
    pool = pool_of(3, Clock())
    assert [pool.pick().label[-13:] for _ in range(4)] == [
        "10.0.0.0:3128",
        "10.0.0.1:3128",
        "10.0.0.2:3128",
        "10.0.0.0:3128",
    ]


def test_a_failing_proxy_is_benched_then_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    pool = pool_of(2, clock)
    bad = pool.proxies[0]
    for _ in range(3):
        pool.report(bad, ok=False, reason="refused by http://u:pw@10.0.0.0:3128")
    assert [pool.pick() for _ in range(3)] == [pool.proxies[1]] * 3
    warning = next(r.getMessage() for r in caplog.records if "benched" in r.getMessage())
    assert "10 s after 3 failures" in warning and "pw" not in warning
    clock.now += 10.0
    picked = {pool.pick() for _ in range(2)}
    assert bad in picked  # back in rotation after the cooldown
    pool.report(bad, ok=True)
    assert pool.health(bad) == HEALTHY


def test_all_benched_is_a_clear_proxy_error() -> None:
    clock = Clock()
    pool = pool_of(2, clock)
    for proxy in pool.proxies:
        for _ in range(3):
            pool.report(proxy, ok=False)
        clock.now += 2.0
    with pytest.raises(ProxyError, match=r"all 2 proxies are benched .* back in 6 s") as info:
        pool.pick()
    assert info.value.retryable
    clock.now += 6.0
    assert pool.pick() == pool.proxies[0]


def test_an_empty_pool_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        ProxyPool([])
