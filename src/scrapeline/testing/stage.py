"""Run one stage on one item against canned responses: test a parser without a site.

The stage runs exactly as in a run (the same executor, Context, timeout and checks of
what it returns), fetching through a real FetchClient whose transport is a
:class:`~scrapeline.fetch.transport.FakeFetcher` answering from ``responses``.
Nothing is stored.

    >>> import asyncio
    >>> from scrapeline import Context, Item, ParseError, Pipeline, Record
    >>> pipe = Pipeline("demo", base_url="https://results.example")
    >>> _ = pipe.table("matches", key=("id",))
    >>> @pipe.stage("overview", on="match")
    ... async def overview(ctx: Context, item: Item) -> Record:
    ...     page = await ctx.fetch(f"/matches/{item.key}")
    ...     h1 = page.html.css_first("h1")
    ...     if h1 is None:
    ...         raise ParseError("no h1")
    ...     return Record("matches", {"id": item.key, "title": h1.text()})
    >>> html = {"Content-Type": "text/html"}
    >>> ok = asyncio.run(run_stage(pipe, "overview", Item(key=7, kind="match"),
    ...     {"/matches/7": (200, html, "<h1>Ajax 2-1 PSV</h1>")}))
    >>> ok.records
    (Record(table='matches', data={'id': 7, 'title': 'Ajax 2-1 PSV'}),)
    >>> bad = asyncio.run(run_stage(pipe, "overview", Item(key=8, kind="match"),
    ...     {"/matches/8": (200, html, "<p>moved</p>")}))
    >>> bad.failure.category, bad.failure.message
    ('parse', 'no h1')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import orjson

from scrapeline.errors import FetchTimeout, NetworkError
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.limits import Politeness
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.fetch.transport import FakeFetcher, FakeReply
from scrapeline.model import Item, Record
from scrapeline.pipeline import Pipeline
from scrapeline.runner.execute import execute

DEFAULT_TIMEOUT = 60.0
"""Seconds the stage may take unless it declares a timeout."""


@dataclass(frozen=True, kw_only=True)
class StageFailure:
    """Why the stage failed its item, as a run would record it."""

    category: str
    """``parse``, ``contract``, ``validation``, ``http_4xx``, ``network``, ``error`` ..."""
    message: str
    error: BaseException | None


@dataclass(frozen=True, kw_only=True)
class StageResult:
    records: tuple[Record, ...] = ()
    """The records as they would be stored (after their JSON round trip)."""
    children: tuple[Item, ...] = ()
    """The items the stage emitted, with their kind and parent filled in."""
    fetched: tuple[str, ...] = ()
    """Every URL requested, in order."""
    failure: StageFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


async def run_stage(
    pipeline: Pipeline,
    stage_name: str,
    item: Item,
    responses: Mapping[str, FakeReply | NetworkError | FetchTimeout],
    *,
    config: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    raises: bool = False,
) -> StageResult:
    """Run ``stage_name`` on ``item``, answering its fetches from ``responses``.

    ``responses`` maps a URL (absolute, or relative to the pipeline's base_url) to
    ``(status, headers, body)`` or to the transport error to raise; any other URL
    answers 404. Each URL is tried once (no retries, no rate limit). With
    ``raises``, a failure raises what the stage raised instead of being returned.
    Raises KeyError for an unknown stage."""
    stage = pipeline.stages[stage_name]
    base = pipeline.base_url
    routes = {urljoin(base, url) if base else url: reply for url, reply in responses.items()}
    fake = FakeFetcher(routes)
    client = FetchClient(
        base_url=base,
        hosts=pipeline.hosts,
        politeness=Politeness(),
        retry=RetryPolicy(max_attempts=1),
        fetcher=fake,
        headers=pipeline.headers,
        cookies=pipeline.cookies,
        max_body=pipeline.max_body,
    )
    if item.kind is None:
        item = Item(
            key=item.key, kind=stage.kind, data=item.data, date=item.date, parent=item.parent
        )
    try:
        done = await execute(
            pipeline,
            stage,
            item,
            fetch=client,
            timeout=stage.timeout or timeout,
            config=config,
            secrets=pipeline.secret_values(),
        )
    finally:
        await client.close()
    fetched = tuple(r.url for r in fake.requests)
    if not done.ok:
        if raises and done.error is not None:
            raise done.error
        failure = StageFailure(category=str(done.category), message=done.message, error=done.error)
        return StageResult(fetched=fetched, failure=failure)
    parent = (item.kind or stage.kind, item.key)
    return StageResult(
        records=tuple(Record(r.table, orjson.loads(r.json)) for r in done.records),
        children=tuple(
            _as_item(c.kind, c.key, c.data, c.date, c.parent or parent) for c in done.children
        ),
        fetched=fetched,
    )


def _as_item(
    kind: str, key: Any, data: Mapping[str, Any], date: str | None, parent: Sequence[Any]
) -> Item:
    return Item(key=key, kind=kind, data=dict(data), date=date, parent=(parent[0], parent[1]))
