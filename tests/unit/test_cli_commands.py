"""The CLI's commands are imported when asked for: every name ``--help`` lists is a
command its module registers, and the commands that only read the ledger start
without the configuration's models, the runner or the HTTP client."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest
import typer.main

from scrapeline.cli import app as cli_app

HEAVY = (
    "pydantic",
    "aiohttp",
    "scrapeline.runner",
    "scrapeline.ops",
    "scrapeline.fetch.client",
    "scrapeline.fetch.archive",
)
"""What a run needs and a read-only command must not load."""


def test_every_listed_command_is_built_from_its_module() -> None:
    group = typer.main.get_command(cli_app.app)
    assert list(group.commands) == list(cli_app.COMMANDS)  # type: ignore[attr-defined]
    for name, module in cli_app.COMMANDS.items():
        importlib.import_module(f"scrapeline.cli.{module}")
        command = group.commands[name]  # type: ignore[attr-defined]
        assert command.name == name
        assert command.help, f"{name} has no help"


def test_no_module_registers_a_command_the_table_does_not_list() -> None:
    for module in set(cli_app.COMMANDS.values()):
        importlib.import_module(f"scrapeline.cli.{module}")
    registered = {
        info.name or typer.main.get_command_name(info.callback.__name__)  # type: ignore[union-attr]
        for info in cli_app.app.registered_commands
    } | {g.name or g.typer_instance.info.name for g in cli_app.app.registered_groups}  # type: ignore[union-attr]
    assert registered == set(cli_app.COMMANDS)


def test_an_unknown_command_is_refused_with_a_suggestion() -> None:
    group = typer.main.get_command(cli_app.app)
    assert group.commands.get("rnus") is None  # type: ignore[attr-defined]
    done = subprocess.run(
        [sys.executable, "-m", "scrapeline", "rnus"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "Did you mean 'runs'?" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["runs", "--help"],
        ["status", "--help"],
        ["health", "--help"],
        ["freshness", "--help"],
        ["quarantine", "--help"],
        ["validate", "--help"],
        ["conflicts", "--help"],
        ["unresolved", "--help"],
    ],
)
def test_a_read_only_command_does_not_load_the_run_machinery(argv: list[str]) -> None:
    probe = textwrap.dedent(
        f"""
        import sys
        from scrapeline.cli.main import app
        sys.argv = ["scrapeline", *{argv!r}]
        try:
            app()
        except SystemExit as end:
            assert end.code == 0, end.code
        heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))
        print("loaded:" + ",".join(heavy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip().splitlines()[-1].removeprefix("loaded:")
    assert loaded == "", f"`scrapeline {' '.join(argv)}` imported {loaded}"
