"""``scrapeline backfill PIPELINE``: redo chosen stages for a slice of items.

    scrapeline backfill football.py --dates 2024-05-01:2024-05-31 --stage overview
    scrapeline backfill football.py --keys match:1001,1002 --refetch
    scrapeline backfill football.py --offsets 0:200

The slice (one or more of ``--dates``, ``--keys``, ``--keys-file``, ``--only``; or
``--offsets`` alone) and what is done with it: :mod:`scrapeline.workspace.backfill`.
Archived responses are read from the archive, the rest fetched; ``--refetch``
fetches everything anew.

Exit codes as ``run``: 0 done · 1 failed items · 3 halted · 130 interrupted; 2 for
bad flags, a key the ledger does not hold, or no slice at all. A slice that names
no item (dates with no item in them) is not an error: "nothing to backfill", 0.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from scrapeline.cli.app import app, console, errors, load
from scrapeline.cli.exits import exit_code
from scrapeline.cli.flags import (
    GRACE,
    ITEM_TIMEOUT,
    MAX_CONSECUTIVE_FAILURES,
    RUN_EPILOG,
    ArchiveOpt,
    BreakerOpt,
    GraceOpt,
    MaxDurationOpt,
    QuietOpt,
    RateOpt,
    RunFlags,
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
from scrapeline.runner import loop as event_loop

OffsetsOpt = Annotated[
    str | None,
    typer.Option(
        "--offsets",
        metavar="A:B",
        help="Walk the top-level listings from offset A to B (that page included), as "
        "`run --start-offset A --end-offset B --force-rescrape` does, and redo every item "
        "found there, every stage. Goes alone, without --stage.",
    ),
]
DatesOpt = Annotated[
    str | None,
    typer.Option(
        "--dates",
        metavar="FROM:TO",
        help="Items whose date is within FROM to TO (ISO dates, both included).",
    ),
]
KeysOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--keys", metavar="KIND:K1,K2", help="These items (repeatable), e.g. match:1001,1002."
    ),
]
KeysFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys-file", metavar="FILE", help="Items from a file: one KIND:KEY a line; # comments."
    ),
]
OnlyOpt = Annotated[
    list[str] | None,
    typer.Option("--only", metavar="KIND:KEY", help="This item and its descendants (repeatable)."),
]
StagesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--stage",
        metavar="NAME",
        help="Redo this stage (repeatable) [default: every stage of the items and of their "
        "descendants].",
    ),
]
RefetchOpt = Annotated[
    bool,
    typer.Option("--refetch", help="Fetch every response anew; read nothing from the archive."),
]


@app.command(epilog=RUN_EPILOG)
def backfill(
    pipeline: PipelineArg,
    offsets: OffsetsOpt = None,
    dates: DatesOpt = None,
    keys: KeysOpt = None,
    keys_file: KeysFileOpt = None,
    only: OnlyOpt = None,
    stage: StagesOpt = None,
    refetch: RefetchOpt = False,
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = None,
    max_consecutive_failures: BreakerOpt = MAX_CONSECUTIVE_FAILURES,
    item_timeout: TimeoutOpt = ITEM_TIMEOUT,
    max_duration: MaxDurationOpt = None,
    grace: GraceOpt = GRACE,
    base_url: BaseUrlOpt = None,
    rate: RateOpt = None,
    set_: SetOpt = None,
    secret: SecretOpt = None,
    archive: ArchiveOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Redo chosen stages for a slice of items: by dates, keys, a subtree or offsets."""
    from scrapeline.cli.run import configured
    from scrapeline.observe.console import ConsoleReporter
    from scrapeline.workspace.backfill import backfill as backfill_slice
    from scrapeline.workspace.invocation import Invocation
    from scrapeline.workspace.slices import (
        Slice,
        keys_file_lines,
        parse_dates,
        parse_keys,
        parse_offsets,
    )

    flags = RunFlags(
        profile=profile,
        data_dir=data_dir,
        workers=workers,
        max_consecutive_failures=max_consecutive_failures,
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
        named = [item for text in keys or () for item in parse_keys(text)]
        if keys_file is not None:
            named += keys_file_lines(_read_lines(keys_file), source=str(keys_file))
        chosen = Slice(
            offsets=parse_offsets(offsets) if offsets is not None else None,
            dates=parse_dates(dates) if dates is not None else None,
            keys=tuple(named),
            only=tuple(_only(text) for text in only or ()),
            stages=tuple(dict.fromkeys(stage or ())),
        )
        pipe = load(pipeline, secrets=secret, base_url=base_url)
        settings = configured(flags, pipeline, pipe)
        options = flags.run_options(pipe, settings)
    reporter = ConsoleReporter(quiet=settings.quiet, items=settings.items)
    invocation = replace(Invocation.current("backfill"), profile=settings.profile)
    try:
        with errors():
            outcome = event_loop.run(
                backfill_slice(
                    pipe,
                    settings.data_dir,
                    chosen,
                    options=options,
                    fetch_options=fetch_options(settings),
                    refetch=refetch,
                    subscribers=[reporter],
                    invocation=invocation,
                )
            )
    finally:
        reporter.close()
    if outcome is None:
        console().print(f"nothing to backfill: no item is {chosen.describe()}", markup=False)
        raise typer.Exit(0)
    raise typer.Exit(exit_code(outcome.status))


def _only(text: str) -> tuple[str, str]:
    from scrapeline.errors import ConfigError

    kind, colon, key = text.partition(":")
    if not colon or not kind or not key:
        raise ConfigError(f"--only {text}: expected KIND:KEY, e.g. season:2019")
    return kind, key


def _read_lines(path: Path) -> list[str]:
    from scrapeline.errors import ConfigError

    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--keys-file {path}: cannot read: {exc}") from exc
