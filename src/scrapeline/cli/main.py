"""The command line: parse, call one service function, render, map errors to exit codes.

Exit codes: 0 all done · 1 finished with failed items · 2 usage or config error
· 3 halted (consecutive failures, a host down) · 130 interrupted.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from scrapeline.errors import ConfigError, ScrapelineError
from scrapeline.loader import load_pipeline
from scrapeline.pipeline import Pipeline
from scrapeline.runner import loop as event_loop
from scrapeline.runner.run import EXIT_INTERRUPTED, Outcome, RunOptions
from scrapeline.secrets import MIN_SECRET_LENGTH, RedactingWriter, collect_secrets

app = typer.Typer(
    name="scrapeline",
    help="Durable, resumable scraping pipelines.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DEMO_DATA_DIR = Path("data/demo")
DEMO_END_OFFSET = 900

# -- options shared by run and demo ---------------------------------------------------

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Where the ledger, logs and archive live [default: data/NAME]."
    ),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, max=1024, help="Items in flight [default: 4].")
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
BreakerOpt = Annotated[
    int,
    typer.Option(
        "--max-consecutive-failures", min=0, help="Halt after N item failures in a row (0: never)."
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option("--item-timeout", min=0.0, help="Seconds before a hung item fails.")
]
GraceOpt = Annotated[
    float,
    typer.Option("--grace", min=0.0, help="Seconds in-flight items get to finish on Ctrl+C."),
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="Run against another copy of the site.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="A config value for the stages (ctx.config), KEY=VALUE."),
]
ArchiveOpt = Annotated[
    bool,
    typer.Option(
        "--archive/--no-archive",
        help="Keep every response body in DATA_DIR/archive (what `scrapeline reparse` uses).",
    ),
]
SecretOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        help="A config value for the stages, like --set, kept out of every output and file: "
        "KEY=VALUE, or KEY to read it from the environment variable KEY.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
PipelineArg = Annotated[
    str, typer.Argument(help="The pipeline file (path/to/pipeline.py) or module:name.")
]


def _show_version(value: bool) -> None:
    if not value:
        return
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
# the command has learned of (_hide), whichever code printed them.

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


def _hide(secrets: Iterable[str]) -> None:
    """Keep ``secrets`` out of everything the command prints from now on."""
    values = tuple(secrets)
    for writer in _writers:
        writer.hide(values)


def _load(
    target: str, *, secrets: list[str] | None = None, base_url: str | None = None
) -> Pipeline:
    """The pipeline at ``target``, with the ``--secret`` values among its secrets (so the
    run log, the ledger and the archive hide them too) and all of its secrets hidden
    from the command's output."""
    if base_url:
        _hide(collect_secrets(urls=[base_url]))
    given = _secrets(secrets)
    _hide(given.values())
    pipe = load_pipeline(target)
    pipe.secrets = (*pipe.secrets, *given.values())
    _hide(pipe.secret_values())
    return pipe


def _secrets(pairs: list[str] | None) -> dict[str, str]:
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


def _fail(message: str, code: int) -> NoReturn:
    Console(stderr=True, highlight=False).print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Our errors become one line on stderr and their exit code; Ctrl+C becomes 130."""
    try:
        yield
    except ScrapelineError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)


def _config(pairs: list[str] | None, secrets: list[str] | None = None) -> dict[str, str]:
    """The stages' ``ctx.config``: the ``--set`` values and the ``--secret`` ones."""
    config: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE, got {pair!r}")
        config[key] = value
    for key, value in _secrets(secrets).items():
        if key in config:
            raise ConfigError(f"{key} is given by both --set and --secret")
        config[key] = value
    return config


def _run(
    pipe: Pipeline,
    data_dir: Path,
    options: RunOptions,
    base_url: str | None,
    *,
    archive: bool = True,
    after: Callable[[Outcome], None] | None = None,
) -> NoReturn:
    from scrapeline.observe.console import ConsoleReporter
    from scrapeline.service import FetchOptions, run_pipeline

    reporter = ConsoleReporter()
    try:
        with _errors():
            outcome = event_loop.run(
                run_pipeline(
                    pipe,
                    data_dir,
                    options,
                    fetch_options=FetchOptions(base_url=base_url, archive=archive),
                    subscribers=[reporter],
                )
            )
    finally:
        reporter.close()
    if after is not None:
        after(outcome)
    raise typer.Exit(outcome.exit_code)


