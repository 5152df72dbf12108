"""The options the commands share, declared once, and what they become.

Each ``...Opt`` alias carries a flag's name, its bounds and its help; its default
comes from :class:`~scrapeline.runner.run.RunOptions` (``DEFAULTS``), so ``run``,
``demo`` and ``reparse`` cannot drift apart. A command collects the values it got
into :class:`RunFlags`, which turns them into the runner's ``RunOptions``:

    >>> from scrapeline.pipeline import Pipeline
    >>> flags = RunFlags(workers=None, max_consecutive_failures=0, item_timeout=0.0)
    >>> options = flags.run_options(Pipeline("p"))
    >>> options.workers, options.max_consecutive_failures, options.item_timeout
    (4, 0, None)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scrapeline.cli.app import stage_config
from scrapeline.errors import ConfigError
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import RunOptions

if TYPE_CHECKING:  # the workspace pulls in the HTTP client: imported when a run starts
    from scrapeline.workspace.run import FetchOptions

DEFAULTS = RunOptions()
"""Where the run options' defaults come from (the CLI's are the runner's)."""
DEFAULT_WORKERS = DEFAULTS.workers
"""Items in flight when neither ``--workers`` nor the pipeline's ``workers=`` says."""

PipelineArg = Annotated[
    str, typer.Argument(help="The pipeline file (path/to/pipeline.py) or module:name.")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Where the ledger, logs and archive live [default: data/NAME]."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

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
BreakerOpt = Annotated[
    int,
    typer.Option(
        "--max-consecutive-failures", min=0, help="Halt after N item failures in a row (0: never)."
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--item-timeout",
        min=0.0,
        help="Seconds of its own work before a hung item fails (0: never); time spent "
        "waiting for the host (politeness, 429 pauses, retry backoff) does not count.",
    ),
]
GraceOpt = Annotated[
    float,
    typer.Option("--grace", min=0.0, help="Seconds in-flight items get to finish on Ctrl+C."),
]

# -- what the stages get, and how they fetch ------------------------------------------

BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="Run against another copy of the site.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="A config value for the stages (ctx.config), KEY=VALUE."),
]
SecretOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        help="A config value for the stages, like --set, kept out of every output and file: "
        "KEY=VALUE, or KEY to read it from the environment variable KEY.",
    ),
]
RateOpt = Annotated[
    str | None,
    typer.Option(
        "--rate",
        help="At most this many requests per second to each host, e.g. 5/s, 30/m "
        "[default: the pipeline's rate=].",
    ),
]
ArchiveOpt = Annotated[
    bool,
    typer.Option(
        "--archive/--no-archive",
        help="Keep every response body in DATA_DIR/archive (what `scrapeline reparse` uses).",
    ),
]

# the defaults of the aliases above, for the commands' signatures
MAX_CONSECUTIVE_FAILURES = DEFAULTS.max_consecutive_failures
ITEM_TIMEOUT = DEFAULTS.item_timeout or 0.0
GRACE = DEFAULTS.grace


@dataclass(frozen=True, kw_only=True)
class RunFlags:
    """The run options a command was given, as the user typed them.

    Options a command does not take keep their defaults: ``reparse`` walks no range,
    so its flags have no offsets and no ``--full``."""

    workers: int | None = None
    start_offset: int | None = None
    end_offset: int | None = None
    full: bool = False
    force_rescrape: bool = False
    max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES
    item_timeout: float = ITEM_TIMEOUT
    """Seconds; 0 for no limit."""
    grace: float = GRACE
    set_: list[str] | None = None
    secret: list[str] | None = None
    only: list[str] | None = None
    """``--only KIND:KEY`` as typed; the keys' types are the ledger's to tell."""

    def run_options(self, pipe: Pipeline) -> RunOptions:
        """The runner's options for ``pipe``: ``--workers``, else the pipeline's
        ``workers=``, else 4; ``ctx.config`` from ``--set`` and ``--secret``.

        Raises ConfigError for an end offset before the start, a malformed ``--set``
        or ``--secret``, or a key given by both."""
        start, end = self.start_offset, self.end_offset
        if start is not None and end is not None and end < start:
            raise ConfigError(f"--end-offset {end} is before --start-offset {start}")
        return RunOptions(
            workers=self.workers or pipe.workers or DEFAULT_WORKERS,
            start=start,
            end=end,
            full=self.full,
            force_rescrape=self.force_rescrape,
            max_consecutive_failures=self.max_consecutive_failures,
            item_timeout=self.item_timeout or None,
            grace=self.grace,
            config=stage_config(self.set_, self.secret),
            only=tuple(only_item(text, pipe) for text in self.only or ()),
        )


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


def fetch_options(*, base_url: str | None, archive: bool, rate: str | None = None) -> FetchOptions:
    """How the run fetches: ``--base-url`` (None: the pipeline's), ``--no-archive`` and
    ``--rate`` (None: the pipeline's). Raises ConfigError for a rate that cannot work."""
    from scrapeline.fetch.limits import parse_rate
    from scrapeline.workspace.run import FetchOptions

    if rate is not None:
        try:
            parse_rate(rate)
        except ConfigError as exc:
            raise ConfigError(f"--rate: {exc}") from None
    return FetchOptions(base_url=base_url, archive=archive, rate=rate)
