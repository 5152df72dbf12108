"""decide(): the rehearsal site's fault decision, tested with tables."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from scrapeline.testing.faults import Fault, Faults, decide, uniform

LISTING = "/results?offset=100"
MATCH = "/matches/123456"
HALF = "/matches/123456/halves/1"
ROBOTS = "/robots.txt"

SHARE_OF = {
    Fault.SERVER_ERROR: "server_error",
    Fault.RATE_LIMIT: "rate_limit",
    Fault.SLOW: "slow",
    Fault.DROP: "drop",
    Fault.BROKEN: "broken",
    Fault.BLOCKED: "blocked",
}


def plan(fault: Fault, share: float) -> Faults:
    shares: dict[str, Any] = {SHARE_OF[fault]: share}
    return Faults(**shares)


@pytest.mark.parametrize("fault", list(SHARE_OF))
def test_share_zero_never_fires(fault: Fault) -> None:
    faults = plan(fault, 0.0)
    assert {decide(faults, 0, f"/matches/{i}", n) for i in range(500) for n in range(3)} == {
        Fault.NONE
    }


@pytest.mark.parametrize("fault", list(SHARE_OF))
def test_share_one_always_fires_on_a_match_page(fault: Fault) -> None:
    faults = plan(fault, 1.0)
    assert {decide(faults, 0, f"/matches/{i}", n) for i in range(500) for n in range(3)} == {fault}


@pytest.mark.parametrize(
    ("fault", "path", "expected"),
    [
        (Fault.SERVER_ERROR, LISTING, Fault.SERVER_ERROR),
        (Fault.SERVER_ERROR, HALF, Fault.SERVER_ERROR),
        (Fault.SERVER_ERROR, "/no/such/page", Fault.SERVER_ERROR),
        (Fault.SERVER_ERROR, ROBOTS, Fault.NONE),
        (Fault.RATE_LIMIT, ROBOTS, Fault.NONE),
        (Fault.DROP, ROBOTS, Fault.NONE),
        (Fault.BROKEN, MATCH, Fault.BROKEN),
        (Fault.BROKEN, MATCH + "?x=1", Fault.BROKEN),
        (Fault.BROKEN, LISTING, Fault.NONE),
        (Fault.BROKEN, HALF, Fault.NONE),
        (Fault.BROKEN, "/matches/abc", Fault.NONE),
        (Fault.BLOCKED, LISTING, Fault.BLOCKED),
    ],
)
def test_where_each_fault_applies(fault: Fault, path: str, expected: Fault) -> None:
    assert decide(plan(fault, 1.0), 0, path, 0) is expected


@pytest.mark.parametrize(
    ("faults", "path", "expected"),
    [
        (Faults(fail_paths=frozenset({MATCH})), MATCH, Fault.FAILING_PATH),
        (Faults(fail_paths=frozenset({MATCH})), MATCH + "?a=1", Fault.FAILING_PATH),
        (Faults(fail_paths=frozenset({LISTING})), LISTING, Fault.FAILING_PATH),
        (Faults(fail_paths=frozenset({LISTING})), "/results?offset=200", Fault.NONE),
        (Faults(fail_paths=frozenset({ROBOTS})), ROBOTS, Fault.FAILING_PATH),
        (Faults(fail_paths=frozenset({MATCH}), server_error=1.0), MATCH, Fault.FAILING_PATH),
        (
            Faults(fail_paths=frozenset({MATCH}), only_paths_prefix="/results"),
            MATCH,
            Fault.FAILING_PATH,
        ),
        (Faults(server_error=1.0, only_paths_prefix="/matches/"), MATCH, Fault.SERVER_ERROR),
        (Faults(server_error=1.0, only_paths_prefix="/matches/"), LISTING, Fault.NONE),
        (Faults(server_error=1.0, only_paths_prefix="/robots"), ROBOTS, Fault.SERVER_ERROR),
        (Faults(server_error=1.0, only_paths_prefix="/"), ROBOTS, Fault.SERVER_ERROR),
        (Faults(), MATCH, Fault.NONE),
    ],
)
def test_fail_paths_and_scope(faults: Faults, path: str, expected: Fault) -> None:
    assert decide(faults, 0, path, 0) is expected


def test_failing_path_fails_every_time() -> None:
    faults = Faults(fail_paths=frozenset({MATCH}))
    assert {decide(faults, seed, MATCH, n) for seed in range(5) for n in range(50)} == {
        Fault.FAILING_PATH
    }


MIXED = Faults(server_error=0.1, rate_limit=0.05, slow=0.1, drop=0.05, broken=0.1, blocked=0.05)


def test_same_inputs_same_decision() -> None:
    first = [decide(MIXED, 7, f"/matches/{i}", n) for i in range(300) for n in range(3)]
    again = [decide(MIXED, 7, f"/matches/{i}", n) for i in range(300) for n in range(3)]
    assert first == again


def test_seed_changes_the_decisions() -> None:
    a = [decide(MIXED, 1, f"/matches/{i}", 0) for i in range(300)]
    b = [decide(MIXED, 2, f"/matches/{i}", 0) for i in range(300)]
    assert a != b


def test_a_retry_gets_a_fresh_draw() -> None:
    faults = Faults(server_error=0.5)
    outcomes = {decide(faults, 0, MATCH, n) for n in range(40)}
    assert outcomes == {Fault.NONE, Fault.SERVER_ERROR}


@pytest.mark.parametrize(
    ("faults", "path_template"),
    [
        (MIXED, "/matches/{i}"),
        (Faults(server_error=0.3), "/results?offset={i}"),
        (Faults(rate_limit=0.02, blocked=0.5), "/matches/{i}/halves/1"),
        (Faults(broken=0.25, drop=0.25), "/matches/{i}"),
    ],
)
def test_each_kind_fires_with_roughly_its_share(faults: Faults, path_template: str) -> None:
    paths = 10_000
    counts = Counter(decide(faults, 3, path_template.format(i=i), 0) for i in range(paths))
    is_match_page = path_template == "/matches/{i}"
    for fault, name in SHARE_OF.items():
        share: float = getattr(faults, name)
        if fault is Fault.BROKEN and not is_match_page:
            share = 0.0
        # 0.02 is five standard deviations of a 10,000-draw share near 0.25.
        assert counts[fault] / paths == pytest.approx(share, abs=0.02), fault


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_error": -0.1},
        {"rate_limit": 1.5},
        {"drop": float("nan")},
        {"server_error": 0.6, "blocked": 0.6},
        {"retry_after": -1},
        {"slow_seconds": -0.5},
        {"new_results_every": -2},
    ],
)
def test_invalid_plans_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Faults(**kwargs)


def test_shares_may_add_up_to_exactly_one() -> None:
    faults = Faults(server_error=0.1, rate_limit=0.2, slow=0.7)
    assert Fault.NONE not in {decide(faults, 0, f"/results?offset={i}", 0) for i in range(2000)}


def test_fail_paths_accepts_any_iterable_and_stores_a_frozenset() -> None:
    faults = Faults(fail_paths={"/a", "/b"})  # type: ignore[arg-type]
    assert faults.fail_paths == frozenset({"/a", "/b"})
    assert hash(faults)


def test_repr_names_only_what_differs_from_the_default() -> None:
    assert repr(Faults()) == "Faults()"
    assert (
        repr(Faults(server_error=0.5, retry_after=3)) == "Faults(server_error=0.5, retry_after=3)"
    )


@pytest.mark.parametrize("salt", ["fault", "latency"])
def test_uniform_is_a_deterministic_unit_float(salt: str) -> None:
    draws = [uniform(0, f"/p{i}", 0, salt=salt) for i in range(2000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert draws == [uniform(0, f"/p{i}", 0, salt=salt) for i in range(2000)]
    assert sum(draws) / len(draws) == pytest.approx(0.5, abs=0.03)
    assert uniform(0, "/p", 0, salt="fault") != uniform(0, "/p", 0, salt="latency")
