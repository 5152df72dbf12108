"""``scrapeline config show PIPELINE``: the effective settings of a run of a pipeline,
and where each one came from, secrets masked. Read-only: exit 0, or 2 for a file,
profile or variable that is not right (the same one-line error ``run`` gives).

    $ scrapeline config show pipelines/football.py --profile prod
    file     pipelines/scrapeline.toml
    profile  prod (flag --profile; the file has dev, prod)
    ...
    workers       16              profile prod (pipelines/scrapeline.toml:12)
    config.token  ***             pipelines/scrapeline.toml:5

The sources: ``default``, ``pipeline``, ``FILE:LINE``, ``profile P (FILE:LINE)``,
``env NAME`` and ``flag --x``; ``--json`` prints the same as one object.

    >>> shown(None), shown(True), shown("5/s"), shown([0.5, 2.0])
    ('-', 'true', '5/s', '[0.5,2.0]')
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import typer

from scrapeline.cli.app import app as root
from scrapeline.cli.app import console, errors, hide, load, print_json
from scrapeline.cli.options import JsonOpt, PipelineArg, ProfileOpt
from scrapeline.ops.config import PRECEDENCE, load_settings

app = typer.Typer(
    name="config",
    help="The configuration: scrapeline.toml, its profiles, and the settings in force.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
root.add_typer(app)


@app.command("show")
def show(pipeline: PipelineArg, profile: ProfileOpt = None, json: JsonOpt = False) -> None:
    """Print the settings a run of PIPELINE would have, and where each one came from.

    The environment counts (SCRAPELINE_WORKERS, ...); flags do not, since none are
    given here. Secrets (${VAR} values) are shown as ***."""
    with errors():
        pipe = load(pipeline)
        settings = load_settings(pipeline, pipe, profile=profile, env=os.environ)
        hide(settings.secrets)
        settings.notifiers()  # a notifier a run would refuse is refused here too
    report = settings.report()
    if json:
        print_json(report)
        return
    out = console()
    for line in lines(report):
        out.print(line, markup=False, soft_wrap=True)


def lines(report: dict[str, Any]) -> list[str]:
    """The report of :meth:`~scrapeline.ops.config.Effective.report` as text lines."""
    profiles = ", ".join(report["profiles"]) or "none"
    profile = report["profile"]
    head = [
        f"file        {report['file'] or '(none: no scrapeline.toml or [tool.scrapeline])'}"
        + (f" (its [tool.scrapeline] ignored: {report['ignored']})" if report["ignored"] else ""),
        f"profile     {profile} ({report['profile_source']}; the file has {profiles})"
        if profile
        else f"profile     (none; the file has {profiles})",
        f"precedence  {PRECEDENCE}",
        "",
    ]
    rows = [(name, shown(s["value"]), s["source"]) for name, s in report["settings"].items()]
    name_width = max(len("setting"), *(len(r[0]) for r in rows))
    value_width = min(40, max(len("value"), *(len(r[1]) for r in rows)))
    table = [
        f"{name:<{name_width}}  {value:<{value_width}}  {source}"
        for name, value, source in [("setting", "value", "source"), *rows]
    ]
    return head + table


def shown(value: Any) -> str:
    """A setting's value as the table shows it: text as it is, ``-`` for unset, the
    rest as JSON (as TOML would spell it)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
