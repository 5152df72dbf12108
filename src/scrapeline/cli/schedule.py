"""``scrapeline schedule PIPELINE --cron EXPR``: run a pipeline on a schedule.

In the foreground by default (each trigger runs ``python -m scrapeline run PIPELINE``
as a child process, with the options after ``--``); ``--print crontab`` or
``--print systemd`` prints the entries that have the OS's scheduler do it instead::

    scrapeline schedule pipelines/football.py --cron "0 6 * * *" -- --workers 8
    scrapeline schedule pipelines/football.py --cron "0 6 * * *" --print systemd

Exit codes: 0 once stopped (Ctrl+C, SIGTERM) or printed · 2 for a bad cron
expression, a pipeline that does not load, or a form the OS scheduler has not.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scrapeline.cli.app import app, errors, load
from scrapeline.cli.options import DataDirOpt, PipelineArg
from scrapeline.errors import ConfigError

if TYPE_CHECKING:  # croniter is imported when the command runs
    from scrapeline.ops.schedule import Cron
    from scrapeline.pipeline import Pipeline

CronOpt = Annotated[
    str,
    typer.Option(
        "--cron",
        help='When to run, as cron has it: "0 6 * * *" (06:00 every day); a sixth field '
        "counts seconds; @daily, @hourly.",
    ),
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="The profile each run uses (passed to run).")
]
PrintOpt = Annotated[
    str | None,
    typer.Option(
        "--print",
        help="Print the entries for the OS's scheduler instead: crontab, or systemd "
        "(a service and a timer).",
    ),
]


@app.command(context_settings={"allow_extra_args": True})
def schedule(
    ctx: typer.Context,
    pipeline: PipelineArg,
    cron: CronOpt,
    data_dir: DataDirOpt = None,
    profile: ProfileOpt = None,
    print_: PrintOpt = None,
) -> None:
    """Run a pipeline on a schedule, in the foreground, never two runs at once; the
    options after -- go to each run."""
    from scrapeline.ops.schedule import Cron, Scheduler, say_to_stderr

    with errors():
        when = Cron.parse(cron)
        if print_ not in (None, "crontab", "systemd"):
            raise ConfigError(f"--print takes crontab or systemd, not {print_!r}")
        pipe = load(pipeline)
        run_args = list(ctx.args)
        given = _option(run_args, "--data-dir")
        # the data dir each run will use: the configuration's (the profile's) unless
        # given here, so the schedule's state and the printed entries point at it
        where = Path(given) if given else (data_dir or _configured_dir(pipeline, pipe, profile))
        if print_ is not None:
            _print(print_, when, pipe.name, pipeline, where, run_args, given, profile)
            return
        if given is None:
            run_args = ["--data-dir", str(where), *run_args]
        if profile is not None and _option(run_args, "--profile") is None:
            run_args = ["--profile", profile, *run_args]
        command = [sys.executable, "-m", "scrapeline", "run", pipeline, *run_args]
        scheduler = Scheduler(when, command, where / "state" / "schedule.json", say=say_to_stderr)
    raise typer.Exit(scheduler.run())


def _print(
    form: str,
    when: Cron,
    name: str,
    target: str,
    where: Path,
    run_args: list[str],
    given: str | None,
    profile: str | None,
) -> None:
    """The crontab line or the systemd units, with absolute paths: the OS's scheduler
    does not start in this directory."""
    from scrapeline.ops.schedule import crontab_line, systemd_units

    file = Path(target)
    absolute = str(file.resolve()) if file.exists() else target
    args = list(run_args)
    if given is None:
        args = ["--data-dir", str(where.resolve()), *args]
    if profile is not None and _option(args, "--profile") is None:
        args = ["--profile", profile, *args]
    command = [sys.executable, "-m", "scrapeline", "run", absolute, *args]
    workdir = Path.cwd()
    if form == "crontab":
        sys.stdout.write(crontab_line(when, command, workdir) + "\n")
        return
    (service_name, service), (timer_name, timer) = systemd_units(name, when, command, workdir)
    sys.stdout.write(
        f"# {service_name} (in ~/.config/systemd/user/, or /etc/systemd/system/)\n{service}\n"
        f"# {timer_name}, beside it; then: systemctl --user enable --now {timer_name}\n{timer}"
    )


def _configured_dir(target: str, pipe: Pipeline, profile: str | None) -> Path:
    """The data dir a run of ``target`` with ``profile`` takes from the configuration
    (the default one when nothing sets it)."""
    from scrapeline.cli.flags import RunFlags
    from scrapeline.cli.run import configured

    return configured(RunFlags(profile=profile), target, pipe).data_dir


def _option(args: list[str], name: str) -> str | None:
    """The value of ``name`` among a run's options (``--data-dir X`` or ``--data-dir=X``)."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None
