"""What one run is asked to do: :class:`RunOptions`, and the checks of them against a
pipeline that a caller runs before it opens anything (:func:`check_options`).

The options a pipeline cannot take (a stage it does not have) are refused with the
pipeline's stages named; those no pipeline can take (a failure policy that is not
one, a time limit of no time) are refused when the options are made::

    >>> RunOptions(failure_policy="fail-fast", skip_stages="half_stats").skip_stages
    ('half_stats',)
    >>> RunOptions(max_duration=0)
    Traceback (most recent call last):
    ...
    scrapeline.errors.ConfigError: max_duration must be a number of seconds > 0: 0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapeline.errors import ConfigError
from scrapeline.model import FailurePolicy, Key
from scrapeline.pipeline import Pipeline
from scrapeline.runner.failure_policies import FailurePolicies, failure_policies
from scrapeline.runner.selection import selected_stages

__all__ = ["RunOptions", "check_options", "claimable_stages", "run_policies"]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How one run goes: workers, what it walks and runs, its limits and policies.
    Raises ConfigError when made with a value no run can take."""

    workers: int = 4
    start: int | None = None
    end: int | None = None
    full: bool = False
    force_rescrape: bool = False
    max_consecutive_failures: int = 3
    item_timeout: float | None = 300.0
    grace: float = 30.0
    """Seconds in-flight items get to finish after the first Ctrl+C or a halt."""
    lease: float = 900.0
    commit_every: int = 512
    """Commit at once when this many finished items are waiting."""
    commit_interval: float = 0.1
    """Seconds a finished item waits, at most, for its commit to begin."""
    config: Mapping[str, Any] = field(default_factory=dict)
    discover: bool = True
    """Walk the listings first. Off to only work through what the ledger holds."""
    stages: tuple[str, ...] | None = None
    """Only run these stages (None: all)."""
    only: tuple[tuple[str, Key], ...] = ()
    """Only the work of these items and their descendants (``--only KIND:KEY``): their
    stages and listings; the top-level listings are not walked."""
    skip_stages: tuple[str, ...] = ()
    """Leave these stages' tasks as they are (``--skip-stage``): pending stays pending,
    and the stages after them wait for them."""
    failure_policy: str | None = None
    """"continue", "fail-fast" or "retry-at-end" for every stage of this run (None:
    each stage's own, else the pipeline's)."""
    stage_policies: Mapping[str, str] = field(default_factory=dict)
    """A failure policy per stage name, over every other setting."""
    max_duration: float | None = None
    """Seconds the whole run may take: then it stops as a first Ctrl+C does (in-flight
    items finish, leases go back), interrupted, with the reason "time limit"."""
    retry_pause: float = 5.0
    """Seconds between the end of the run's work and its retry-at-end pass."""
    limit: int | None = None
    """Work only the first this many new items of each top-level kind (``--limit``):
    the top-level walks stop once they have found them, and only they (with their
    descendants) are claimed. The next run goes on from there."""

    def __post_init__(self) -> None:
        if isinstance(self.skip_stages, str):  # one name, not its letters
            object.__setattr__(self, "skip_stages", (self.skip_stages,))
        if self.failure_policy is not None:
            FailurePolicy.named(self.failure_policy)
        for stage, policy in self.stage_policies.items():
            FailurePolicy.named(policy, f"stage_policies[{stage!r}]")
        limit, pause = self.max_duration, self.retry_pause
        if limit is not None and not limit > 0:
            raise ConfigError(f"max_duration must be a number of seconds > 0: {limit!r}")
        if not pause >= 0:
            raise ConfigError(f"retry_pause must be a number of seconds >= 0: {pause!r}")
        if self.limit is not None:
            if self.limit < 1:
                raise ConfigError(f"limit must be a number of items >= 1: {self.limit!r}")
            if self.only:
                raise ConfigError(
                    "--limit limits the top-level listings' walk, which --only does not walk"
                )

    def public(self) -> dict[str, Any]:
        """What is stored with the run (config values are the user's; kept out)."""
        return {
            "workers": self.workers,
            "start": self.start,
            "end": self.end,
            "full": self.full,
            "force_rescrape": self.force_rescrape,
            "max_consecutive_failures": self.max_consecutive_failures,
            "item_timeout": self.item_timeout,
            **({"only": [list(ref) for ref in self.only]} if self.only else {}),
            **({"stages": list(self.stages)} if self.stages is not None else {}),
            **({"skip_stages": list(self.skip_stages)} if self.skip_stages else {}),
            **({"failure_policy": self.failure_policy} if self.failure_policy else {}),
            **({"stage_policies": dict(self.stage_policies)} if self.stage_policies else {}),
            **({"max_duration": self.max_duration} if self.max_duration is not None else {}),
            **({"limit": self.limit} if self.limit is not None else {}),
        }


def check_options(pipeline: Pipeline, options: RunOptions) -> None:
    """Raise ConfigError for an option ``pipeline`` cannot take: a stage it does not
    have in ``stages``, ``skip_stages`` or ``stage_policies`` (the error lists its
    stages). Pure: what a caller runs before it opens anything."""
    claimable_stages(pipeline, options)
    run_policies(pipeline, options)


def _task_names(pipeline: Pipeline) -> tuple[str, ...]:
    """Every name a task can have: the stages, then the listings per parent item."""
    return (*pipeline.stages, *pipeline.listings)


def claimable_stages(pipeline: Pipeline, options: RunOptions) -> tuple[str, ...] | None:
    """The stages (and listings) the run claims work of; None: every one."""
    return selected_stages(
        _task_names(pipeline),
        only=options.stages,
        skip=options.skip_stages,
        pipeline=pipeline.name,
    )


def run_policies(pipeline: Pipeline, options: RunOptions) -> FailurePolicies:
    """Each stage's (and listing's) failure policy for the run."""
    chosen = failure_policies(
        _task_names(pipeline),
        pipeline=pipeline.failure_policy,
        declared={name: stage.failure_policy for name, stage in pipeline.stages.items()},
        run=options.failure_policy,
        run_stages=options.stage_policies,
    )
    return FailurePolicies(chosen)
