from __future__ import annotations

from dataclasses import replace

import pytest

from scrapeline.errors import ConfigError, RunHalted
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

POLICY = BreakerPolicy(threshold=3, cooldown=10.0, max_trips=3, keep_errors=2)
CLOSED = Breaker(host="h")
OPEN = Breaker(host="h", state=BreakerState.OPEN, failures=3, trips=1, opened_at=100.0)
HALF = Breaker(
    host="h", state=BreakerState.HALF_OPEN, failures=3, trips=1, opened_at=100.0, trial=True
)
DEAD = Breaker(host="h", state=BreakerState.DEAD, trips=3, last_errors=("503", "timeout"))


@pytest.mark.parametrize(
    ("before", "now", "after", "wait"),
    [
        (CLOSED, 0.0, CLOSED, 0.0),
        (replace(CLOSED, failures=2), 0.0, replace(CLOSED, failures=2), 0.0),
        (OPEN, 100.0, OPEN, 10.0),  # just opened: wait the whole cooldown
        (OPEN, 104.0, OPEN, 6.0),
        (OPEN, 110.0, HALF, 0.0),  # cooldown over: this request is the trial
        (OPEN, 500.0, HALF, 0.0),
        (HALF, 111.0, HALF, None),  # trial in flight: wait for its outcome
        (replace(HALF, trial=False), 111.0, HALF, 0.0),  # trial handed back: next one tries
    ],
)
def test_admit(before: Breaker, now: float, after: Breaker, wait: float | None) -> None:
    assert admit(before, now=now, policy=POLICY) == (after, wait)


def test_admit_on_a_dead_host_halts_the_run_naming_host_and_errors() -> None:
    with pytest.raises(HostDown) as info:
        admit(DEAD, now=0.0, policy=POLICY)
    error = info.value
    assert isinstance(error, RunHalted) and error.exit_code == 3
    assert error.host == "h" and error.last_errors == ("503", "timeout")
    message = str(error)
    assert message.startswith("h ") and "likely banned or site down" in message
    assert "503; timeout" in message and "3 times" in message


@pytest.mark.parametrize(
    ("before", "now", "after"),
    [
        (CLOSED, 5.0, replace(CLOSED, failures=1, last_errors=("e",))),
        (replace(CLOSED, failures=1), 5.0, replace(CLOSED, failures=2, last_errors=("e",))),
        (  # the threshold-th consecutive failure opens
            replace(CLOSED, failures=2),
            5.0,
            Breaker(
                host="h", state=BreakerState.OPEN, failures=3, trips=1, opened_at=5.0,
                last_errors=("e",),
            ),
        ),
        (  # a failed trial opens again, counting a second trip
            HALF,
            120.0,
            replace(HALF, state=BreakerState.OPEN, failures=4, trips=2, opened_at=120.0,
                    trial=False, last_errors=("e",)),
        ),
        (  # the max_trips-th open: the host is dead
            replace(HALF, trips=2),
            130.0,
            replace(HALF, state=BreakerState.DEAD, failures=4, trips=3, opened_at=130.0,
                    trial=False, last_errors=("e",)),
        ),
        (  # a straggler failing while open is remembered, nothing else
            OPEN,
            101.0,
            replace(OPEN, last_errors=("e",)),
        ),
        (DEAD, 1.0, replace(DEAD, last_errors=("timeout", "e"))),  # keeps the last 2
    ],
)  # fmt: skip
def test_record_failure(before: Breaker, now: float, after: Breaker) -> None:
    assert record_failure(before, now=now, error="e", policy=POLICY) == after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (CLOSED, CLOSED),
        (replace(CLOSED, failures=2, last_errors=("x",)), replace(CLOSED, last_errors=("x",))),
        (OPEN, replace(CLOSED, failures=0, opened_at=100.0)),  # a straggler succeeded
        (HALF, replace(CLOSED, opened_at=100.0)),  # the trial succeeded
        (replace(HALF, trips=2), replace(CLOSED, opened_at=100.0)),  # trips are forgotten
        (DEAD, DEAD),  # too late: the run is halting
    ],
)
def test_record_success(before: Breaker, after: Breaker) -> None:
    assert record_success(before) == after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (HALF, replace(HALF, trial=False)),
        (CLOSED, CLOSED),
        (OPEN, OPEN),
        (DEAD, DEAD),
    ],
)
def test_release_trial(before: Breaker, after: Breaker) -> None:
    assert release_trial(before) == after


