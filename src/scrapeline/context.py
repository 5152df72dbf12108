"""What a stage or a discovery receives: fetch, emit, log, config.

    async def overview(ctx: Context, item: Item) -> Record:
        page = await ctx.fetch(f"/matches/{item.key}")
        ctx.emit(Item(kind="half", key=f"{item.key}-1"))
        ctx.log.debug("parsed %s", item.key)
        return Record("matches", {"match_id": item.key})

The context is the stage's only door to the network (``fetch``), so politeness,
retries, the breaker and the archive hold for every request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from scrapeline.errors import ValidationError
from scrapeline.fetch.contract import Expect
from scrapeline.fetch.response import Response
from scrapeline.pipeline import Item, Key

log = logging.getLogger("scrapeline.stage")


class Fetch(Protocol):
    """The part of the fetch client a context needs."""

    async def get(
        self,
        url: str,
        *,
        stage: str | None = None,
        item_key: str | None = None,
        expect: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response: ...


class Context:
    """Per-call context. Cheap to create: one per task."""

    __slots__ = (
        "_fetch",
        "children",
        "config",
        "emits",
        "expect",
        "item",
        "log",
        "run_id",
        "stage",
    )

    def __init__(
        self,
        *,
        fetch: Fetch,
        config: Mapping[str, Any],
        run_id: int,
        stage: str | None = None,
        item: Item | None = None,
        emits: str | None = None,
        expect: Expect | None = None,
    ) -> None:
        self._fetch = fetch
        self.config = config
        self.run_id = run_id
        self.stage = stage
        self.item = item
        self.emits = emits
        self.expect = expect
        """The declared contract of the stage or discovery, applied to every fetch."""
        self.children: list[Item] = []
        self.log = log

    async def fetch(
        self,
        url: str,
        *,
        expect: Expect | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET ``url`` (relative to the pipeline's base_url) through the fetch layer.

        The response must meet ``expect``, or else the contract the stage (or
        discovery) declared; ``expect=Expect()`` checks only for a 200.
        Raises a FetchError subclass once retries are exhausted or for a
        non-retryable answer (404, 403, a broken contract: ContractError)."""
        key = None if self.item is None else str(self.item.key)
        return await self._fetch.get(
            url,
            stage=self.stage,
            item_key=key,
            expect=self.expect if expect is None else expect,
            headers=headers,
        )

    def emit(self, item: Item | None = None, /, *, key: Key | None = None, **data: Any) -> None:
        """Queue a child item of the current item; stored when the stage succeeds.

        ``ctx.emit(Item(kind="half", key="1-2"))``, or with the stage's ``emits``
        kind: ``ctx.emit(key="1-2", half=2)``."""
        if item is None:
            if key is None:
                raise ValidationError("emit needs an Item or a key=")
            item = Item(key=key, kind=self.emits, data=data)
        if item.kind is None:
            if self.emits is None:
                raise ValidationError(
                    f"emitted item {item.key!r} has no kind: give Item(kind=...) "
                    "or declare the stage with emits="
                )
            item = Item(key=item.key, kind=self.emits, data=item.data, date=item.date)
        self.children.append(item)
