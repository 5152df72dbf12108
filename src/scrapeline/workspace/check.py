"""``scrapeline check``: does the site still look the way the pipeline expects?

One sample per step, fetched live, before a long run finds out the hard way::

    report = asyncio.run(check_pipeline(pipe, base_url="http://127.0.0.1:8000"))
    for step in report.steps:
        print(step.name, step.ok, [f.problems for f in step.fetches])
    raise SystemExit(0 if report.ok else 1)

What it does, in order:

1. Each top-level discovery fetches its first listing page (``pages.first``, or
   ``start``); a listing per parent (``discover(on=...)``) fetches its first page
   for a sample parent, once one is found.
   The items on it are the samples of their kind, the **last** one first: on a
   listing sorted newest first, that is the oldest, the most likely to be complete
   (played, with its stats pages).
2. Each stage runs on a sample item of its kind, in declaration order once a sample
   exists. What a stage emits becomes the samples of the child kinds, so
   ``half_stats`` runs on a half that ``overview`` found on a real match page. A
   stage that should emit a kind nothing has found yet is tried on up to
   ``samples`` items until one emits it (a match not played yet has no halves);
   it stops at the first sample that fails. A stage left without a sample is
   reported as not checked, which fails the check.
3. Every request goes through the pipeline's own fetch client (allow-list,
   politeness, retries), and each response's contract is recorded: the status,
   then the content type, selectors and JSON keys the stage or discovery declared
   (or the ``expect=`` of that one ``ctx.fetch`` call). A response that breaks it
   raises :class:`~scrapeline.errors.ContractError` in the stage, as in a run.
4. What the stage returned is checked as a run would before committing: Records of
   declared tables with their key columns, children that are JSON.

Contract: nothing is written. No ledger, no data dir, no archive; records and
children are counted and dropped. The report is ``ok`` when every step ran, every
contract held and every sample parsed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scrapeline.context import Context
from scrapeline.errors import (
    ContractError,
    ItemError,
    ItemTimeout,
    ParseError,
    ScrapelineError,
    categorize,
)
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.contract import Expect, check_contract, contract_problems
from scrapeline.fetch.down import HostUnreachable
from scrapeline.fetch.response import Response
from scrapeline.model import Item, Key
from scrapeline.pipeline import Discovery, Pipeline, Stage
from scrapeline.runner.execute import execute, storable_item

DEFAULT_SAMPLES = 3
"""At most this many items are tried to find a sample of a child kind."""
DEFAULT_TIMEOUT = 120.0
"""Seconds one step may take unless its stage declares a timeout."""

_CONTRACT_PREFIX = "response breaks its contract: "


@dataclass(frozen=True, kw_only=True)
class FetchCheck:
    """One response a step fetched, and what its contract made of it."""

    url: str
    status: int | None
    """None when no response came back (connection refused, timeout)."""
    declared: bool
    """Whether a contract was declared for this fetch."""
    problems: tuple[str, ...] = ()
    """How the response breaks its contract (empty: it holds, or none was declared)."""
    error: str | None = None
    """Why there is no usable response (``category: message``), e.g. a 404 or a refused
    connection; the contract could not be checked."""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "contract": "none" if not self.declared else "broken" if self.problems else "holds",
            "problems": list(self.problems),
            "error": self.error,
            "ok": self.ok,
        }


@dataclass(frozen=True, kw_only=True)
class StepCheck:
    """A discovery's first page, or a stage on one sample item."""

    name: str
    step: str
    """``"discovery"`` or ``"stage"``."""
    kind: str
    item: Key | None = None
    """The sample item's key: for a listing per parent its parent's, None at the top."""
    position: int | None = None
    """The listing position fetched (None for a stage)."""
    fetches: tuple[FetchCheck, ...] = ()
    category: str | None = None
    """Why the step failed: ``contract``, ``parse``, ``validation``, ``http_4xx`` ..."""
    error: str | None = None
    records: int = 0
    items: Mapping[str, int] = field(default_factory=dict)
    """Items found (discovery) or emitted (stage), per kind."""
    skipped: str | None = None
    """Why the step could not be checked (no sample item of its kind)."""

    @property
    def contract_ok(self) -> bool:
        return all(f.ok for f in self.fetches)

    @property
    def parse_ok(self) -> bool:
        return self.error is None

    @property
    def ok(self) -> bool:
        return self.skipped is None and self.contract_ok and self.parse_ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "step": self.step,
            "kind": self.kind,
            "item": self.item,
            "position": self.position,
            "ok": self.ok,
            "contract_ok": self.contract_ok,
            "parse_ok": self.parse_ok,
            "category": self.category,
            "error": self.error,
            "records": self.records,
            "items": dict(self.items),
            "skipped": self.skipped,
            "fetches": [f.as_dict() for f in self.fetches],
        }


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    pipeline: str
    base_url: str | None
    steps: tuple[StepCheck, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "base_url": self.base_url,
            "ok": self.ok,
            "steps": [s.as_dict() for s in self.steps],
        }


