"""Archive first: answer from the archive where it holds a response for the URL, and
from the network where it does not. What ``scrapeline backfill`` fetches through.

    fetch = ArchiveFirst(
        archived=FetchClient.from_settings(replayed, fetcher=ArchiveFetcher(archive)),
        network=FetchClient.from_settings(settings, archive=archive),
    )
    page = await fetch.get("/matches/1", stage="overview", item_key="1")

Both are :class:`~scrapeline.fetch.client.FetchClient`\\ s, so each keeps the fixed
order of steps (allow-list, breaker, limiter, transport, archive, contract): the
archived one answers at once, with no politeness wait, no robots.txt and no retry;
the network one is the run's own client, which archives what it fetches. An
archived response that breaks the stage's contract (a page archived while the site
was broken) is fetched again too: what the network answers then is held to the
contract as ever. A conditional request (a refresh) goes to the network, which
sends the archive's validators itself.

Only the network client's requests are counted per host (:meth:`requests_by_host`):
an archived answer costs the site nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrapeline.errors import ArchiveMiss, ContractError
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.response import Response

__all__ = ["ArchiveFirst"]


class ArchiveFirst:
    """The archive's answer for a URL when it has one, else the network's; see the
    module doc. Closing it closes both clients."""

    def __init__(self, *, archived: FetchClient, network: FetchClient) -> None:
        self.archived = archived
        self.network = network
        self.from_archive = 0
        """Responses answered from the archive so far."""

    async def get(
        self,
        url: str,
        *,
        stage: str | None = None,
        item_key: str | None = None,
        expect: Any = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
        unchanged_body: bool = True,
    ) -> Response:
        """GET ``url`` from the archive, else from the network (raising what
        :meth:`FetchClient.get` raises there)."""
        if not conditional:
            try:
                response = await self.archived.get(
                    url, stage=stage, item_key=item_key, expect=expect, headers=headers
                )
            except (ArchiveMiss, ContractError):
                pass
            else:
                self.from_archive += 1
                return response
        return await self.network.get(
            url,
            stage=stage,
            item_key=item_key,
            expect=expect,
            headers=headers,
            conditional=conditional,
            unchanged_body=unchanged_body,
        )

    def requests_by_host(self) -> dict[str, dict[str, int]]:
        """What was sent to each host over the network (archived answers are not)."""
        return self.network.requests_by_host()

    async def close(self) -> None:
        """Close both clients (idempotent)."""
        try:
            await self.archived.close()
        finally:
            await self.network.close()
