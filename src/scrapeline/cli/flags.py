"""The flags of the commands that run a pipeline (``run``, ``demo``, ``reparse``),
declared once, and what they become.

Each ``...Opt`` alias carries a flag's name, its bounds and its help, so ``run``,
``demo`` and ``reparse`` cannot drift apart. A setting's flag defaults to None, "not
given": the configuration (:mod:`scrapeline.ops.config`) then says, and else the
runner's default (:class:`~scrapeline.runner.run.RunOptions`, ``DEFAULTS``). A
command collects the values it got into :class:`RunFlags`, which resolves them with
the configuration file, the profile and the environment (:meth:`RunFlags.configure`)
and turns the outcome into the runner's ``RunOptions``:

    >>> from scrapeline.pipeline import Pipeline
    >>> flags = RunFlags(workers=None, max_consecutive_failures=0, item_timeout=0.0)
    >>> options = flags.run_options(Pipeline("p"))
    >>> options.workers, options.max_consecutive_failures, options.item_timeout
    (4, 0, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scrapeline.cli.app import parse_secrets, parse_sets
from scrapeline.errors import ConfigError
from scrapeline.ops.config import PRECEDENCE, Effective, EffectiveRun, Flags, load_settings
from scrapeline.pipeline import Pipeline
from scrapeline.runner.options import RunOptions

if TYPE_CHECKING:  # the workspace pulls in the HTTP client: imported when a run starts
    from scrapeline.workspace.run import FetchOptions

DEFAULTS = RunOptions()
"""Where the run options' defaults come from (the CLI's are the runner's)."""
DEFAULT_WORKERS = DEFAULTS.workers
"""Items in flight when neither ``--workers`` nor the pipeline's ``workers=`` says."""

# -- what a run does ------------------------------------------------------------------

WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=1024,
        help=f"Items in flight [default: the pipeline's workers=, else {DEFAULT_WORKERS}].",
    ),
]
StartOpt = Annotated[
    int | None, typer.Option("--start-offset", min=0, help="First listing offset to walk.")
]
EndOpt = Annotated[
    int | None,
    typer.Option("--end-offset", min=0, help="Last listing offset to walk (that page included)."),
]
FullOpt = Annotated[
    bool, typer.Option("--full", help="Walk the whole range; no early stop at a known page.")
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force-rescrape", help="Run every stage again for the items in the range."),
]
OnlyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        metavar="KIND:KEY",
        help="Only this item's work and its descendants' (repeatable): e.g. --only season:2019 "
        "runs that season's listing, events and their stages; no top-level listing is walked.",
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        metavar="N",
        min=1,
        max=10_000,
        help="Work only the first N new items of each top-level kind, and their "
        "descendants (a smoke test); the next run goes on with the following ones.",
    ),
]
BreakerOpt = Annotated[
    int | None,
    typer.Option(
        "--max-consecutive-failures",
        min=0,
        help="Halt after N item failures in a row (0: never) "
        f"[default: {DEFAULTS.max_consecutive_failures}].",
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--item-timeout",
        min=0.0,
        help="Seconds of its own work before a hung item fails (0: never); time spent "
        "waiting for the host (politeness, 429 pauses, retry backoff) does not count "
        f"[default: {DEFAULTS.item_timeout:g}].",
    ),
]
GraceOpt = Annotated[
    float | None,
    typer.Option(
        "--grace",
        min=0.0,
        help=f"Seconds in-flight items get to finish on Ctrl+C [default: {DEFAULTS.grace:g}].",
    ),
]
OnlyStageOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--only-stage", metavar="NAME", help="Run only this stage (repeatable); no other."
    ),
]
SkipStageOpt = Annotated[
    list[str] | None,
    typer.Option("--skip-stage", metavar="NAME", help="Do not run this stage (repeatable)."),
]
MaxDurationOpt = Annotated[
    str | None,
    typer.Option(
        "--max-duration",
        metavar="DURATION",
        help="Stop the run after this long, as Ctrl+C does (exit 130, reason "
        '"time limit"): e.g. 2h, 90m, 3600s.',
    ),
]
FailurePolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--failure-policy",
        metavar="POLICY",
        help="When an item fails: continue, fail-fast (stop the run) or retry-at-end "
        "(one more pass at the end) [default: the pipeline's failure_policy=, else continue].",
    ),
]
PublishOpt = Annotated[
    bool,
    typer.Option(
        "--publish",
        help="After a run that ends done, publish a snapshot of the tables "
        "(scrapeline publish); a publish that fails makes the run exit 1.",
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", help="Print only the summary and errors (for cron).")
]

# -- what the stages get, and how they fetch ------------------------------------------
RateOpt = Annotated[
    str | None,
    typer.Option(
        "--rate",
        help="At most this many requests per second to each host, e.g. 5/s, 30/m "
        "[default: the pipeline's rate=].",
    ),
]
ArchiveOpt = Annotated[
    bool | None,
    typer.Option(
        "--archive/--no-archive",
        help="Keep every response body in DATA_DIR/archive (what `scrapeline reparse` uses) "
        "[default: archive].",
    ),
]

# The defaults of the aliases above, for the commands' signatures: not given, so that
# the configuration, and else the runner's defaults (DEFAULTS), apply.
MAX_CONSECUTIVE_FAILURES: int | None = None
ITEM_TIMEOUT: float | None = None
GRACE: float | None = None

RUN_EPILOG = (
    "Settings come from, lowest precedence first: "
    + PRECEDENCE
    + ". The file is scrapeline.toml (or [tool.scrapeline] in pyproject.toml) beside the "
    "pipeline, or in the current directory for a module:name pipeline; `scrapeline config "
    "show PIPELINE` prints each setting's value and where it came from."
)
"""What ``--help`` of a command that runs a pipeline says under its options."""


@dataclass(frozen=True, kw_only=True)
class RunFlags:
    """The run options a command was given, as the user typed them: None (or empty)
    for a flag not given.

    Options a command does not take keep their defaults: ``reparse`` walks no range,
    so its flags have no offsets and no ``--full``."""

    workers: int | None = None
    start_offset: int | None = None
    end_offset: int | None = None
    full: bool = False
    force_rescrape: bool = False
    max_consecutive_failures: int | None = None
    item_timeout: float | None = None
    """Seconds; 0 for no limit."""
    grace: float | None = None
    set_: list[str] | None = None
    secret: list[str] | None = None
    only: list[str] | None = None
    """``--only KIND:KEY`` as typed; the keys' types are the ledger's to tell."""
    profile: str | None = None
    data_dir: Path | None = None
    base_url: str | None = None
    rate: str | None = None
    archive: bool | None = None
    quiet: bool = False
    failure_policy: str | None = None
    max_duration: str | None = None
    only_stage: list[str] | None = None
    skip_stage: list[str] | None = None
    limit: int | None = None

    def flags(self) -> Flags:
        """The settings these flags give, for :func:`~scrapeline.ops.config.load_settings`.

        Raises ConfigError for a malformed ``--set`` or ``--secret``, or a key given
        by both."""
        given: dict[str, Any] = {
            "data_dir": str(self.data_dir) if self.data_dir is not None else None,
            "workers": self.workers,
            "base_url": self.base_url,
            "rate": self.rate,
            "archive": self.archive,
            "item_timeout": self.item_timeout,
            "grace": self.grace,
            "max_consecutive_failures": self.max_consecutive_failures,
            "failure_policy": self.failure_policy,
            "max_duration": self.max_duration,
            "output.quiet": True if self.quiet else None,
        }
        sets, secrets = parse_sets(self.set_), parse_secrets(self.secret)
        both = sorted(set(sets) & set(secrets))
        if both:
            raise ConfigError(f"{both[0]} is given by both --set and --secret")
        return Flags(
            settings={name: value for name, value in given.items() if value is not None},
            sets=sets,
            secrets=secrets,
        )

    def configure(
        self,
        target: str | None,
        pipe: Pipeline,
        *,
        env: Mapping[str, str],
        data_dir: Path | None = None,
    ) -> Effective:
        """The settings of a run of ``pipe`` (named ``target``, where its configuration
        file is looked for; None: no file): these flags over the environment ``env``
        over the file's profile and top level over the pipeline's declaration;
        ``data_dir`` replaces the built-in default data dir. Raises ConfigError, in
        one line, for anything that cannot work."""
        return load_settings(
            target, pipe, profile=self.profile, env=env, cli=self.flags(), data_dir=data_dir
        )

    def run_options(self, pipe: Pipeline, run: EffectiveRun | None = None) -> RunOptions:
        """The runner's options for ``pipe`` with the settings of ``run`` (None: these
        flags alone over the pipeline's declaration, no file, no environment):
        workers, timeouts, the breaker, failure policies and the time limit,
        ``ctx.config``, and this command's range, ``--only``, ``--only-stage`` and
        ``--skip-stage``.

        Raises ConfigError for an end offset before the start, a stage the pipeline
        does not have, a malformed ``--set`` or ``--secret``, or a key given by both."""
        if run is None:
            run = self.configure(None, pipe, env={}).run()
        start, end = self.start_offset, self.end_offset
        if start is not None and end is not None and end < start:
            raise ConfigError(f"--end-offset {end} is before --start-offset {start}")
        only_stages = stage_names("--only-stage", self.only_stage, pipe)
        skip_stages = stage_names("--skip-stage", self.skip_stage, pipe)
        return RunOptions(
            workers=run.workers,
            start=start,
            end=end,
            full=self.full,
            force_rescrape=self.force_rescrape,
            max_consecutive_failures=run.max_consecutive_failures,
            item_timeout=run.item_timeout,
            grace=run.grace,
            config=run.config,
            only=tuple(only_item(text, pipe) for text in self.only or ()),
            stages=only_stages or None,
            skip_stages=skip_stages,
            failure_policy=run.failure_policy,
            stage_policies=run.stage_policies,
            max_duration=run.max_duration,
            limit=self.limit,
        )


def stage_names(flag: str, names: list[str] | None, pipe: Pipeline) -> tuple[str, ...]:
    """``--only-stage`` or ``--skip-stage`` names, checked: ConfigError for a stage
    the pipeline does not have.

    >>> from scrapeline.pipeline import Pipeline
    >>> stage_names("--skip-stage", ["lineups"], Pipeline("p"))
    Traceback (most recent call last):
    ...
    scrapeline.errors.ConfigError: --skip-stage lineups: the pipeline has no stage 'lineups' ...
    """
    for name in names or ():
        if name not in pipe.stages:
            known = ", ".join(pipe.stages) or "none"
            raise ConfigError(f"{flag} {name}: the pipeline has no stage {name!r} (it has {known})")
    return tuple(dict.fromkeys(names or ()))


def only_item(text: str, pipe: Pipeline) -> tuple[str, str]:
    """``--only KIND:KEY`` as (kind, key text). Raises ConfigError for no colon, an
    empty key, or a kind the pipeline does not have.

    >>> from scrapeline.pipeline import Pipeline
    >>> only_item("season:2019/20", Pipeline("p"))
    Traceback (most recent call last):
    ...
    scrapeline.errors.ConfigError: --only season:2019/20: the pipeline has no kind 'season' ...
    """
    kind, colon, key = text.partition(":")
    if not colon or not kind or not key:
        raise ConfigError(f"--only {text}: expected KIND:KEY, e.g. season:2019")
    if kind not in pipe.kinds and not any(d.on == kind for d in pipe.discoveries):
        known = ", ".join(pipe.kinds) or "none"
        raise ConfigError(f"--only {text}: the pipeline has no kind {kind!r} (it has {known})")
    return kind, key


def fetch_options(run: EffectiveRun, *, base_url: str | None = None) -> FetchOptions:
    """How the run fetches: the settings of ``run`` over the pipeline's (its base URL,
    rate, delay and concurrency where set above the pipeline; the archive on or off),
    and ``base_url`` over all (the demo's own site)."""
    from scrapeline.workspace.run import FetchOptions

    return FetchOptions(
        base_url=base_url or run.base_url,
        archive=run.archive,
        rate=run.rate,
        delay=run.delay,
        concurrency=run.concurrency,
    )