class _RecordingFetch:
    """The fetch a checked step's Context uses: the client's, plus a note of each contract.

    The client is asked only for the contract's statuses, so that the response comes
    back and every problem can be listed; the full contract is then checked here and
    raised exactly as the client would have raised it in a run."""

    def __init__(self, client: FetchClient) -> None:
        self._client = client
        self.fetches: list[FetchCheck] = []

    async def get(
        self,
        url: str,
        *,
        stage: str | None = None,
        item_key: str | None = None,
        expect: Expect | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
        unchanged_body: bool = True,
    ) -> Response:
        declared = expect is not None
        statuses = None if expect is None else Expect(status=expect.status)
        try:
            response = await self._client.get(
                url,
                stage=stage,
                item_key=item_key,
                expect=statuses,
                headers=headers,
                conditional=conditional,
                unchanged_body=unchanged_body,
            )
        except ContractError as error:  # a status the contract does not want
            problem = error.message.removeprefix(_CONTRACT_PREFIX)
            self._note(url, error.url, error.status, declared, problems=(problem,))
            raise
        except ItemError as error:
            self._note(url, error.url, error.status, declared, error=_describe(error))
            raise
        except HostUnreachable as error:  # down from the first request: say how
            self._note(url, None, None, declared, error=f"{error.error.category}: {error}")
            raise
        except ScrapelineError as error:  # HostDown: the host is given up on
            self._note(url, None, None, declared, error=str(error))
            raise
        problems = () if expect is None else tuple(contract_problems(expect, response))
        self._note(url, response.url, response.status, declared, problems=problems)
        if expect is not None and problems:
            check_contract(expect, response)
        return response

    def _note(
        self,
        asked: str,
        url: str | None,
        status: int | None,
        declared: bool,
        *,
        problems: tuple[str, ...] = (),
        error: str | None = None,
    ) -> None:
        self.fetches.append(
            FetchCheck(
                url=url or asked, status=status, declared=declared, problems=problems, error=error
            )
        )


def _kind_of(step: Stage | Discovery) -> str:
    """The kind a step runs on: a stage's, or a listing's parent kind."""
    if isinstance(step, Discovery):
        assert step.on is not None
        return step.on
    return step.kind


def _describe(error: BaseException) -> str:
    category, message = categorize(error)
    return f"{category}: {message}"


async def check_pipeline(
    pipeline: Pipeline,
    *,
    base_url: str | None = None,
    config: Mapping[str, Any] | None = None,
    start: int | None = None,
    samples: int = DEFAULT_SAMPLES,
    timeout: float = DEFAULT_TIMEOUT,
    client: FetchClient | None = None,
) -> CheckReport:
    """Fetch one sample per discovery and stage and report which contracts hold.

    ``base_url`` points the pipeline at another copy of the site; ``start`` is the
    listing position to sample (default: each discovery's first). The fetch client
    is the pipeline's own unless ``client`` is given (it is closed either way).
    Raises a UsageError for a pipeline that cannot run; everything the site does
    wrong ends up in the report.
    """
    settings = pipeline.fetch.with_base_url(base_url) if base_url else pipeline.fetch
    pipeline.validate()
    if client is None:
        client = FetchClient.from_settings(settings)
    checker = _Checker(pipeline, client, dict(config or {}), max(1, samples), timeout)
    try:
        steps = await checker.run(start)
    finally:
        await client.close()
    return CheckReport(pipeline=pipeline.name, base_url=settings.base_url, steps=tuple(steps))


