"""``scrapeline demo`` and ``scrapeline demo-site``: the bundled pipeline against the
rehearsal site, and the rehearsal site alone. No network needed.

``demo`` takes the run options of ``run`` (but ``--base-url``: the site is its own)
and exits as ``run`` does; ``demo-site`` serves until Ctrl+C, exit 2 when it cannot
bind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scrapeline.cli.app import app, console, errors, load
from scrapeline.cli.exits import EXIT_INTERRUPTED, exit_code
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
    MaxDurationOpt,
    OnlyStageOpt,
    QuietOpt,
    RateOpt,
    RunFlags,
    SkipStageOpt,
    StartOpt,
    TimeoutOpt,
    WorkersOpt,
)
from scrapeline.cli.options import (
    DataDirOpt,
    ProfileOpt,
    SecretOpt,
    SetOpt,
)
from scrapeline.cli.run import configured, run_and_exit
from scrapeline.errors import ConfigError
from scrapeline.runner.run import Outcome

DEMO_PIPELINE = "scrapeline.demo.football:pipe"
DEMO_DATA_DIR = Path("data/demo")
DEMO_END_OFFSET = 900


@app.command(epilog=RUN_EPILOG)
def demo(
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = None,
    start_offset: StartOpt = None,
    end_offset: EndOpt = None,
    full: FullOpt = False,
    force_rescrape: ForceOpt = False,
    only_stage: OnlyStageOpt = None,
    skip_stage: SkipStageOpt = None,
    max_consecutive_failures: BreakerOpt = MAX_CONSECUTIVE_FAILURES,
    failure_policy: FailurePolicyOpt = None,
    item_timeout: TimeoutOpt = ITEM_TIMEOUT,
    max_duration: MaxDurationOpt = None,
    grace: GraceOpt = GRACE,
    latency: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Answer with realistic latency.")
    ] = True,
    rate: RateOpt = None,
    set_: SetOpt = None,
    secret: SecretOpt = None,
    archive: ArchiveOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Crawl the built-in rehearsal site with the bundled football pipeline. No network needed.

    Without --end-offset the crawl ends at the listing page at offset 900. Settings
    come as for `run` (the configuration file in the current directory included),
    but the base URL: the rehearsal site is its own, and data/demo the default data dir."""
    from scrapeline.testing import RehearsalSite, serve_in_thread

    flags = RunFlags(
        profile=profile,
        data_dir=data_dir,
        workers=workers,
        start_offset=start_offset,
        end_offset=DEMO_END_OFFSET if end_offset is None else end_offset,
        full=full,
        force_rescrape=force_rescrape,
        only_stage=only_stage,
        skip_stage=skip_stage,
        max_consecutive_failures=max_consecutive_failures,
        failure_policy=failure_policy,
        item_timeout=item_timeout,
        max_duration=max_duration,
        grace=grace,
        rate=rate,
        set_=set_,
        secret=secret,
        archive=archive,
        quiet=quiet,
    )
    with errors():
        pipe = load(DEMO_PIPELINE, secrets=secret)
        settings = configured(flags, DEMO_PIPELINE, pipe, data_dir=DEMO_DATA_DIR)
        options = flags.run_options(pipe, settings)
    site = RehearsalSite() if latency else RehearsalSite(latency=None)
    with serve_in_thread(site) as url:
        console().print(f"rehearsal site at {url}", markup=False)
        run_and_exit(
            "demo",
            pipe,
            settings,
            options,
            base_url=url,
            after=lambda outcome: _demo_epilogue(settings.data_dir, outcome),
        )


def _demo_epilogue(data_dir: Path, outcome: Outcome) -> None:
    lines = [
        "",
        f"The data is in {data_dir}/ledger.db (SQLite). Look at it with:",
        f"  sqlite3 {data_dir}/ledger.db 'SELECT * FROM matches LIMIT 5'",
        f"  scrapeline status scrapeline.demo.football --data-dir {data_dir}",
        f"  scrapeline runs scrapeline.demo.football --data-dir {data_dir}",
    ]
    if exit_code(outcome.status) == EXIT_INTERRUPTED:
        lines.append("Run `scrapeline demo` again to resume where it stopped.")
    out = console()
    for line in lines:
        out.print(line, markup=False)


@app.command("demo-site")
def demo_site(
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    latency: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Answer with realistic latency.")
    ] = True,
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

    with errors():
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
