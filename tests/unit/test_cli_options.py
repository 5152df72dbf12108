"""The CLI's pure decisions: exit codes, run options from flags, status labels, and
run options that read the same on every command that takes them."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from scrapeline import errors
from scrapeline.cli.exits import (
    RUN_EXIT_CODES,
    error_exit_code,
    exit_code,
)
from scrapeline.cli.flags import RunFlags
from scrapeline.cli.main import app
from scrapeline.cli.status import task_counts
from scrapeline.errors import ConfigError
from scrapeline.ledger.base import RunStatus
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import (
    EXIT_FAILED_ITEMS,
    EXIT_HALTED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    RunOptions,
)

# -- exit codes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RunStatus.DONE, 0),
        (RunStatus.FAILED, 1),
        (RunStatus.HALTED, 3),
        (RunStatus.INTERRUPTED, 130),
    ],
)
def test_a_run_exits_with_the_code_of_its_status(status: RunStatus, code: int) -> None:
    assert exit_code(status) == code


@pytest.mark.parametrize("status", [RunStatus.RUNNING, RunStatus.CRASHED])
def test_a_status_no_ended_run_has_has_no_exit_code(status: RunStatus) -> None:
    with pytest.raises(ValueError, match=status.value):
        exit_code(status)


def test_the_runner_records_the_code_the_cli_exits_with() -> None:
    # the runner pairs each status with these constants in Outcome and in the run's
    # summary (tests/e2e/test_cli_exit_codes.py checks the pairs a real run records)
    runner = {
        RunStatus.DONE: EXIT_OK,
        RunStatus.FAILED: EXIT_FAILED_ITEMS,
        RunStatus.HALTED: EXIT_HALTED,
        RunStatus.INTERRUPTED: EXIT_INTERRUPTED,
    }
    assert dict(RUN_EXIT_CODES) == runner


ERROR_CODES = [
    (errors.ConfigError, 2),
    (errors.PipelineError, 2),
    (errors.DataDirError, 2),
    (errors.DataDirBusy, 2),
    (errors.UsageError, 2),
    (errors.RunHalted, 3),
    (errors.DiskFull, 3),
    (errors.LedgerError, 1),
    (errors.ArchiveError, 1),
    (errors.ScrapelineError, 1),
]


@pytest.mark.parametrize(("kind", "code"), ERROR_CODES, ids=[k.__name__ for k, _ in ERROR_CODES])
def test_an_error_exits_with_the_code_of_its_kind(
    kind: type[errors.ScrapelineError], code: int
) -> None:
    assert error_exit_code(kind("it broke")) == code


def _error_kinds() -> list[type[errors.ScrapelineError]]:
    found: list[type[errors.ScrapelineError]] = []
    todo: list[type[errors.ScrapelineError]] = [errors.ScrapelineError]
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo.extend(kind.__subclasses__())
    return found


@pytest.mark.parametrize("kind", _error_kinds(), ids=lambda k: k.__name__)
def test_the_cli_and_the_error_tree_agree_on_every_error(
    kind: type[errors.ScrapelineError],
) -> None:
    error = kind.__new__(kind)  # some kinds need arguments; the code depends on the kind
    assert error_exit_code(error) == kind.exit_code


# -- run options from flags -----------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "pipeline_workers", "want"),
    [
        (RunFlags(), None, {"workers": 4, "item_timeout": 300.0, "grace": 30.0}),
        (RunFlags(), 9, {"workers": 9}),
        (RunFlags(workers=2), 9, {"workers": 2}),
        (RunFlags(item_timeout=0.0), None, {"item_timeout": None}),
        (RunFlags(max_consecutive_failures=0), None, {"max_consecutive_failures": 0}),
        (RunFlags(start_offset=100, end_offset=100), None, {"start": 100, "end": 100}),
        (RunFlags(full=True, force_rescrape=True), None, {"full": True, "force_rescrape": True}),
        (
            RunFlags(set_=["season=2024"], secret=["token=abcdefgh12345678"]),
            None,
            {"config": {"season": "2024", "token": "abcdefgh12345678"}},
        ),
    ],
)
def test_flags_become_run_options(
    flags: RunFlags, pipeline_workers: int | None, want: dict[str, Any]
) -> None:
    options = flags.run_options(Pipeline("p", workers=pipeline_workers))
    assert {name: getattr(options, name) for name in want} == want


def test_unset_flags_give_the_runners_defaults() -> None:
    options = RunFlags().run_options(Pipeline("p"))
    assert options == RunOptions(workers=options.workers, config={})


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (RunFlags(start_offset=200, end_offset=100), "before --start-offset"),
        (RunFlags(set_=["novalue"]), "KEY=VALUE"),
        (RunFlags(set_=["k=v"], secret=["k=abcdefgh12345678"]), "both --set and --secret"),
        (RunFlags(secret=["k=abc"]), "shorter than"),
    ],
)
def test_bad_flags_are_config_errors(flags: RunFlags, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        flags.run_options(Pipeline("p"))


# -- status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ledger", "shown"),
    [
        (
            {"waiting": 1, "pending": 2, "running": 288, "done": 4, "failed": 5},
            {"waiting": 1, "pending": 2, "claimed": 288, "done": 4, "failed": 5},
        ),
        ({"done": 7}, {"waiting": 0, "pending": 0, "claimed": 0, "done": 7, "failed": 0}),
    ],
)
def test_status_calls_leased_tasks_claimed(ledger: dict[str, int], shown: dict[str, int]) -> None:
    counts = task_counts(ledger)
    assert counts == shown
    assert list(counts) == ["waiting", "pending", "claimed", "done", "failed"]


# -- the commands' options --------------------------------------------------------------

CLI: Any = typer.main.get_command(app)  # a group of commands


def _params(command: str) -> dict[str, Any]:
    return {p.name: p for p in CLI.commands[command].params if p.name}


RUN_COMMANDS = ["run", "demo", "reparse"]
SHARED = sorted(set.intersection(*(set(_params(c)) for c in RUN_COMMANDS)) - {"base_url"})


def test_the_run_commands_share_the_run_options() -> None:
    assert {
        "data_dir",
        "workers",
        "max_consecutive_failures",
        "item_timeout",
        "grace",
        "set_",
        "secret",
    } <= set(SHARED)


@pytest.mark.parametrize("name", SHARED)
def test_a_shared_option_reads_the_same_on_every_command(name: str) -> None:
    seen = {
        command: (
            tuple(param.opts),
            tuple(param.secondary_opts),
            param.default,
            param.help,
            getattr(param, "min", None),
            getattr(param, "max", None),
        )
        for command in RUN_COMMANDS
        for param in [_params(command)[name]]
    }
    assert len(set(seen.values())) == 1, seen


def test_status_help_says_what_claimed_means() -> None:
    help_text = " ".join((CLI.commands["status"].help or "").split())
    assert "claimed: leased by a run" in help_text
    assert "running" not in help_text