class _Checker:
    def __init__(
        self,
        pipeline: Pipeline,
        client: FetchClient,
        config: Mapping[str, Any],
        samples: int,
        timeout: float,
    ) -> None:
        self.pipeline = pipeline
        self.client = client
        self.config = config
        self.samples = samples
        self.timeout = timeout
        self.found: dict[str, list[Item]] = {}
        """Sample items per kind, the preferred one first."""

    async def run(self, start: int | None) -> list[StepCheck]:
        steps: list[StepCheck] = []
        for discovery in self.pipeline.top_listings:
            steps.append(await self._walk_first(discovery, start, None))
        todo: list[Stage | Discovery] = [*self.pipeline.stages.values()]
        todo += self.pipeline.listings.values()
        while todo:
            step = next((s for s in todo if self.found.get(_kind_of(s))), None)
            if step is None:
                break
            todo.remove(step)
            if isinstance(step, Discovery):  # a listing per parent: on a sample parent
                steps.append(await self._walk_first(step, None, self.found[_kind_of(step)][0]))
            else:
                steps.extend(await self._check_stage(step))
        steps.extend(
            StepCheck(
                name=s.name,
                step="stage" if isinstance(s, Stage) else "discovery",
                kind=_kind_of(s),
                skipped=self._no_sample(_kind_of(s)),
            )
            for s in todo
        )
        return steps

    async def _walk_first(self, d: Discovery, start: int | None, parent: Item | None) -> StepCheck:
        step, items = await self._discover(d, start, parent)
        for item in reversed(items):
            self._add(item)
        return step

    def _no_sample(self, kind: str) -> str:
        emitters = [s.name for s in self.pipeline.stages.values() if kind in s.produces]
        if emitters:
            return f"no sample {kind!r} item: {' or '.join(emitters)} emitted none"
        return f"no sample {kind!r} item: no discovery found one and no stage emitted one"

    def _add(self, item: Item) -> None:
        if item.kind is not None:
            self.found.setdefault(item.kind, []).append(item)

    async def _check_stage(self, stage: Stage) -> list[StepCheck]:
        def missing() -> list[str]:  # kinds it emits that other stages still need a sample of
            return [
                kind
                for kind in stage.produces
                if not self.found.get(kind) and self.pipeline.stages_of(kind)
            ]

        wanted = bool(missing())
        steps: list[StepCheck] = []
        for item in self.found[stage.kind][: self.samples if wanted else 1]:
            step, children = await self._run_stage(stage, item)
            steps.append(step)
            for child in children:
                self._add(child)
            if not missing() or not step.ok:
                break  # a broken sample is reported as it is, not hidden by the next one
        return steps

    async def _discover(
        self, d: Discovery, start: int | None, parent: Item | None = None
    ) -> tuple[StepCheck, list[Item]]:
        position = d.pages.first if start is None else start
        fetch = _RecordingFetch(self.client)
        ctx = Context(fetch=fetch, config=self.config, run_id=0, expect=d.expect, item=parent)
        items: list[Item] = []
        failure: tuple[str, str] | None = None
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                async for found in d.fn(ctx, position):
                    storable_item(found, d.kind)  # what a run could not store fails here too
                    items.append(found if found.kind else dataclasses.replace(found, kind=d.kind))
            if not items:
                where = "" if position is None else f" ({position})"  # None: a cursor walk
                raise ParseError(f"{d.name} found no items on its first page{where}")
        except Exception as exc:
            failure = _failure(exc, deadline.expired(), self.timeout)
        return (
            StepCheck(
                name=d.name,
                step="discovery",
                kind=d.kind,
                item=None if parent is None else parent.key,
                position=position,
                fetches=tuple(fetch.fetches),
                category=failure[0] if failure else None,
                error=failure[1] if failure else None,
                items=_per_kind(items),
            ),
            items,
        )

    async def _run_stage(self, stage: Stage, item: Item) -> tuple[StepCheck, list[Item]]:
        """The stage on one sample, through the run's own executor (same Context,
        timeout and checks of what it returned); nothing is stored."""
        fetch = _RecordingFetch(self.client)
        done = await execute(
            self.pipeline,
            stage,
            item,
            fetch=fetch,
            timeout=stage.timeout or self.timeout,
            config=self.config,
            secrets=self.pipeline.secret_values(),
        )
        parent = (item.kind or stage.kind, item.key)
        children = [
            Item(
                key=c.key,
                kind=c.kind,
                data=dict(c.data),
                date=c.date,
                parent=c.parent if c.parent is not None else parent,
            )
            for c in done.children
        ]
        error = None
        if not done.ok:
            error = done.message
            if isinstance(done.error, ContractError):
                error = done.error.message.removeprefix(_CONTRACT_PREFIX)
        return (
            StepCheck(
                name=stage.name,
                step="stage",
                kind=stage.kind,
                item=item.key,
                fetches=tuple(fetch.fetches),
                category=None if done.ok else done.category,
                error=error,
                records=len(done.records),
                items=_per_kind(children),
            ),
            children,
        )


def _failure(exc: Exception, expired: bool, limit: float) -> tuple[str, str]:
    if expired and isinstance(exc, TimeoutError):
        exc = ItemTimeout(f"took longer than {limit:g} s")
    category, message = categorize(exc)
    if isinstance(exc, ContractError):
        message = exc.message.removeprefix(_CONTRACT_PREFIX)
    return str(category), message


def _per_kind(items: Sequence[Item]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        kind = item.kind or "?"
        counts[kind] = counts.get(kind, 0) + 1
    return counts
