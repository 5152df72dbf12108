"""The runner's pure decisions: when a streak of failures halts a run, and why."""

from __future__ import annotations

import doctest

import pytest

import scrapeline.runner.policies as policies
from scrapeline.runner.policies import FailureStreaks, claim_size

BAN = "likely banned or site down"
LAYOUT = "the site's layout may have changed: 3 responses in a row broke the contract of"

# (stage, category or None for a success, message)
Outcome = tuple[str, str | None, str]


def ok(stage: str = "overview") -> Outcome:
    return (stage, None, "")


def failed(category: str, stage: str = "overview", message: str = "boom") -> Outcome:
    return (stage, category, message)


@pytest.mark.parametrize(
    ("outcomes", "reason"),
    [
        pytest.param([failed("network")] * 3, f"3 consecutive failures: {BAN}", id="network"),
        pytest.param(
            [failed("timeout"), failed("http_5xx"), failed("rate_limited")],
            f"3 consecutive failures: {BAN}",
            id="outage-categories-share-one-streak",
        ),
        pytest.param(
            [failed("blocked", stage="a"), failed("network", stage="b"), failed("timeout")],
            f"3 consecutive failures: {BAN}",
            id="outage-across-stages",
        ),
        pytest.param([failed("contract")] * 3, f"{LAYOUT} stage overview", id="contract"),
        pytest.param(
            [failed("contract"), failed("contract", stage="stats"), failed("contract")],
            f"{LAYOUT} stages overview, stats",
            id="contract-names-every-stage-in-the-streak",
        ),
        pytest.param(
            [failed("parse", message="no h1"), failed("validation"), failed("error")],
            "stage overview failed 3 items in a row: a bug in the stage? first error: no h1",
            id="code-names-the-stage-and-first-error",
        ),
        pytest.param(
            [ok("b"), failed("error", stage="a", message="TypeError: x")] * 3,
            "stage a failed 3 items in a row: a bug in the stage? first error: TypeError: x",
            id="other-stages-succeeding-do-not-hide-a-bug",
        ),
        pytest.param([failed("parse")] * 2 + [ok()] + [failed("parse")] * 2, None, id="reset"),
        pytest.param(
            [failed("network"), failed("network"), ok("other"), failed("network")],
            None,
            id="any-success-ends-an-outage-streak",
        ),
        pytest.param(
            [failed("contract"), failed("contract"), ok("other")] + [failed("contract")] * 2,
            None,
            id="any-success-ends-a-layout-streak",
        ),
        pytest.param(
            [failed("contract"), ok()] + [failed("contract", stage="stats")] * 3,
            f"{LAYOUT} stage stats",
            id="a-layout-streak-starts-again-after-a-success",
        ),
        pytest.param(
            [failed("network"), ok()] + [failed("timeout")] * 3,
            f"3 consecutive failures: {BAN}",
            id="an-outage-streak-starts-again-after-a-success",
        ),
        pytest.param(
            [failed("parse", stage="a"), failed("parse", stage="b"), failed("parse", stage="c")],
            None,
            id="code-streaks-are-per-stage",
        ),
        pytest.param(
            [failed("network"), failed("parse"), failed("contract")] * 2,
            None,
            id="mixed-families-count-apart",
        ),
        pytest.param(
            [failed("network"), failed("parse"), failed("network"), failed("network")],
            f"3 consecutive failures: {BAN}",
            id="another-family-neither-breaks-nor-lengthens",
        ),
        pytest.param(
            [failed(c) for c in ("http_4xx", "robots", "forbidden_host", "archive_miss")] * 3,
            None,
            id="one-item-categories-do-not-count",
        ),
        pytest.param(
            [failed("network"), failed("network"), failed("http_4xx"), failed("network")],
            f"3 consecutive failures: {BAN}",
            id="one-item-categories-do-not-reset",
        ),
    ],
)
def test_a_streak_halts_with_its_family_s_reason(
    outcomes: list[Outcome], reason: str | None
) -> None:
    policy = FailureStreaks(limit=3)
    said = [policy.record(stage=s, category=c, message=m) for s, c, m in outcomes]
    assert said[:-1] == [None] * (len(said) - 1)  # nothing halts before the last outcome
    assert said[-1] == reason


def test_a_run_that_keeps_hitting_layout_changes_never_reads_as_an_outage() -> None:
    policy = FailureStreaks(limit=3)
    said = [
        policy.record(stage=stage, category="contract", message="no h1")
        for stage in ("overview", "stats") * 20
    ]
    reasons = [r for r in said if r is not None]
    assert reasons and all(r.startswith("the site's layout may have changed: ") for r in reasons)
    assert not any(BAN in r for r in reasons)


def test_limit_zero_never_halts() -> None:
    policy = FailureStreaks(limit=0)
    for category in ("network", "contract", "parse") * 50:
        assert policy.record(stage="overview", category=category, message="x") is None


def test_the_streak_goes_on_counting_past_the_limit() -> None:
    policy = FailureStreaks(limit=2)
    reasons = [policy.record(stage="s", category="network") for _ in range(3)]
    assert reasons[1:] == [
        f"2 consecutive failures: {BAN}",
        f"3 consecutive failures: {BAN}",
    ]


def test_a_failure_without_a_message_names_no_first_error() -> None:
    policy = FailureStreaks(limit=2)
    assert policy.record(stage="s", category="parse") is None
    assert policy.record(stage="s", category="parse") == (
        "stage s failed 2 items in a row: a bug in the stage? first error: "
    )


@pytest.mark.parametrize(
    ("workers", "size"),
    [(1, 128), (2, 128), (3, 192), (4, 256), (15, 960), (16, 1024), (17, 1024), (64, 1024)],
)
def test_claim_size(workers: int, size: int) -> None:
    assert claim_size(workers) == size


def test_the_module_s_examples_run() -> None:
    result = doctest.testmod(policies)
    assert result.attempted > 0 and result.failed == 0
