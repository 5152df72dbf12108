"""The Typer app every command registers on, and what the commands share: the one
redaction point, loading a pipeline, turning errors into one line and an exit code.

The command modules (``cli/run.py``, ``cli/status.py``, ...) import this module and
register their commands on ``app``. Nothing here imports them at start-up: the app
knows each command's module by name (``COMMANDS``) and imports it when the command
is asked for, so ``scrapeline runs`` never loads what ``scrapeline run`` needs
(the configuration's models, the runner, the HTTP client). ``--help`` imports them
all, to list them. The CLI has no import cycle.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Annotated, Any, NoReturn

import orjson
import typer
import typer.main
from rich.console import Console
from typer.core import TyperGroup

from scrapeline.cli.exits import EXIT_INTERRUPTED, error_exit_code
from scrapeline.errors import ConfigError, ScrapelineError
from scrapeline.loader import load_pipeline
from scrapeline.pipeline import Pipeline
from scrapeline.secrets import MIN_SECRET_LENGTH, RedactingWriter, collect_secrets

COMMANDS: Mapping[str, str] = {
    "run": "run",
    "status": "status",
    "runs": "status",
    "health": "status",
    "quarantine": "quality",
    "demo": "demo",
    "demo-site": "demo",
    "reparse": "archive",
    "backfill": "backfill",
    "prune": "archive",
    "freshness": "freshness",
    "check": "check",
    "validate": "publish",
    "publish": "publish",
    "snapshots": "publish",
    "rollback": "publish",
    "conflicts": "reconciled",
    "unresolved": "reconciled",
    "config": "config",
    "schedule": "schedule",
}
"""Each command, in the order ``--help`` lists them, and the module of ``scrapeline.cli``
that registers it."""


class _CommandTable(MutableMapping[str, Any]):
    """The root group's commands by name: a command of ``COMMANDS`` is built when it is
    first looked up, after importing its module. Iterating gives every name (for
    ``--help`` and the suggestions for a mistyped one) without importing any."""

    def __init__(self, built: Mapping[str, Any]) -> None:
        self._built = dict(built)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            module = COMMANDS[name]  # KeyError: not a command
            importlib.import_module(f"scrapeline.cli.{module}")
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._built if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self._built.keys())


def _build(name: str) -> Any:
    """The click command (or group) that ``name``'s module registered on ``app``."""
    for info in app.registered_commands:
        assert info.callback is not None
        if (info.name or typer.main.get_command_name(info.callback.__name__)) == name:
            return typer.main.get_command_from_info(
                info,
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
            )
    for group in app.registered_groups:
        assert group.typer_instance is not None
        if (group.name or group.typer_instance.info.name) == name:
            return typer.main.get_group_from_info(
                group,
                pretty_exceptions_short=app.pretty_exceptions_short,
                suggest_commands=app.suggest_commands,
                rich_markup_mode=app.rich_markup_mode,
            )
    raise LookupError(f"scrapeline.cli.{COMMANDS[name]} registers no command {name!r}")


class _Commands(TyperGroup):
    """The root group, whose commands are imported when asked for (``_CommandTable``)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _CommandTable(self.commands)


app = typer.Typer(
    name="scrapeline",
    cls=_Commands,
    help="Durable, resumable scraping pipelines.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if not value:
        return
    import importlib.metadata

    try:
        version = importlib.metadata.version("scrapeline")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        from scrapeline import __version__ as version
    sys.stdout.write(f"scrapeline {version}\n")
    raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Durable, resumable scraping pipelines."""
    _redact_output(ctx)


# -- the one redaction point ----------------------------------------------------------
#
# Every command prints through sys.stdout and sys.stderr (rich consoles look them up
# at each print), and those are RedactingWriters while the command runs: console
# lines, tables, JSON and error messages alike lose URL credentials and every secret
# the command has learned of (hide), whichever code printed them.

_writers: list[RedactingWriter] = []


