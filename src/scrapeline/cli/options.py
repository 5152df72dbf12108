"""The options every command shares, declared once: the pipeline argument, the data
dir, the profile, ``--json``, and what the stages get (``--base-url``, ``--set``,
``--secret``). The flags of the commands that run a pipeline are in
:mod:`scrapeline.cli.flags`.

This module imports nothing but Typer: a command that only reads the ledger
(``runs``, ``status``) starts without the configuration's models or the runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PipelineArg = Annotated[
    str, typer.Argument(help="The pipeline file (path/to/pipeline.py) or module:name.")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Where the ledger, logs and archive live [default: data/NAME]."
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="The [profiles.NAME] of scrapeline.toml (or pyproject.toml's [tool.scrapeline]) "
        "to run with [default: $SCRAPELINE_PROFILE].",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


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