def _options(
    pipe: Pipeline,
    *,
    workers: int | None,
    start: int | None,
    end: int | None,
    full: bool,
    force: bool,
    breaker: int,
    timeout: float,
    grace: float,
    config: list[str] | None,
    secrets: list[str] | None = None,
) -> RunOptions:
    if start is not None and end is not None and end < start:
        raise ConfigError(f"--end-offset {end} is before --start-offset {start}")
    return RunOptions(
        workers=workers or pipe.workers or 4,
        start=start,
        end=end,
        full=full,
        force_rescrape=force,
        max_consecutive_failures=breaker,
        item_timeout=timeout or None,
        grace=grace,
        config=_config(config, secrets),
    )


@app.command()
def run(
    pipeline: PipelineArg,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = None,
    start_offset: StartOpt = None,
    end_offset: EndOpt = None,
    full: FullOpt = False,
    force_rescrape: ForceOpt = False,
    max_consecutive_failures: BreakerOpt = 3,
    item_timeout: TimeoutOpt = 300.0,
    grace: GraceOpt = 30.0,
    base_url: BaseUrlOpt = None,
    set_: SetOpt = None,
    secret: SecretOpt = None,
    archive: ArchiveOpt = True,
) -> None:
    """Run a pipeline: discover new items, then run every stage that is not done."""
    with _errors():
        pipe = _load(pipeline, secrets=secret, base_url=base_url)
        options = _options(
            pipe,
            workers=workers,
            start=start_offset,
            end=end_offset,
            full=full,
            force=force_rescrape,
            breaker=max_consecutive_failures,
            timeout=item_timeout,
            grace=grace,
            config=set_,
            secrets=secret,
        )
    from scrapeline.service import default_data_dir

    _run(pipe, data_dir or default_data_dir(pipe), options, base_url, archive=archive)


@app.command()
def status(pipeline: PipelineArg, data_dir: DataDirOpt = None, json: JsonOpt = False) -> None:
    """Per-stage counts of a pipeline's tasks."""
    from scrapeline import service

    with _errors():
        pipe = _load(pipeline)
        info = service.status(pipe, data_dir or service.default_data_dir(pipe))
    if json:
        _print_json(info)
        return
    console = Console(highlight=False)
    table = Table(title=f"{pipe.name} · {info['data_dir']}")
    columns = ["waiting", "pending", "running", "done", "failed"]
    table.add_column("stage")
    for col in columns:
        table.add_column(col, justify="right")
    for stage, counts in info["stages"].items():
        table.add_row(stage, *(str(counts.get(c, 0)) for c in columns))
    console.print(table)
    items = ", ".join(f"{n} {kind}" for kind, n in info["items"].items()) or "none"
    console.print(f"items: {items}", markup=False)
    if info["kept"]:
        kept = ", ".join(f"{table} {n}" for table, n in info["kept"].items())
        console.print(f"kept from an earlier run (task not done): {kept}", markup=False)
    last = info["last_run"]
    if last:
        console.print(
            f"last run: {last['id']} {last['status']} (started {last['started']})", markup=False
        )


@app.command()
def runs(
    pipeline: PipelineArg,
    data_dir: DataDirOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    json: JsonOpt = False,
) -> None:
    """Recent runs of a pipeline, newest first."""
    from scrapeline import service

    with _errors():
        pipe = _load(pipeline)
        history = service.runs(pipe, data_dir or service.default_data_dir(pipe), limit)
    if json:
        _print_json(history)
        return
    table = Table(title=f"{pipe.name} runs")
    for col in ("id", "started", "ended", "status", "done", "failed", "reason"):
        table.add_column(col)
    for r in history:
        table.add_row(
            *(
                "" if r[c] is None else str(r[c])
                for c in ("id", "started", "ended", "status", "done", "failed", "reason")
            )
        )
    Console(highlight=False).print(table)