def _redact_output(ctx: typer.Context) -> None:
    saved = sys.stdout, sys.stderr
    out, err = RedactingWriter(sys.stdout), RedactingWriter(sys.stderr)
    _writers[:] = [out, err]
    sys.stdout, sys.stderr = out, err

    def restore() -> None:
        try:
            out.flush()
            err.flush()
        finally:
            sys.stdout, sys.stderr = saved
            _writers.clear()

    ctx.call_on_close(restore)


def hide(secrets: Iterable[str]) -> None:
    """Keep ``secrets`` out of everything the command prints from now on."""
    values = tuple(secrets)
    for writer in _writers:
        writer.hide(values)


def load(target: str, *, secrets: list[str] | None = None, base_url: str | None = None) -> Pipeline:
    """The pipeline at ``target``, with the ``--secret`` values among its secrets (so the
    run log, the ledger and the archive hide them too) and all of its secrets hidden
    from the command's output. Raises ConfigError for a malformed ``--secret`` and
    PipelineError for a target that does not load."""
    if base_url:
        hide(collect_secrets(urls=[base_url]))
    given = parse_secrets(secrets)
    hide(given.values())
    pipe = load_pipeline(target)
    add_secrets(pipe, given.values())
    return pipe


def add_secrets(pipe: Pipeline, secrets: Iterable[str]) -> None:
    """Make ``secrets`` (``--secret`` values, the configuration's ``${...}`` values)
    secrets of ``pipe``'s runs: kept out of the run log, the ledger and the archive,
    and hidden from the command's output, with the pipeline's own."""
    values = tuple(s for s in secrets if s not in pipe.fetch.secrets)
    # the pipeline's settings, replaced by a value that also hides these
    pipe.fetch = replace(pipe.fetch, secrets=(*pipe.fetch.secrets, *values))
    hide(pipe.secret_values())


def parse_secrets(pairs: list[str] | None) -> dict[str, str]:
    """The ``--secret`` values by key: ``KEY=VALUE``, or ``KEY`` for ``$KEY``.

    Raises ConfigError for an empty key, an unset variable or a value too short to
    hide from output without hiding ordinary text."""
    found: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not key:
            raise ConfigError("--secret takes KEY=VALUE, or KEY to read the variable KEY")
        if not sep:
            env = os.environ.get(key)
            if env is None:
                raise ConfigError(f"--secret {key}: no environment variable {key} is set")
            value = env
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"--secret {key} is shorter than {MIN_SECRET_LENGTH} characters: "
                "too short to hide from output without hiding ordinary text"
            )
        found[key] = value
    return found


def parse_sets(pairs: list[str] | None) -> dict[str, str]:
    """The ``--set`` values by key. Raises ConfigError for one without ``=``."""
    config: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE, got {pair!r}")
        config[key] = value
    return config


def stage_config(pairs: list[str] | None, secrets: list[str] | None = None) -> dict[str, str]:
    """The stages' ``ctx.config``: the ``--set`` values and the ``--secret`` ones.

    Raises ConfigError for a ``--set`` without ``=`` or a key given by both."""
    config = parse_sets(pairs)
    for key, value in parse_secrets(secrets).items():
        if key in config:
            raise ConfigError(f"{key} is given by both --set and --secret")
        config[key] = value
    return config


def fail(message: str, code: int) -> NoReturn:
    """End the command: ``error: MESSAGE`` on stderr, exit ``code``."""
    Console(stderr=True, highlight=False).print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Our errors become one line on stderr and their exit code (cli/exits.py); Ctrl+C
    becomes 130. Anything else is a bug and keeps its traceback."""
    try:
        yield
    except ScrapelineError as exc:
        fail(str(exc), error_exit_code(exc))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


def console() -> Console:
    """A console on stdout that prints what it is given: no highlighting of numbers
    and paths (the output is read by people and by scripts alike)."""
    return Console(highlight=False)


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
