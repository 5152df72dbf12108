"""``scrapeline run PIPELINE``: discover new items, then run every stage not done.

The run's settings are resolved before anything is written: the flags over the
environment over the configuration file's profile and top level over the
pipeline's declaration (:mod:`scrapeline.ops.config`; ``--help`` says so too).

Exit codes follow the run's status (cli/exits.py): 0 done · 1 failed items · 3 halted
· 130 interrupted; 2 for a usage or config error before the run starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import typer

from scrapeline.cli.app import add_secrets, app, errors, hide, load
from scrapeline.cli.exits import exit_code
from scrapeline.cli.flags import (
    GRACE,
    ITEM_TIMEOUT,
    MAX_CONSECUTIVE_FAILURES,
    RUN_EPILOG,
    ArchiveOpt,
    BreakerOpt,
    EndOpt,
    FailurePolicyOpt,
    ForceOpt,
    FullOpt,
    GraceOpt,
    LimitOpt,
    MaxDurationOpt,
    OnlyOpt,
    OnlyStageOpt,
    PublishOpt,
    QuietOpt,
    RateOpt,
    RunFlags,
    SkipStageOpt,
    StartOpt,
    TimeoutOpt,
    WorkersOpt,
    fetch_options,
)
from scrapeline.cli.options import (
    BaseUrlOpt,
    DataDirOpt,
    PipelineArg,
    ProfileOpt,
    SecretOpt,
    SetOpt,
)
from scrapeline.ops.config import EffectiveRun
from scrapeline.pipeline import Pipeline
from scrapeline.runner import loop as event_loop
from scrapeline.runner.run import Outcome, RunOptions
from scrapeline.secrets import collect_secrets


@app.command(epilog=RUN_EPILOG)
def run(
    pipeline: PipelineArg,
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = None,
    start_offset: StartOpt = None,
    end_offset: EndOpt = None,
    full: FullOpt = False,
    force_rescrape: ForceOpt = False,
    only: OnlyOpt = None,
    only_stage: OnlyStageOpt = None,
    skip_stage: SkipStageOpt = None,
    limit: LimitOpt = None,
    max_consecutive_failures: BreakerOpt = MAX_CONSECUTIVE_FAILURES,
    failure_policy: FailurePolicyOpt = None,
    item_timeout: TimeoutOpt = ITEM_TIMEOUT,
    max_duration: MaxDurationOpt = None,
    grace: GraceOpt = GRACE,
    base_url: BaseUrlOpt = None,
    rate: RateOpt = None,
    set_: SetOpt = None,
    secret: SecretOpt = None,
    archive: ArchiveOpt = None,
    quiet: QuietOpt = False,
    publish: PublishOpt = False,
) -> None:
    """Run a pipeline: discover new items, then run every stage that is not done."""
    flags = RunFlags(
        profile=profile,
        data_dir=data_dir,
        workers=workers,
        start_offset=start_offset,
        end_offset=end_offset,
        full=full,
        force_rescrape=force_rescrape,
        only=only,
        only_stage=only_stage,
        skip_stage=skip_stage,
        limit=limit,
        max_consecutive_failures=max_consecutive_failures,
        failure_policy=failure_policy,
        item_timeout=item_timeout,
        max_duration=max_duration,
        grace=grace,
        base_url=base_url,
        rate=rate,
        set_=set_,
        secret=secret,
        archive=archive,
        quiet=quiet,
    )
    with errors():
        pipe = load(pipeline, secrets=secret, base_url=base_url)
        settings = configured(flags, pipeline, pipe)
        options = flags.run_options(pipe, settings)
    after = publish_after(pipe, settings.data_dir) if publish else None
    run_and_exit("run", pipe, settings, options, target=pipeline, after=after)


def publish_after(pipe: Pipeline, data_dir: Path) -> Callable[[Outcome], None]:
    """What ``run --publish`` does once the run ended: publish a snapshot when it
    ended done; a publish that fails ends the command with exit 1 and its reason."""

    def after(outcome: Outcome) -> None:
        from scrapeline.cli.app import fail
        from scrapeline.cli.publish import report_lines
        from scrapeline.errors import ScrapelineError
        from scrapeline.ledger.base import RunStatus
        from scrapeline.workspace.invocation import Invocation
        from scrapeline.workspace.publish import publish

        if outcome.status is not RunStatus.DONE:
            return
        try:
            report = publish(pipe, data_dir, invocation=Invocation.current("publish"))
        except ScrapelineError as exc:
            fail(f"publish: {exc}", 1)
        for line in report_lines(report):
            sys.stdout.write(line + "\n")

    return after


def configured(
    flags: RunFlags, target: str | None, pipe: Pipeline, *, data_dir: Path | None = None
) -> EffectiveRun:
    """The run settings of ``pipe`` (see :meth:`RunFlags.configure`), with the
    configuration's secrets made the pipeline's and hidden from the command's output.
    Raises ConfigError for anything that cannot work."""
    settings = flags.configure(target, pipe, env=os.environ, data_dir=data_dir).run()
    add_secrets(pipe, settings.secrets)
    if settings.base_url:  # from the file or the environment: its credentials too
        hide(collect_secrets(urls=[settings.base_url]))
    return settings


def run_and_exit(
    command: str,
    pipe: Pipeline,
    settings: EffectiveRun,
    options: RunOptions,
    *,
    base_url: str | None = None,
    target: str | None = None,
    after: Callable[[Outcome], None] | None = None,
) -> NoReturn:
    """Run ``pipe`` on the data dir of ``settings`` with its fetch settings (``base_url``
    over its own: the demo's site) and the console reporting, call ``after`` with the
    outcome, and exit with the code of the run's status. The run's record keeps
    ``command``, its arguments and the profile. The configured notifiers are told how
    it ended (and of a host held back too long), as are the pipeline's ``on_run_end``
    hooks; ``target`` is the pipeline as typed, for the command an alert suggests."""
    from scrapeline.observe.console import ConsoleReporter
    from scrapeline.ops.alerts import run_and_alert
    from scrapeline.workspace.invocation import Invocation

    invocation = replace(Invocation.current(command), profile=settings.profile)

    reporter = ConsoleReporter(quiet=settings.quiet, items=settings.items)
    try:
        with errors():
            outcome, _ = event_loop.run(
                run_and_alert(
                    pipe,
                    settings.data_dir,
                    options,
                    settings.notifiers,
                    profile=settings.profile,
                    target=target,
                    fetch_options=fetch_options(settings, base_url=base_url),
                    subscribers=[reporter],
                    invocation=invocation,
                )
            )
    finally:
        reporter.close()
    if after is not None:
        after(outcome)
    raise typer.Exit(exit_code(outcome.status))
