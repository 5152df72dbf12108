"""Failure policies, as pure decisions: which policy each stage gets for a run, what a
failed item then does, and the names a declaration or a run's options may use."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from scrapeline import Pipeline
from scrapeline.errors import ConfigError
from scrapeline.ledger.base import Task
from scrapeline.model import FailurePolicy
from scrapeline.runner.execute import Executed
from scrapeline.runner.failure_policies import FailurePolicies, Verdict, failure_policies
from scrapeline.runner.run import RunOptions

C, F, R = FailurePolicy.CONTINUE, FailurePolicy.FAIL_FAST, FailurePolicy.RETRY_AT_END
VALID = "use continue, fail-fast, retry-at-end"


@pytest.mark.parametrize(
    ("pipeline", "declared", "run", "run_stages", "chosen"),
    [
        pytest.param(C, {}, None, {}, "C", id="default-continue"),
        pytest.param(F, {}, None, {}, "F", id="the-pipelines"),
        pytest.param(C, {"s": R}, None, {}, "R", id="the-stage-over-the-pipeline"),
        pytest.param(C, {"s": None}, None, {}, "C", id="a-stage-without-one-takes-the-pipelines"),
        pytest.param(F, {"s": R}, "continue", {}, "C", id="the-run-over-the-declarations"),
        pytest.param(C, {"s": R}, "fail-fast", {"s": "continue"}, "C", id="per-stage-wins"),
        pytest.param(C, {}, None, {"t": "fail-fast"}, "C", id="another-stages-setting"),
    ],
)
def test_each_stage_gets_the_most_specific_setting(
    pipeline: FailurePolicy,
    declared: Mapping[str, FailurePolicy | None],
    run: str | None,
    run_stages: Mapping[str, str],
    chosen: str,
) -> None:
    policies = failure_policies(
        ("s", "t"), pipeline=pipeline, declared=declared, run=run, run_stages=run_stages
    )
    assert policies["s"] is {"C": C, "F": F, "R": R}[chosen]


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        pytest.param(
            lambda: Pipeline("p", failure_policy="stop"),
            f"failure_policy='stop' is not a failure policy: {VALID}",
            id="pipeline",
        ),
        pytest.param(
            lambda: Pipeline("p").stage("overview", on="match", failure_policy="fail_fast"),
            f"stage 'overview': failure_policy='fail_fast' is not a failure policy: {VALID}",
            id="stage",
        ),
        pytest.param(
            lambda: RunOptions(failure_policy="retry"),
            f"failure_policy='retry' is not a failure policy: {VALID}",
            id="run",
        ),
        pytest.param(
            lambda: RunOptions(stage_policies={"overview": "halt"}),
            f"stage_policies['overview']='halt' is not a failure policy: {VALID}",
            id="run-per-stage",
        ),
        pytest.param(
            lambda: failure_policies(
                ("overview",), pipeline=C, declared={}, run_stages={"stats": "fail-fast"}
            ),
            "stage_policies: unknown stage 'stats': the pipeline has overview",
            id="run-per-unknown-stage",
        ),
    ],
)
def test_a_bad_policy_is_refused_in_one_line_naming_the_valid_ones(
    declare: object, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        declare()  # type: ignore[operator]
    assert str(refused.value) == message


def test_a_declared_policy_is_kept_with_the_pipeline_and_its_stage() -> None:
    pipe = Pipeline("p", failure_policy="fail-fast")

    @pipe.stage("overview", on="match", failure_policy="retry-at-end")
    async def overview(ctx: object, item: object) -> None: ...

    assert pipe.failure_policy is F
    assert pipe.stages["overview"].failure_policy is R


def task(i: int, stage: str) -> Task:
    return Task(id=i, stage=stage, kind="match", key=i, data={}, date=None, parent=None, attempts=1)


FAILED = Executed(ok=False, started=0.0, duration=0.0, category="http_5xx", message="HTTP 500")


@pytest.mark.parametrize(
    ("stage", "retrying", "verdict"),
    [
        ("plain", False, Verdict.RECORD),
        ("fast", False, Verdict.HALT),
        ("retry", False, Verdict.HOLD),
        ("retry", True, Verdict.RECORD),  # the retry pass is the one more pass
        ("fast", True, Verdict.HALT),
    ],
)
def test_what_a_failed_item_does(stage: str, retrying: bool, verdict: Verdict) -> None:
    policies = FailurePolicies({"plain": C, "fast": F, "retry": R})
    if retrying:
        policies.start_retry()
    assert policies.failed(task(9, stage), FAILED) is verdict


def test_the_first_fail_fast_failure_gives_the_reason() -> None:
    policies = FailurePolicies({"overview": F})
    policies.failed(task(17, "overview"), FAILED)
    policies.failed(task(18, "overview"), FAILED)
    assert policies.reason == "fail-fast: overview failed on match 17: HTTP 500"


def test_the_retry_pass_counts_what_recovered() -> None:
    policies = FailurePolicies({"overview": R})
    for i in (1, 2, 3):
        policies.failed(task(i, "overview"), FAILED)
    assert [t.id for t in policies.start_retry()] == [1, 2, 3]
    assert policies.waiting == 0
    assert policies.settled(task(1, "overview"), ok=True)
    assert policies.settled(task(2, "overview"), ok=False)
    assert not policies.settled(task(7, "overview"), ok=True)  # work the pass made
    assert (policies.retried, policies.recovered) == (3, 1)


def test_a_kept_failure_claimed_again_is_no_longer_kept() -> None:
    # its lease ran out during a long run: the ledger gave it to the run again
    policies = FailurePolicies({"overview": R})
    policies.failed(task(1, "overview"), FAILED)
    policies.failed(task(2, "overview"), FAILED)
    policies.claimed_again([task(1, "overview")])
    assert [t.id for t in policies.kept_tasks()] == [2]


def test_a_run_that_stops_first_gives_its_kept_failures_up_to_be_recorded() -> None:
    policies = FailurePolicies({"overview": R})
    policies.failed(task(1, "overview"), FAILED)
    assert [(t.id, f.message) for t, f in policies.give_up()] == [(1, "HTTP 500")]
    assert policies.waiting == 0