def test_full_story_closed_open_half_open_dead() -> None:
    """Five failures open; each failed trial opens again; the third open declares it dead."""
    policy = BreakerPolicy()  # threshold 5, cooldown 30 s, max_trips 3
    b, now = Breaker(host="example.com"), 0.0
    for i in range(5):
        assert admit(b, now=now, policy=policy)[1] == 0.0
        b = record_failure(b, now=now, error=f"timeout #{i}", policy=policy)
    assert b.state is BreakerState.OPEN
    for trip in (2, 3):
        now += 30.0
        b, wait = admit(b, now=now, policy=policy)
        assert wait == 0.0 and b.state is BreakerState.HALF_OPEN
        b = record_failure(b, now=now, error=f"503 on trial {trip}", policy=policy)
    assert b.state is BreakerState.DEAD
    with pytest.raises(HostDown, match=r"example\.com .*503 on trial 3"):
        admit(b, now=now + 1000, policy=policy)


def test_a_success_between_trips_resets_the_count() -> None:
    policy = BreakerPolicy(threshold=1, cooldown=0.0, max_trips=2)
    b = record_failure(Breaker(host="h"), now=0.0, error="x", policy=policy)
    b, _ = admit(b, now=0.0, policy=policy)
    b = record_success(b)
    b = record_failure(b, now=1.0, error="x", policy=policy)
    assert b.state is BreakerState.OPEN and b.trips == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "breaker threshold must be at least 1, got 0"),
        ({"max_trips": 0}, "breaker max_trips must be at least 1, got 0"),
        ({"keep_errors": -2}, "breaker keep_errors must be at least 1, got -2"),
        ({"cooldown": -1.0}, "breaker cooldown must be ≥ 0 seconds, got -1.0"),
        ({"cooldown": float("nan")}, "breaker cooldown must be ≥ 0 seconds, got nan"),
    ],
)
def test_policy_rejects_nonsense_naming_the_field_and_value(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 1}, {"max_trips": 1}, {"keep_errors": 1}, {"cooldown": 0.0}],
)
def test_policy_accepts_the_edges(kwargs: dict[str, float]) -> None:
    policy = BreakerPolicy(**kwargs)  # type: ignore[arg-type]
    for name, value in kwargs.items():
        assert getattr(policy, name) == value


def test_the_defaults_users_rely_on() -> None:
    """Five failures in a row open for 30 s; the third open in a row halts; 5 errors kept."""
    policy = BreakerPolicy()
    assert (policy.threshold, policy.cooldown, policy.max_trips, policy.keep_errors) == (
        5, 30.0, 3, 5,
    )  # fmt: skip
    assert Breaker(host="h") == Breaker(
        host="h", state=BreakerState.CLOSED, failures=0, trips=0, opened_at=0.0, trial=False,
        last_errors=(),
    )  # fmt: skip
    b = Breaker(host="h")
    for i in range(4):
        b = record_failure(b, now=float(i), error=f"e{i}", policy=policy)
    assert b.state is BreakerState.CLOSED and admit(b, now=4.0, policy=policy)[1] == 0.0
    b = record_failure(b, now=4.0, error="e4", policy=policy)
    assert b.state is BreakerState.OPEN
    assert admit(b, now=4.0, policy=policy)[1] == 30.0
    assert admit(b, now=33.5, policy=policy)[1] == 0.5
    b = record_failure(b, now=34.0, error="e5", policy=policy)  # a straggler
    assert b.last_errors == ("e1", "e2", "e3", "e4", "e5")


def test_a_success_on_a_healthy_host_makes_no_new_value() -> None:
    """The common case, once per response: the same breaker comes back."""
    assert record_success(CLOSED) is CLOSED
    with_errors = replace(CLOSED, last_errors=("old",), opened_at=7.0)
    assert record_success(with_errors) is with_errors


@pytest.mark.parametrize(
    ("trips", "last_errors", "message"),
    [
        (
            3,
            (),
            "h is not answering (likely banned or site down): the circuit breaker opened "
            "3 times in a row without a success. Last errors: none recorded",
        ),
        (
            1,
            ("503", "timeout", "reset"),
            "h is not answering (likely banned or site down): the circuit breaker opened "
            "1 times in a row without a success. Last errors: 503; timeout; reset",
        ),
    ],
)
def test_host_down_names_host_trips_and_errors(
    trips: int, last_errors: tuple[str, ...], message: str
) -> None:
    dead = Breaker(host="h", state=BreakerState.DEAD, trips=trips, last_errors=last_errors)
    with pytest.raises(HostDown) as info:
        admit(dead, now=0.0, policy=BreakerPolicy())
    error = info.value
    assert str(error) == message
    assert (error.host, error.trips, error.last_errors) == ("h", trips, last_errors)