@app.command()
def demo(
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = None,
    start_offset: StartOpt = None,
    end_offset: EndOpt = None,
    full: FullOpt = False,
    force_rescrape: ForceOpt = False,
    max_consecutive_failures: BreakerOpt = 3,
    item_timeout: TimeoutOpt = 300.0,
    grace: GraceOpt = 30.0,
    latency: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Answer with realistic latency.")
    ] = True,
    set_: SetOpt = None,
    secret: SecretOpt = None,
    archive: ArchiveOpt = True,
) -> None:
    """Crawl the built-in rehearsal site with the bundled football pipeline. No network needed."""
    from scrapeline.testing import RehearsalSite, serve_in_thread

    with _errors():
        pipe = _load("scrapeline.demo.football:pipe", secrets=secret)
        options = _options(
            pipe,
            workers=workers,
            start=start_offset,
            end=DEMO_END_OFFSET if end_offset is None else end_offset,
            full=full,
            force=force_rescrape,
            breaker=max_consecutive_failures,
            timeout=item_timeout,
            grace=grace,
            config=set_,
            secrets=secret,
        )
    target = data_dir or DEMO_DATA_DIR
    site = RehearsalSite() if latency else RehearsalSite(latency=None)
    with serve_in_thread(site) as url:
        Console(highlight=False).print(f"rehearsal site at {url}", markup=False)
        _run(
            pipe,
            target,
            options,
            url,
            archive=archive,
            after=lambda outcome: _demo_epilogue(target, outcome),
        )


def _demo_epilogue(data_dir: Path, outcome: Outcome) -> None:
    console = Console(highlight=False)
    lines = [
        "",
        f"The data is in {data_dir}/ledger.db (SQLite). Look at it with:",
        f"  sqlite3 {data_dir}/ledger.db 'SELECT * FROM matches LIMIT 5'",
        f"  scrapeline status scrapeline.demo.football --data-dir {data_dir}",
        f"  scrapeline runs scrapeline.demo.football --data-dir {data_dir}",
    ]
    if outcome.exit_code == EXIT_INTERRUPTED:
        lines.append("Run `scrapeline demo` again to resume where it stopped.")
    for line in lines:
        console.print(line, markup=False)


@app.command("demo-site")
def demo_site(
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    latency: Annotated[bool, typer.Option("--latency/--no-latency")] = True,
    full_data: Annotated[
        Path | None,
        typer.Option("--full-data", help="Serve every match of an openfootball directory."),
    ] = None,
    server_errors: Annotated[float, typer.Option("--server-errors", min=0, max=1)] = 0.0,
    rate_limits: Annotated[float, typer.Option("--rate-limits", min=0, max=1)] = 0.0,
    slow: Annotated[float, typer.Option("--slow", min=0, max=1)] = 0.0,
    drops: Annotated[float, typer.Option("--drops", min=0, max=1)] = 0.0,
    broken: Annotated[float, typer.Option("--broken", min=0, max=1)] = 0.0,
    new_results_every: Annotated[int, typer.Option("--new-results-every", min=0)] = 0,
    hidden_newest: Annotated[int, typer.Option("--hidden-newest", min=0)] = 0,
) -> None:
    """Serve the rehearsal site alone (Ctrl+C stops it), with optional faults."""
    from scrapeline.testing import Faults, RehearsalSite, load_full, serve_forever

    with _errors():
        matches = load_full(full_data) if full_data else None
        faults = Faults(
            server_error=server_errors,
            rate_limit=rate_limits,
            slow=slow,
            drop=drops,
            broken=broken,
            new_results_every=new_results_every,
        )
        site = RehearsalSite(
            matches,
            latency=(0.03, 0.09) if latency else None,
            faults=faults,
            hidden_newest=hidden_newest,
        )
        try:
            serve_forever(
                site,
                host,
                port,
                on_ready=lambda url: print(
                    f"rehearsal site on {url}  (Ctrl+C to stop)", flush=True
                ),
            )
        except OSError as exc:  # the port is taken, the host is not ours, ...
            raise ConfigError(
                f"cannot serve the rehearsal site on {host}:{port}: {exc.strerror or exc}"
            ) from exc


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


from scrapeline.cli import archive as _archive  # noqa: E402,F401  (registers reparse, prune)
from scrapeline.cli import check as _check  # noqa: E402,F401  (registers `check`)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
