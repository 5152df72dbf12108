"""``scrapeline check PIPELINE``: fetch one sample per step and say which contracts hold.

Exit codes: 0 every contract holds and every sample parses · 1 something is broken
· 2 usage or config error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from scrapeline.cli.app import app, console, errors, load, print_json, stage_config
from scrapeline.cli.exits import EXIT_FAILED, EXIT_OK
from scrapeline.cli.options import BaseUrlOpt, JsonOpt, PipelineArg, SecretOpt, SetOpt
from scrapeline.runner import loop as event_loop

if TYPE_CHECKING:  # the check command pulls in the HTTP client: imported when used
    from scrapeline.workspace.check import CheckReport, FetchCheck, StepCheck

PositionOpt = Annotated[
    int | None,
    typer.Option("--start-offset", min=0, help="Listing position to sample [default: the first]."),
]


@app.command()
def check(
    pipeline: PipelineArg,
    base_url: BaseUrlOpt = None,
    start_offset: PositionOpt = None,
    set_: SetOpt = None,
    secret: SecretOpt = None,
    json: JsonOpt = False,
) -> None:
    """Fetch one sample per discovery and stage; report which response contracts hold.

    A quick way to learn that the site changed its layout before a long run.
    Writes nothing: no ledger, no data dir."""
    from scrapeline.workspace.check import check_pipeline

    with errors():
        pipe = load(pipeline, secrets=secret, base_url=base_url)
        config = stage_config(set_, secret)
        report = event_loop.run(
            check_pipeline(pipe, base_url=base_url, config=config, start=start_offset)
        )
    if json:
        print_json(report.as_dict())
    else:
        _render(report)
    raise typer.Exit(check_exit_code(report))


def check_exit_code(report: CheckReport) -> int:
    """0 when every contract holds and every sample parses, else 1."""
    return EXIT_OK if report.ok else EXIT_FAILED


def _render(report: CheckReport) -> None:
    out = console()

    def say(text: str) -> None:
        out.print(text, markup=False, soft_wrap=True)

    say(f"check {report.pipeline} against {report.base_url or '(no base_url)'}")
    for step in report.steps:
        say(_step_line(step))
        for fetch in step.fetches:
            say(f"    {_fetch_line(fetch)}")
        if step.error and step.fetches and step.contract_ok:  # not shown on a fetch line
            say(f"    {step.category}: {step.error}")
    broken = [s for s in report.steps if not s.ok]
    if broken:
        say(f"{len(broken)} of {len(report.steps)} checks failed · exit {check_exit_code(report)}")
    else:
        say(f"all {len(report.steps)} checks hold · exit {check_exit_code(report)}")


def _step_line(step: StepCheck) -> str:
    mark = "✓" if step.ok else "-" if step.skipped else "✗"
    if step.step == "discovery":
        where = "its first page" if step.position is None else step.position  # None: cursors
        title = f"{mark} discovery {step.name} ({step.kind} listing at {where})"
    else:
        sample = "" if step.item is None else f" ({step.kind} {step.item})"
        title = f"{mark} stage {step.name}{sample}"
    if step.skipped:
        return f"{title}: not checked, {step.skipped}"
    if any(f.problems for f in step.fetches):
        verdict = "contract broken"
    elif not step.contract_ok:
        verdict = "fetch failed"
    elif step.error:
        verdict = f"{step.category}: {step.error}" if not step.fetches else "does not parse"
    else:
        found = ", ".join(
            f"{n} {kind} item{'' if n == 1 else 's'}" for kind, n in step.items.items()
        )
        records = f"{step.records} record{'s' if step.records != 1 else ''}"
        verdict = f"parsed: {records}" + (f", {found}" if found else "")
        if step.step == "discovery":
            verdict = f"found {found or 'no items'}"
    return f"{title}: {verdict}"


def _fetch_line(fetch: FetchCheck) -> str:
    status = "no response" if fetch.status is None else str(fetch.status)
    if fetch.error:
        return f"GET {fetch.url} → {status}: {fetch.error}"
    if not fetch.declared:
        return f"GET {fetch.url} → {status}, no contract declared"
    if fetch.problems:
        return f"GET {fetch.url} → {status}, contract broken: " + "; ".join(fetch.problems)
    return f"GET {fetch.url} → {status}, contract holds"
