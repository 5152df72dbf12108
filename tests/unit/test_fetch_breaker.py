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
    "kwargs",
    [{"threshold": 0}, {"max_trips": 0}, {"keep_errors": 0}, {"cooldown": -1.0}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
